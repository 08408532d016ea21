// Types of `import ... from 'locust'`: Locust's API for users run by the locust WebAssembly
// runtime (`locust -f script.js|.ts`). The runtime bundles the implementation itself; these
// types are for editors and `tsc`.

/** Request options, as Locust's `HttpSession` takes them (camelCase). */
export interface RequestOptions {
  /** The statistics name (default: the URL's path and query). */
  name?: string;
  /** Query parameters, added to the URL. */
  params?: Record<string, string | number | boolean | Array<string | number>> | Array<[string, string]>;
  /** Request headers. */
  headers?: Record<string, string> | Array<[string, string]>;
  /** The body: text, bytes, or an object sent form-encoded. */
  data?: string | Uint8Array | ArrayBuffer | Record<string, unknown>;
  /** Same as `data`. */
  body?: string | Uint8Array | ArrayBuffer | Record<string, unknown>;
  /** A value sent as JSON (with `content-type: application/json`). */
  json?: unknown;
  /** HTTP basic authentication: `[user, password]`. */
  auth?: [string, string];
  /** Seconds to wait for the whole response. */
  timeout?: number;
  /** Follow redirects (default true). */
  allowRedirects?: boolean;
  /** Decide success or failure yourself with `response.success()` / `response.failure()`. */
  catchResponse?: boolean;
  /** The largest body read, in bytes. */
  maxResponseSize?: number;
}

/** What came back from a request. A response's headers and body are readable during the
 * task that made the request. */
export class Response {
  /** HTTP status; 0 when no response arrived. */
  readonly status: number;
  /** Locust's name for `status`. */
  readonly statusCode: number;
  /** Milliseconds from sending to the end of the body. */
  readonly elapsed: number;
  /** Why the request failed (connection error, timeout, status ≥ 400). */
  readonly error: string | undefined;
  /** True when the request succeeded. */
  readonly ok: boolean;
  /** The final URL, after redirects. */
  readonly url: string;
  /** Headers by lower-case name. */
  readonly headers: Record<string, string>;
  /** The body's bytes. */
  readonly content: Uint8Array;
  /** The request as sent. */
  readonly request: { method: string; url: string };
  /** The body as UTF-8 text. */
  text(): string;
  /** The body parsed as JSON. */
  json<T = any>(): T;
  /** With `catchResponse`: record the request as a success. */
  success(): void;
  /** With `catchResponse`: record the request as a failure. */
  failure(message: string | Error): void;
}

/** Locust's `HttpSession`: `this.client` of an `HttpUser`. */
export class HttpSession {
  request(method: string, url: string, options?: RequestOptions): Response;
  /** `request`, recorded under `requestType` instead of the method. */
  requestAs(requestType: string, method: string, url: string, options?: RequestOptions): Response;
  get(url: string, options?: RequestOptions): Response;
  post(url: string, options?: RequestOptions): Response;
  put(url: string, options?: RequestOptions): Response;
  patch(url: string, options?: RequestOptions): Response;
  delete(url: string, options?: RequestOptions): Response;
  head(url: string, options?: RequestOptions): Response;
  options(url: string, options?: RequestOptions): Response;
}

/** Throw to stop this user for good (`onStop` still runs). */
export class StopUser extends Error {
  constructor(message?: string);
}

/** Thrown by `TaskSet.interrupt()`. */
export class InterruptTaskSet extends Error {
  constructor(reschedule?: boolean);
  readonly reschedule: boolean;
}

/** A wait policy for `static waitTime`. */
export class WaitPolicy {
  private constructor();
}

/** Wait a random time between `min` and `max` seconds after each task. */
export function between(min: number, max: number): WaitPolicy;
/** Wait `seconds` after each task. */
export function constant(seconds: number): WaitPolicy;
/** Start one task every `seconds`, however long tasks take. */
export function constantPacing(seconds: number): WaitPolicy;
/** Pause this user for `seconds` inside a task. */
export function sleep(seconds: number): void;

/** What a task can be: a method name, a function, or a task set class. */
export type TaskTarget = string | ((this: any, self: any) => void) | typeof TaskSet;

/** A task with its weight and tags, as `task()` and `tag()` make it. */
export class TaskEntry {
  readonly target: TaskTarget;
  readonly weight: number;
  readonly tags: string[];
}

/** `task(target)` or `task(weight, target)`. */
export function task(target: TaskTarget | TaskEntry): TaskEntry;
export function task(weight: number, target: TaskTarget | TaskEntry): TaskEntry;
/** `tag(name, ..., target)`: tags for `--tags` / `--exclude-tags`. */
export function tag(...namesAndTarget: [string, ...Array<string | TaskTarget | TaskEntry>]): TaskEntry;

/** `static tasks`: entries, `[target, weight]` pairs, or `{ methodName: weight }`. */
export type Tasks = Array<TaskTarget | TaskEntry | [TaskTarget, number]> | Record<string, number>;

/** A custom wait: seconds to wait, computed per task. */
export type WaitFunction = (this: any, self: any) => number;

/** The test's environment. */
export interface Environment {
  /** The host under test: `--host`, else the user class's `host`. */
  readonly host: string | undefined;
  /** Options declared in `events.initCommandLineParser`, by kebab-case and camelCase name. */
  readonly parsedOptions: Record<string, string | boolean | undefined>;
}

export const environment: Environment;

/** A simulated user. */
export class User {
  /** Relative weight among the script's user classes. */
  static weight?: number;
  /** The default host of this class. */
  static host?: string;
  /** The wait after each task. */
  static waitTime?: WaitPolicy | WaitFunction;
  /** The tasks. */
  static tasks?: Tasks;
  /** A base class never spawned itself. */
  static abstract?: boolean;
  readonly environment: Environment;
  readonly host: string | undefined;
  /** Before the first task. */
  onStart(): void;
  /** When the user stops. */
  onStop(): void;
}

/** A user with `this.client`. */
export class HttpUser extends User {
  readonly client: HttpSession;
}

/** Locust's FastHttpUser: the same client here. */
export const FastHttpUser: typeof HttpUser;

/** A set of tasks chosen by weight until one calls `interrupt()`. */
export class TaskSet {
  static tasks?: Tasks;
  static waitTime?: WaitPolicy | WaitFunction;
  static tags?: string[];
  constructor(parent: User | TaskSet);
  readonly parent: User | TaskSet;
  readonly user: any;
  readonly client: HttpSession;
  readonly environment: Environment;
  /** Leave this set; with `reschedule` false the parent waits before its next task. */
  interrupt(reschedule?: boolean): never;
  onStart(): void;
  onStop(): void;
}

/** A task set whose tasks run in order, round and round. */
export class SequentialTaskSet extends TaskSet {}

/** What `events.request` listeners get. */
export interface RequestEvent {
  requestType: string;
  name: string;
  responseTime: number;
  responseLength: number;
  exception: string | undefined;
}

/** The parser `initCommandLineParser` listeners get. */
export interface OptionParser {
  addArgument(flag: string, settings?: { default?: string | number | boolean; help?: string }): void;
}

/** One event's listeners. */
export class EventHook<Args extends unknown[] = []> {
  addListener<F extends (...args: Args) => unknown>(listener: F): F;
  removeListener(listener: (...args: Args) => unknown): void;
  fire(...args: Args): unknown[];
}

/** Locust's events, camelCase. */
export const events: {
  init: EventHook;
  initCommandLineParser: EventHook<[OptionParser]>;
  testStart: EventHook;
  testStop: EventHook;
  request: EventHook<[RequestEvent]>;
  reportToMaster: EventHook<[]>;
  workerReport: EventHook<[string, Uint8Array]>;
  quitting: EventHook;
};

/** Logging into the host's log, with the user's class named. */
export const log: {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warning(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
};
