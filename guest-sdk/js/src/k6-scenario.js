// k6 scripts: `export default function`, `export const options`, `setup()`/`teardown()`.
// Each VU is a user in its own instance running the default function in a loop; the options
// become the test plan the host runs (users, duration, iterations, stages, thresholds).

import { getOption, share, shared, userId } from './host.js';
import { duration } from './k6-duration.js';

const SUPPORTED = ['vus', 'duration', 'iterations', 'stages', 'thresholds'];
/** k6's gracefulStop: iterations in flight get this long when the test stops. */
const GRACEFUL_STOP_SECONDS = 30;

/** `__ENV` from the `--env NAME=VALUE,NAME=VALUE` option (never the host's environment). */
function environmentValues() {
  const out = {};
  const raw = getOption('env');
  if (raw === undefined || raw.trim() === '') return out;
  for (const pair of raw.split(',')) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new TypeError(`--env takes NAME=VALUE pairs separated by commas, not "${pair}"`);
    out[pair.slice(0, at).trim()] = pair.slice(at + 1);
  }
  return out;
}

function whole(value, what) {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0) throw new RangeError(`options.${what} must be a whole number ≥ 0, not ${value}`);
  return number;
}

/** The contract's plan for k6 `options`; unsupported options fail, naming themselves. */
export function planOf(options, scriptName) {
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object') throw new TypeError(`${scriptName}: options must be an object`);
  const unknown = Object.keys(options).filter((key) => !SUPPORTED.includes(key));
  if (unknown.length > 0) {
    throw new TypeError(
      `${scriptName}: the k6 option${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} ${unknown.length > 1 ? 'are' : 'is'} not supported here (supported: ${SUPPORTED.join(', ')})`,
    );
  }
  const stages = (options.stages ?? []).map((stage, index) => {
    if (stage === null || typeof stage !== 'object') throw new TypeError(`options.stages[${index}] must be {duration, target}`);
    return {
      duration: duration(stage.duration, `options.stages[${index}].duration`) / 1000,
      target: whole(stage.target, `stages[${index}].target`),
    };
  });
  const thresholds = Object.entries(options.thresholds ?? {}).map(([metric, rules]) => {
    const list = Array.isArray(rules) ? rules : [rules];
    let abortOnFail = false;
    const conditions = list.map((rule) => {
      if (typeof rule === 'string') return rule;
      if (rule !== null && typeof rule === 'object' && typeof rule.threshold === 'string') {
        const extra = Object.keys(rule).filter((key) => !['threshold', 'abortOnFail', 'delayAbortEval'].includes(key));
        if (extra.length > 0) throw new TypeError(`thresholds.${metric}: ${extra.join(', ')} not supported`);
        if (rule.abortOnFail) abortOnFail = true;
        return rule.threshold;
      }
      throw new TypeError(`thresholds.${metric}: each threshold is a string such as 'p(95)<500' or {threshold, abortOnFail}`);
    });
    return { metric, conditions, abortOnFail };
  });
  let users = options.vus === undefined ? undefined : whole(options.vus, 'vus');
  if (users === undefined && stages.length > 0) users = 1;
  return {
    users,
    runTime: options.duration === undefined ? undefined : duration(options.duration, 'options.duration') / 1000,
    iterations: options.iterations === undefined ? undefined : BigInt(whole(options.iterations, 'iterations')),
    stages,
    thresholds,
    stopTimeout: GRACEFUL_STOP_SECONDS,
  };
}

/** The scenario of a k6 script, or undefined when it has no default function. */
export function k6Scenario(exports, scriptName) {
  const run = exports.default;
  if (typeof run !== 'function') return undefined;
  let data;
  let dataRead = false;
  const setupData = () => {
    if (!dataRead) {
      dataRead = true;
      const text = shared();
      data = text === undefined || text === 'undefined' ? undefined : JSON.parse(text);
    }
    return data;
  };
  return {
    describe() {
      return {
        description: {
          classes: [{
            name: 'default',
            weight: 1,
            host: undefined,
            wait: { tag: 'constant', val: 0 },
            isAbstract: false,
            tasks: [{ parent: undefined, kind: 'task', name: 'default', weight: 1, tags: [], wait: undefined }],
          }],
          hooks: {
            init: false,
            testStart: typeof exports.setup === 'function',
            testStop: typeof exports.teardown === 'function',
            request: false,
            reportToMaster: false,
            workerReport: false,
            quitting: false,
          },
          options: [{
            name: 'env',
            default: undefined,
            help: "k6's __ENV for the script: NAME=VALUE pairs separated by commas",
          }],
        },
        plan: planOf(exports.options, scriptName),
      };
    },
    create() {},
    onStart() {},
    onStop() {},
    runTask() {
      // `iterations` and `iteration_duration` are measured by the host around this call.
      try {
        run(setupData());
      } finally {
        // An iteration that throws is still an iteration.
        globalThis.__ITER += 1;
      }
    },
    startTaskSet() {},
    stopTaskSet() {},
    waitTime() {
      return 0;
    },
    hook(name) {
      if (name === 'testStart') {
        const value = exports.setup();
        share(value === undefined ? 'undefined' : JSON.stringify(value));
      } else if (name === 'testStop' && typeof exports.teardown === 'function') {
        exports.teardown(setupData());
      }
    },
    reportToMaster() {
      return undefined;
    },
  };
}

/** Set k6's globals before the script's init code runs in this instance. */
export function initGlobals() {
  globalThis.__VU = Number(userId());
  globalThis.__ITER = 0;
  globalThis.__ENV = environmentValues();
}
