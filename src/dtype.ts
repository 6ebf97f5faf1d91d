/** @file dtypes, their storage arrays and PyTorch's promotion rules. */
import { DTypeError } from './errors.ts';

export type DType = 'float32' | 'float64' | 'int32' | 'bool';
export const DTYPES: readonly DType[] = ['float32', 'float64', 'int32', 'bool'];

export type TypedArray = Float32Array | Float64Array | Int32Array | Uint8Array;

/** The typed array that stores a dtype (bool is stored as 0/1 bytes). */
export function arrayFor(dtype: DType, size: number): TypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(size);
    case 'float64': return new Float64Array(size);
    case 'int32': return new Int32Array(size);
    case 'bool': return new Uint8Array(size);
    default: return dtype satisfies never;
  }
}

/** Bytes from which `arrayForOverwrite` skips zeroing (smaller arrays come from V8's pools anyway). */
const UNINIT_MIN_BYTES = 65536;

/**
 * A fresh array of `size` elements whose every element the caller overwrites: in Node, large
 * ones are allocated without zeroing (`Buffer.allocUnsafeSlow`, a buffer of its own), which
 * saves a pass over fresh memory (~0.1 ms per 4 MB); elsewhere, `arrayFor`.
 */
export function arrayForOverwrite(dtype: DType, size: number): TypedArray {
  const bytes = size * bytesPerElement(dtype);
  const B = (globalThis as { Buffer?: { allocUnsafeSlow?(n: number): Uint8Array } }).Buffer;
  if (bytes < UNINIT_MIN_BYTES || typeof B?.allocUnsafeSlow !== 'function') return arrayFor(dtype, size);
  const b = B.allocUnsafeSlow(bytes);
  return arrayOver(dtype, b.buffer, b.byteOffset, size);
}

/** A typed array of `dtype` over `size` elements of existing memory from `byteOffset`. */
export function arrayOver(dtype: DType, buffer: ArrayBufferLike, byteOffset: number, size: number): TypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(buffer, byteOffset, size);
    case 'float64': return new Float64Array(buffer, byteOffset, size);
    case 'int32': return new Int32Array(buffer, byteOffset, size);
    case 'bool': return new Uint8Array(buffer, byteOffset, size);
    default: return dtype satisfies never;
  }
}

export function bytesPerElement(dtype: DType): number {
  switch (dtype) {
    case 'float32': case 'int32': return 4;
    case 'float64': return 8;
    case 'bool': return 1;
    default: return dtype satisfies never;
  }
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64';
}

/** The dtype a typed array naturally holds. */
export function dtypeOfArray(a: ArrayBufferView): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Uint8Array) return 'bool';
  throw new DTypeError(`tensor: unsupported typed array ${a.constructor.name}; expected Float32Array, Float64Array, Int32Array or Uint8Array`);
}

function category(d: DType): number {
  return d === 'bool' ? 0 : d === 'int32' ? 1 : 2;
}

/**
 * PyTorch's result type for two tensor operands. Within a category, a 0-d operand does not
 * promote a dimensioned one (float32 tensor + float64 0-d tensor stays float32).
 */
export function promoteTypes(a: DType, aIsScalar: boolean, b: DType, bIsScalar: boolean): DType {
  if (a === b) return a;
  const ca = category(a), cb = category(b);
  if (ca !== cb) return ca > cb ? a : b;
  if (aIsScalar !== bIsScalar) return aIsScalar ? b : a;
  // same category, both dimensioned (or both 0-d): the wider one.
  return a === 'float64' || b === 'float64' ? 'float64' : a;
}

/** The dtype a JS number takes when it meets a tensor of dtype `t` (numbers never widen floats). */
export function scalarDtype(t: DType, v: number | boolean): DType {
  if (typeof v === 'boolean') return t;
  if (isFloat(t)) return t;
  if (Number.isInteger(v)) return t === 'bool' ? 'int32' : t;
  return 'float32';
}
