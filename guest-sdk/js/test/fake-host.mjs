// A fake of the host's imports (src/host.js's names) that records every call, for the SDK's
// unit tests. `reset()` between tests; `host.respond` decides what each request gets back.

export const host = {
  sent: [],
  events: [],
  logs: [],
  plans: [],
  metrics: [],
  declared: {},
  resolved: [],
  sleeps: [],
  options: {},
  sharedData: undefined,
  user: 1n,
  respond: () => ({ status: 200, body: 'ok', headers: [['content-type', 'text/plain']] }),
};

export function reset() {
  Object.assign(host, {
    sent: [], events: [], logs: [], plans: [], metrics: [], declared: {}, resolved: [], sleeps: [], options: {},
    sharedData: undefined, user: 1n,
  });
  host.respond = () => ({ status: 200, body: 'ok', headers: [['content-type', 'text/plain']] });
}

let nextId = 0;
const encoder = new TextEncoder();

function answer(request) {
  const { status, body = '', headers = [], error } = host.respond(request);
  nextId += 1;
  return {
    id: nextId,
    status,
    elapsedMs: 1.5,
    error: error ?? (status >= 400 ? `HTTP ${status}` : undefined),
    data: {
      url: () => request.url,
      headers: () => headers,
      body: () => encoder.encode(body),
    },
  };
}

export function send(request) {
  host.sent.push({ request });
  return answer(request);
}

export function sendAs(request, type) {
  host.sent.push({ request, type });
  return answer(request);
}

export function resolve(id, verdict) {
  host.resolved.push({ id, verdict });
}

export function recordEvent(event) {
  host.events.push(event);
}

export function declareMetric(name, kind, isTime) {
  const known = host.declared[name];
  if (known !== undefined && known.kind !== kind) {
    const error = new Error('declare failed');
    error.payload = `metric '${name}' is already a ${known.kind}; it cannot also be a ${kind}`;
    throw error;
  }
  host.declared[name] = { kind, isTime };
}

export function addMetric(name, value, tags) {
  host.metrics.push({ name, value, tags });
}

export function writeLog(level, message) {
  host.logs.push({ level, message });
}

export const targetHost = () => 'http://127.0.0.1:1';
export const userId = () => host.user;
export const randomSeed = () => 7n;
export const getOption = (name) => host.options[name];
export function sleep(seconds) {
  host.sleeps.push(seconds);
}

export function declarePlan(plan) {
  host.plans.push(plan);
}

export function share(data) {
  host.sharedData = data;
}

export const shared = () => host.sharedData;
