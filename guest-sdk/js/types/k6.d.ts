// Types of the k6 API the locust runtime provides to k6 scripts: `k6`, `k6/http`, `k6/metrics`,
// `k6/encoding`, `k6/execution`, and the
// globals `__VU`, `__ITER`, `__ENV`. Reference them with
//   /// <reference types="locust/types/k6" />

/** This VU's number, from 1. */
declare const __VU: number;
/** This VU's iteration, from 0. */
declare const __ITER: number;
/** The `--env NAME=VALUE,...` option's values (never the machine's environment). */
declare const __ENV: Record<string, string>;

declare module 'k6' {
  /** Evaluate each check on `value`; each is a sample of the `checks` rate. True when all pass. */
  export function check<T>(
    value: T,
    checks: Record<string, ((value: T) => unknown) | boolean>,
    tags?: Record<string, string>,
  ): boolean;
  /** Run `fn` inside the group `name`; its duration is a sample of `group_duration`. */
  export function group<R>(name: string, fn: () => R): R;
  /** Pause this VU for `seconds`. */
  export function sleep(seconds: number): void;
  /** End this iteration with an error. */
  export function fail(message?: string): never;
  const k6: { check: typeof check; group: typeof group; sleep: typeof sleep; fail: typeof fail };
  export default k6;
}

declare module 'k6/http' {
  /** Request parameters supported here. */
  export interface Params {
    headers?: Record<string, string>;
    /** `tags.name` names the request in the statistics. */
    tags?: { name?: string } & Record<string, string>;
    /** A k6 duration (`'10s'`) or milliseconds; default 60 s. */
    timeout?: string | number;
    /** How many redirects to follow; 0 follows none. */
    redirects?: number;
    responseType?: 'text' | 'binary' | 'none';
    /** Only basic, with the credentials in the URL. */
    auth?: 'basic';
  }

  export type RequestBody = string | ArrayBuffer | Uint8Array | Record<string, unknown> | null;

  export interface Timings {
    /** Milliseconds from sending to the end of the body. */
    duration: number;
    blocked: number;
    connecting: number;
    tls_handshaking: number;
    sending: number;
    waiting: number;
    receiving: number;
  }

  export interface Response {
    readonly status: number;
    readonly status_text: string;
    readonly url: string;
    /** Headers with canonical names (`Content-Type`). */
    readonly headers: Record<string, string>;
    /** Text, an ArrayBuffer with responseType 'binary', null with 'none'. */
    readonly body: string | ArrayBuffer | null;
    readonly error: string;
    readonly error_code: number;
    readonly timings: Timings;
    /** The body as JSON, or the value at a dotted selector (`items.0.id`). */
    json(selector?: string): any;
  }

  export type BatchRequest =
    | string
    | [string, string, RequestBody?, Params?]
    | { method?: string; url: string; body?: RequestBody; params?: Params };

  export function request(method: string, url: string, body?: RequestBody, params?: Params): Response;
  export function get(url: string, params?: Params): Response;
  export function head(url: string, params?: Params): Response;
  export function post(url: string, body?: RequestBody, params?: Params): Response;
  export function put(url: string, body?: RequestBody, params?: Params): Response;
  export function patch(url: string, body?: RequestBody, params?: Params): Response;
  export function del(url: string, body?: RequestBody, params?: Params): Response;
  export function options(url: string, body?: RequestBody, params?: Params): Response;
  /** Each request in turn (not in parallel here); the responses in the same shape. */
  export function batch(requests: BatchRequest[]): Response[];
  export function batch(requests: Record<string, BatchRequest>): Record<string, Response>;
  export function url(strings: TemplateStringsArray, ...values: unknown[]): string;

  const http: {
    request: typeof request; get: typeof get; head: typeof head; post: typeof post;
    put: typeof put; patch: typeof patch; del: typeof del; options: typeof options;
    batch: typeof batch; url: typeof url;
  };
  export default http;
}

declare module 'k6/metrics' {
  /** What every custom metric has. Create metrics at the script's top level (k6's init). */
  abstract class Metric {
    /** The metric's name, as thresholds and the summary show it. */
    readonly name: string;
    /** Whether values are milliseconds. */
    readonly isTime: boolean;
    /** Add one sample with optional tags (usable in thresholds: `name{tag:value}`). */
    add(value: number | boolean, tags?: Record<string, string | number | boolean>): boolean;
  }
  /** A sum: `count`, `rate` per second. */
  export class Counter extends Metric {
    constructor(name: string, isTime?: boolean);
  }
  /** The latest value: `value`, with min and max. */
  export class Gauge extends Metric {
    constructor(name: string, isTime?: boolean);
  }
  /** The share of true (non-zero) samples: `rate`. */
  export class Rate extends Metric {
    constructor(name: string, isTime?: boolean);
  }
  /** A distribution: `avg`, `min`, `med`, `max`, `p(N)`. */
  export class Trend extends Metric {
    constructor(name: string, isTime?: boolean);
  }
  const metrics: { Counter: typeof Counter; Gauge: typeof Gauge; Rate: typeof Rate; Trend: typeof Trend };
  export default metrics;
}

declare module 'k6/encoding' {
  /** Base64 variants: padded or not (`raw`), standard or URL-safe alphabet. */
  export type Base64Encoding = 'std' | 'rawstd' | 'url' | 'rawurl';
  /** A string (as UTF-8) or buffer in base64. */
  export function b64encode(input: string | ArrayBuffer, encoding?: Base64Encoding): string;
  /** Decode base64: the text with format `'s'`, else the bytes. */
  export function b64decode(input: string, encoding: Base64Encoding | undefined, format: 's'): string;
  export function b64decode(input: string, encoding?: Base64Encoding): ArrayBuffer;
  const encoding: { b64encode: typeof b64encode; b64decode: typeof b64decode };
  export default encoding;
}

declare module 'k6/execution' {
  /** This VU: its number and iteration (others throw "not available here"). */
  export const vu: {
    readonly idInTest: number;
    readonly idInInstance: number;
    readonly iterationInInstance: number;
    readonly iterationInScenario: number;
    tags: Record<string, string>;
  };
  /** The scenario: `name` is `default`; its other fields throw "not available here". */
  export const scenario: { readonly name: string };
  export const instance: Record<string, never>;
  export const test: { abort(message?: string): never };
  const execution: { vu: typeof vu; scenario: typeof scenario; instance: typeof instance; test: typeof test };
  export default execution;
}
