/** @file Creation functions: tensor(), zeros, ones, full, arange, linspace, eye, random. */
import { getBackend, type Device } from './backend.ts';
import { arrayFor, dtypeOfArray, isFloat, type DType, type TypedArray } from './dtype.ts';
import { DTypeError, ShapeError, ValueError } from './errors.ts';
import { checkShape, fmtShape, numel } from './shape.ts';
import { Tensor } from './tensor.ts';
import { describeValue, dispatch, getDefaultDevice } from './ops/dispatch.ts';
import { prims } from './ops/prims.ts';
import type { NestedArray } from './tensor.ts';

export interface CreateOptions {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}

type NestedInput = number | boolean | readonly NestedInput[];

function finish(t: Tensor, opts: CreateOptions): Tensor {
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

function checkFills(n: number, shape: readonly number[]): void {
  if (n !== numel(shape)) throw new ShapeError(`tensor: ${n} values do not fill shape ${fmtShape(shape)}`);
}

/** A tensor holding `data` (already in the dtype's array type), on a device. */
export function fromTypedArray(data: TypedArray, shape: readonly number[], dtype: DType, device: Device = getDefaultDevice()): Tensor {
  checkFills(data.length, shape);
  const storage = getBackend(device).fromArray(data, dtype);
  return Tensor._fromStorage(storage, [...shape], null, 0, dtype, device, null);
}

/**
 * A tensor from numbers, (nested) arrays or a typed array.
 * @example tensor([[1, 2], [3, 4]], { requiresGrad: true })
 */
export function tensor(data: NestedInput | TypedArray | NestedArray, opts: CreateOptions & { shape?: readonly number[] } = {}): Tensor {
  if (ArrayBuffer.isView(data)) {
    const src = data as TypedArray;
    const dtype = opts.dtype ?? dtypeOfArray(src);
    const device = opts.device ?? getDefaultDevice();
    const backend = getBackend(device);
    if (backend.copyFrom) {
      const shape = opts.shape ?? [src.length];
      checkFills(src.length, shape);
      return finish(Tensor._fromStorage(backend.copyFrom(src, dtype), [...shape], null, 0, dtype, device, null), opts);
    }
    const arr = arrayFor(dtype, src.length);
    arr.set(src as never);
    return finish(fromTypedArray(arr, opts.shape ?? [src.length], dtype, opts.device), opts);
  }
  const shape: number[] = [];
  let probe: unknown = data;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    probe = probe[0];
  }
  const flat: (number | boolean)[] = [];
  let sawBool = false, sawNum = false;
  const walk = (v: unknown, d: number, path: string) => {
    if (d === shape.length) {
      if (Array.isArray(v)) throw new ShapeError(`tensor: ragged nested array: element ${path} is an array but the first element at that depth is a ${typeof probe} (expected shape ${fmtShape(shape)})`);
      if (typeof v === 'boolean') sawBool = true;
      else if (typeof v === 'number') sawNum = true;
      else throw new DTypeError(`tensor: element ${path} is ${typeof v}; expected a number or boolean`);
      flat.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[d]) {
      throw new ShapeError(`tensor: ragged nested array: element ${path || '[]'} has ${Array.isArray(v) ? `length ${v.length}` : 'no array'} but expected length ${shape[d]} (shape ${fmtShape(shape)})`);
    }
    v.forEach((x, i) => walk(x, d + 1, `${path}[${i}]`));
  };
  walk(data, 0, '');
  if (sawBool && sawNum) throw new DTypeError('tensor: mixed booleans and numbers; use one kind');
  // NOTE: like PyTorch's default dtype, plain numbers become float32 (not int) unless a dtype is given
  const dtype = opts.dtype ?? (sawBool ? 'bool' : 'float32');
  const arr = arrayFor(dtype, flat.length);
  for (let i = 0; i < flat.length; i++) {
    const v = flat[i]!;
    arr[i] = typeof v === 'boolean' ? (v ? 1 : 0) : dtype === 'bool' ? (v !== 0 ? 1 : 0) : v;
  }
  return finish(fromTypedArray(arr, shape, dtype, opts.device), opts);
}

function shapeArg(op: string, shape: readonly number[] | number): number[] {
  return checkShape(op, typeof shape === 'number' ? [shape] : shape);
}

/** A tensor filled with `value`. */
export function full(shape: readonly number[] | number, value: number, opts: CreateOptions = {}): Tensor {
  const dtype = opts.dtype ?? (typeof value === 'boolean' ? 'bool' : 'float32');
  const s = shapeArg('full', shape);
  const v = dtype === 'bool' ? (value ? 1 : 0) : value;
  return finish(dispatch(prims.full, [], { shape: s, value: v, dtype }, opts.device), opts);
}
/** A tensor of zeros. */
export function zeros(shape: readonly number[] | number, opts: CreateOptions = {}): Tensor {
  return full(shape, 0, opts);
}
/** A tensor of ones. */
export function ones(shape: readonly number[] | number, opts: CreateOptions = {}): Tensor {
  return full(shape, 1, opts);
}
const likeOpts = (t: Tensor, opts: CreateOptions): CreateOptions => ({ dtype: t.dtype, device: t.device, ...opts });
export function zerosLike(t: Tensor, opts: CreateOptions = {}): Tensor { return zeros(t.shape, likeOpts(t, opts)); }
export function onesLike(t: Tensor, opts: CreateOptions = {}): Tensor { return ones(t.shape, likeOpts(t, opts)); }
export function fullLike(t: Tensor, value: number, opts: CreateOptions = {}): Tensor { return full(t.shape, value, likeOpts(t, opts)); }

/**
 * Values from start (inclusive) to end (exclusive) by step; `arange(5)` is [0, 1, 2, 3, 4].
 * The dtype is int32 when all arguments are integers, else float32. Options may follow the last
 * number given, as PyTorch's keyword arguments do.
 * @example arange(5, { dtype: 'float32' }); arange(0, 1, 0.25, { device: 'webgpu' })
 */
export function arange(start: number, end?: number, step?: number, opts?: CreateOptions): Tensor;
export function arange(end: number, opts: CreateOptions): Tensor;
export function arange(start: number, end: number, opts: CreateOptions): Tensor;
export function arange(start: number, endOrOpts?: number | CreateOptions, stepOrOpts?: number | CreateOptions, options: CreateOptions = {}): Tensor {
  let end: number | undefined, step = 1, opts = options;
  if (typeof endOrOpts === 'object' && endOrOpts !== null) opts = endOrOpts;
  else {
    end = endOrOpts;
    if (typeof stepOrOpts === 'object' && stepOrOpts !== null) opts = stepOrOpts;
    else if (stepOrOpts !== undefined) step = stepOrOpts;
  }
  for (const [name, v] of [['start', start], ['end', end], ['step', step]] as const) {
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) throw new ValueError(`arange: ${name} must be a finite number, got ${typeof v === 'number' ? v : describeValue(v)}`);
  }
  if (end === undefined) { end = start; start = 0; }
  if (step === 0) throw new ValueError(`arange: step must be a non-zero finite number, got ${step}`);
  const size = Math.max(0, Math.ceil((end - start) / step));
  const dtype = opts.dtype ?? ([start, end, step].every(Number.isInteger) ? 'int32' : 'float32');
  return finish(dispatch(prims.arange, [], { start, step, size, dtype }, opts.device), opts);
}

/** `steps` evenly spaced values from start to end inclusive. */
export function linspace(start: number, end: number, steps: number, opts: CreateOptions = {}): Tensor {
  if (!Number.isInteger(steps) || steps < 0) throw new ShapeError(`linspace: steps must be a non-negative integer, got ${steps}`);
  const dtype = opts.dtype ?? 'float32';
  if (!isFloat(dtype)) throw new DTypeError(`linspace: dtype must be float, got ${dtype}`);
  const step = steps > 1 ? (end - start) / (steps - 1) : 0;
  return finish(dispatch(prims.arange, [], { start, step, size: steps, dtype }, opts.device), opts);
}

/** The n×m identity matrix. */
export function eye(n: number, m = n, opts: CreateOptions = {}): Tensor {
  checkShape('eye', [n, m]);
  const dtype = opts.dtype ?? 'float32';
  const arr = arrayFor(dtype, n * m);
  for (let i = 0; i < Math.min(n, m); i++) arr[i * m + i] = 1;
  return finish(fromTypedArray(arr, [n, m], dtype, opts.device), opts);
}

// ---- random ----
// A seed stream: each random call draws a fresh 32-bit seed; the kernels hash (seed, index).
let seedState = (Date.now() ^ 0x9e3779b9) >>> 0;
let seedCounter = 0;

/** Makes every random function deterministic from here on. */
export function manualSeed(seed: number): void {
  seedState = seed >>> 0;
  seedCounter = 0;
}

/** @internal The seed stream's position, to put back with `restoreSeedStream` (jit's backward recomputation draws nothing). */
export function seedStreamState(): readonly [number, number] {
  return [seedState, seedCounter];
}
/** @internal Puts the seed stream back where `seedStreamState` found it. */
export function restoreSeedStream([state, counter]: readonly [number, number]): void {
  seedState = state;
  seedCounter = counter;
}

/** Mixes (state, counter) into a new 32-bit seed (a murmur-style finaliser). */
export function nextSeed(): number {
  let h = (seedState ^ Math.imul(++seedCounter, 0x9e3779b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Uniform samples in [0, 1). */
export function rand(shape: readonly number[] | number, opts: CreateOptions = {}): Tensor {
  const dtype = opts.dtype ?? 'float32';
  return finish(dispatch(prims.randUniform, [], { shape: shapeArg('rand', shape), seed: nextSeed(), dtype }, opts.device), opts);
}

/** Standard normal samples (Box–Muller on two uniform streams). */
export function randn(shape: readonly number[] | number, opts: CreateOptions = {}): Tensor {
  const s = shapeArg('randn', shape);
  const dtype = opts.dtype ?? 'float32';
  if (!isFloat(dtype)) throw new DTypeError(`randn: dtype must be float, got ${dtype}`);
  const o = { dtype, device: opts.device };
  const u1 = rand(s, o), u2 = rand(s, o);
  // 1 - u1 lies in (0, 1], so the log is finite
  const r = u1.neg().add(1).log().mul(-2).sqrt();
  const out = r.mul(u2.mul(2 * Math.PI).cos());
  return finish(out, opts);
}

/** Integers uniform in [low, high). */
export function randint(low: number, high: number, shape: readonly number[] | number, opts: CreateOptions = {}): Tensor {
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) {
    throw new ValueError(`randint: need integers low < high, got low=${low}, high=${high}`);
  }
  const dtype = opts.dtype ?? 'int32';
  const u = rand(shape, { device: opts.device });
  // clamp guards against float32 rounding u·n up to n
  return u.mul(high - low).floor().clamp(0, high - low - 1).add(low).to(dtype);
}
