// `this.client`: Locust's HttpSession over the host's HTTP client. Requests are performed,
// timed and recorded by the host; a response's headers and body stay in the host until read.

import { send, sendAs, resolve } from './host.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// Responses whose host-side data is still held; released when the task ends.
const held = [];

/** Release every response made during the task that just ended (their data stays readable
 * where it was read already). */
export function releaseResponses() {
  while (held.length > 0) {
    held.pop()._release();
  }
}

function pairs(value, what) {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) {
    return value.map((pair) => {
      if (!Array.isArray(pair) || pair.length !== 2) {
        throw new TypeError(`${what} as a list must hold [name, value] pairs`);
      }
      return [String(pair[0]), String(pair[1])];
    });
  }
  if (typeof URLSearchParams !== 'undefined' && value instanceof URLSearchParams) {
    return [...value.entries()];
  }
  if (typeof value === 'object') {
    const out = [];
    for (const [name, item] of Object.entries(value)) {
      if (item === undefined || item === null) continue;
      for (const one of Array.isArray(item) ? item : [item]) out.push([name, String(one)]);
    }
    return out;
  }
  throw new TypeError(`${what} must be an object or a list of [name, value] pairs`);
}

/** `application/x-www-form-urlencoded` text of an object's fields. */
export function formEncode(fields) {
  return pairs(fields, 'form data')
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
    .join('&')
    .replace(/%20/g, '+');
}

/** A body as bytes: strings in UTF-8, buffers as they are, plain objects form-encoded (the
 * content type is added to `headers` unless set). */
export function bodyBytes(body, headers) {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return encoder.encode(body);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (typeof body === 'object') {
    if (!headers.some(([name]) => name.toLowerCase() === 'content-type')) {
      headers.push(['content-type', 'application/x-www-form-urlencoded']);
    }
    return encoder.encode(formEncode(body));
  }
  return encoder.encode(String(body));
}

const OPTIONS = new Set([
  'name', 'params', 'headers', 'data', 'body', 'json', 'auth', 'timeout',
  'allowRedirects', 'catchResponse', 'maxResponseSize',
]);

/** The contract's request record for Locust-style options. */
export function buildRequest(method, url, options = {}) {
  for (const key of Object.keys(options)) {
    if (!OPTIONS.has(key)) {
      throw new TypeError(
        `unknown request option "${key}" (known: ${[...OPTIONS].join(', ')})`,
      );
    }
  }
  const headers = pairs(options.headers, 'headers');
  const data = options.data !== undefined ? options.data : options.body;
  const json = options.json !== undefined && data === undefined
    ? JSON.stringify(options.json)
    : undefined;
  let basicAuth;
  if (options.auth !== undefined && options.auth !== null) {
    if (!Array.isArray(options.auth) || options.auth.length !== 2) {
      throw new TypeError('auth must be [user, password]');
    }
    basicAuth = [String(options.auth[0]), String(options.auth[1])];
  }
  return {
    method: String(method).toUpperCase(),
    url: String(url),
    headers,
    query: pairs(options.params, 'params'),
    body: bodyBytes(data, headers),
    json,
    basicAuth,
    timeout: options.timeout === undefined || options.timeout === null
      ? undefined
      : Number(options.timeout),
    allowRedirects: options.allowRedirects === undefined ? true : Boolean(options.allowRedirects),
    name: options.name === undefined || options.name === null ? undefined : String(options.name),
    catchResponse: Boolean(options.catchResponse),
    maxResponseSize: options.maxResponseSize === undefined
      ? undefined
      : BigInt(options.maxResponseSize),
  };
}

/** What came back from a request. */
export class Response {
  constructor(raw, request) {
    /** HTTP status, 0 when no response arrived. */
    this.status = raw.status;
    /** Milliseconds from sending to the end of the body. */
    this.elapsed = raw.elapsedMs;
    /** Why the request failed (a connection error, a timeout, status ≥ 400), else undefined. */
    this.error = raw.error;
    this._request = request;
    this._id = raw.id;
    this._data = raw.data;
    this._catch = request.catchResponse;
    this._resolved = false;
    this._url = undefined;
    this._headers = undefined;
    this._body = undefined;
    held.push(this);
  }

  _release() {
    const data = this._data;
    this._data = undefined;
    if (data !== undefined && typeof data[Symbol.dispose] === 'function') data[Symbol.dispose]();
  }

  _read(part) {
    if (this._data === undefined) {
      throw new Error(
        `this response's ${part} was not read during the task that made the request; read it there`,
      );
    }
    return this._data[part]();
  }

  /** The request as sent: `{method, url}`. */
  get request() {
    return { method: this._request.method, url: this._request.url };
  }

  /** Locust's name for `status`. */
  get statusCode() {
    return this.status;
  }

  /** True when the request succeeded (no error, status below 400). */
  get ok() {
    return this.error === undefined;
  }

  /** The final URL, after redirects. */
  get url() {
    if (this._url === undefined) this._url = this._read('url');
    return this._url;
  }

  /** Headers by lower-case name; repeated headers joined with ", ". */
  get headers() {
    if (this._headers === undefined) {
      const headers = {};
      for (const [name, value] of this._read('headers')) {
        headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
      }
      this._headers = headers;
    }
    return this._headers;
  }

  /** The body's bytes. */
  get content() {
    if (this._body === undefined) this._body = this._read('body');
    return this._body;
  }

  /** The body as text (UTF-8). */
  text() {
    return decoder.decode(this.content);
  }

  /** The body parsed as JSON. */
  json() {
    return JSON.parse(this.text());
  }

  /** With `catchResponse`: record this request as a success whatever its status. */
  success() {
    this._verdict({ tag: 'success' });
  }

  /** With `catchResponse`: record this request as a failure with `message`. */
  failure(message) {
    this._verdict({ tag: 'failure', val: message instanceof Error ? message.message : String(message) });
  }

  _verdict(verdict) {
    if (!this._catch) {
      throw new Error('success() and failure() need the request to be made with catchResponse: true');
    }
    if (!this._resolved) {
      this._resolved = true;
      resolve(this._id, verdict);
    }
  }
}

/** Locust's `HttpSession`: `this.client` of an `HttpUser`. */
export class HttpSession {
  /** Perform a request; `options` as Locust's: name, params, headers, data/body, json, auth,
   * timeout (seconds), allowRedirects, catchResponse. */
  request(method, url, options) {
    const request = buildRequest(method, url, options);
    return new Response(send(request), request);
  }

  /** `request`, recorded under `requestType` instead of the method. */
  requestAs(requestType, method, url, options) {
    const request = buildRequest(method, url, options);
    return new Response(sendAs(request, String(requestType)), request);
  }

  get(url, options) { return this.request('GET', url, options); }
  post(url, options) { return this.request('POST', url, options); }
  put(url, options) { return this.request('PUT', url, options); }
  patch(url, options) { return this.request('PATCH', url, options); }
  delete(url, options) { return this.request('DELETE', url, options); }
  head(url, options) { return this.request('HEAD', url, options); }
  options(url, options) { return this.request('OPTIONS', url, options); }
}
