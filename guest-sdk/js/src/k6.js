// `import { check, group, sleep, fail } from 'k6'`: k6's core functions. Checks and group
// durations are k6's built-in metrics `checks` (a rate tagged with the check and its group)
// and `group_duration` (a trend tagged with the group's path): metrics, never requests.

import { addMetric, sleep as hostSleep } from './host.js';

const groups = [];

/** The current group path, `::outer::inner` (empty outside groups). */
export function groupPath() {
  return groups.length === 0 ? '' : `::${groups.join('::')}`;
}

/** `tags` (an object) as the contract's list of pairs, with `extra` first (tags win). */
export function tagList(tags, extra) {
  const list = extra ? [...extra] : [];
  if (tags !== undefined && tags !== null) {
    if (typeof tags !== 'object') throw new TypeError('tags must be an object of names and values');
    for (const [name, value] of Object.entries(tags)) list.push([name, String(value)]);
  }
  return list;
}

function recordCheck(name, passed, tags) {
  const path = groupPath();
  const own = path === '' ? [['check', name]] : [['check', name], ['group', path]];
  addMetric('checks', passed ? 1 : 0, tagList(tags, own));
}

/** Evaluate each check on `value`; each is recorded as passed or failed. True when all pass. */
export function check(value, checks, tags) {
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
      recordCheck(name, false, tags);
      throw error;
    }
    recordCheck(name, passed, tags);
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
    addMetric('group_duration', performance.now() - started, [['group', path]]);
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
