/** @file dtypes, their storage arrays and PyTorch's promotion rules. */
import { DTypeError, ValueError } from './errors.ts';

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

/** The typed array class that stores each dtype, by name (for messages). */
export const ARRAY_NAME: Readonly<Record<DType, string>> = {
  float32: 'Float32Array', float64: 'Float64Array', int32: 'Int32Array', bool: 'Uint8Array',
};

/** Whether `v` is one of tapegrad's dtype names. */
export function isDType(v: unknown): v is DType {
  return typeof v === 'string' && (DTYPES as readonly string[]).includes(v);
}

/** `v` for a message: strings quoted, other non-numbers named by kind. */
function describeArg(v: unknown): string {
  if (typeof v === 'string') return `'${v.length > 20 ? v.slice(0, 20) + '…' : v}'`;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  if (typeof v === 'object') return `an object (${(v as object).constructor?.name ?? 'Object'})`;
  return `a ${typeof v}`;
}

/** Returns `dtype` when it names a dtype; else throws a DTypeError naming `op` and the dtypes there are. */
export function checkDType(op: string, dtype: unknown): DType {
  if (isDType(dtype)) return dtype;
  throw new DTypeError(`${op}: unknown dtype ${describeArg(dtype)}; expected one of ${DTYPES.join(', ')}`);
}

/** `checkDType` for an optional dtype option: undefined stays undefined (the op picks its default). */
export function checkOptDType(op: string, dtype: unknown): DType | undefined {
  return dtype === undefined ? undefined : checkDType(op, dtype);
}

/** The int32 range (what an int32 element holds exactly). */
export const INT32_MIN = -(2 ** 31), INT32_MAX = 2 ** 31 - 1;

/**
 * `v` as a `dtype` element, or throws a ValueError naming `op`, the value and `where` (e.g.
 * ' at [1][0]'). Like PyTorch, fractions truncate toward zero for int32 and non-zero is true for
 * bool; unlike a typed array store, NaN, ±Infinity and values outside int32's range are refused
 * instead of becoming 0 or wrapping, and NaN is not silently true.
 */
export function toElement(op: string, v: number, dtype: DType, where: () => string): number {
  switch (dtype) {
    case 'float32': case 'float64': return v;
    case 'int32': {
      const t = Math.trunc(v);
      if (t >= INT32_MIN && t <= INT32_MAX) return t;
      throw new ValueError(`${op}: value ${v}${where()} cannot be converted to int32; expected a finite number in [${INT32_MIN}, ${INT32_MAX}]`);
    }
    case 'bool':
      if (Number.isNaN(v)) throw new ValueError(`${op}: value NaN${where()} cannot be converted to bool; expected a number (non-zero is true) or a boolean`);
      return v !== 0 ? 1 : 0;
    default: return dtype satisfies never;
  }
}

/**
 * The dtype whose storage a typed array is, or undefined for other views (Int16Array, DataView…).
 * Goes by the array's own tag rather than instanceof, so arrays from another realm (a worker's,
 * a vm context's) are recognised too; a Node Buffer is a Uint8Array.
 */
export function arrayDtype(a: ArrayBufferView): DType | undefined {
  switch ((a as { [Symbol.toStringTag]?: string })[Symbol.toStringTag]) {
    case 'Float32Array': return 'float32';
    case 'Float64Array': return 'float64';
    case 'Int32Array': return 'int32';
    case 'Uint8Array': return 'bool';
    default: return undefined;
  }
}

/** The dtype a typed array naturally holds; throws (naming `op`) for an unsupported array type. */
export function dtypeOfArray(a: ArrayBufferView, op = 'tensor'): DType {
  const d = arrayDtype(a);
  if (d !== undefined) return d;
  const name = arrayName(a);
  throw new DTypeError(`${op}: unsupported typed array ${name}; expected Float32Array, Float64Array, Int32Array or Uint8Array`);
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

/** A typed array's class name for messages (its own tag, so other realms' arrays read right too). */
export function arrayName(a: ArrayBufferView): string {
  return (a as { [Symbol.toStringTag]?: string })[Symbol.toStringTag] ?? a.constructor?.name ?? 'ArrayBufferView';
}
