/** @file Creation functions: tensor(), zeros, ones, full, arange, linspace, eye, random. */
import { checkOptions } from './options.ts';
import { getBackend, type Device } from './backend.ts';
import {
  ARRAY_NAME, arrayDtype, arrayFor, arrayName, checkDType, checkOptDType, dtypeOfArray, isFloat, toElement, type DType, type TypedArray,
} from './dtype.ts';
import { DTypeError, ShapeError, ValueError } from './errors.ts';
import { checkShape, fmtShape, MAX_DIMS, MAX_NUMEL, numel } from './shape.ts';
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

/** Refuses an options argument that is not an object: `zeros(2, 3)` would otherwise drop the 3. */
const CREATE_OPTIONS = ['dtype', 'device', 'requiresGrad'];
function checkOpts(op: string, opts: unknown, extra?: string): void {
  if (typeof opts === 'object' && opts !== null && !Array.isArray(opts)) {
    // (a misspelled key — dtyp, requires_grad — was ignored: float32, no gradient)
    checkOptions(op, opts, extra ? [...CREATE_OPTIONS, extra] : CREATE_OPTIONS);
    return;
  }
  const hint = typeof opts === 'number' ? ' (a shape of several sizes is one array, e.g. [2, 3])' : '';
  throw new ValueError(`${op}: options must be an object like { dtype, device, requiresGrad }, got ${describeValue(opts)}${hint}`);
}

function checkFills(op: string, n: number, shape: readonly number[]): void {
  if (n !== numel(shape)) throw new ShapeError(`${op}: ${n} values do not fill shape ${fmtShape(shape)} (${numel(shape)} elements)`);
}

const article = (name: string): string => `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}`;

/** Wraps `data` as a tensor's storage, unchecked: callers have validated shape and dtype. */
function adopt(data: TypedArray, shape: number[], dtype: DType, device: Device): Tensor {
  return Tensor._fromStorage(getBackend(device).fromArray(data, dtype), shape, null, 0, dtype, device, null);
}

/**
 * A tensor that adopts `data` as its storage (on the CPU, without copying): `data` must already be
 * the dtype's array (Float32Array for float32, Float64Array, Int32Array, a Uint8Array of 0/1 for
 * bool) and fill `shape` exactly. To convert other data, use `tensor(data, { dtype, shape })`.
 */
export function fromTypedArray(data: TypedArray, shape: readonly number[], dtype: DType, device: Device = getDefaultDevice()): Tensor {
  const dt = checkDType('fromTypedArray', dtype);
  const given: unknown = data;
  if (!ArrayBuffer.isView(given)) throw new ValueError(`fromTypedArray: data is ${describeValue(given)}; expected ${article(ARRAY_NAME[dt])}`);
  const s = checkShape('fromTypedArray', shape);
  if (arrayDtype(given) !== dt) {
    throw new DTypeError(
      `fromTypedArray: a ${arrayName(given)} cannot be adopted as ${dt} storage; expected ${article(ARRAY_NAME[dt])} ` +
        `(to convert, use tensor(data, { dtype: '${dt}', shape }))`,
    );
  }
  checkFills('fromTypedArray', data.length, s);
  if (dt === 'bool') {
    // a bool is one byte of 0 or 1 everywhere else (tensor() refuses 2 too): a 2 adopted as is
    // printed true yet compared unequal to true and multiplied as 2
    const bad = (data as Uint8Array).findIndex((v) => v > 1);
    if (bad >= 0) throw new ValueError(`fromTypedArray: element ${bad} of the Uint8Array is ${(data as Uint8Array)[bad]}; bool storage holds 0 or 1 (to convert non-zero to true, use tensor(data, { dtype: 'bool', shape }))`);
  }
  return adopt(data, s, dt, device);
}

/**
 * A tensor from numbers, (nested) arrays or a typed array. `dtype` converts as PyTorch's
 * `torch.tensor(data, dtype=...)` does (fractions truncate for int32, non-zero is true for bool);
 * `shape` reshapes data holding exactly that many elements.
 * @example tensor([[1, 2], [3, 4]], { requiresGrad: true })
 */
export function tensor(data: NestedInput | TypedArray | NestedArray, opts: CreateOptions & { shape?: readonly number[] } = {}): Tensor {
  checkOpts('tensor', opts, 'shape');
  const given = checkOptDType('tensor', opts.dtype);
  const shape = opts.shape === undefined ? undefined : checkShape('tensor', opts.shape);
  const device = opts.device ?? getDefaultDevice();
  const raw: unknown = data;
  if (raw instanceof Tensor) {
    throw new ValueError(
      `tensor: data is a Tensor (shape ${fmtShape(raw.shape)}, ${raw.dtype}); to copy it use t.detach().clone(), ` +
        `to convert it t.to(dtype)`,
    );
  }
  const t = ArrayBuffer.isView(raw) ? fromView(raw, given, shape, device) : fromNested(raw, given, shape, device);
  return finish(t, opts);
}

function fromView(src: ArrayBufferView, given: DType | undefined, shapeOpt: number[] | undefined, device: Device): Tensor {
  const srcDtype = dtypeOfArray(src);
  const a = src as TypedArray;
  const n = a.length;
  const shape = shapeOpt ?? checkShape('tensor', [n]);
  checkFills('tensor', n, shape);
  const dtype = given ?? srcDtype;
  let out: TypedArray | undefined; // stays undefined when `a` is copied as it is
  if (srcDtype === 'bool') {
    // a Uint8Array is bool's storage but also the everyday byte array: only 0/1 read as bool as-is
    let bad = -1;
    if (dtype === 'bool') for (let i = 0; i < n; i++) if (a[i]! > 1) { bad = i; break; }
    if (bad >= 0 && given === undefined) {
      throw new ValueError(
        `tensor: a Uint8Array becomes a bool tensor, but it holds ${a[bad]} at index ${bad} (bool needs 0 or 1); ` +
          `for byte values pass an Int32Array or { dtype: 'int32' }, for a mask { dtype: 'bool' } (non-zero is true)`,
      );
    }
    if (bad >= 0) {
      out = arrayFor('bool', n);
      for (let i = 0; i < n; i++) out[i] = a[i] !== 0 ? 1 : 0;
    } else if (dtype !== 'bool') {
      out = arrayFor(dtype, n);
      out.set(a as never); // bytes fit every other dtype exactly
    }
  } else if (dtype !== srcDtype) {
    out = arrayFor(dtype, n);
    if (isFloat(dtype)) out.set(a as never); // into a float: rounds, as PyTorch's conversion does
    else for (let i = 0; i < n; i++) out[i] = toElement('tensor', a[i]!, dtype, () => ` at index ${i}`);
  }
  if (out === undefined) {
    const backend = getBackend(device);
    if (backend.copyFrom) return Tensor._fromStorage(backend.copyFrom(a, dtype), shape, null, 0, dtype, device, null);
    out = arrayFor(dtype, n);
    out.set(a as never);
  }
  return adopt(out, shape, dtype, device);
}

function fromNested(data: unknown, given: DType | undefined, shapeOpt: number[] | undefined, device: Device): Tensor {
  const shape: number[] = [];
  let probe: unknown = data;
  // iterative and bounded: a deep (or cyclic) nesting must fail here, not overflow the stack below
  while (Array.isArray(probe)) {
    if (shape.length === MAX_DIMS) throw new ShapeError(`tensor: data is nested more than ${MAX_DIMS} arrays deep; at most ${MAX_DIMS} dims are supported`);
    shape.push(probe.length);
    probe = probe[0];
  }
  if (shape.length === 0 && typeof data !== 'number' && typeof data !== 'boolean') {
    throw new ValueError(`tensor: data is ${describeData(data)}; expected a number, a boolean, a (nested) array of them, or a typed array`);
  }
  checkShape('tensor', shape);
  const leaf = typeof probe === 'boolean' ? 'boolean' : 'number';
  // NOTE: like PyTorch's default dtype, plain numbers become float32 (not int) unless a dtype is given
  const dtype = given ?? (leaf === 'boolean' ? 'bool' : 'float32');
  const arr = arrayFor(dtype, numel(shape));
  // indices of the element being visited; its path is only spelled out for an error
  const idx: number[] = [];
  const at = (): string => idx.map((i) => `[${i}]`).join('');
  let k = 0;
  const walk = (v: unknown, d: number): void => {
    if (d === shape.length) {
      if (typeof v !== leaf) {
        if (Array.isArray(v)) throw new ShapeError(`tensor: ragged nested array: element ${at()} is an array but the first element at that depth is a ${typeof probe} (expected shape ${fmtShape(shape)})`);
        if (typeof v === 'number' || typeof v === 'boolean') throw new DTypeError(`tensor: mixed booleans and numbers (element ${at()} is a ${typeof v}, the first element a ${leaf}); use one kind`);
        const hint = v instanceof Tensor ? ' (join tensors with stack(), or read a 0-d one with .item())' : '';
        throw new DTypeError(`tensor: element ${at()} is ${describeData(v)}; expected a number or boolean${hint}`);
      }
      arr[k++] = typeof v === 'boolean' ? (v ? 1 : 0) : given === undefined ? (v as number) : toElement('tensor', v as number, dtype, () => ` at ${at()}`);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[d]) {
      throw new ShapeError(`tensor: ragged nested array: element ${at() || '[]'} has ${Array.isArray(v) ? `length ${v.length}` : 'no array'} but expected length ${shape[d]} (shape ${fmtShape(shape)})`);
    }
    idx.push(0);
    for (let i = 0; i < v.length; i++) {
      idx[d] = i;
      walk(v[i], d + 1);
    }
    idx.pop();
  };
  walk(data, 0);
  if (shapeOpt === undefined) return adopt(arr, shape, dtype, device);
  if (numel(shapeOpt) !== k) {
    throw new ShapeError(`tensor: shape ${fmtShape(shapeOpt)} (${numel(shapeOpt)} elements) does not fit the data's ${k} elements (nested as ${fmtShape(shape)})`);
  }
  return adopt(arr, shapeOpt, dtype, device);
}

/** A non-numeric input for a message (a Tensor with its shape). */
function describeData(v: unknown): string {
  return v instanceof Tensor ? `a Tensor (shape ${fmtShape(v.shape)})` : describeValue(v);
}

function shapeArg(op: string, shape: readonly number[] | number): number[] {
  return checkShape(op, typeof shape === 'number' ? [shape] : shape);
}

const noPosition = (): string => '';

/** The body of full/zeros/ones and their *Like forms, with the op name for messages. */
function fill(op: string, shape: readonly number[] | number, value: unknown, opts: CreateOptions): Tensor {
  checkOpts(op, opts);
  const given = checkOptDType(op, opts.dtype);
  const s = shapeArg(op, shape);
  if (typeof value !== 'number' && typeof value !== 'boolean') {
    throw new ValueError(`${op}: fill value is ${describeValue(value)}; expected a number or boolean`);
  }
  const dtype = given ?? (typeof value === 'boolean' ? 'bool' : 'float32');
  const v = toElement(op, typeof value === 'boolean' ? (value ? 1 : 0) : value, dtype, noPosition);
  return finish(dispatch(prims.full, [], { shape: s, value: v, dtype }, opts.device), opts);
}

/** A tensor filled with `value` (a boolean fills with 1/0, and alone makes it bool). */
export function full(shape: readonly number[] | number, value: number | boolean, opts: CreateOptions = {}): Tensor {
  return fill('full', shape, value, opts);
}
/** A tensor of zeros. */
export function zeros(shape: readonly number[] | number, opts: CreateOptions = {}): Tensor {
  return fill('zeros', shape, 0, opts);
}
/** A tensor of ones. */
export function ones(shape: readonly number[] | number, opts: CreateOptions = {}): Tensor {
  return fill('ones', shape, 1, opts);
}
function likeOpts(op: string, t: Tensor, opts: CreateOptions): CreateOptions {
  if (!(t instanceof Tensor)) throw new ValueError(`${op}: expected a tensor, got ${describeValue(t)}`);
  checkOpts(op, opts);
  // `??`, not a spread: an explicit { dtype: undefined } must not drop t's dtype
  return { ...opts, dtype: opts.dtype ?? t.dtype, device: opts.device ?? t.device };
}
/** Zeros of `t`'s shape, dtype and device (each may be overridden). */
export function zerosLike(t: Tensor, opts: CreateOptions = {}): Tensor { return fill('zerosLike', t.shape, 0, likeOpts('zerosLike', t, opts)); }
/** Ones of `t`'s shape, dtype and device (each may be overridden). */
export function onesLike(t: Tensor, opts: CreateOptions = {}): Tensor { return fill('onesLike', t.shape, 1, likeOpts('onesLike', t, opts)); }
/** `value` in `t`'s shape, dtype and device (each may be overridden). */
export function fullLike(t: Tensor, value: number | boolean, opts: CreateOptions = {}): Tensor { return fill('fullLike', t.shape, value, likeOpts('fullLike', t, opts)); }

/**
 * Values from start (inclusive) to end (exclusive) by step; `arange(5)` is [0, 1, 2, 3, 4].
 * The dtype is int32 when all arguments are integers, else float32. Options may follow the last
 * number given, as PyTorch's keyword arguments do. As in PyTorch, the values are start + i·step
 * in double precision, then converted (so an int32 arange by 0.5 is [0, 0, 1, 1, …]), and a step
 * pointing away from end is an error.
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
  checkOpts('arange', opts);
  const given = checkOptDType('arange', opts.dtype);
  for (const [name, v] of [['start', start], ['end', end], ['step', step]] as const) {
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) throw new ValueError(`arange: ${name} must be a finite number, got ${typeof v === 'number' ? v : describeValue(v)}`);
  }
  if (end === undefined) { end = start; start = 0; }
  if (step === 0) throw new ValueError(`arange: step must be a non-zero finite number, got ${step}`);
  if ((end > start && step < 0) || (end < start && step > 0)) {
    throw new ValueError(`arange: step ${step} points away from end: start ${start}, end ${end}; expected a ${step < 0 ? 'positive' : 'negative'} step`);
  }
  const size = Math.ceil((end - start) / step);
  if (size > MAX_NUMEL) throw new ShapeError(`arange: ${size} values from ${start} to ${end} by ${step}; at most ${MAX_NUMEL} (2**31 - 1) elements are supported`);
  const dtype = given ?? ([start, end, step].every(Number.isInteger) ? 'int32' : 'float32');
  if (dtype === 'bool') throw new DTypeError(`arange: dtype bool is not supported; expected float32, float64 or int32`);
  if (dtype === 'int32' && size > 0) {
    const s0 = start, st = step;
    toElement('arange', s0, 'int32', () => ' (start)');
    toElement('arange', s0 + (size - 1) * st, 'int32', () => ' (the last value)');
    if (!Number.isInteger(s0) || !Number.isInteger(st)) {
      // the prim would compute in int32 from a truncated start and step; PyTorch computes in double
      const arr = new Int32Array(size);
      for (let i = 0; i < size; i++) arr[i] = Math.trunc(s0 + i * st);
      return finish(adopt(arr, [size], 'int32', opts.device ?? getDefaultDevice()), opts);
    }
  }
  return finish(dispatch(prims.arange, [], { start, step, size, dtype }, opts.device), opts);
}

/** `steps` evenly spaced values from start to end inclusive. */
export function linspace(start: number, end: number, steps: number, opts: CreateOptions = {}): Tensor {
  checkOpts('linspace', opts);
  const given = checkOptDType('linspace', opts.dtype);
  for (const [name, v] of [['start', start], ['end', end]] as const) {
    if (typeof v !== 'number') throw new ValueError(`linspace: ${name} must be a number, got ${describeValue(v)}`);
  }
  if (!Number.isInteger(steps) || steps < 0) throw new ShapeError(`linspace: steps must be a non-negative integer, got ${typeof steps === 'number' ? steps : describeValue(steps)}`);
  if (steps > MAX_NUMEL) throw new ShapeError(`linspace: ${steps} steps; at most ${MAX_NUMEL} (2**31 - 1) elements are supported`);
  const dtype = given ?? 'float32';
  if (!isFloat(dtype)) throw new DTypeError(`linspace: dtype must be float, got ${dtype}`);
  const step = steps > 1 ? (end - start) / (steps - 1) : 0;
  if (steps < 2) return finish(dispatch(prims.arange, [], { start, step, size: steps, dtype }, opts.device), opts);
  // as PyTorch: the first half counts up from start, the second down from end (end − step·(n − 1 − i)),
  // so the last element is end exactly and a symmetric range has an exact 0 in the middle
  const h = Math.floor(steps / 2);
  const up = dispatch(prims.arange, [], { start, step, size: h, dtype }, opts.device);
  const m = dispatch(prims.arange, [], { start: steps - 1 - h, step: -1, size: steps - h, dtype }, opts.device);
  const c = (v: number) => dispatch(prims.full, [], { shape: [], value: v, dtype }, opts.device);
  const down = dispatch(prims.sub, [c(end), dispatch(prims.mul, [m, c(step)], {})], {});
  return finish(dispatch(prims.cat, [up, down], { dim: 0 }), opts);
}

/** The n×m identity matrix. */
export function eye(n: number, m = n, opts: CreateOptions = {}): Tensor {
  checkOpts('eye', opts);
  const dtype = checkOptDType('eye', opts.dtype) ?? 'float32';
  const shape = checkShape('eye', [n, m]);
  const arr = arrayFor(dtype, n * m);
  for (let i = 0; i < Math.min(n, m); i++) arr[i * m + i] = 1;
  return finish(adopt(arr, shape, dtype, opts.device ?? getDefaultDevice()), opts);
}

// ---- random ----
// A seed stream: each random call draws a fresh 32-bit seed; the kernels hash (seed, index).
let seedState = (Date.now() ^ 0x9e3779b9) >>> 0;
let seedCounter = 0;

/**
 * Makes every random function deterministic from here on. `seed` is any safe integer, negative
 * included (|seed| ≤ 2**53 - 1; PyTorch takes any 64-bit integer). The stream's state is 32 bits:
 * seeds in [0, 2**32) are used as they are, and the high bits of wider or negative seeds are
 * hashed in rather than dropped, so 2**40 and 0 give different streams (two seeds can still share
 * a state, as any map onto 32 bits must allow, but not systematically).
 */
export function manualSeed(seed: number): void {
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) {
    throw new ValueError(`manualSeed: seed must be an integer in [-(2**53 - 1), 2**53 - 1], got ${typeof seed === 'number' ? seed : describeValue(seed)}`);
  }
  const lo = seed >>> 0, hi = Math.floor(seed / 2 ** 32) >>> 0;
  seedState = hi === 0 ? lo : (lo ^ fmix32(hi ^ 0x5bd1e995)) >>> 0;
  seedCounter = 0;
}

/** MurmurHash3's 32-bit finaliser: every input bit flips each output bit with probability ≈ ½. */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
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
  checkOpts('rand', opts);
  const dtype = checkOptDType('rand', opts.dtype) ?? 'float32';
  // checked before drawing a seed: a refused call must not move the seed stream
  const s = shapeArg('rand', shape);
  if (!isFloat(dtype)) throw new DTypeError(`rand: dtype must be float, got ${dtype}`);
  const u = dispatch(prims.randUniform, [], { shape: s, seed: nextSeed(), dtype }, opts.device);
  if (dtype !== 'float64') return finish(u, opts);
  // NOTE: one draw has 24 random bits (k/2^24, what float32 holds); float64 adds a second draw
  // below the first, u1 + u2·2^-24: 48 bits, still < 1, exact in float64 (PyTorch's has 53)
  const low = dispatch(prims.randUniform, [], { shape: s, seed: nextSeed(), dtype }, opts.device);
  return finish(u.add(low.mul(2 ** -24)), opts);
}

/** Standard normal samples (Box–Muller on two uniform streams). */
export function randn(shape: readonly number[] | number, opts: CreateOptions = {}): Tensor {
  checkOpts('randn', opts);
  const dtype = checkOptDType('randn', opts.dtype) ?? 'float32';
  const s = shapeArg('randn', shape);
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
  checkOpts('randint', opts);
  const dtype = checkOptDType('randint', opts.dtype) ?? 'int32';
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) {
    throw new ValueError(`randint: need integers low < high, got low=${low}, high=${high}`);
  }
  // the draws are int32 (tapegrad has no int64): bounds beyond it would wrap or round silently
  if (low < -(2 ** 31) || high > 2 ** 31) {
    throw new ValueError(`randint: low and high must lie in [-2**31, 2**31] (values are drawn as int32), got low=${low}, high=${high}`);
  }
  const s = shapeArg('randint', shape);
  const o = { device: opts.device };
  const n = high - low;
  let out: Tensor;
  if (n <= 2 ** 24) {
    // one 24-bit draw u = k/2^24: floor(u·n) (the clamp guards against float32 rounding u·n up to n)
    out = rand(s, o).mul(n).floor().clamp(0, n - 1).to('int32').add(low);
  } else {
    // NOTE: wider ranges need more bits than a float32 draw has (floor(u·2^31) is always even):
    // 32 random bits from two draws, v = k1·2^8 + (k2 mod 2^8) in int32 (the product wraps to the
    // bit pattern), reduced mod n. As PyTorch's `uint32 % range`, values below 2^32 mod n are
    // slightly more likely (relative excess ≤ n/2^32).
    const hi = rand(s, o).mul(2 ** 24).floor().to('int32');
    const lo = rand(s, o).mul(2 ** 8).floor().to('int32');
    const v = hi.mul(2 ** 8).add(lo);
    if (n < 2 ** 31) out = v.remainder(n).add(low);
    else {
      // n ≥ 2^31 (low < 0 < high): v read as unsigned, uv < n ⟺ v < n − 2^32 for negative v; the
      // int32 sums wrap to low + uv and low + uv − n, both inside [low, high)
      const wrapped = n - 2 ** 32;
      const shifted = v.add(low);
      out = shifted.where(v.lt(wrapped).logicalOr(v.ge(0)), shifted.sub(wrapped));
    }
  }
  return finish(dtype === 'int32' ? out : out.to(dtype), opts);
}
