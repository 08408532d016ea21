// `import { Counter, Gauge, Rate, Trend } from 'k6/metrics'`: custom metrics, recorded by the
// host (trends on the same HDR histograms as request times), merged exactly across workers,
// shown in the summary, the web UI and the CSV files, and usable in thresholds.

import { addMetric, declareMetric } from './host.js';
import { groupPath, tagList } from './k6.js';

class Metric {
  constructor(name, isTime, type) {
    if (typeof name !== 'string' || name === '') {
      throw new TypeError(`new ${this.constructor.name}(name) needs the metric's name`);
    }
    try {
      declareMetric(name, type, Boolean(isTime));
    } catch (error) {
      throw new TypeError(error && error.payload !== undefined ? error.payload : String(error));
    }
    this.name = name;
    this.type = type;
    this.isTime = Boolean(isTime);
  }

  /** Add one sample with optional tags; inside a group it carries the group's path. */
  add(value, tags) {
    const number = typeof value === 'boolean' ? Number(value) : Number(value);
    const path = groupPath();
    addMetric(this.name, number, tagList(tags, path === '' ? [] : [['group', path]]));
    return true;
  }
}

/** A sum. */
export class Counter extends Metric {
  constructor(name, isTime) {
    super(name, isTime, 'counter');
  }
}

/** The latest value, with its minimum and maximum. */
export class Gauge extends Metric {
  constructor(name, isTime) {
    super(name, isTime, 'gauge');
  }
}

/** The share of samples that are true (not zero). */
export class Rate extends Metric {
  constructor(name, isTime) {
    super(name, isTime, 'rate');
  }
}

/** A distribution: avg, min, med, max, percentiles. */
export class Trend extends Metric {
  constructor(name, isTime) {
    super(name, isTime, 'trend');
  }
}

export default { Counter, Gauge, Rate, Trend };
