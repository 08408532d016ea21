// k6's durations: `'30s'`, `'1m30s'`, `'1h'`, `'500ms'`, or a number of milliseconds.

const UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, us: 0.001, µs: 0.001 };

/** Milliseconds in a k6 duration; `what` names it in errors. */
export function duration(value, what) {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`${what}: ${value} is not a duration`);
    return value;
  }
  const text = String(value).trim();
  const pattern = /(\d+(?:\.\d+)?)(ms|us|µs|s|m|h|d)/gy;
  let total = 0;
  let matched = 0;
  let match;
  while ((match = pattern.exec(text)) !== null) {
    total += Number(match[1]) * UNITS[match[2]];
    matched = pattern.lastIndex;
  }
  if (text === '' || matched !== text.length) {
    throw new RangeError(`${what}: "${value}" is not a duration (write e.g. 30s, 1m30s, 500ms)`);
  }
  return total;
}
