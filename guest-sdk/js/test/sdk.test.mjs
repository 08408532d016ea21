// Unit tests of the SDK against the fake host: `npm test` (node --import ./test/register.mjs
// --test test/sdk.test.mjs). The end-to-end tests in tests/e2e/javascript.rs run it in the real host.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';

import { host, reset } from './fake-host.mjs';
import { duration } from '../src/k6-duration.js';
import { k6Scenario, planOf } from '../src/k6-scenario.js';
import { check, group } from '../src/k6.js';
import { Counter, Gauge, Rate, Trend } from '../src/k6-metrics.js';
import encoding from '../src/k6-encoding.js';
import exec from '../src/k6-execution.js';
import http from '../src/k6-http.js';
import { buildRequest, formEncode } from '../src/client.js';
import {
  HttpUser, TaskSet, SequentialTaskSet, task, tag, between, constant, constantPacing, events,
} from '../src/locust.js';
import { locustScenario } from '../src/locust-scenario.js';
import { installScript, scriptStack, user } from '../src/runtime.js';

beforeEach(reset);

// As a script's top level would: options are collected once, when first described.
events.initCommandLineParser.addListener((parser) => {
  parser.addArgument('--api-key', { default: 'none', help: 'the key' });
});

test('k6 durations read as milliseconds', () => {
  assert.equal(duration('30s', 'd'), 30_000);
  assert.equal(duration('1m30s', 'd'), 90_000);
  assert.equal(duration('1h', 'd'), 3_600_000);
  assert.equal(duration('250ms', 'd'), 250);
  assert.equal(duration(1500, 'd'), 1500);
  assert.throws(() => duration('soon', 'options.duration'), /options.duration: "soon" is not a duration/);
  assert.throws(() => duration('10', 'd'), /not a duration/);
});

test('k6 options become a plan; others are refused by name', () => {
  const plan = planOf({
    stages: [{ duration: '10s', target: 5 }, { duration: '5s', target: 0 }],
    thresholds: {
      http_req_duration: ['p(95)<500'],
      checks: [{ threshold: 'rate>0.9', abortOnFail: true }],
    },
  }, 'script.js');
  assert.equal(plan.users, 1, 'stages start from one VU, as in k6');
  assert.deepEqual(plan.stages, [{ duration: 10, target: 5 }, { duration: 5, target: 0 }]);
  assert.deepEqual(plan.thresholds, [
    { metric: 'http_req_duration', conditions: ['p(95)<500'], abortOnFail: false },
    { metric: 'checks', conditions: ['rate>0.9'], abortOnFail: true },
  ]);
  assert.equal(plan.stopTimeout, 30);
  assert.equal(planOf({ vus: 3, iterations: 7 }, 's').iterations, 7n);
  assert.equal(planOf({ duration: '1m' }, 's').runTime, 60);
  assert.throws(
    () => planOf({ vus: 1, scenarios: {}, batch: 2 }, 'script.js'),
    /script.js: the k6 options scenarios, batch are not supported here \(supported: vus, duration, iterations, stages, thresholds\)/,
  );
  assert.throws(() => planOf({ vus: -1 }, 's'), /options.vus must be a whole number/);
});

test('checks and groups are metrics, never requests', () => {
  const passed = group('outer', () => group('inner', () => check({ status: 200 }, {
    'is 200': (r) => r.status === 200,
    'is 201': (r) => r.status === 201,
  }, { kind: 'api' })));
  assert.equal(passed, false);
  assert.equal(host.events.length, 0);
  const rows = host.metrics.map((m) => [m.name, m.tags, m.name === 'checks' ? m.value : 'ms']);
  assert.deepEqual(rows, [
    ['checks', [['check', 'is 200'], ['group', '::outer::inner'], ['kind', 'api']], 1],
    ['checks', [['check', 'is 201'], ['group', '::outer::inner'], ['kind', 'api']], 0],
    ['group_duration', [['group', '::outer::inner']], 'ms'],
    ['group_duration', [['group', '::outer']], 'ms'],
  ]);
  assert.throws(() => check(1, { boom: () => { throw new Error('bad'); } }), /bad/);
  assert.deepEqual(host.metrics.at(-1), { name: 'checks', value: 0, tags: [['check', 'boom']] });
});

test('custom metrics declare themselves and add samples with tags and group', () => {
  const orders = new Counter('orders');
  const waiting = new Trend('waiting_time', true);
  assert.deepEqual(host.declared.waiting_time, { kind: 'trend', isTime: true });
  orders.add(2, { shop: 'north' });
  group('pay', () => waiting.add(12.5));
  new Rate('ok_rate').add(true);
  const custom = host.metrics.filter((m) => m.name !== 'group_duration');
  assert.deepEqual(custom, [
    { name: 'orders', value: 2, tags: [['shop', 'north']] },
    { name: 'waiting_time', value: 12.5, tags: [['group', '::pay']] },
    { name: 'ok_rate', value: 1, tags: [] },
  ]);
  assert.throws(() => new Gauge('orders'), /already a counter; it cannot also be a gauge/);
});

test('k6/encoding speaks every base64 variant, over strings and buffers', () => {
  assert.equal(encoding.b64encode('hi?>'), 'aGk/Pg==');
  assert.equal(encoding.b64encode('hi?>', 'rawstd'), 'aGk/Pg');
  assert.equal(encoding.b64encode('hi?>', 'url'), 'aGk_Pg==');
  assert.equal(encoding.b64encode('hi?>', 'rawurl'), 'aGk_Pg');
  assert.equal(encoding.b64encode('é'), 'w6k=');
  assert.equal(encoding.b64decode('aGk_Pg', 'rawurl', 's'), 'hi?>');
  assert.equal(encoding.b64decode('aGk/Pg==', null, 's'), 'hi?>');
  const buffer = encoding.b64decode('AAEC');
  assert.deepEqual([...new Uint8Array(buffer)], [0, 1, 2]);
  assert.equal(encoding.b64encode(buffer), 'AAEC');
  assert.throws(() => encoding.b64encode('x', 'hex'), /unknown base64 encoding "hex"/);
});

test('k6/execution tells a VU its numbers and names what it cannot tell', () => {
  globalThis.__VU = 3;
  globalThis.__ITER = 7;
  assert.equal(exec.vu.idInTest, 3);
  assert.equal(exec.vu.iterationInScenario, 7);
  assert.equal(exec.scenario.name, 'default');
  assert.throws(() => exec.instance.vusActive, /instance.vusActive is not available here/);
  assert.throws(() => exec.test.abort('stop'), /test.abort\("stop"\) is not available here/);
});

test('k6/http requests carry params as the host expects', () => {
  host.respond = () => ({ status: 200, body: '{"items":[{"id":4}]}', headers: [['content-type', 'application/json']] });
  const response = http.post('http://alice:s%20cret@127.0.0.1:1/api', JSON.stringify({ a: 1 }), {
    headers: { 'Content-Type': 'application/json' },
    tags: { name: 'api' },
    timeout: '2s',
    redirects: 0,
  });
  const { request } = host.sent[0];
  assert.equal(request.method, 'POST');
  assert.equal(request.url, 'http://127.0.0.1:1/api');
  assert.deepEqual(request.basicAuth, ['alice', 's cret']);
  assert.equal(request.name, 'api');
  assert.equal(request.timeout, 2);
  assert.equal(request.allowRedirects, false);
  assert.equal(new TextDecoder().decode(request.body), '{"a":1}');
  assert.equal(response.status, 200);
  assert.equal(response.json('items.0.id'), 4);
  assert.equal(response.headers['Content-Type'], 'application/json');
  assert.equal(response.timings.duration, 1.5);
  http.get('http://127.0.0.1:1/');
  assert.equal(host.sent[1].request.timeout, 60, "k6's default timeout");
  assert.throws(() => http.get('http://127.0.0.1:1/', { jar: {} }), /request parameter "jar" is not supported/);
  const answers = http.batch([['GET', 'http://127.0.0.1:1/a'], 'http://127.0.0.1:1/b']);
  assert.equal(answers.length, 2);
  assert.deepEqual(host.sent.slice(2).map((s) => s.request.url), ['http://127.0.0.1:1/a', 'http://127.0.0.1:1/b']);
});

test("Locust-style request options map onto the host's request", () => {
  const request = buildRequest('post', '/login', {
    data: { user: 'a b', pw: 'x&y' },
    params: { next: ['/', '/home'] },
    auth: ['alice', 'secret'],
    timeout: 3,
    name: '/login',
    catchResponse: true,
  });
  assert.equal(request.method, 'POST');
  assert.deepEqual(request.query, [['next', '/'], ['next', '/home']]);
  assert.deepEqual(request.headers, [['content-type', 'application/x-www-form-urlencoded']]);
  assert.equal(new TextDecoder().decode(request.body), 'user=a+b&pw=x%26y');
  assert.deepEqual(request.basicAuth, ['alice', 'secret']);
  assert.equal(request.catchResponse, true);
  assert.equal(buildRequest('POST', '/j', { json: { a: [1] } }).json, '{"a":[1]}');
  assert.equal(formEncode([['a', '1'], ['b', '2']]), 'a=1&b=2');
  assert.throws(() => buildRequest('GET', '/', { verify: false }), /unknown request option "verify"/);
});

test('user classes describe their task tree, weights, tags and waits', () => {
  class Inner extends SequentialTaskSet {
    static tasks = ['one', 'two'];
    one() {}
    two() {}
  }
  class Outer extends TaskSet {
    static tasks = [task(2, Inner), 'leave'];
    static waitTime = constant(1);
    leave() { this.interrupt(); }
  }
  class Shopper extends HttpUser {
    static weight = 3;
    static host = 'http://shop.test';
    static waitTime = between(1, 2);
    static tasks = [task(5, 'index'), tag('slow', 'heavy', Outer)];
    index() {}
  }
  class Pacer extends HttpUser {
    static waitTime = constantPacing(4);
    static tasks = { index: 1 };
    index() {}
  }
  const scenario = locustScenario({ Shopper, Pacer, helper: 42 }, 's.js');
  const { classes } = scenario.describe().description;
  assert.deepEqual(classes.map((c) => [c.name, c.weight, c.host, c.wait]), [
    ['Shopper', 3, 'http://shop.test', { tag: 'between', val: { min: 1, max: 2 } }],
    ['Pacer', 1, undefined, { tag: 'constant-pacing', val: 4 }],
  ]);
  assert.deepEqual(
    classes[0].tasks.map((t) => [t.parent, t.kind, t.name, t.weight, t.tags]),
    [
      [undefined, 'task', 'index', 5, []],
      [undefined, 'task-set', 'Outer', 1, ['slow', 'heavy']],
      [1, 'sequential-task-set', 'Inner', 2, []],
      [2, 'task', 'one', 1, []],
      [2, 'task', 'two', 1, []],
      [1, 'task', 'leave', 1, []],
    ],
  );
  assert.deepEqual(classes[0].tasks[1].wait, { tag: 'constant', val: 1 });
  assert.throws(
    () => locustScenario({ Broken: class extends HttpUser { static tasks = ['missing']; } }, 's.js'),
    /Broken.tasks names missing, which is not one of its methods/,
  );
});

test('declared options reach parsedOptions through the runtime', () => {
  class Keyed extends HttpUser {
    static tasks = ['index'];
    index() {
      this.client.get('/', { headers: { 'x-key': this.environment.parsedOptions.apiKey } });
    }
  }
  installScript(() => ({ Keyed }), 'keyed.js');
  const description = user.describe();
  assert.deepEqual(description.options, [{ name: 'api-key', default: 'none', help: 'the key' }]);
  host.options['api-key'] = 'k-1';
  user.create(0);
  assert.equal(user.runTask(0), 'done');
  assert.deepEqual(host.sent[0].request.headers, [['x-key', 'k-1']]);
});

test('a custom wait is asked of the user, with the user as this', () => {
  class Paced extends HttpUser {
    static tasks = ['index'];
    static waitTime = function () { return this.pause; };
    constructor() { super(); this.pause = 0.25; }
    index() {}
  }
  const scenario = locustScenario({ Paced }, 'paced.js');
  assert.deepEqual(scenario.describe().description.classes[0].wait, { tag: 'custom' });
  scenario.create(0);
  assert.equal(scenario.waitTime(undefined), 0.25);
  assert.throws(
    () => locustScenario({ Bad: class extends HttpUser { static tasks = ['a']; static waitTime = 3; a() {} } }, 'b.js'),
    /Bad.waitTime must be between\(\), constant\(\), constantPacing\(\) or a function returning seconds/,
  );
});

test('__ITER counts every iteration, those that throw too', () => {
  globalThis.__ITER = 0;
  const scenario = k6Scenario({
    default() {
      if (globalThis.__ITER % 2 === 0) throw new Error('even iteration');
    },
  }, 's.js');
  assert.throws(() => scenario.runTask(0), /even iteration/);
  assert.equal(globalThis.__ITER, 1);
  scenario.runTask(0);
  assert.equal(globalThis.__ITER, 2);
  assert.throws(() => scenario.runTask(0), /even iteration/);
});

test("tracebacks show the script's own files and lines, not the bundle's", () => {
  const stack = [
    'shop_default@component.wasm.bundle.js:1211:35',
    'runTask@component.wasm.bundle.js:1004:10',
    '@component.wasm.bundle.js:1300:3',
    'export_user_0_4_0$runTask@/tmp/x/sources/initializer.js:1466:28',
  ].join('\n');
  assert.equal(scriptStack(stack), stack, 'without a table the stack is left alone');
  globalThis.__locustSourceLines = { 1211: 'shop.js:5', 1300: 'common/auth.js:3' };
  try {
    assert.equal(scriptStack(stack), 'shop_default@shop.js:5\n<anonymous>@common/auth.js:3');
    assert.equal(scriptStack('f@elsewhere.js:1:1'), 'f@elsewhere.js:1:1');
  } finally {
    delete globalThis.__locustSourceLines;
  }
});
