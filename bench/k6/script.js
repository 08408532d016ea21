// The benchmark's k6 script, run unchanged by k6 and by locust: one GET per iteration, no
// sleep (50 VUs from the command line).
import http from 'k6/http';

export default function () {
  http.get(`${__ENV.BASE_URL}/`);
}
