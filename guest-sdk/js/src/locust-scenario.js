// Locust-style scripts: exported classes extending User, described as the contract's task
// trees and driven one instance per user.

import { collectOptions, events, TaskEntry, TaskSet, SequentialTaskSet, User, WaitPolicy } from './locust.js';

const encoder = new TextEncoder();

function isSubclass(value, base) {
  return typeof value === 'function' && value.prototype instanceof base;
}

function own(cls, name) {
  return Object.prototype.hasOwnProperty.call(cls, name) ? cls[name] : undefined;
}

/** The wait policy a class (or set) declares itself, or undefined. */
function waitOf(cls, inherited) {
  const value = inherited ? cls.waitTime : own(cls, 'waitTime');
  if (value === undefined || value === null) return undefined;
  if (value instanceof WaitPolicy) return value.wit;
  if (typeof value === 'function') return { tag: 'custom' };
  throw new TypeError(
    `${cls.name}.waitTime must be between(), constant(), constantPacing() or a function returning seconds`,
  );
}

/** The entries of a `static tasks` value. */
function entriesOf(owner) {
  const tasks = owner.tasks;
  if (tasks === undefined || tasks === null) {
    throw new TypeError(`${owner.name} has no tasks: give it static tasks = [...] (method names, functions or task sets)`);
  }
  if (Array.isArray(tasks)) {
    return tasks.map((item) => {
      if (Array.isArray(item)) {
        if (item.length !== 2) throw new TypeError(`${owner.name}.tasks: a pair is [target, weight]`);
        return new TaskEntry(item[0], Number(item[1]));
      }
      return item instanceof TaskEntry ? item : new TaskEntry(item);
    });
  }
  if (typeof tasks === 'object') {
    return Object.entries(tasks).map(([name, weight]) => new TaskEntry(name, Number(weight)));
  }
  throw new TypeError(`${owner.name}.tasks must be a list or an object of method names and weights`);
}

/** Flatten a class's task tree into `nodes` (the contract's) and `table` (how to run each). */
function collect(owner, parent, nodes, table, path) {
  for (const entry of entriesOf(owner)) {
    const { target, tags } = entry;
    const weight = entry.weight;
    if (!Number.isInteger(weight) || weight < 0) {
      throw new RangeError(`${owner.name}.tasks: weights are whole numbers ≥ 0, not ${entry.weight}`);
    }
    const index = nodes.length;
    if (isSubclass(target, TaskSet)) {
      if (path.includes(target)) throw new TypeError(`${target.name} contains itself`);
      const setTags = [...tags, ...(own(target, 'tags') ?? [])];
      nodes.push({
        parent,
        kind: target.prototype instanceof SequentialTaskSet ? 'sequential-task-set' : 'task-set',
        name: target.name,
        weight,
        tags: setTags,
        wait: waitOf(target, false),
      });
      table.push({ parent, set: target });
      collect(target, index, nodes, table, [...path, target]);
      continue;
    }
    let run;
    let name;
    if (typeof target === 'string') {
      run = owner.prototype[target];
      name = target;
      if (typeof run !== 'function') throw new TypeError(`${owner.name}.tasks names ${target}, which is not one of its methods`);
    } else if (typeof target === 'function') {
      run = target;
      name = target.name || `task${index}`;
    } else {
      throw new TypeError(`${owner.name}.tasks holds ${String(target)}: use method names, functions or TaskSet classes`);
    }
    nodes.push({ parent, kind: 'task', name, weight, tags: [...tags], wait: undefined });
    table.push({ parent, run });
  }
}

/** The scenario of a script exporting user classes, or undefined when it exports none. */
export function locustScenario(exports, scriptName) {
  const classes = Object.entries(exports)
    .filter(([, value]) => isSubclass(value, User))
    .map(([exportName, cls]) => ({ cls, name: cls.name || exportName }));
  if (classes.length === 0) return undefined;
  const trees = [];
  const description = classes.map(({ cls, name }) => {
    const isAbstract = own(cls, 'abstract') === true;
    const nodes = [];
    const table = [];
    if (!isAbstract) collect(cls, undefined, nodes, table, [cls]);
    trees.push(table);
    const weight = cls.weight === undefined ? 1 : Number(cls.weight);
    if (!Number.isInteger(weight) || weight < 0) throw new RangeError(`${name}.weight must be a whole number ≥ 0`);
    return {
      name,
      weight,
      host: cls.host === undefined || cls.host === null ? undefined : String(cls.host),
      wait: waitOf(cls, true) ?? { tag: 'constant', val: 0 },
      isAbstract,
      tasks: nodes,
    };
  });

  let current;
  let table;
  const sets = new Map();

  const holder = (parent) => (parent === undefined ? current : sets.get(parent));

  return {
    describe() {
      return {
        description: {
          classes: description,
          hooks: {
            init: events.init.used,
            testStart: events.testStart.used,
            testStop: events.testStop.used,
            request: events.request.used,
            reportToMaster: events.reportToMaster.used,
            workerReport: events.workerReport.used,
            quitting: events.quitting.used,
          },
          options: collectOptions().map((option) => ({ ...option })),
        },
      };
    },
    create(index) {
      collectOptions();
      const { cls } = classes[index];
      table = trees[index];
      current = new cls();
    },
    onStart() {
      return current.onStart();
    },
    onStop() {
      current.onStop();
    },
    runTask(node) {
      const { parent, run } = table[node];
      const self = holder(parent);
      run.call(self, self);
    },
    startTaskSet(node) {
      const { parent, set } = table[node];
      const instance = new set(holder(parent));
      sets.set(node, instance);
      instance.onStart();
    },
    stopTaskSet(node) {
      const instance = sets.get(node);
      sets.delete(node);
      if (instance !== undefined) instance.onStop();
    },
    waitTime(node) {
      const self = node === undefined ? current : sets.get(node);
      const policy = self.constructor.waitTime;
      return policy.call(self, self);
    },
    hook(name, ...args) {
      if (name === 'request') {
        const [entry] = args;
        events.request.fire({
          requestType: entry.requestType,
          name: entry.name,
          responseTime: entry.responseTimeMs,
          responseLength: Number(entry.responseLength),
          exception: entry.error,
        });
        return;
      }
      if (name === 'init') collectOptions();
      events[name].fire(...args);
    },
    reportToMaster() {
      const parts = events.reportToMaster
        .fire()
        .filter((part) => part !== undefined && part !== null);
      if (parts.length === 0) return undefined;
      const part = parts[parts.length - 1];
      return typeof part === 'string' ? encoder.encode(part) : new Uint8Array(part);
    },
    name: scriptName,
  };
}
