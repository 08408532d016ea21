// Idle VUs: one GET, then asleep for the rest of the run (memory per idle VU, start rate).
import http from 'k6/http';
import { sleep } from 'k6';

export default function () {
  http.get(`${__ENV.BASE_URL}/`);
  sleep(3600);
}
