// `import exec from 'k6/execution'`: what a VU knows of itself and the test. Values this host
// does not track throw when read, naming themselves, rather than answer wrongly.

function unknown(what) {
  throw new Error(`k6/execution: ${what} is not available here`);
}

const vu = {
  get idInTest() {
    return globalThis.__VU;
  },
  get idInInstance() {
    return globalThis.__VU;
  },
  get iterationInInstance() {
    return globalThis.__ITER;
  },
  get iterationInScenario() {
    return globalThis.__ITER;
  },
  tags: {},
  metrics: { tags: {}, metadata: {} },
};

const scenario = {
  name: 'default',
  get executor() {
    return unknown('scenario.executor');
  },
  get startTime() {
    return unknown('scenario.startTime');
  },
  get progress() {
    return unknown('scenario.progress');
  },
  get iterationInInstance() {
    return unknown('scenario.iterationInInstance');
  },
  get iterationInTest() {
    return unknown('scenario.iterationInTest');
  },
};

const instance = {
  get iterationsCompleted() {
    return unknown('instance.iterationsCompleted');
  },
  get iterationsInterrupted() {
    return unknown('instance.iterationsInterrupted');
  },
  get vusActive() {
    return unknown('instance.vusActive');
  },
  get vusInitialized() {
    return unknown('instance.vusInitialized');
  },
  get currentTestRunDuration() {
    return unknown('instance.currentTestRunDuration');
  },
};

const test = {
  abort(message) {
    unknown(`test.abort(${message === undefined ? '' : JSON.stringify(String(message))})`);
  },
  get options() {
    return unknown('test.options');
  },
};

export { vu, scenario, instance, test };
export default { vu, scenario, instance, test };
