// `import http from 'k6/http'`: k6's HTTP API over the host's client. Requests run one after
// another (a VU is one user; `batch` sends its requests in turn).

import { bodyBytes, Response as LocustResponse } from './client.js';
import { send } from './host.js';
import { duration } from './k6-duration.js';

const decoder = new TextDecoder();

const PARAMS = new Set(['headers', 'tags', 'timeout', 'redirects', 'responseType', 'auth']);

function canonical(name) {
  return name.replace(/(^|-)([a-z])/g, (_, dash, letter) => dash + letter.toUpperCase());
}

/** A k6 response: `status`, `body`, `headers`, `json()`, `timings.duration`, ... */
// Every request of every iteration makes one: fields that scripts rarely read are getters, so
// an iteration that only looks at `status` pays for little else.
class Response {
  constructor(inner, responseType) {
    this._inner = inner;
    this._type = responseType;
    this._bodyValue = undefined;
    this.status = inner.status;
  }

  get status_text() {
    return this.status === 0 ? '' : String(this.status);
  }

  get error() {
    return this._inner.error ?? '';
  }

  get error_code() {
    if (this._inner.error === undefined) return 0;
    return this.status === 0 ? 1000 : 1000 + this.status;
  }

  get timings() {
    const elapsed = this._inner.elapsed;
    return {
      duration: elapsed, blocked: 0, connecting: 0, tls_handshaking: 0, sending: 0,
      waiting: elapsed, receiving: 0,
    };
  }

  get request() {
    return this._inner.request;
  }

  get url() {
    return this._inner.url;
  }

  /** Headers with k6's canonical names (`Content-Type`). */
  get headers() {
    const out = {};
    for (const [name, value] of Object.entries(this._inner.headers)) out[canonical(name)] = value;
    return out;
  }

  /** The body: a string, an ArrayBuffer with responseType 'binary', null with 'none'. */
  get body() {
    if (this._type === 'none') return null;
    if (this._bodyValue === undefined) {
      const bytes = this._inner.content;
      this._bodyValue = this._type === 'binary'
        ? bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)
        : decoder.decode(bytes);
    }
    return this._bodyValue;
  }

  /** The body parsed as JSON, or the value at a dotted `selector` (`items.0.id`). */
  json(selector) {
    const text = this._type === 'binary' ? decoder.decode(this._inner.content) : this.body;
    let value = JSON.parse(text);
    if (selector !== undefined) {
      for (const part of String(selector).split('.')) {
        if (value === null || value === undefined) return undefined;
        value = value[part];
      }
    }
    return value;
  }

  html() {
    throw new Error('Response.html() is not supported here: parse response.body yourself');
  }
}

const NO_PARAMS = Object.freeze({});

function toRequest(method, url, body, params = NO_PARAMS) {
  if (params === null) params = NO_PARAMS;
  for (const key in params) {
    if (!PARAMS.has(key)) {
      throw new TypeError(`k6/http: the request parameter "${key}" is not supported here (supported: ${[...PARAMS].join(', ')})`);
    }
  }
  const headers = [];
  if (params.headers !== undefined && params.headers !== null) {
    for (const name in params.headers) {
      const value = params.headers[name];
      if (value !== undefined && value !== null) headers.push([name, String(value)]);
    }
  }
  let target = String(url);
  let basicAuth;
  if (params.auth !== undefined && params.auth !== 'basic') {
    throw new TypeError(`k6/http: auth "${params.auth}" is not supported here (only "basic", with the credentials in the URL)`);
  }
  const credentials = target.includes('@') ? /^(https?:\/\/)([^/@]+)@/.exec(target) : null;
  if (credentials !== null) {
    const [user, password = ''] = credentials[2].split(':');
    basicAuth = [decodeURIComponent(user), decodeURIComponent(password)];
    target = credentials[1] + target.slice(credentials[0].length);
  }
  const responseType = params.responseType ?? 'text';
  if (!['text', 'binary', 'none'].includes(responseType)) {
    throw new TypeError(`k6/http: responseType "${responseType}" is not one of text, binary, none`);
  }
  const name = params.tags && params.tags.name !== undefined ? String(params.tags.name) : undefined;
  return {
    request: {
      method: String(method).toUpperCase(),
      url: target,
      headers,
      query: [],
      body: bodyBytes(body, headers),
      json: undefined,
      basicAuth,
      timeout: params.timeout === undefined ? 60 : duration(params.timeout, 'timeout') / 1000,
      allowRedirects: params.redirects === undefined ? true : Number(params.redirects) > 0,
      name,
      catchResponse: false,
      maxResponseSize: undefined,
    },
    responseType,
  };
}

/** `http.request(method, url, body, params)`. */
export function request(method, url, body, params) {
  const { request: sent, responseType } = toRequest(method, url, body, params);
  const inner = new LocustResponse(send(sent), sent);
  return new Response(inner, responseType);
}

export const get = (url, params) => request('GET', url, null, params);
export const head = (url, params) => request('HEAD', url, null, params);
export const post = (url, body, params) => request('POST', url, body, params);
export const put = (url, body, params) => request('PUT', url, body, params);
export const patch = (url, body, params) => request('PATCH', url, body, params);
export const del = (url, body, params) => request('DELETE', url, body, params);
export const options = (url, body, params) => request('OPTIONS', url, body, params);

function one(item) {
  if (typeof item === 'string') return request('GET', item, null, undefined);
  if (Array.isArray(item)) {
    const [method, url, body, params] = item;
    return request(method, url, body ?? null, params);
  }
  if (item !== null && typeof item === 'object') {
    return request(item.method ?? 'GET', item.url, item.body ?? null, item.params);
  }
  throw new TypeError('http.batch: each request is a URL, [method, url, body, params] or {method, url, body, params}');
}

/** `http.batch(requests)`: each request in turn; the responses in the same shape. */
export function batch(requests) {
  if (Array.isArray(requests)) return requests.map(one);
  const out = {};
  for (const [key, item] of Object.entries(requests)) out[key] = one(item);
  return out;
}

/** `http.url\`...\``: the URL itself (requests are named by their URL or `tags.name`). */
export function url(strings, ...values) {
  return strings.reduce((text, part, index) => text + part + (index < values.length ? values[index] : ''), '');
}

export default { request, get, head, post, put, patch, del, options, batch, url };
