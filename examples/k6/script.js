// A k6 script, unmodified k6 API: ramping stages, groups, checks, custom metrics, thresholds,
// setup data.
// Run it with:
//
//   locust -f examples/k6/script.js --headless --env BASE_URL=http://127.0.0.1:8089 \
//     --allow-host 127.0.0.1:8089
//
// The exit code is k6's: 0 when every threshold holds, 99 when one fails.
import http from 'k6/http';
import { check, group, sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';

const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8089';

// Custom metrics: created at the top level, added to in iterations, judged by thresholds.
const itemsViewed = new Counter('items_viewed');
const frontPageTime = new Trend('front_page_time', true);

export const options = {
  stages: [
    { duration: '2s', target: 4 },
    { duration: '2s', target: 4 },
    { duration: '1s', target: 0 },
  ],
  thresholds: {
    http_req_duration: ['p(95)<500'],
    http_req_failed: ['rate<0.01'],
    checks: ['rate>0.99'],
    'http_req_duration{name:item}': ['max<1000'],
    items_viewed: ['count>0'],
    'front_page_time{page:front}': ['p(95)<500'],
  },
};

export function setup() {
  const response = http.post(`${BASE_URL}/login`, JSON.stringify({ user: 'k6' }), {
    headers: { 'Content-Type': 'application/json' },
  });
  return { token: `token-${response.status}` };
}

export default function (data) {
  group('front page', () => {
    const response = http.get(`${BASE_URL}/`, {
      headers: { Authorization: `Bearer ${data.token}` },
    });
    check(response, {
      'status is 200': (r) => r.status === 200,
      'body is ok': (r) => r.body === 'ok',
    });
    frontPageTime.add(response.timings.duration, { page: 'front' });
  });
  group('catalogue', () => {
    http.get(`${BASE_URL}/item?id=${__VU}-${__ITER}`, { tags: { name: 'item' } });
    itemsViewed.add(1);
  });
  sleep(0.05);
}

export function teardown(data) {
  http.post(`${BASE_URL}/logout`, `token=${data.token}`);
}
