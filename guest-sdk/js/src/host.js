// The host's imports, in one place: everything else in the SDK calls these, so the contract's
// names appear only here (and tests replace this module with a fake host).

export { send, sendAs, resolve } from 'locust:runtime/http@0.4.0';
export { request as recordEvent } from 'locust:runtime/events@0.4.0';
export { write as writeLog } from 'locust:runtime/log@0.4.0';
export {
  host as targetHost,
  userId,
  randomSeed,
  getOption,
  sleep,
} from 'locust:runtime/context@0.4.0';
export { declare as declarePlan, share, shared } from 'locust:runtime/test-plan@0.4.0';
export { declare as declareMetric, add as addMetric } from 'locust:runtime/metrics@0.4.0';
