// safetensors reading and writing, byte-level (no Tensor, no Node built-ins).
//
// File layout: an 8-byte little-endian unsigned header length N; N bytes of UTF-8 JSON
//   {"__metadata__": {str: str}, "name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}
// with offsets relative to the first byte after the header; then the raw little-endian tensor data.

import { FormatError } from './errors.ts';

/** Element types a safetensors entry can declare (the subset of the spec this library reads and writes). */
export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** One tensor: element type, shape, and its raw little-endian bytes (row-major). */
export interface SafetensorsEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  data: Uint8Array;
}

/** A decoded file: tensors by name and the optional string-to-string `__metadata__`. */
export interface DecodedSafetensors {
  tensors: Record<string, SafetensorsEntry>;
  metadata: Record<string, string> | undefined;
}

/** Bytes per element of each dtype. */
export const SAFETENSORS_DTYPE_SIZE: Readonly<Record<SafetensorsDtype, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** The typed array `toTypedArray` returns (and `fromTypedArray` takes) for each dtype; F16/BF16 are raw bit patterns. */
export interface SafetensorsArrayFor {
  F64: Float64Array;
  F32: Float32Array;
  F16: Uint16Array;
  BF16: Uint16Array;
  I64: BigInt64Array;
  I32: Int32Array;
  I16: Int16Array;
  I8: Int8Array;
  U8: Uint8Array;
  BOOL: Uint8Array;
}

const METADATA_KEY = '__metadata__';
const MAX_HEADER_BYTES = 100_000_000;

const isDtype = (d: unknown): d is SafetensorsDtype =>
  typeof d === 'string' && Object.prototype.hasOwnProperty.call(SAFETENSORS_DTYPE_SIZE, d);
const DTYPE_LIST = Object.keys(SAFETENSORS_DTYPE_SIZE).join(', ');

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Sets an own enumerable property, safe for names such as "__proto__". */
function define<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * The first top-level key of a JSON object text that occurs twice, or undefined. JSON.parse keeps
 * the last of equal keys; the reference implementation refuses them. `text` must be valid JSON
 * (parsed already), so strings and nesting are all this scan has to follow. O(length of text).
 */
function duplicateTopLevelKey(text: string): string | undefined {
  const seen = new Set<string>();
  let depth = 0, expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      while (text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c /* \ */ ? 2 : 1;
      if (depth === 1 && expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (seen.has(key)) return key;
        seen.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth === 1) expectKey = true;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth--;
    else if (c === 0x2c /* , */ && depth === 1) expectKey = true;
  }
  return undefined;
}

function checkShape(shape: unknown, where: string): number[] {
  if (!Array.isArray(shape) || !shape.every(isIndex)) {
    throw new FormatError(`${where}: shape is ${JSON.stringify(shape)}, expected an array of non-negative integers`);
  }
  return shape;
}

/**
 * Serialises tensors (and optional string metadata) to safetensors bytes. Deterministic: tensors are
 * laid out by element size (largest first, so every tensor stays aligned) then name, and the header
 * is padded with spaces so the data starts at a multiple of 8.
 */
export function encodeSafetensors(
  tensors: Record<string, SafetensorsEntry>,
  metadata?: Record<string, string>,
): Uint8Array {
  const names = Object.keys(tensors);
  for (const name of names) {
    const where = `encodeSafetensors: tensor ${JSON.stringify(name)}`;
    if (name === METADATA_KEY) throw new FormatError(`${where}: the name is reserved for metadata`);
    const t = tensors[name]!;
    if (!isDtype(t.dtype)) {
      throw new FormatError(`${where}: dtype is ${JSON.stringify(t.dtype)}, expected one of ${DTYPE_LIST}`);
    }
    const shape = checkShape(t.shape, where);
    if (!(t.data instanceof Uint8Array)) throw new FormatError(`${where}: data is not a Uint8Array of raw bytes`);
    const want = numel(shape) * SAFETENSORS_DTYPE_SIZE[t.dtype];
    if (t.data.byteLength !== want) {
      throw new FormatError(
        `${where}: data has ${t.data.byteLength} bytes, expected ${want} ` +
          `(shape [${shape.join(', ')}] of ${t.dtype})`,
      );
    }
  }
  const order = names.sort((a, b) => {
    const sa = SAFETENSORS_DTYPE_SIZE[tensors[a]!.dtype];
    const sb = SAFETENSORS_DTYPE_SIZE[tensors[b]!.dtype];
    return sa !== sb ? sb - sa : a < b ? -1 : a > b ? 1 : 0;
  });

  // The JSON is assembled by hand: JSON.stringify of an object would move integer-like keys first.
  const parts: string[] = [];
  if (metadata !== undefined) {
    const keys = Object.keys(metadata).sort();
    const fields = keys.map((k) => {
      const v = metadata[k];
      if (typeof v !== 'string') {
        throw new FormatError(`encodeSafetensors: metadata ${JSON.stringify(k)} is ${typeof v}, expected a string`);
      }
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
    });
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${fields.join(',')}}`);
  }
  let offset = 0;
  for (const name of order) {
    const t = tensors[name]!;
    const end = offset + t.data.byteLength;
    parts.push(
      `${JSON.stringify(name)}:{"dtype":${JSON.stringify(t.dtype)},"shape":${JSON.stringify(t.shape)},` +
        `"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLen % 2 ** 32, true);
  view.setUint32(4, Math.floor(headerLen / 2 ** 32), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const name of order) {
    const data = tensors[name]!.data;
    out.set(data, pos);
    pos += data.byteLength;
  }
  return out;
}

/**
 * Parses safetensors bytes, validating the whole header before reading any tensor. Each entry's
 * `data` is a view into `bytes` (no copy). `source` names the file in error messages.
 */
export function decodeSafetensors(bytes: Uint8Array, source = '<safetensors bytes>'): DecodedSafetensors {
  if (bytes.length < 8) {
    throw new FormatError(
      `${source}: file is ${bytes.length} bytes, expected at least 8 (the little-endian u64 header length)`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  const headerLen = hi * 2 ** 32 + lo; // exact up to 2^53; anything that large fails the checks below
  if (headerLen > bytes.length - 8) {
    throw new FormatError(
      `${source}: header length field says ${headerLen} bytes, but only ${bytes.length - 8} bytes ` +
        `follow the 8-byte length field (file is ${bytes.length} bytes)`,
    );
  }
  if (headerLen > MAX_HEADER_BYTES) {
    throw new FormatError(`${source}: header length is ${headerLen} bytes, expected at most ${MAX_HEADER_BYTES}`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
  } catch {
    throw new FormatError(`${source}: the ${headerLen}-byte header is not valid UTF-8`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    const shown = text.length > 80 ? text.slice(0, 80) + '…' : text;
    throw new FormatError(`${source}: header is not valid JSON (${why}); header starts ${JSON.stringify(shown)}`);
  }
  if (!isPlainObject(header)) {
    throw new FormatError(
      `${source}: header is JSON ${header === null ? 'null' : Array.isArray(header) ? 'array' : typeof header}, ` +
        `expected an object mapping tensor names to {dtype, shape, data_offsets}`,
    );
  }
  const dup = duplicateTopLevelKey(text);
  if (dup !== undefined) {
    throw new FormatError(`${source}: header has the key ${JSON.stringify(dup)} more than once; every tensor name must be unique`);
  }

  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  let metadata: Record<string, string> | undefined;
  const plan: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const name of Object.keys(header)) {
    const value = header[name];
    if (name === METADATA_KEY) {
      if (value === null) continue;
      if (!isPlainObject(value)) {
        throw new FormatError(`${source}: "__metadata__" is ${JSON.stringify(value)}, expected an object of strings`);
      }
      metadata = {};
      for (const k of Object.keys(value)) {
        const v = value[k];
        if (typeof v !== 'string') {
          throw new FormatError(
            `${source}: "__metadata__" field ${JSON.stringify(k)} is ${JSON.stringify(v)}, expected a string`,
          );
        }
        define(metadata, k, v);
      }
      continue;
    }
    const where = `${source}: tensor ${JSON.stringify(name)}`;
    if (!isPlainObject(value)) {
      throw new FormatError(`${where}: entry is ${JSON.stringify(value)}, expected {dtype, shape, data_offsets}`);
    }
    const { dtype, data_offsets: offsets } = value;
    if (!isDtype(dtype)) {
      throw new FormatError(`${where}: dtype is ${JSON.stringify(dtype)}, expected one of ${DTYPE_LIST}`);
    }
    const shape = checkShape(value.shape, where);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) {
      throw new FormatError(
        `${where}: data_offsets is ${JSON.stringify(offsets)}, expected [begin, end] of non-negative integers`,
      );
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataLen) {
      throw new FormatError(
        `${where}: data_offsets [${begin}, ${end}] out of range, expected 0 <= begin <= end <= ${dataLen} ` +
          `(the data section's size)`,
      );
    }
    const want = numel(shape) * SAFETENSORS_DTYPE_SIZE[dtype];
    if (end - begin !== want) {
      throw new FormatError(
        `${where}: data_offsets [${begin}, ${end}] span ${end - begin} bytes, expected ${want} ` +
          `(shape [${shape.join(', ')}] of ${dtype})`,
      );
    }
    plan.push({ name, dtype, shape, begin, end });
  }

  // as the reference implementation: the tensors, in offset order, tile the data section exactly
  // (no byte shared by two tensors, none unused between them, none left over at the end)
  const byOffset = [...plan].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  byOffset.forEach((t, i) => {
    const prev = byOffset[i - 1];
    const where = `${source}: tensor ${JSON.stringify(t.name)}: data_offsets [${t.begin}, ${t.end}]`;
    if (t.begin < covered) {
      throw new FormatError(`${where} overlap tensor ${JSON.stringify(prev!.name)} (data_offsets [${prev!.begin}, ${prev!.end}]); every byte of the data section must belong to one tensor`);
    }
    if (t.begin > covered) {
      const after = prev ? `tensor ${JSON.stringify(prev.name)} ends at byte ${covered}` : 'the data section starts at byte 0';
      throw new FormatError(`${where} leave a gap of ${t.begin - covered} bytes (${after}); the tensors must cover the data section without gaps`);
    }
    covered = t.end;
  });
  if (covered !== dataLen) {
    throw new FormatError(`${source}: the tensors cover ${covered} bytes of the ${dataLen}-byte data section; ${dataLen - covered} trailing bytes belong to no tensor`);
  }

  const tensors: Record<string, SafetensorsEntry> = {};
  for (const { name, dtype, shape, begin, end } of plan) {
    define(tensors, name, { dtype, shape, data: bytes.subarray(dataStart + begin, dataStart + end) });
  }
  return { tensors, metadata };
}

let littleEndianChecked = false;
function requireLittleEndian(): void {
  if (littleEndianChecked) return;
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new Error('safetensors: this host is big-endian; typed-array conversion assumes a little-endian host');
  }
  littleEndianChecked = true;
}

const ARRAY_CTOR = {
  F64: Float64Array,
  F32: Float32Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  I64: BigInt64Array,
  I32: Int32Array,
  I16: Int16Array,
  I8: Int8Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
} as const satisfies Record<SafetensorsDtype, unknown>;

function checkBool(a: Uint8Array, where: string): void {
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (v > 1) throw new FormatError(`${where}: BOOL element ${i} is byte ${v}, expected 0 or 1`);
  }
}

/**
 * Views an entry's bytes as the typed array of its dtype (see `SafetensorsArrayFor`); copies only
 * when the bytes are not aligned to the element size. BOOL is a Uint8Array of 0/1.
 */
export function toTypedArray<D extends SafetensorsDtype>(
  entry: { dtype: D; shape: readonly number[]; data: Uint8Array },
): SafetensorsArrayFor[D] {
  requireLittleEndian();
  const { dtype, shape } = entry;
  if (!isDtype(dtype)) {
    throw new FormatError(`toTypedArray: dtype is ${JSON.stringify(dtype)}, expected one of ${DTYPE_LIST}`);
  }
  const size = SAFETENSORS_DTYPE_SIZE[dtype];
  const count = numel(shape);
  if (entry.data.byteLength !== count * size) {
    throw new FormatError(
      `toTypedArray: data has ${entry.data.byteLength} bytes, expected ${count * size} ` +
        `(shape [${shape.join(', ')}] of ${dtype})`,
    );
  }
  const data = entry.data.byteOffset % size === 0 ? entry.data : entry.data.slice();
  if (dtype === 'BOOL') checkBool(data, 'toTypedArray');
  const Ctor = ARRAY_CTOR[dtype] as unknown as new (b: ArrayBufferLike, off: number, len: number) => SafetensorsArrayFor[D];
  return new Ctor(data.buffer, data.byteOffset, count);
}

/**
 * Wraps a typed array as a safetensors entry of `dtype` and `shape`; `data` views the array's bytes
 * (no copy). The array type must match the dtype (see `SafetensorsArrayFor`).
 */
export function fromTypedArray<D extends SafetensorsDtype>(
  dtype: D,
  shape: readonly number[],
  array: SafetensorsArrayFor[D],
): SafetensorsEntry & { dtype: D } {
  requireLittleEndian();
  if (!isDtype(dtype)) {
    throw new FormatError(`fromTypedArray: dtype is ${JSON.stringify(dtype)}, expected one of ${DTYPE_LIST}`);
  }
  const where = `fromTypedArray(${dtype})`;
  const s = checkShape([...shape], where);
  const Ctor = ARRAY_CTOR[dtype];
  if (!(array instanceof Ctor)) {
    throw new FormatError(`${where}: got a ${array?.constructor?.name ?? typeof array}, expected a ${Ctor.name}`);
  }
  if (array.length !== numel(s)) {
    throw new FormatError(`${where}: array has ${array.length} elements, expected ${numel(s)} for shape [${s.join(', ')}]`);
  }
  const data = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  if (dtype === 'BOOL') checkBool(data, where);
  return { dtype, shape: s, data };
}
