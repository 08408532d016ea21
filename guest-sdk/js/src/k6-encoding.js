// `import encoding from 'k6/encoding'`: base64 as k6 has it (`std`, `rawstd`, `url`,
// `rawurl`), over strings (UTF-8) and ArrayBuffers.

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const VARIANTS = ['std', 'rawstd', 'url', 'rawurl'];

function variant(name) {
  const chosen = name === undefined || name === null || name === '' ? 'std' : String(name);
  if (!VARIANTS.includes(chosen)) {
    throw new TypeError(`unknown base64 encoding "${chosen}" (use ${VARIANTS.join(', ')})`);
  }
  return chosen;
}

function bytesOf(input) {
  if (typeof input === 'string') return encoder.encode(input);
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  throw new TypeError('b64encode takes a string or an ArrayBuffer');
}

/** `input` (a string, as UTF-8, or an ArrayBuffer) in base64 of the given variant. */
export function b64encode(input, encoding) {
  const kind = variant(encoding);
  let binary = '';
  for (const byte of bytesOf(input)) binary += String.fromCharCode(byte);
  let text = btoa(binary);
  if (kind === 'url' || kind === 'rawurl') text = text.replace(/\+/g, '-').replace(/\//g, '_');
  if (kind === 'rawstd' || kind === 'rawurl') text = text.replace(/=+$/, '');
  return text;
}

/** Decode base64 of the given variant: an ArrayBuffer, or a string when `format` is `'s'`. */
export function b64decode(input, encoding, format) {
  const kind = variant(encoding);
  let text = String(input);
  if (kind === 'url' || kind === 'rawurl') text = text.replace(/-/g, '+').replace(/_/g, '/');
  while (text.length % 4 !== 0) text += '=';
  let binary;
  try {
    binary = atob(text);
  } catch {
    throw new TypeError(`b64decode: the input is not valid ${kind} base64`);
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return format === 's' ? decoder.decode(bytes) : bytes.buffer;
}

export default { b64encode, b64decode };
