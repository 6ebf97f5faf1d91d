/**
 * @file The public functional API: every op as a free function (PyTorch names). Primitives go
 * through dispatch(); composites are plain functions of primitives.
 */
import { getBackend, type BufView, type Device } from '../backend.ts';
import { isFloat, promoteTypes, scalarDtype, type DType } from '../dtype.ts';
import { AutogradError, DTypeError, DeviceError, ShapeError, ValueError } from '../errors.ts';
import { fmtShape, normDim, normDims, numel, sameShape } from '../shape.ts';
import { Tensor } from '../tensor.ts';
import { isGradEnabled } from '../tape.ts';
import { full, zeros, zerosLike, onesLike, fullLike, fromTypedArray } from '../creation.ts';
import { activeTracer, bufView, checkLive, describeValue, dispatch } from './dispatch.ts';
import { prims } from './prims.ts';
import { viewStrides } from './movement.ts';
import type { FoldAttrs, OpDef, UnfoldAttrs } from './registry.ts';

export { zeros, zerosLike, onesLike, fullLike };

/** A tensor, or a JS number/boolean used as a 0-d operand. */
export type TensorLike = Tensor | number | boolean;
/** One entry of basic indexing: an index (drops the dim), [start, end, step?] (slices), or null (whole dim). */
export type IndexSpec = number | readonly [number | null, number | null, number?] | null;
/** The result of max/min along a dim. */
export interface MaxResult { values: Tensor; indices: Tensor }

// ---------------------------------------------------------------- internals used by Tensor

export function viewOf(t: Tensor): BufView { return bufView(t); }
export function checkLiveTensor(op: string, t: Tensor): void { checkLive(op, t); }
export function releaseTensor(t: Tensor): void {
  const s = t._storage;
  if (!s || s.disposed) return;
  getBackend(t.device).release(s);
}

/** Lifts a number to a 0-d tensor of `dtype` on `device`. */
export function scalar(v: number | boolean, dtype: DType, device: Device): Tensor {
  const t = full([], typeof v === 'boolean' ? (v ? 1 : 0) : v, { dtype, device });
  t._scalarValue = typeof v === 'boolean' ? (v ? 1 : 0) : v;
  return t;
}

/** `src` as an operand for writing into `like`: lifted, cast and broadcast to its shape and dtype. */
export function asOperand(src: TensorLike, like: Tensor): Tensor {
  const t = src instanceof Tensor ? src : scalar(src, like.dtype, like.device);
  return expand(cast(t, like.dtype), like.shape);
}

const ORDINAL = ['first', 'second', 'third', 'fourth'];

/**
 * Promotes operands to one dtype (PyTorch's rules: tensors pairwise, a 0-d tensor not widening a
 * dimensioned one of its category; then JS numbers, which never widen a tensor's float dtype).
 */
function promoted(op: string, vals: readonly TensorLike[]): Tensor[] {
  vals.forEach((v, i) => {
    if (!(v instanceof Tensor) && typeof v !== 'number' && typeof v !== 'boolean') {
      throw new ValueError(`${op}: the ${ORDINAL[i] ?? `#${i + 1}`} operand is ${describeValue(v)}, expected a tensor, number or boolean`);
    }
  });
  const tensors = vals.filter((v): v is Tensor => v instanceof Tensor);
  if (tensors.length === 0) throw new ValueError(`${op}: at least one operand must be a tensor, got ${vals.map((v) => typeof v).join(' and ')}`);
  let dt = tensors[0]!.dtype, all0d = tensors[0]!.ndim === 0;
  for (const t of tensors.slice(1)) {
    dt = promoteTypes(dt, all0d, t.dtype, t.ndim === 0);
    all0d &&= t.ndim === 0;
  }
  for (const v of vals) if (!(v instanceof Tensor)) dt = scalarDtype(dt, v as number | boolean);
  const device = tensors[0]!.device;
  return vals.map((v) => (v instanceof Tensor ? cast(v, dt) : scalar(v as number | boolean, dt, device)));
}

/** Promotes two operands to one dtype (see `promoted`). */
function operands(op: string, a: TensorLike, b: TensorLike): [Tensor, Tensor] {
  return promoted(op, [a, b]) as [Tensor, Tensor];
}

function toFloat(t: Tensor): Tensor {
  return isFloat(t.dtype) ? t : cast(t, 'float32');
}

// ---------------------------------------------------------------- dtype, device, copies

/** Converts to another dtype (differentiable between float dtypes). */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  return dispatch(prims.cast, [x], { dtype });
}

/** `x.to(dtype)` casts; `x.to(device)` copies to a device with synchronous readback. */
export function to(x: Tensor, target: DType | Device): Tensor {
  if (target === 'cpu' || target === 'webgpu') {
    if (x.device === target) return x;
    checkLive('to', x);
    let data;
    try {
      data = getBackend(x.device).readSync(bufView(x));
    } catch (e) {
      if (e instanceof DeviceError) throw new DeviceError(`to('${target}'): ${x.device} has no synchronous readback; use await t.toAsync('${target}')`);
      throw e;
    }
    return copyAcross(x, fromTypedArray(data, x.shape, x.dtype, target));
  }
  return cast(x, target);
}

/** Copies to a device, awaiting the readback. */
export async function toAsync(x: Tensor, device: Device): Promise<Tensor> {
  if (x.device === device) return x;
  checkLive('toAsync', x);
  const data = await getBackend(x.device).read(bufView(x));
  return copyAcross(x, fromTypedArray(data, x.shape, x.dtype, device));
}

function copyAcross(src: Tensor, copy: Tensor): Tensor {
  if (src.requiresGrad && isGradEnabled()) {
    // NOTE: the copy is a new leaf; gradients do not flow back across devices yet
    copy.requiresGrad = true;
  }
  return copy;
}

/** A contiguous copy when needed (the same tensor when already contiguous). */
export function contiguous(x: Tensor): Tensor {
  if (x.isContiguous && !x.isSymbolic && x.offset === 0 && x._storage?.size === x.numel) return x;
  if (x.isSymbolic && activeTracer()?.isDense?.(x) !== false) return x;
  return dispatch(prims.contiguous, [x], {});
}

/** A copy with its own storage (differentiable). */
export function clone(x: Tensor): Tensor {
  return dispatch(prims.contiguous, [x], {});
}

/** Shares storage, but is cut off from autograd. */
export function detach(x: Tensor): Tensor {
  checkLive('detach', x);
  if (x.isSymbolic) {
    const t = Tensor._symbolic(x._sym!, x.shape, x.dtype, x.device);
    activeTracer()?.alias?.(t, x);
    return t;
  }
  const t = Tensor._fromStorage(x._storage!, x.shape, x.strides, x.offset, x.dtype, x.device, x);
  t._scalarValue = x._scalarValue;
  return t;
}

/** The in-place write behind add_, mul_, copy_, …: `value` (already computed) replaces x's elements. */
export function inplace<T extends Tensor>(x: T, value: Tensor, op: string, temporary = false): T {
  checkLive(op, x);
  const computed = value;
  if (x.requiresGrad && x.isLeaf && isGradEnabled()) {
    throw new AutogradError(`${op}: a leaf tensor that requires grad (shape ${fmtShape(x.shape)}) cannot be modified in place while gradients are recorded; wrap the update in noGrad(() => …)`);
  }
  if (!sameShape(value.shape, x.shape)) {
    throw new ShapeError(`${op}: the result has shape ${fmtShape(value.shape)} but the tensor written to has shape ${fmtShape(x.shape)}; in-place ops cannot change a tensor's shape`);
  }
  if (value.dtype !== x.dtype) {
    if (!isFloat(x.dtype) && isFloat(value.dtype) && op !== 'copy_') {
      throw new DTypeError(`${op}: the result is ${value.dtype} but the tensor written to is ${x.dtype}; PyTorch refuses this in-place cast too`);
    }
    value = cast(value, x.dtype);
  }
  const tracer = activeTracer();
  if (tracer) tracer.assign(x, value);
  else {
    if (x.isSymbolic) throw new AutogradError(`${op}: symbolic tensor written outside tracing`);
    const move = temporary && !value.requiresGrad && value !== x && value._storage !== x._storage;
    getBackend(x.device).assign(bufView(x), bufView(expand(value, x.shape)), move);
    x._bumpVersion();
  }
  if (value.requiresGrad && isGradEnabled()) {
    x.gradFn = value.gradFn;
    (x as Tensor).requiresGrad = true;
  }
  // NOTE: `temporary` values were computed by the in-place method itself (add_, mul_, …): nothing
  // else can refer to them, so without autograd their memory goes back now, not at the next GC
  if (temporary && !tracer && !value.requiresGrad) {
    for (const t of new Set([computed, value])) if (t !== x && t._storage && t._storage !== x._storage) t.dispose();
  }
  return x;
}

// ---------------------------------------------------------------- elementwise

type Binary = (a: TensorLike, b: TensorLike) => Tensor;
const bin = (op: OpDef): Binary => (a, b) => dispatch(op, operands(op.name, a, b), {});

/** a + b (broadcasting). */
export const add: Binary = bin(prims.add);
/** a − b (broadcasting). */
export const sub: Binary = bin(prims.sub);
/** a · b (broadcasting). */
export const mul: Binary = bin(prims.mul);
/** Elementwise maximum (ties split the gradient). */
export const maximum: Binary = bin(prims.maximum);
/** Elementwise minimum (ties split the gradient). */
export const minimum: Binary = bin(prims.minimum);
/** a − b·floor(a/b): the remainder with the divisor's sign (Python's %). */
export const remainder: Binary = bin(prims.remainder);
/** v − x (for numbers on the left). */
export function rsub(x: Tensor, v: number): Tensor { return sub(v, x); }

/**
 * True division a / b (integers give float32), or rounded with `roundingMode` 'trunc' | 'floor'
 * (integers then stay integers).
 */
export function div(a: TensorLike, b: TensorLike, opts: { roundingMode?: 'trunc' | 'floor' } = {}): Tensor {
  let [x, y] = operands('div', a, b);
  const mode = opts.roundingMode;
  if (!mode || isFloat(x.dtype)) {
    if (!isFloat(x.dtype)) { x = cast(x, 'float32'); y = cast(y, 'float32'); }
    const q = dispatch(prims.div, [x, y], {});
    return mode === 'trunc' ? trunc(q) : mode === 'floor' ? floor(q) : q;
  }
  // integer division: truncating primitive, corrected for floor when signs differ and there is a remainder
  const q = dispatch(prims.div, [x, y], {});
  if (mode === 'trunc') return q;
  const r = sub(x, mul(q, y));
  const adjust = logicalAnd(ne(r, 0), ne(lt(x, 0), lt(y, 0)));
  return sub(q, cast(adjust, q.dtype));
}

/** a ** b. A float exponent makes an integer base float; integer powers of integers stay integers. */
export function pow(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = operands('pow', a, b);
  return dispatch(prims.pow, [x, y], {});
}

const cmp = bin;
/** a < b */
export const lt: Binary = cmp(prims.lt);
/** a ≤ b */
export const le: Binary = cmp(prims.le);
/** a > b */
export const gt: Binary = cmp(prims.gt);
/** a ≥ b */
export const ge: Binary = cmp(prims.ge);
/** a == b */
export const eq: Binary = cmp(prims.eq);
/** a ≠ b */
export const ne: Binary = cmp(prims.ne);
export function logicalAnd(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = operands('logicalAnd', a, b);
  return dispatch(prims.logicalAnd, [x, y], {});
}
export function logicalOr(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = operands('logicalOr', a, b);
  return dispatch(prims.logicalOr, [x, y], {});
}
export function logicalNot(x: Tensor): Tensor { return dispatch(prims.logicalNot, [x], {}); }
export function isnan(x: Tensor): Tensor { return dispatch(prims.isnan, [x], {}); }

/** Elements of `a` where `cond` is true, else of `b` (broadcasting). */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  if (cond.dtype !== 'bool') throw new DTypeError(`where: condition must be bool, got ${cond.dtype} (compare first, e.g. x.gt(0))`);
  const ref = a instanceof Tensor ? a : b instanceof Tensor ? b : null;
  let x: Tensor, y: Tensor;
  if (ref) [x, y] = operands('where', a, b);
  else {
    const dt = [a, b].every((v) => Number.isInteger(v)) ? 'int32' : 'float32';
    x = scalar(a as number, dt, cond.device);
    y = scalar(b as number, dt, cond.device);
  }
  return dispatch(prims.where, [cond, x, y], {});
}

/**
 * a + w·(b − a), one kernel (PyTorch's `torch.lerp`; float tensors).
 * @example m.lerp_(grad, 1 - beta1) // Adam's first moment
 */
export function lerp(a: TensorLike, b: TensorLike, w: TensorLike): Tensor {
  return dispatch(prims.lerp, promoted('lerp', [a, b, w]), {});
}
/** x + value·t1·t2, one kernel (PyTorch's `torch.addcmul`; `value` may be a tensor). */
export function addcmul(x: TensorLike, t1: TensorLike, t2: TensorLike, value: TensorLike = 1): Tensor {
  return dispatch(prims.addcmul, promoted('addcmul', [x, t1, t2, value]), {});
}
/** x + value·t1/t2, one kernel (PyTorch's `torch.addcdiv`; float tensors; `value` may be a tensor). */
export function addcdiv(x: TensorLike, t1: TensorLike, t2: TensorLike, value: TensorLike = 1): Tensor {
  return dispatch(prims.addcdiv, promoted('addcdiv', [x, t1, t2, value]), {});
}

type Unary = (x: Tensor) => Tensor;
const floatUnary = (op: OpDef): Unary => (x) => dispatch(op, [toFloat(x)], {});
const numUnary = (op: OpDef): Unary => (x) => dispatch(op, [x], {});
/** −x */
export const neg: Unary = numUnary(prims.neg);
/** |x| */
export const abs: Unary = numUnary(prims.abs);
/** sign(x) ∈ {−1, 0, 1} */
export const sign: Unary = numUnary(prims.sign);
/** max(x, 0) */
export const relu: Unary = numUnary(prims.relu);
/** eˣ */
export const exp: Unary = floatUnary(prims.exp);
/** natural log */
export const log: Unary = floatUnary(prims.log);
/** log(1 + x), accurate near 0 */
export const log1p: Unary = floatUnary(prims.log1p);
/** eˣ − 1, accurate near 0 */
export const expm1: Unary = floatUnary(prims.expm1);
/** √x */
export const sqrt: Unary = floatUnary(prims.sqrt);
/** 1/√x */
export const rsqrt: Unary = floatUnary(prims.rsqrt);
/** 1/x */
export const reciprocal: Unary = floatUnary(prims.reciprocal);
export const sin: Unary = floatUnary(prims.sin);
export const cos: Unary = floatUnary(prims.cos);
export const tanh: Unary = floatUnary(prims.tanh);
/** 1 / (1 + e⁻ˣ) */
export const sigmoid: Unary = floatUnary(prims.sigmoid);
/** the Gauss error function */
export const erf: Unary = floatUnary(prims.erf);
const roundUnary = (op: OpDef): Unary => (x) => (isFloat(x.dtype) ? dispatch(op, [x], {}) : x);
export const floor: Unary = roundUnary(prims.floor);
export const ceil: Unary = roundUnary(prims.ceil);
export const trunc: Unary = roundUnary(prims.trunc);
/** round half to even, as PyTorch */
export const round: Unary = roundUnary(prims.round);
/** x² */
export function square(x: Tensor): Tensor { return mul(x, x); }

/** x for x > 0, slope·x otherwise. */
export function leakyRelu(x: Tensor, negativeSlope = 0.01): Tensor {
  return where(gt(x, 0), x, mul(x, negativeSlope));
}
/** Gaussian error linear unit: exact x·Φ(x), or the tanh approximation. */
export function gelu(x: Tensor, opts: { approximate?: 'none' | 'tanh' } = {}): Tensor {
  if (opts.approximate === 'tanh') {
    // ½x(1 + tanh(√(2/π)(x + 0.044715x³)))
    const inner = mul(add(x, mul(pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
    return mul(mul(x, 0.5), add(tanh(inner), 1));
  }
  return mul(mul(x, 0.5), add(erf(mul(x, Math.SQRT1_2)), 1));
}
/** log(1 + e^{βx})/β, linear above `threshold` for stability. */
export function softplus(x: Tensor, opts: { beta?: number; threshold?: number } = {}): Tensor {
  const beta = opts.beta ?? 1, threshold = opts.threshold ?? 20;
  const bx = mul(x, beta);
  // NOTE: log1p(exp(-|z|)) + max(z, 0) is the overflow-free form; the threshold matches PyTorch's switch.
  // |z| and max(z, 0) are written with one where() so their kinks at 0 cancel in the gradient too
  // (abs'(0) = relu'(0) = 0 would give softplus'(0) = 0 instead of σ(0) = ½).
  const pos = gt(bx, 0);
  const stable = div(add(log1p(exp(where(pos, neg(bx), bx))), where(pos, bx, 0)), beta);
  return where(gt(bx, threshold), x, stable);
}
/** Limits values to [min, max]; the gradient is 1 inside the range (bounds included) and 0 outside. */
export function clamp(x: Tensor, min?: number | null, max?: number | null): Tensor {
  let y = x;
  if (min !== undefined && min !== null) y = where(lt(y, min), fullLike(y, min, { dtype: y.dtype }), y);
  if (max !== undefined && max !== null) y = where(gt(y, max), fullLike(y, max, { dtype: y.dtype }), y);
  return y;
}

// ---------------------------------------------------------------- reductions

type Dims = number | readonly number[] | null | undefined;

function reduce(op: OpDef, x: Tensor, dim: Dims, keepdim: boolean): Tensor {
  const dims = normDims(op.name, dim, x.ndim);
  return dispatch(op, [x], { dims, keepdim });
}
/** Sum over all elements or the given dims. */
export function sum(x: Tensor, dim?: Dims, keepdim = false): Tensor { return reduce(prims.sum, x, dim, keepdim); }
/** Product over all elements or the given dims. */
export function prod(x: Tensor, dim?: Dims, keepdim = false): Tensor { return reduce(prims.prod, x, dim, keepdim); }
/** Maximum over all elements or the given dims (ties share the gradient). */
export function amax(x: Tensor, dim?: Dims, keepdim = false): Tensor { return reduce(prims.amax, x, dim, keepdim); }
/** Minimum over all elements or the given dims (ties share the gradient). */
export function amin(x: Tensor, dim?: Dims, keepdim = false): Tensor { return reduce(prims.amin, x, dim, keepdim); }
/** Mean over all elements or the given dims (float tensors only, as PyTorch). */
export function mean(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  if (!isFloat(x.dtype)) throw new DTypeError(`mean: expected a float tensor, got ${x.dtype} (convert with .float())`);
  const dims = normDims('mean', dim, x.ndim);
  const n = dims.reduce((acc, d) => acc * x.shape[d]!, 1);
  return div(sum(x, dims, keepdim), n);
}
/** Index of the maximum over all elements (flattened) or along one dim. */
export function argmax(x: Tensor, dim?: number | null, keepdim = false): Tensor {
  if (dim === undefined || dim === null) return reduce(prims.argmax, reshape(x, [x.numel]), 0, false);
  return reduce(prims.argmax, x, dim, keepdim);
}
/** Index of the minimum over all elements (flattened) or along one dim. */
export function argmin(x: Tensor, dim?: number | null, keepdim = false): Tensor {
  if (dim === undefined || dim === null) return reduce(prims.argmin, reshape(x, [x.numel]), 0, false);
  return reduce(prims.argmin, x, dim, keepdim);
}
/** max of all elements, or {values, indices} along a dim (the gradient goes to the chosen index). */
export function max(x: Tensor): Tensor;
export function max(x: Tensor, dim: number, keepdim?: boolean): MaxResult;
export function max(x: Tensor, dim?: number, keepdim = false): Tensor | MaxResult {
  if (dim === undefined) return amax(x);
  return extremumAlong('max', x, dim, keepdim);
}
/** min of all elements, or {values, indices} along a dim. */
export function min(x: Tensor): Tensor;
export function min(x: Tensor, dim: number, keepdim?: boolean): MaxResult;
export function min(x: Tensor, dim?: number, keepdim = false): Tensor | MaxResult {
  if (dim === undefined) return amin(x);
  return extremumAlong('min', x, dim, keepdim);
}
function extremumAlong(which: 'max' | 'min', x: Tensor, dim: number, keepdim: boolean): MaxResult {
  const d = normDim(which, dim, x.ndim);
  const idx = which === 'max' ? argmax(x, d, true) : argmin(x, d, true);
  // NOTE: values come from gather, so the whole gradient goes to the returned index (PyTorch's rule)
  const values = x.ndim === 0 ? x : gather(x, d, idx);
  return keepdim || x.ndim === 0 ? { values, indices: idx } : { values: squeeze(values, d), indices: squeeze(idx, d) };
}
/** log Σ eˣ, computed stably by subtracting the max. */
export function logsumexp(x: Tensor, dim: number | readonly number[], keepdim = false): Tensor {
  const xf = toFloat(x);
  const dims = normDims('logsumexp', dim, xf.ndim);
  // NOTE: the shift m is detached; it cancels exactly, and its gradient would be split at ties anyway
  const m = detach(amax(xf, dims, true));
  const safeM = where(isFiniteMask(m), m, 0);
  const s = add(log(sum(exp(sub(xf, safeM)), dims, true)), safeM);
  return keepdim ? s : squeezeDims(s, dims);
}
function isFiniteMask(x: Tensor): Tensor {
  return logicalAnd(logicalNot(isnan(x)), lt(abs(x), Infinity));
}
/** Variance with Bessel's correction by default (correction = 1). */
export function var_(x: Tensor, dim?: Dims, opts: { correction?: number; keepdim?: boolean } = {}): Tensor {
  if (!isFloat(x.dtype)) throw new DTypeError(`var: expected a float tensor, got ${x.dtype}`);
  const dims = normDims('var', dim, x.ndim);
  const n = dims.reduce((acc, d) => acc * x.shape[d]!, 1);
  const c = opts.correction ?? 1;
  const dev = sub(x, mean(x, dims, true));
  return div(sum(mul(dev, dev), dims, opts.keepdim ?? false), Math.max(0, n - c));
}
export { var_ as var };
/** Standard deviation (unbiased by default). */
export function std(x: Tensor, dim?: Dims, opts: { correction?: number; keepdim?: boolean } = {}): Tensor {
  return sqrt(var_(x, dim, opts));
}
/** softmax along a dim, computed stably. */
export function softmax(x: Tensor, dim: number): Tensor {
  const xf = toFloat(x);
  const d = normDim('softmax', dim, xf.ndim);
  const e = exp(sub(xf, detach(amax(xf, d, true))));
  return div(e, sum(e, d, true));
}
/** log of softmax along a dim, computed stably. */
export function logSoftmax(x: Tensor, dim: number): Tensor {
  const xf = toFloat(x);
  const d = normDim('logSoftmax', dim, xf.ndim);
  const shifted = sub(xf, detach(amax(xf, d, true)));
  return sub(shifted, log(sum(exp(shifted), d, true)));
}

// ---------------------------------------------------------------- shape

function resolveShape(op: string, x: Tensor, shape: readonly number[]): number[] {
  const out = [...shape];
  const inferIdx = out.indexOf(-1);
  if (out.filter((d) => d === -1).length > 1) throw new ShapeError(`${op}: only one dim can be -1, got ${fmtShape(shape)}`);
  for (const d of out) if (d !== -1 && (!Number.isInteger(d) || d < 0)) throw new ShapeError(`${op}: invalid size ${d} in ${fmtShape(shape)}`);
  if (inferIdx >= 0) {
    const rest = out.reduce((acc, d, i) => (i === inferIdx ? acc : acc * d), 1);
    if (rest === 0 || x.numel % rest !== 0) {
      throw new ShapeError(`${op}: cannot reshape a tensor of shape ${fmtShape(x.shape)} (${x.numel} elements) to ${fmtShape(shape)}`);
    }
    out[inferIdx] = x.numel / rest;
  }
  return out;
}

/** A tensor with the same elements in a new shape (a view when the layout allows, else a copy). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const s = resolveShape('reshape', x, shape);
  if (sameShape(s, x.shape)) return x;
  if (numel(s) === x.numel && !x.isSymbolic && !viewStrides(x, s)) x = dispatch(prims.contiguous, [x], {});
  return dispatch(prims.reshape, [x], { shape: s });
}
/** Like reshape, but never copies: an error when the layout cannot be viewed in the new shape. */
export function view(x: Tensor, shape: readonly number[]): Tensor {
  const s = resolveShape('view', x, shape);
  if (!x.isSymbolic && numel(s) === x.numel && !viewStrides(x, s)) {
    throw new ShapeError(`view: a tensor of shape ${fmtShape(x.shape)} with strides ${fmtShape(x.strides)} cannot be viewed as ${fmtShape(s)} without a copy; use reshape()`);
  }
  return dispatch(prims.reshape, [x], { shape: s });
}
/** Reorders dims. */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  const perm = dims.map((d) => normDim('permute', d, x.ndim));
  if (perm.every((d, i) => d === i) && perm.length === x.ndim) return x;
  return dispatch(prims.permute, [x], { perm });
}
/** Swaps two dims. */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  const a = normDim('transpose', dim0, x.ndim), b = normDim('transpose', dim1, x.ndim);
  if (a === b) return x;
  const perm = [...Array(x.ndim).keys()];
  perm[a] = b; perm[b] = a;
  return permute(x, perm);
}
/** Transpose of a ≤ 2-D tensor. */
export function t(x: Tensor): Tensor {
  if (x.ndim > 2) throw new ShapeError(`t: expects a tensor with ≤ 2 dims, got shape ${fmtShape(x.shape)}; use transpose(dim0, dim1)`);
  return x.ndim < 2 ? x : transpose(x, 0, 1);
}
/** Broadcasts size-1 dims (and new leading dims) to `shape` without copying; -1 keeps a size. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const lead = shape.length - x.ndim;
  const s = shape.map((d, i) => (d === -1 && i >= lead ? x.shape[i - lead]! : d));
  if (sameShape(s, x.shape)) return x;
  return dispatch(prims.expand, [x], { shape: s });
}
/** Removes size-1 dims (all, or the given ones). */
export function squeeze(x: Tensor, dim?: number | readonly number[]): Tensor {
  const dims = dim === undefined ? x.shape.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0) : normDims('squeeze', dim, x.ndim);
  return reshape(x, x.shape.filter((d, i) => !(dims.includes(i) && d === 1)));
}
function squeezeDims(x: Tensor, dims: readonly number[]): Tensor {
  return reshape(x, x.shape.filter((_, i) => !dims.includes(i)));
}
/** Inserts a size-1 dim at `dim` (negative counts from the end of the result). */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = normDim('unsqueeze', dim, x.ndim + 1);
  const s = [...x.shape];
  s.splice(d, 0, 1);
  return reshape(x, s);
}
/** Merges dims startDim..endDim into one. */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const a = normDim('flatten', startDim, x.ndim), b = normDim('flatten', endDim, x.ndim);
  if (a > b) throw new ShapeError(`flatten: startDim ${startDim} comes after endDim ${endDim}`);
  const s = [...x.shape.slice(0, a), x.shape.slice(a, b + 1).reduce((p, d) => p * d, 1), ...x.shape.slice(b + 1)];
  return reshape(x, s);
}
/** General strided slice view with per-dim starts, sizes and steps. */
export function sliceView(x: Tensor, starts: readonly number[], sizes: readonly number[], steps: readonly number[]): Tensor {
  if (x.shape.every((d, i) => starts[i] === 0 && sizes[i] === d && steps[i] === 1)) return x;
  return dispatch(prims.slice, [x], { starts, sizes, steps });
}
/** `length` elements of `dim` from `start` (a view). */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  const d = normDim('narrow', dim, x.ndim);
  const size = x.shape[d]!;
  const s = start < 0 ? start + size : start;
  if (!Number.isInteger(length) || length < 0 || s < 0 || s + length > size) {
    throw new ShapeError(`narrow: start ${start} and length ${length} do not fit dim ${dim} of size ${size} (shape ${fmtShape(x.shape)})`);
  }
  return sliceAlong(x, d, s, length, 1);
}
function sliceAlong(x: Tensor, d: number, start: number, size: number, step: number): Tensor {
  const starts = x.shape.map((_, i) => (i === d ? start : 0));
  const sizes = x.shape.map((n, i) => (i === d ? size : n));
  const steps = x.shape.map((_, i) => (i === d ? step : 1));
  return sliceView(x, starts, sizes, steps);
}
/** Elements start, start+step, … before end along dim (Python slice semantics, clamped). */
export function slice(x: Tensor, dim: number, start?: number | null, end?: number | null, step = 1): Tensor {
  const d = normDim('slice', dim, x.ndim);
  if (!Number.isInteger(step) || step < 1) throw new ValueError(`slice: step must be a positive integer, got ${step}`);
  const n = x.shape[d]!;
  const clampIdx = (v: number) => Math.min(Math.max(v < 0 ? v + n : v, 0), n);
  const s = clampIdx(start ?? 0), e = clampIdx(end ?? n);
  const size = e > s ? Math.ceil((e - s) / step) : 0;
  return sliceAlong(x, d, size === 0 ? 0 : s, size, step);
}
/** Basic indexing (see Tensor.index). */
export function index(x: Tensor, ...specs: IndexSpec[]): Tensor {
  if (specs.length > x.ndim) throw new ShapeError(`index: ${specs.length} indices for a tensor of ${x.ndim} dims (shape ${fmtShape(x.shape)})`);
  let y = x;
  const drop: number[] = [];
  specs.forEach((spec, d) => {
    if (spec === null) return;
    if (typeof spec === 'number') {
      const n = x.shape[d]!;
      if (!Number.isInteger(spec) || spec < -n || spec >= n) throw new ShapeError(`index: index ${spec} is out of range for dim ${d} of size ${n}`);
      y = sliceAlong(y, d, spec < 0 ? spec + n : spec, 1, 1);
      drop.push(d);
    } else y = slice(y, d, spec[0], spec[1], spec[2] ?? 1);
  });
  return drop.length ? squeezeDims(y, drop) : y;
}
/** Concatenates tensors along an existing dim. */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new ValueError('cat: expected a non-empty list of tensors');
  const first = tensors[0]!;
  const d = normDim('cat', dim, first.ndim);
  let dt = first.dtype;
  for (const x of tensors) dt = promoteTypes(dt, false, x.dtype, false);
  if (tensors.length === 1) return cast(first, dt);
  return dispatch(prims.cat, tensors.map((x) => cast(x, dt)), { dim: d });
}
/** Stacks tensors of one shape along a new dim. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new ValueError('stack: expected a non-empty list of tensors');
  const first = tensors[0]!;
  for (const [i, x] of tensors.entries()) {
    if (!sameShape(x.shape, first.shape)) throw new ShapeError(`stack: tensor ${i} has shape ${fmtShape(x.shape)}, tensor 0 has ${fmtShape(first.shape)}; all must match`);
  }
  const d = normDim('stack', dim, first.ndim + 1);
  return cat(tensors.map((x) => unsqueeze(x, d)), d);
}
/** Splits into pieces of `size` (the last may be smaller) or of the given sizes. */
export function split(x: Tensor, sizeOrSections: number | readonly number[], dim = 0): Tensor[] {
  const d = normDim('split', dim, x.ndim);
  const n = x.shape[d]!;
  let sizes: number[];
  if (typeof sizeOrSections === 'number') {
    if (!Number.isInteger(sizeOrSections) || sizeOrSections <= 0) throw new ValueError(`split: size must be a positive integer, got ${sizeOrSections}`);
    sizes = [];
    for (let at = 0; at < n; at += sizeOrSections) sizes.push(Math.min(sizeOrSections, n - at));
    if (n === 0) sizes.push(0);
  } else {
    sizes = [...sizeOrSections];
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total !== n || sizes.some((s) => !Number.isInteger(s) || s < 0)) {
      throw new ShapeError(`split: sizes [${sizes.join(', ')}] must be non-negative and sum to ${n} (dim ${dim} of shape ${fmtShape(x.shape)})`);
    }
  }
  let at = 0;
  return sizes.map((s) => { const p = narrow(x, d, at, s); at += s; return p; });
}
/** Splits into `chunks` nearly equal pieces. */
export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  if (!Number.isInteger(chunks) || chunks <= 0) throw new ValueError(`chunk: chunks must be a positive integer, got ${chunks}`);
  const d = normDim('chunk', dim, x.ndim);
  return split(x, Math.max(1, Math.ceil(x.shape[d]! / chunks)), d);
}
/**
 * Constant padding in PyTorch's order: pairs for the last dim first, e.g. [left, right, top, bottom].
 * Negative pads crop.
 */
export function pad(x: Tensor, pads: readonly number[], value = 0): Tensor {
  if (pads.length % 2 !== 0 || pads.length / 2 > x.ndim) {
    throw new ShapeError(`pad: expected an even number of pads for at most ${x.ndim} dims, got ${pads.length}`);
  }
  const per: [number, number][] = x.shape.map(() => [0, 0]);
  for (let i = 0; i < pads.length / 2; i++) per[x.ndim - 1 - i] = [pads[2 * i]!, pads[2 * i + 1]!];
  // crop first for negative pads
  let y = x;
  per.forEach(([lo, hi], d) => {
    if (lo < 0 || hi < 0) {
      const n = y.shape[d]!;
      const s = Math.max(0, -lo), e = n - Math.max(0, -hi);
      if (e < s) throw new ShapeError(`pad: negative pads [${lo}, ${hi}] crop more than dim ${d} of size ${n}`);
      y = narrow(y, d, s, e - s);
    }
  });
  return padStrided(y, per.map(([lo, hi]) => [Math.max(lo, 0), Math.max(hi, 0)] as const), y.shape.map(() => 1), value);
}
/** Places x into a tensor filled with `value`, at offsets `pads[d][0]` with element spacing `steps[d]`. */
export function padStrided(x: Tensor, pads: readonly (readonly [number, number])[], steps: readonly number[], value: number): Tensor {
  if (pads.every(([a, b]) => a === 0 && b === 0) && steps.every((s) => s === 1)) return x;
  return dispatch(prims.pad, [x], { pads, steps, value });
}
/** out[...i_dim...] = x[...index[i]...] along dim (PyTorch's gather). */
export function gather(x: Tensor, dim: number, idx: Tensor): Tensor {
  const d = normDim('gather', dim, x.ndim);
  return dispatch(prims.gather, [x, idx], { dim: d });
}
/** x with src added at the positions index gives along dim (out of place). */
export function scatterAdd(x: Tensor, dim: number, idx: Tensor, src: Tensor): Tensor {
  const d = normDim('scatterAdd', dim, x.ndim);
  return dispatch(prims.scatterAdd, [x, idx, cast(src, x.dtype)], { dim: d });
}
/** The entries of `x` along `dim` at the positions in the 1-D `index`. */
export function indexSelect(x: Tensor, dim: number, idx: Tensor): Tensor {
  const d = normDim('indexSelect', dim, x.ndim);
  if (idx.ndim !== 1) throw new ShapeError(`indexSelect: index must be 1-D, got shape ${fmtShape(idx.shape)}`);
  const shape = x.shape.map((n, i) => (i === d ? idx.shape[0]! : n));
  const view = x.shape.map((_, i) => (i === d ? idx.shape[0]! : 1));
  return gather(x, d, expand(reshape(idx, view), shape));
}

// ---------------------------------------------------------------- contractions

/**
 * Matrix product with PyTorch's rules: 1-D operands are promoted (and the dim removed after),
 * batch dims broadcast.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.ndim === 0 || b.ndim === 0) throw new ShapeError(`matmul: both operands need at least 1 dim, got shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  const dt = promoteTypes(a.dtype, false, b.dtype, false);
  let x = cast(a, dt), y = cast(b, dt);
  const aVec = x.ndim === 1, bVec = y.ndim === 1;
  if (aVec) x = unsqueeze(x, 0);
  if (bVec) y = unsqueeze(y, 1);
  let out = dispatch(prims.matmul, [x, y], {});
  if (aVec) out = squeeze(out, -2);
  if (bVec) out = squeeze(out, -1);
  return out;
}
/** Sliding windows of an NCHW image as columns: [N, C·kh·kw, L]. */
export function unfold(x: Tensor, attrs: UnfoldAttrs): Tensor {
  return dispatch(prims.unfold, [x], attrs);
}
/** Sums columns back into an NCHW image (the adjoint of unfold). */
export function fold(cols: Tensor, attrs: FoldAttrs): Tensor {
  return dispatch(prims.fold, [cols], attrs);
}
