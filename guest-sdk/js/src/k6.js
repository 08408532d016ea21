// `import { check, group, sleep, fail } from 'k6'`: k6's core functions, recorded in the
// host's statistics (checks under type "check", groups' durations under type "group").

import { recordEvent, sleep as hostSleep } from './host.js';

const groups = [];

/** The current group path, `::outer::inner` (empty outside groups). */
export function groupPath() {
  return groups.length === 0 ? '' : `::${groups.join('::')}`;
}

function record(type, name, milliseconds, error) {
  recordEvent({
    requestType: type,
    name,
    responseTimeMs: milliseconds,
    responseLength: 0n,
    error,
  });
}

/** Evaluate each check on `value`; each is recorded as passed or failed. True when all pass. */
export function check(value, checks, tags) {
  void tags;
  if (checks === null || typeof checks !== 'object') {
    throw new TypeError('check(value, { name: value => boolean, ... }) needs an object of checks');
  }
  let all = true;
  for (const [name, test] of Object.entries(checks)) {
    let passed;
    try {
      passed = Boolean(typeof test === 'function' ? test(value) : test);
    } catch (error) {
      // k6 counts a check that throws as failed and stops the iteration.
      record('check', name, 0, `check threw: ${error && error.message}`);
      throw error;
    }
    record('check', name, 0, passed ? undefined : 'check failed');
    all = all && passed;
  }
  return all;
}

/** Run `fn` inside the group `name`; its duration is recorded under the group's path. */
export function group(name, fn) {
  if (typeof fn !== 'function') throw new TypeError('group(name, fn) needs a function');
  groups.push(String(name));
  const path = groupPath();
  const started = performance.now();
  try {
    return fn();
  } finally {
    record('group', path, performance.now() - started, undefined);
    groups.pop();
  }
}

/** Pause this VU for `seconds`. */
export function sleep(seconds) {
  hostSleep(Number(seconds));
}

/** Stop this iteration with `message` (counted as an error). */
export function fail(message) {
  throw new Error(message === undefined ? 'fail() called' : String(message));
}

export default { check, group, sleep, fail };
