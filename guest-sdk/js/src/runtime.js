// The glue between a script and the contract: `user` and `hooks`, the exports the host drives.
//
// The build wraps the script (bundled as CommonJS) in a function given to `installScript`, so
// its top level runs in each instance when first needed, as k6 runs its init code per VU:
// `__VU`, `__ENV` and the options are those of the instance, not of the build.

import { releaseResponses } from './client.js';
import { declarePlan, writeLog } from './host.js';
import { locustScenario } from './locust-scenario.js';
import { initGlobals, k6Scenario } from './k6-scenario.js';

let loadScript;
let scriptName = 'script';
let scenario;

/** Called by the generated entry module with the wrapped script. */
export function installScript(load, name) {
  loadScript = load;
  scriptName = name;
}

function theScenario() {
  if (scenario === undefined) {
    initGlobals();
    const exports = loadScript();
    scenario = locustScenario(exports, scriptName) ?? k6Scenario(exports, scriptName);
    if (scenario === undefined) {
      throw new Error(
        `${scriptName} exports no user class (a class extending User or HttpUser) and no default function (a k6 script)`,
      );
    }
  }
  return scenario;
}

/** A stack in the script's own terms: its frames as `function@file:line` of the sources the
 * build bundled (the table the build appends), the SDK's and the bindings' frames left out.
 * The stack as it is when the build left no table or no frame is the script's. */
export function scriptStack(stack) {
  const lines = globalThis.__locustSourceLines;
  if (lines === undefined || typeof stack !== 'string') return stack ?? '';
  const frames = [];
  for (const frame of stack.split('\n')) {
    const found = /^(.*)@.*\.bundle\.js:(\d+):\d+$/.exec(frame);
    const at = found === null ? undefined : lines[found[2]];
    if (at !== undefined) frames.push(`${found[1] || '<anonymous>'}@${at}`);
  }
  return frames.length > 0 ? frames.join('\n') : stack;
}

/** The contract's task-error for anything thrown. */
function taskError(error) {
  if (error instanceof Error) {
    return { message: `${error.name}: ${error.message}`, traceback: scriptStack(error.stack) };
  }
  return { message: String(error), traceback: '' };
}

function outcomeOf(error) {
  if (error !== null && typeof error === 'object') {
    if (error.name === 'StopUser') return 'stop-user';
    if (error.name === 'InterruptTaskSet') {
      return error.reschedule === false ? 'interrupt-no-reschedule' : 'interrupt';
    }
  }
  return undefined;
}

/** Run `call`, turning the SDK's control-flow exceptions into outcomes and the rest into the
 * contract's error result (thrown, as componentize-js expects for `result` errors). */
function guarded(call) {
  try {
    return call() ?? 'done';
  } catch (error) {
    const outcome = outcomeOf(error);
    if (outcome !== undefined) return outcome;
    throw taskError(error);
  } finally {
    releaseResponses();
  }
}

function guardedUnit(call) {
  try {
    call();
  } catch (error) {
    if (outcomeOf(error) !== undefined) return;
    throw taskError(error);
  } finally {
    releaseResponses();
  }
}

/** Run `call` in an export that cannot return an error: a failure is logged the way the
 * host explains the trap that follows (`panic: ...`), then traps. */
function orPanic(call) {
  try {
    return call();
  } catch (error) {
    const { message } = taskError(error);
    writeLog('error', `panic: ${message.replace(/^TypeError: |^RangeError: |^Error: /, '')}`);
    throw error;
  }
}

export const user = {
  describe() {
    return orPanic(() => {
      const described = theScenario().describe();
      if (described.plan !== undefined) declarePlan(described.plan);
      return described.description;
    });
  },
  create(classIndex) {
    orPanic(() => theScenario().create(classIndex));
  },
  onStart() {
    return guarded(() => theScenario().onStart());
  },
  onStop() {
    guardedUnit(() => theScenario().onStop());
  },
  runTask(node) {
    return guarded(() => theScenario().runTask(node));
  },
  startTaskSet(node) {
    return guarded(() => theScenario().startTaskSet(node));
  },
  stopTaskSet(node) {
    guardedUnit(() => theScenario().stopTaskSet(node));
  },
  waitTime(node) {
    try {
      return orPanic(() => Number(theScenario().waitTime(node)));
    } finally {
      releaseResponses();
    }
  },
};

function hook(name) {
  return (...args) => guardedUnit(() => theScenario().hook(name, ...args));
}

export const hooks = {
  init: hook('init'),
  testStart: hook('testStart'),
  testStop: hook('testStop'),
  quitting: hook('quitting'),
  onRequest(entry) {
    try {
      theScenario().hook('request', entry);
    } catch (error) {
      // A listener's failure must not look like the request's.
      console.error(`request listener failed: ${taskError(error).message}`);
    }
  },
  reportToMaster() {
    return theScenario().reportToMaster();
  },
  workerReport(workerId, data) {
    try {
      theScenario().hook('workerReport', workerId, data);
    } catch (error) {
      console.error(`worker report listener failed: ${taskError(error).message}`);
    }
  },
};
