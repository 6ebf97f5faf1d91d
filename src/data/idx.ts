// IDX file reader (the format MNIST ships in). Pure byte handling: no Node built-ins, no Tensor.
//
// Layout: bytes 0-1 are zero, byte 2 is the element type code, byte 3 the number of dimensions;
// then one big-endian uint32 per dimension; then the elements, big-endian, row-major.
// Gzip-compressed files must be decompressed before they reach `parseIdx` (see `idx-node.ts`).

import { FormatError } from '../io/errors.ts';

/** Element types an IDX file can hold. */
export type IdxDtype = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

/** The typed array `parseIdx` returns for each IDX element type. */
export interface IdxArrayFor {
  uint8: Uint8Array;
  int8: Int8Array;
  int16: Int16Array;
  int32: Int32Array;
  float32: Float32Array;
  float64: Float64Array;
}

/** Any array `parseIdx` can return. */
export type IdxArray = IdxArrayFor[IdxDtype];

/** A parsed IDX file: dimensions, elements in row-major order, and their type. */
export interface ParsedIdx<D extends IdxDtype = IdxDtype> {
  shape: number[];
  data: IdxArrayFor[D];
  dtype: D;
}

const TYPE_CODES: Readonly<Record<number, { dtype: IdxDtype; size: number }>> = {
  0x08: { dtype: 'uint8', size: 1 },
  0x09: { dtype: 'int8', size: 1 },
  0x0b: { dtype: 'int16', size: 2 },
  0x0c: { dtype: 'int32', size: 4 },
  0x0d: { dtype: 'float32', size: 4 },
  0x0e: { dtype: 'float64', size: 8 },
};

const hex = (n: number, width = 2): string => '0x' + n.toString(16).padStart(width, '0');

/** True when `bytes` starts with the gzip magic number 0x1f 0x8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Parses an uncompressed IDX file. uint8/int8 data is a view of `bytes` (no copy); wider types are
 * decoded from big-endian into fresh arrays. `source` names the file in error messages.
 */
export function parseIdx(bytes: Uint8Array, source = '<IDX bytes>'): ParsedIdx {
  if (isGzip(bytes)) {
    throw new FormatError(
      `${source}: found gzip magic bytes 0x1f 0x8b, expected an uncompressed IDX file; ` +
        `decompress it first (in Node, readIdxFile from src/data/idx-node.ts does this)`,
    );
  }
  if (bytes.length < 4) {
    throw new FormatError(
      `${source}: file is ${bytes.length} bytes, expected at least the 4-byte IDX magic number`,
    );
  }
  const b0 = bytes[0] ?? 0;
  const b1 = bytes[1] ?? 0;
  const code = bytes[2] ?? 0;
  const ndim = bytes[3] ?? 0;
  if (b0 !== 0 || b1 !== 0) {
    const magic = (((b0 << 24) | (b1 << 16) | (code << 8) | ndim) >>> 0).toString(16).padStart(8, '0');
    throw new FormatError(
      `${source}: bad IDX magic number 0x${magic}: the first two bytes must be zero ` +
        `(MNIST labels start 0x00000801, images 0x00000803)`,
    );
  }
  const type = TYPE_CODES[code];
  if (type === undefined) {
    throw new FormatError(
      `${source}: unknown IDX type code ${hex(code)} in byte 2, expected one of ` +
        `0x08 (ubyte), 0x09 (byte), 0x0b (short), 0x0c (int), 0x0d (float), 0x0e (double)`,
    );
  }
  if (ndim < 1) {
    throw new FormatError(`${source}: IDX header declares 0 dimensions in byte 3, expected at least 1`);
  }
  const headerBytes = 4 + 4 * ndim;
  if (bytes.length < headerBytes) {
    throw new FormatError(
      `${source}: IDX header with ${ndim} dimensions needs ${headerBytes} bytes, ` +
        `but the file has only ${bytes.length} bytes`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  let count = 1;
  for (let i = 0; i < ndim; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    shape.push(d);
    count *= d;
  }
  const expected = count * type.size;
  const actual = bytes.length - headerBytes;
  if (actual !== expected) {
    const what = actual < expected ? 'truncated' : 'has trailing bytes';
    throw new FormatError(
      `${source}: file ${what}: shape [${shape.join(', ')}] of ${type.dtype} needs ` +
        `${expected} data bytes after the ${headerBytes}-byte header (${headerBytes + expected} in all), ` +
        `but found ${actual} data bytes (${bytes.length} in all)`,
    );
  }
  return { shape, dtype: type.dtype, data: decodeBigEndian(type.dtype, view, headerBytes, count) };
}

function decodeBigEndian(dtype: IdxDtype, view: DataView, offset: number, count: number): IdxArray {
  const base = view.byteOffset + offset;
  switch (dtype) {
    case 'uint8':
      return new Uint8Array(view.buffer, base, count);
    case 'int8':
      return new Int8Array(view.buffer, base, count);
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(offset + 2 * i, false);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(offset + 4 * i, false);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(offset + 4 * i, false);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(offset + 8 * i, false);
      return out;
    }
    default:
      return dtype satisfies never;
  }
}

/** An IDX file that has passed `expectMnistIdx`: unsigned bytes, [N, 28, 28] images or [N] labels. */
export type MnistIdx = ParsedIdx<'uint8'>;

/**
 * Checks that a parsed IDX file is an MNIST images file (ubyte, [N, 28, 28]) or labels file
 * (ubyte, [N], every label 0..9); throws a FormatError naming `source` otherwise.
 */
export function expectMnistIdx(
  parsed: ParsedIdx,
  kind: 'images' | 'labels',
  source = '<MNIST IDX>',
): asserts parsed is MnistIdx {
  const want = kind === 'images' ? 'unsigned-byte images of shape [N, 28, 28] (magic 0x00000803)'
    : 'unsigned-byte labels of shape [N] (magic 0x00000801)';
  if (parsed.dtype !== 'uint8') {
    throw new FormatError(`${source}: MNIST ${kind} file holds ${parsed.dtype} elements, expected ${want}`);
  }
  const s = parsed.shape;
  const ok = kind === 'images' ? s.length === 3 && s[1] === 28 && s[2] === 28 : s.length === 1;
  if (!ok) {
    throw new FormatError(`${source}: MNIST ${kind} file has shape [${s.join(', ')}], expected ${want}`);
  }
  if (kind === 'labels') {
    const data = parsed.data as Uint8Array;
    for (let i = 0; i < data.length; i++) {
      const v = data[i] ?? 0;
      if (v > 9) throw new FormatError(`${source}: label ${i} is ${v}, expected a digit 0..9`);
    }
  }
}
