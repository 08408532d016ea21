// Locust's API in JavaScript: user classes, tasks, task sets, tags, waits, events.
//
//   import { HttpUser, task, tag, between } from 'locust';
//   export class WebsiteUser extends HttpUser {
//     static waitTime = between(1, 2);
//     static tasks = [task(3, 'index'), tag('slow', 'report')];
//     index() { this.client.get('/'); }
//     report() { this.client.get('/report', { name: '/report' }); }
//   }

import { HttpSession } from './client.js';
import { getOption, sleep as hostSleep, targetHost, writeLog } from './host.js';

export { HttpSession, Response } from './client.js';

// ---- exceptions ---------------------------------------------------------------------------

/** Throw to stop this user for good (`onStop` still runs). */
export class StopUser extends Error {
  constructor(message = 'StopUser') {
    super(message);
    this.name = 'StopUser';
  }
}

/** Thrown by `TaskSet.interrupt()`: leave the task set. */
export class InterruptTaskSet extends Error {
  constructor(reschedule = true) {
    super('InterruptTaskSet');
    this.name = 'InterruptTaskSet';
    this.reschedule = reschedule;
  }
}

// ---- waits --------------------------------------------------------------------------------

/** A wait policy, as `static waitTime` takes it. */
export class WaitPolicy {
  constructor(wit) {
    this.wit = wit;
  }
}

function seconds(value, what) {
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0) {
    throw new RangeError(`${what} must be a number of seconds ≥ 0, not ${value}`);
  }
  return number;
}

/** Wait a random time between `min` and `max` seconds after each task. */
export function between(min, max) {
  const low = seconds(min, 'between(min, max): min');
  const high = seconds(max, 'between(min, max): max');
  if (low > high) throw new RangeError(`between(${min}, ${max}): min is larger than max`);
  return new WaitPolicy({ tag: 'between', val: { min: low, max: high } });
}

/** Wait `n` seconds after each task. */
export function constant(n) {
  return new WaitPolicy({ tag: 'constant', val: seconds(n, 'constant(n)') });
}

/** Start one task every `n` seconds, however long tasks take. */
export function constantPacing(n) {
  return new WaitPolicy({ tag: 'constant-pacing', val: seconds(n, 'constantPacing(n)') });
}

/** Pause this user for `s` seconds inside a task. */
export function sleep(s) {
  hostSleep(Number(s));
}

// ---- tasks --------------------------------------------------------------------------------

/** A task entry: what to run (a method name, a function or a TaskSet class), its weight, its
 * tags. `task()` and `tag()` make them. */
export class TaskEntry {
  constructor(target, weight = 1, tags = []) {
    this.target = target;
    this.weight = weight;
    this.tags = tags;
  }
}

function entryOf(target) {
  return target instanceof TaskEntry ? target : new TaskEntry(target);
}

/** `task(target)` or `task(weight, target)`: a task (or task set) with a weight. */
export function task(weightOrTarget, target) {
  if (target === undefined) return entryOf(weightOrTarget);
  const weight = Number(weightOrTarget);
  if (!Number.isInteger(weight) || weight < 0) {
    throw new RangeError(`task(weight, ...): the weight must be a whole number ≥ 0, not ${weightOrTarget}`);
  }
  const entry = entryOf(target);
  return new TaskEntry(entry.target, weight, entry.tags);
}

/** `tag(name, ..., target)`: tag a task or task set (for `--tags` / `--exclude-tags`). */
export function tag(...namesAndTarget) {
  if (namesAndTarget.length < 2) throw new TypeError('tag(name, ..., target) needs a name and a target');
  const target = namesAndTarget.pop();
  const entry = entryOf(target);
  return new TaskEntry(entry.target, entry.weight, [...entry.tags, ...namesAndTarget.map(String)]);
}

// ---- options and environment ----------------------------------------------------------------

const declaredOptions = [];

function camel(name) {
  return name.replace(/-([a-z0-9])/g, (_, c) => c.toUpperCase());
}

/** Options declared with `events.initCommandLineParser`, by kebab-case and camelCase name. */
function parsedOptions() {
  const values = {};
  for (const option of declaredOptions) {
    const raw = getOption(option.name);
    let value = raw;
    if (raw !== undefined && (option.default === 'true' || option.default === 'false')) {
      value = raw === 'true';
    }
    values[option.name] = value;
    values[camel(option.name)] = value;
  }
  return values;
}

/** What `environment.parser` offers in `initCommandLineParser` listeners. */
class OptionParser {
  /** `addArgument('--api-key', { default: 'x', help: '...' })`. */
  addArgument(flag, settings = {}) {
    const name = String(flag).replace(/^-+/, '');
    if (!/^[a-z][a-z0-9-]*$/.test(name)) {
      throw new TypeError(`option ${flag}: names are lower-case letters, digits and dashes`);
    }
    const fallback = settings.default;
    declaredOptions.push({
      name,
      default: fallback === undefined || fallback === null ? undefined : String(fallback),
      help: settings.help === undefined ? '' : String(settings.help),
    });
  }
}

/** The test's environment, as `this.environment` and listeners see it. */
export const environment = {
  /** The host under test: `--host`, else the user class's `host`. */
  get host() {
    return targetHost();
  },
  /** Declared options' values. */
  get parsedOptions() {
    return parsedOptions();
  },
};

// ---- events -------------------------------------------------------------------------------

/** One event's listeners. */
export class EventHook {
  constructor() {
    this.listeners = [];
  }

  /** Add a listener; returns it, so it can be used as a decorator would be. */
  addListener(listener) {
    if (typeof listener !== 'function') throw new TypeError('addListener takes a function');
    this.listeners.push(listener);
    return listener;
  }

  removeListener(listener) {
    this.listeners = this.listeners.filter((one) => one !== listener);
  }

  /** Call every listener with `args`; returns their results. */
  fire(...args) {
    return this.listeners.map((listener) => listener(...args));
  }

  get used() {
    return this.listeners.length > 0;
  }
}

/** Locust's events, camelCase. */
export const events = {
  /** Once, when the component is loaded (in the hooks instance). */
  init: new EventHook(),
  /** Declare options: listeners get a parser with `addArgument`. */
  initCommandLineParser: new EventHook(),
  /** A test starts (once, on the master in distributed runs). */
  testStart: new EventHook(),
  /** A test stopped. */
  testStop: new EventHook(),
  /** Every recorded request: `{requestType, name, responseTime, responseLength, exception}`. */
  request: new EventHook(),
  /** On workers, before each report: return data (string or bytes) to attach. */
  reportToMaster: new EventHook(),
  /** On the master, for each worker report carrying data: `(workerId, data)`. */
  workerReport: new EventHook(),
  /** The process is about to exit. */
  quitting: new EventHook(),
};

let optionsCollected = false;
/** The options declared by `initCommandLineParser` listeners (collected once). */
export function collectOptions() {
  if (!optionsCollected) {
    optionsCollected = true;
    events.initCommandLineParser.fire(new OptionParser());
  }
  return declaredOptions;
}

// ---- logging ------------------------------------------------------------------------------

function format(args) {
  return args
    .map((arg) => {
      if (typeof arg === 'string') return arg;
      if (arg instanceof Error) return arg.stack || `${arg.name}: ${arg.message}`;
      try {
        return JSON.stringify(arg);
      } catch {
        return String(arg);
      }
    })
    .join(' ');
}

/** Write into the host's log, with this user's class named. */
export const log = {
  debug: (...args) => writeLog('debug', format(args)),
  info: (...args) => writeLog('info', format(args)),
  warning: (...args) => writeLog('warning', format(args)),
  warn: (...args) => writeLog('warning', format(args)),
  error: (...args) => writeLog('error', format(args)),
};

// ---- users and task sets ------------------------------------------------------------------

/** A simulated user. Subclass it with `static tasks`, `static waitTime`, `static weight`,
 * `static host`; `static abstract = true` for a base class that is never spawned. */
export class User {
  constructor() {
    /** The test's environment. */
    this.environment = environment;
  }

  /** The host under test. */
  get host() {
    return targetHost();
  }

  /** Before the first task. */
  onStart() {}

  /** When the user stops. */
  onStop() {}
}
User.abstract = true;

/** A user with `this.client`, an HTTP session on the host's client. */
export class HttpUser extends User {
  constructor() {
    super();
    /** Locust's HttpSession. */
    this.client = new HttpSession();
  }
}
HttpUser.abstract = true;

/** Locust's FastHttpUser: the same client here (the host's is the fast one). */
export const FastHttpUser = HttpUser;

/** A set of tasks, chosen by weight until one calls `this.interrupt()`. */
export class TaskSet {
  constructor(parent) {
    /** The enclosing task set or user. */
    this.parent = parent;
    /** The user running this set. */
    this.user = parent instanceof TaskSet ? parent.user : parent;
    /** The user's client. */
    this.client = this.user.client;
    this.environment = environment;
  }

  /** Leave this set; with `reschedule` false the parent waits before its next task. */
  interrupt(reschedule = true) {
    throw new InterruptTaskSet(reschedule);
  }

  /** When the set is entered. */
  onStart() {}

  /** When the set is left. */
  onStop() {}
}

/** A task set whose tasks run in order, round and round. */
export class SequentialTaskSet extends TaskSet {}
