/**
 * @file The public functional API: every op as a free function (PyTorch names). Primitives go
 * through dispatch(); composites are plain functions of primitives.
 */
import { getBackend, type BufView, type Device } from '../backend.ts';
import { checkDType, INT32_MAX, INT32_MIN, isFloat, promoteTypes, scalarDtype, toElement, type DType } from '../dtype.ts';
import { AutogradError, DTypeError, DeviceError, ShapeError, ValueError, divisorCheck } from '../errors.ts';
import { broadcastShapes, fmtShape, hasInternalOverlap, normDim, normDims, numel, sameShape } from '../shape.ts';
import { Tensor, type ViewStep } from '../tensor.ts';
import { enableGrad, isGradEnabled, noGrad, recordOp } from '../tape.ts';
import { full, zeros, zerosLike, onesLike, fullLike, fromTypedArray } from '../creation.ts';
import { activeTracer, bufView, checkLive, describeValue, dispatch } from './dispatch.ts';
import { boolArg, checkOptions, optionValue } from '../options.ts';
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
export function asOperand(src: TensorLike, like: Tensor, op = 'copy_'): Tensor {
  if (!(src instanceof Tensor)) {
    if (typeof src !== 'number' && typeof src !== 'boolean') {
      throw new ValueError(`${op}: the source is ${describeValue(src)}, expected a tensor, number or boolean`);
    }
    return expand(scalar(src, like.dtype, like.device), like.shape);
  }
  // (a source already of like's shape and dtype reaches the backend without passing dispatch)
  checkLive(op, src);
  if (src.device !== like.device) {
    throw new DeviceError(`${op}: the source is on ${src.device} but the tensor written to is on ${like.device}; move it with .to('${like.device}') first`);
  }
  checkBroadcastsTo(op, src.shape, like.shape);
  return expand(cast(src, like.dtype), like.shape);
}

/** A ShapeError unless `from` broadcasts to `to` (one-directional, as PyTorch's copy_: the destination's shape never grows). */
function checkBroadcastsTo(op: string, from: readonly number[], to: readonly number[]): void {
  const lead = to.length - from.length;
  if (lead < 0 || from.some((d, i) => d !== 1 && d !== to[lead + i])) {
    throw new ShapeError(`${op}: the source of shape ${fmtShape(from)} cannot be broadcast to the shape ${fmtShape(to)} of the tensor written to`);
  }
}

/**
 * `x.copy_(src)`: src's values, broadcast and cast to x's shape and dtype, written into x. A
 * source on another device is copied through the host (synchronously, so not from WebGPU).
 */
export function copyInto<T extends Tensor>(x: T, src: TensorLike): T {
  checkLive('copy_', x);
  if (!(src instanceof Tensor) || src.device === x.device) return inplace(x, () => asOperand(src, x, 'copy_'), 'copy_');
  checkLive('copy_', src);
  if (src.requiresGrad && isGradEnabled()) {
    throw new AutogradError(`copy_: the source (${src.device}, shape ${fmtShape(src.shape)}) requires grad, and gradients do not flow across devices yet; copy its detach() or wrap the copy in noGrad(() => …)`);
  }
  // checked before any transfer, in the destination's shape (the cast and transfer keep the shape)
  checkBroadcastsTo('copy_', src.shape, x.shape);
  return inplace(x, () => {
    // cast where the source is, so a float64 CPU source never reaches a device without float64
    const here = cast(detach(src), x.dtype);
    let moved: Tensor;
    try {
      moved = to(here, x.device);
    } catch (e) {
      if (e instanceof DeviceError) {
        throw new DeviceError(`copy_: ${src.device} has no synchronous readback, so a ${src.device} tensor cannot be copied into a ${x.device} one synchronously; use x.copy_(await src.toAsync('${x.device}'))`);
      }
      throw e;
    } finally {
      if (here._storage !== src._storage) here.dispose();
    }
    return expand(moved, x.shape);
  }, 'copy_', true);
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
  // PyTorch's result_type over all operands at once (not pairwise, which made the result depend
  // on their order): dimensioned tensors decide, unless 0-d tensors are of a higher category
  // (bool < int < float); then JS numbers, which never widen within a category
  const widest = (ts: readonly Tensor[]) => ts.reduce((d, t) => promoteTypes(d, false, t.dtype, false), ts[0]!.dtype);
  const dimensioned = tensors.filter((t) => t.ndim > 0), zeroD = tensors.filter((t) => t.ndim === 0);
  let dt = dimensioned.length ? widest(dimensioned) : widest(zeroD);
  if (dimensioned.length && zeroD.length) dt = promoteTypes(dt, false, widest(zeroD), true);
  for (const v of vals) if (!(v instanceof Tensor)) dt = scalarDtype(dt, v as number | boolean);
  const device = tensors[0]!.device;
  return vals.map((v) => {
    if (v instanceof Tensor) return cast(v, dt);
    if (dt === 'int32' && typeof v === 'number' && !(v >= INT32_MIN && v <= INT32_MAX)) {
      // (PyTorch: "value cannot be converted to type int32_t without overflow")
      throw new ValueError(`${op}: the number ${v} does not fit the int32 operand's dtype (int32 holds [${INT32_MIN}, ${INT32_MAX}]); convert the tensor with .to('float64') first`);
    }
    return scalar(v as number | boolean, dt, device);
  });
}

/** Promotes two operands to one dtype (see `promoted`). */
function operands(op: string, a: TensorLike, b: TensorLike): [Tensor, Tensor] {
  return promoted(op, [a, b]) as [Tensor, Tensor];
}

/**
 * `x` when it is a tensor; a ValueError naming `op` otherwise (null or a plain array reached a
 * property read inside: "Cannot read properties of null (reading 'dtype')").
 */
export function tensorArg(op: string, x: unknown, what = 'the input'): Tensor {
  if (!(x instanceof Tensor)) throw new ValueError(`${op}: ${what} is ${describeValue(x)}, expected a Tensor`);
  return x;
}

function toFloat(t: Tensor): Tensor {
  return isFloat(t.dtype) ? t : cast(t, 'float32');
}

// ---------------------------------------------------------------- dtype, device, copies

/** Converts to another dtype (differentiable between float dtypes). */
export function cast(x: Tensor, dtype: DType): Tensor {
  tensorArg('cast', x);
  checkDType('cast', dtype);
  if (x.dtype === dtype) return x;
  return dispatch(prims.cast, [x], { dtype });
}

/** `x.to(dtype)` casts; `x.to(device)` copies to a device with synchronous readback. */
export function to(x: Tensor, target: DType | Device): Tensor {
  // (a disposed tensor handed back as is looked usable until its next op)
  if (!tensorArg('to', x).isSymbolic) checkLive('to', x);
  if (target === 'cpu' || target === 'webgpu') {
    if (x.device === target) return x;
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
  tensorArg('contiguous', x);
  if (x.isContiguous && !x.isSymbolic && x.offset === 0 && x._storage?.size === x.numel) return x;
  if (x.isSymbolic && activeTracer()?.isDense?.(x) !== false) return x;
  return dispatch(prims.contiguous, [x], {});
}

/** A copy with its own storage (differentiable). */
export function clone(x: Tensor): Tensor {
  tensorArg('clone', x);
  return dispatch(prims.contiguous, [x], {});
}

/** Shares storage, but is cut off from autograd. */
export function detach(x: Tensor): Tensor {
  tensorArg('detach', x);
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

/**
 * The in-place write behind add_, mul_, copy_, …: `value` (or what `value()` computes, once the
 * destination has passed its checks) replaces x's elements.
 */
export function inplace<T extends Tensor>(x: T, value: Tensor | (() => Tensor), op: string, temporary = false): T {
  checkLive(op, x);
  if (isGradEnabled()) checkInplaceGrad(op, x);
  // (a symbolic tensor's strides are nominal; the tracer tracks its real layout)
  if (!x.isSymbolic && hasInternalOverlap(x.shape, x.strides)) {
    throw new ShapeError(`${op}: more than one element of the tensor written to (shape ${fmtShape(x.shape)}, strides ${fmtShape(x.strides)}, e.g. an expand()ed view) refers to a single memory location; clone() it first`);
  }
  if (typeof value === 'function') value = value();
  const computed = value;
  if (!sameShape(value.shape, x.shape)) {
    throw new ShapeError(`${op}: the result has shape ${fmtShape(value.shape)} but the tensor written to has shape ${fmtShape(x.shape)}; in-place ops cannot change a tensor's shape`);
  }
  if (value.dtype !== x.dtype) {
    // PyTorch's canCast: never float → integer/bool nor number → bool (copy_ alone converts anything)
    const lossy = (isFloat(value.dtype) && !isFloat(x.dtype)) || x.dtype === 'bool';
    if (lossy && op !== 'copy_') {
      throw new DTypeError(`${op}: the result is ${value.dtype} but the tensor written to is ${x.dtype}, and ${value.dtype} cannot be cast to ${x.dtype} in place (PyTorch refuses this too); use the out-of-place op`);
    }
    value = cast(value, x.dtype);
  }
  if (!temporary && !activeTracer() && value._storage !== null && value._storage === x._storage &&
    (value.offset !== x.offset || !sameShape(value.strides, x.strides) || !sameShape(value.shape, x.shape))) {
    // the source overlaps the destination in another layout (x.copy_(x.t())): read it whole
    // before writing, as the WebGPU backend and compiled code do (an element-by-element copy
    // read values it had already overwritten)
    value = clone(value);
  }
  const own = !temporary && value === computed;
  if (own && value.requiresGrad && isGradEnabled()) {
    // the caller's own tensor (copy_ or fill_ from one that requires grad): x gets a node of its
    // own, so the gradient reaches that tensor (a leaf's, too) and each keeps its retained grad
    value = clone(value);
  }
  if (x.requiresGrad && (!value.requiresGrad || own) && isGradEnabled()) {
    // x's new values (zero_, fill_, copy_) do not depend on its old ones: their gradient is zero
    // (PyTorch's FillBackward/CopyBackwards), not whatever x's old gradFn would pass on, and not
    // none either — the old history still gets its zeros (a.grad is zeros, not null)
    value = where(full(x.shape, 1, { dtype: 'bool', device: x.device }), value, x);
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
    rebaseViewed(x, value);
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

/**
 * `x` as the operand from which an in-place op (mul_, div_, lerp_, clamp_) reads its old values:
 * a copy while gradients are recorded and a gradient flows through the op, since its backward
 * may need those old values and the write replaces them (PyTorch saves `original_self` so).
 */
export function oldValues(x: Tensor, ...others: TensorLike[]): Tensor {
  if (!isGradEnabled() || (!x.requiresGrad && !others.some((o) => o instanceof Tensor && o.requiresGrad))) return x;
  return clone(x);
}

/**
 * The tensor whose elements `x` views and the view ops that lead from it to `x` (in order), or
 * null when `x` is no view, or a detach() alias is on the way. While tracing, the tracer knows
 * the views of symbolic tensors; a concrete root may itself be an eager view.
 */
export function viewChain(x: Tensor): { root: Tensor; steps: ViewStep[] } | null {
  const tracer = activeTracer();
  let root = x;
  const steps: ViewStep[] = [];
  if (tracer?.viewSteps && x.isSymbolic) {
    const traced = tracer.viewSteps(x);
    if (!traced) return null;
    root = traced.root;
    steps.push(...traced.steps);
  }
  while (root._base) {
    if (!root._viewOp) return null;
    steps.unshift(root._viewOp);
    root = root._base;
  }
  return steps.length ? { root, steps } : null;
}

/**
 * Tensor.syncView: `x` is a view whose elements were written since its node was made (through
 * its base or another view of it). A view that is part of the graph, or was taken while gradients
 * were recorded of a base that requires grad now, gets the view ops replayed on its base's current
 * node (PyTorch regenerates a view's grad_fn so): its gradient then follows the write. Without
 * this, `v1 = y.slice(0, 0, 2); y.slice(0, 1, 3).mul_(3); v1.sum().backward()` passed the
 * gradient of y's old values, ignoring the factor 3 on the element both views share.
 */
export function refreshViewGrad(x: Tensor): void {
  if (!x._gradFn && !x._viewWithGrad) return;
  const chain = viewChain(x);
  if (!chain || !isFloat(x.dtype) || !chain.root.requiresGrad) return;
  const { root, steps } = chain;
  const fresh = enableGrad(() => steps.reduce((v, s) => dispatch(s.op, [v], s.attrs), root));
  x.gradFn = fresh._gradFn;
  x._requiresGrad = fresh._requiresGrad;
}

/**
 * After an in-place write of `value` into view `x` while gradients are recorded: the tensor `x`
 * views gets a CopySlices node (PyTorch's name), so its gradient reaches the written value
 * inside the view's elements and its old history outside them. Without it, the base kept its
 * old gradFn and backward through the base ignored the write.
 */
function rebaseViewed(x: Tensor, value: Tensor): void {
  const chain = viewChain(x);
  if (!chain || !isFloat(chain.root.dtype)) return;
  recordOp(copySlices, [chain.root, value], { steps: chain.steps }, chain.root);
}

/**
 * The backward of an in-place write into a view (never run forward: the write itself is the
 * backend's assign). Gradients: d(base before) = g outside the view's elements, 0 inside;
 * d(value) = g seen through the same view ops.
 */
const copySlices: OpDef = {
  kind: 'copy',
  name: 'copySlices',
  infer: ([base]) => base!,
  vjp: (g, { attrs, needsGrad }) => {
    const { steps } = attrs as unknown as { steps: readonly ViewStep[] };
    const through = (t: Tensor) => steps.reduce((v, s) => dispatch(s.op, [v], s.attrs), t);
    // (the gradient may be an expanded view; the view ops replay on the base's dense layout)
    const gd = contiguous(g);
    let outside: Tensor | null = null;
    if (needsGrad[0]) {
      const keep = noGrad(() => {
        const m = onesLike(gd);
        through(m).zero_();
        return m;
      });
      outside = gd.mul(keep);
    }
    return [outside, needsGrad[1] ? through(gd) : null];
  },
};

/**
 * Refuses, while gradients are recorded, in-place writes into a leaf that requires grad or into
 * a view of one (the write would change the leaf behind autograd's back, as PyTorch refuses).
 */
function checkInplaceGrad(op: string, x: Tensor): void {
  // a view taken under noGrad has no link to its base's graph: written now, the base's values
  // would change while its gradient did not (PyTorch refuses it as well)
  if (!x.requiresGrad) {
    let t = x, noGradView = false;
    while (t._base && t._viewOp) {
      if (!t._viewWithGrad) noGradView = true;
      t = t._base;
    }
    if (noGradView && t !== x && t.requiresGrad) {
      throw new AutogradError(`${op}: the tensor written to (shape ${fmtShape(x.shape)}) is a view taken inside noGrad() of a tensor that requires grad (shape ${fmtShape(t.shape)}), and gradients are recorded now; write inside noGrad() too, or take the view outside it`);
    }
    return;
  }
  if (x.isLeaf) {
    throw new AutogradError(`${op}: a leaf tensor that requires grad (shape ${fmtShape(x.shape)}) cannot be modified in place while gradients are recorded; wrap the update in noGrad(() => …)`);
  }
  // (a detach() on the way ends the chain: writes through it are outside autograd)
  const base = viewChain(x)?.root ?? x;
  if (base !== x && base.isLeaf && base.requiresGrad) {
    throw new AutogradError(`${op}: the tensor written to (shape ${fmtShape(x.shape)}) is a view of a leaf tensor that requires grad (shape ${fmtShape(base.shape)}); a view of a leaf that requires grad cannot be modified in place while gradients are recorded; wrap the update in noGrad(() => …)`);
  }
}

// ---------------------------------------------------------------- elementwise

type Binary = (a: TensorLike, b: TensorLike) => Tensor;
const bin = (op: OpDef): Binary => (a, b) => dispatch(op, operands(op.name, a, b), {});

const addPrim: Binary = bin(prims.add);
const subPrim: Binary = bin(prims.sub);
/** a + alpha·b (broadcasting; `alpha` as PyTorch's keyword, default 1). */
export function add(a: TensorLike, b: TensorLike, opts?: { alpha?: number }, op = 'add'): Tensor {
  return addPrim(a, withAlpha(op, b, opts));
}
/** a − alpha·b (broadcasting). */
export function sub(a: TensorLike, b: TensorLike, opts?: { alpha?: number }, op = 'sub'): Tensor {
  return subPrim(a, withAlpha(op, b, opts));
}

/**
 * `b`, or alpha·b for add/sub's `{ alpha }` (PyTorch's keyword). A bare number in its place is
 * refused: PyTorch users write x.add(y, 2) meaning alpha, which JavaScript would drop.
 */
function withAlpha(op: string, b: TensorLike, opts: unknown): TensorLike {
  if (opts === undefined) return b;
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
    throw new ValueError(`${op}: got ${describeValue(opts)} after the operand; for PyTorch's alpha pass { alpha: ${typeof opts === 'number' ? opts : '…'} }`);
  }
  checkOptions(op, opts, ['alpha']);
  const alpha = (opts as { alpha?: unknown }).alpha;
  if (alpha === undefined || alpha === 1) return b;
  if (typeof alpha !== 'number' || Number.isNaN(alpha)) throw new ValueError(`${op}: alpha must be a number, got ${describeValue(alpha)}`);
  return typeof b === 'number' ? b * alpha : typeof b === 'boolean' ? Number(b) * alpha : mul(b, alpha);
}
/** a · b (broadcasting). */
export const mul: Binary = bin(prims.mul);
/** Elementwise maximum (ties split the gradient). */
export const maximum: Binary = bin(prims.maximum);
/** Elementwise minimum (ties split the gradient). */
export const minimum: Binary = bin(prims.minimum);
/** a − b·floor(a/b): the remainder with the divisor's sign (Python's %). */
const remainderPrim: Binary = bin(prims.remainder);
/** The remainder of a / b with the sign of b (Python's %, `torch.remainder`); integers by zero are refused. */
export function remainder(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = operands('remainder', a, b);
  return remainderPrim(x, isFloat(x.dtype) || isFloat(y.dtype) ? y : checkedIntDivisor('remainder', y));
}

/**
 * Integer division by zero is an error (PyTorch raises ZeroDivisionError). Where the divisor's
 * values are at hand (a CPU tensor outside jit tracing) they are checked now. Elsewhere (WebGPU,
 * whose values need a readback, and while jit traces) the divisor passes through a gather from a
 * single 0 at index −1 wherever it is 0: the gather's range check reports it as this op's
 * division by zero — at the next readback on WebGPU, when the compiled function runs on the CPU.
 * The gather's zeros are added to the divisor, so the check stays in a compiled graph.
 */
function checkedIntDivisor(op: string, y: Tensor): Tensor {
  if (y.device === 'cpu' && !y.isSymbolic) {
    checkIntDivisor(op, y);
    return y;
  }
  const where0 = neg(cast(eq(y, 0), 'int32')).reshape(-1);
  const zero = dispatch(prims.gather, [zeros([1], { dtype: y.dtype, device: y.device }), where0], { dim: 0, what: divisorCheck(op) });
  return add(y, zero.reshape(y.shape));
}

function checkIntDivisor(op: string, y: Tensor): void {
  const v = y.dataSync();
  for (let i = 0; i < v.length; i++) {
    if (v[i] === 0) throw new ValueError(`${op}: integer division by zero (divisor of shape ${fmtShape(y.shape)}, ${y.dtype}, has a 0 at flat position ${i}); PyTorch raises ZeroDivisionError here too — divide floats for ±inf/NaN`);
  }
}
/** v − x (for numbers on the left). */
export function rsub(x: Tensor, v: number): Tensor { return sub(v, x); }

/**
 * True division a / b (integers give float32), or rounded with `roundingMode` 'trunc' | 'floor'
 * (integers then stay integers).
 */
export function div(a: TensorLike, b: TensorLike, opts: { roundingMode?: 'trunc' | 'floor' } = {}): Tensor {
  const mode = optionValue('div', opts, 'roundingMode', ['trunc', 'floor'], 'true division');
  checkOptions('div', opts, ['roundingMode']);
  let [x, y] = operands('div', a, b);
  if (!mode || isFloat(x.dtype)) {
    if (!isFloat(x.dtype)) { x = cast(x, 'float32'); y = cast(y, 'float32'); }
    if (mode === 'floor') return floorDivide(x, y);
    const q = dispatch(prims.div, [x, y], {});
    return mode === 'trunc' ? trunc(q) : q;
  }
  // integer division: truncating primitive, corrected for floor when signs differ and there is a remainder
  y = checkedIntDivisor('div', y);
  const q = dispatch(prims.div, [x, y], {});
  if (mode === 'trunc') return q;
  const r = sub(x, mul(q, y));
  const adjust = logicalAnd(ne(r, 0), ne(lt(x, 0), lt(y, 0)));
  return sub(q, cast(adjust, q.dtype));
}

/** The value of a 0-d tensor known without reading it: a lifted number, or a constant the trace knows. */
export function knownScalar(t: Tensor): number | undefined {
  return t._scalarValue ?? (t.isSymbolic ? activeTracer()?.constantValue?.(t) : undefined);
}

/**
 * Float floor division as PyTorch (and Python's //) computes it, consistent with `remainder`:
 * q = (a − a mod b)/b rounded to the nearest integer, so a = b·q + a mod b holds (1 // 0.1 is 9,
 * as 0.1 is a little more than a tenth: floor(1/0.1) would round the quotient to 10 first);
 * a zero quotient keeps the sign of a/b; b = 0 gives a/b (±∞, NaN).
 */
function floorDivide(a: Tensor, b: Tensor): Tensor {
  const q = dispatch(prims.div, [a, b], {});
  const d = dispatch(prims.div, [sub(a, remainder(a, b)), b], {});
  const f = floor(d);
  const rounded = add(f, cast(gt(sub(d, f), 0.5), f.dtype));
  // copysign(0, a/b) where the quotient rounds to 0
  const zero = mul(where(lt(q, 0), -1, 1), 0);
  // a finite a over b = ±∞: −1 where their signs differ (a mod b is then b itself), else ±0
  const infB = logicalAnd(eq(abs(b), Infinity), lt(abs(a), Infinity));
  const overInf = where(logicalAnd(ne(a, 0), ne(lt(a, 0), lt(b, 0))), -1, zero);
  return where(eq(b, 0), q, where(infB, overInf, where(eq(d, 0), zero, rounded)));
}

/** a ** b. A float exponent makes an integer base float; integer powers of integers stay integers. */
export function pow(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = operands('pow', a, b);
  // as PyTorch, for a known exponent only (a tensor exponent's values would need a readback)
  const e = typeof b === 'number' ? b : knownScalar(y);
  if (e !== undefined && e < 0 && !isFloat(x.dtype)) {
    throw new DTypeError(`pow: integers to negative integer powers are not allowed (base ${x.dtype} of shape ${fmtShape(x.shape)}, exponent ${e}); convert the base with .float() first`);
  }
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
    const dt = [a, b].every((v) => typeof v === 'boolean') ? 'bool' : [a, b].every((v) => Number.isInteger(v)) ? 'int32' : 'float32';
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
const floatUnary = (op: OpDef): Unary => (x) => dispatch(op, [toFloat(tensorArg(op.name, x))], {});
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
// (integers are already whole: a copy, as PyTorch returns, never the input itself)
const roundUnary = (op: OpDef): Unary => (x) => (isFloat(tensorArg(op.name, x).dtype) ? dispatch(op, [x], {}) : clone(x));
export const floor: Unary = roundUnary(prims.floor);
export const ceil: Unary = roundUnary(prims.ceil);
export const trunc: Unary = roundUnary(prims.trunc);
/** round half to even, as PyTorch */
export const round: Unary = roundUnary(prims.round);
/** x² */
export function square(x: Tensor): Tensor { return mul(x, x); }

/** x for x > 0, slope·x otherwise. */
export function leakyRelu(x: Tensor, negativeSlope = 0.01): Tensor {
  floatInput('leakyRelu', x);
  return where(gt(x, 0), x, mul(x, negativeSlope));
}
/** Gaussian error linear unit: exact x·Φ(x), or the tanh approximation. */
export function gelu(x: Tensor, opts: { approximate?: 'none' | 'tanh' } = {}): Tensor {
  const approximate = optionValue('gelu', opts, 'approximate', ['none', 'tanh'], "'none'");
  checkOptions('gelu', opts, ['approximate']);
  if (approximate === 'tanh') {
    // ½x(1 + tanh(√(2/π)(x + 0.044715x³)))
    const inner = mul(add(x, mul(pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
    return mul(mul(x, 0.5), add(tanh(inner), 1));
  }
  return mul(mul(x, 0.5), add(erf(mul(x, Math.SQRT1_2)), 1));
}
/** log(1 + e^{βx})/β, linear above `threshold` for stability. */
export function softplus(x: Tensor, opts: { beta?: number; threshold?: number } = {}): Tensor {
  checkOptions('softplus', opts, ['beta', 'threshold']);
  const beta = opts.beta ?? 1, threshold = opts.threshold ?? 20;
  const bx = mul(x, beta);
  // NOTE: log1p(exp(-|z|)) + max(z, 0) is the overflow-free form; the threshold matches PyTorch's switch.
  // |z| and max(z, 0) are written with one where() so their kinks at 0 cancel in the gradient too
  // (abs'(0) = relu'(0) = 0 would give softplus'(0) = 0 instead of σ(0) = ½).
  const pos = gt(bx, 0);
  const stable = div(add(log1p(exp(where(pos, neg(bx), bx))), where(pos, bx, 0)), beta);
  return where(gt(bx, threshold), x, stable);
}
/**
 * Limits values to [min, max] (numbers or tensors; null leaves a side open). The result type and
 * shape are PyTorch's: promoted and broadcast over x and the bounds. The gradient is 1 inside the
 * range (bounds included) and 0 outside.
 */
export function clamp(x: Tensor, min?: TensorLike | null, max?: TensorLike | null): Tensor {
  if (!(x instanceof Tensor)) throw new ValueError(`clamp: the input is ${describeValue(x)}, expected a tensor`);
  const bounds: TensorLike[] = [];
  for (const [name, v] of [['min', min], ['max', max]] as const) {
    if (v === undefined || v === null) continue;
    if (v instanceof Tensor) {
      if (v.device !== x.device) throw new DeviceError(`clamp: ${name} is on ${v.device} but the input is on ${x.device}; move it with .to('${x.device}') first`);
    } else if (typeof v !== 'number' && typeof v !== 'boolean') {
      throw new ValueError(`clamp: ${name} is ${describeValue(v)}, expected a number, a tensor or null`);
    }
    bounds.push(v);
  }
  if (bounds.length === 0) throw new ValueError('clamp: at least one of min and max must be given (not null)');
  broadcastShapes('clamp', x.shape, ...bounds.map((b) => (b instanceof Tensor ? b.shape : [])));
  const [y0, ...bs] = promoted('clamp', [x, ...bounds]);
  let y = y0!, i = 0;
  if (min !== undefined && min !== null) { const lo = bs[i++]!; y = where(lt(y, lo), lo, y); }
  if (max !== undefined && max !== null) { const hi = bs[i++]!; y = where(gt(y, hi), hi, y); }
  return y;
}

// ---------------------------------------------------------------- reductions

type Dims = number | readonly number[] | null | undefined;

/**
 * Normalised, sorted reduction dims: `dim` is an integer, a list of distinct integers, or
 * null/undefined (all dims); anything else is a ValueError naming `op`.
 */
function reduceDims(op: string, dim: unknown, ndim: number): number[] {
  if (dim !== undefined && dim !== null && typeof dim !== 'number') {
    if (!Array.isArray(dim)) throw new ValueError(`${op}: dim is ${describeValue(dim)}; expected an integer, an array of integers, or null (all dims)`);
    dim.forEach((d: unknown, i) => {
      if (typeof d !== 'number') throw new ValueError(`${op}: entry ${i} of dims is ${describeValue(d)}; expected integers`);
    });
  }
  return normDims(op, dim as Dims, ndim);
}
/** WebGPU's reduction kernels count each output's elements in a u32: 2**32 or more would wrap (2**32 + 5 sums 5 elements). */
const WEBGPU_REDUCE_LIMIT = 2 ** 32 - 1;
function reduce(op: OpDef, x: Tensor, dim: Dims, keepdim: boolean): Tensor {
  tensorArg(op.name, x);
  const dims = reduceDims(op.name, dim, x.ndim);
  boolArg(op.name, 'keepdim', keepdim);
  if (x.device === 'webgpu') {
    const n = dims.reduce((acc, d) => acc * x.shape[d]!, 1);
    if (n > WEBGPU_REDUCE_LIMIT) {
      throw new ShapeError(`${op.name}: reducing ${n} elements into each output (shape ${fmtShape(x.shape)}, dims [${dims.join(', ')}]) exceeds WebGPU's limit of ${WEBGPU_REDUCE_LIMIT} (2**32 - 1); reduce in stages (e.g. x.sum(-1).sum()) or on the CPU`);
    }
  }
  return dispatch(op, [x], { dims, keepdim });
}
/** Sum over all elements or the given dims. */
export function sum(x: Tensor, dim?: Dims, keepdim = false): Tensor { return reduce(prims.sum, x, dim, keepdim); }
/** Product over all elements or the given dims. */
export function prod(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  // of bool: int32, as sum's (PyTorch: int64, which tapegrad does not have)
  return reduce(prims.prod, x.dtype === 'bool' ? cast(x, 'int32') : x, dim, keepdim);
}
/** Maximum over all elements or the given dims (ties share the gradient). */
export function amax(x: Tensor, dim?: Dims, keepdim = false): Tensor { return reduce(prims.amax, x, dim, keepdim); }
/** Minimum over all elements or the given dims (ties share the gradient). */
export function amin(x: Tensor, dim?: Dims, keepdim = false): Tensor { return reduce(prims.amin, x, dim, keepdim); }
/** Mean over all elements or the given dims (float tensors only, as PyTorch). */
export function mean(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  if (!isFloat(x.dtype)) throw new DTypeError(`mean: expected a float tensor, got ${x.dtype} (convert with .float())`);
  const dims = reduceDims('mean', dim, x.ndim);
  boolArg('mean', 'keepdim', keepdim);
  const n = dims.reduce((acc, d) => acc * x.shape[d]!, 1);
  return div(sum(x, dims, keepdim), n);
}
/** Index of the maximum over all elements (flattened) or along one dim. */
export function argmax(x: Tensor, dim?: number | null, keepdim = false): Tensor {
  boolArg('argmax', 'keepdim', keepdim);
  // (over all elements with keepdim: shape [1, …, 1], as PyTorch's, not 0-d)
  if (dim === undefined || dim === null) return reshape(reduce(prims.argmax, reshape(x, [x.numel]), 0, false), keepdim ? x.shape.map(() => 1) : []);
  return reduce(prims.argmax, x, dimArg('argmax', dim, x.ndim), keepdim);
}
/** Index of the minimum over all elements (flattened) or along one dim. */
export function argmin(x: Tensor, dim?: number | null, keepdim = false): Tensor {
  boolArg('argmin', 'keepdim', keepdim);
  if (dim === undefined || dim === null) return reshape(reduce(prims.argmin, reshape(x, [x.numel]), 0, false), keepdim ? x.shape.map(() => 1) : []);
  return reduce(prims.argmin, x, dimArg('argmin', dim, x.ndim), keepdim);
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
  const d = dimArg(which, dim, x.ndim);
  boolArg(which, 'keepdim', keepdim);
  // checked here so the message names max/min rather than the argmax/argmin that computes it
  if (x.shape[d] === 0) throw new ShapeError(`${which}: cannot reduce over dim ${dim} of size 0 of a tensor of shape ${fmtShape(x.shape)} (the operation has no identity)`);
  const idx = which === 'max' ? argmax(x, d, true) : argmin(x, d, true);
  // NOTE: values come from gather, so the whole gradient goes to the returned index (PyTorch's rule)
  const values = x.ndim === 0 ? x : gather(x, d, idx);
  return keepdim || x.ndim === 0 ? { values, indices: idx } : { values: squeeze(values, d), indices: squeeze(idx, d) };
}
/** log Σ eˣ, computed stably by subtracting the max. */
export function logsumexp(x: Tensor, dim: number | readonly number[], keepdim = false): Tensor {
  const xf = toFloat(x);
  const dims = reduceDims('logsumexp', dim, xf.ndim);
  boolArg('logsumexp', 'keepdim', keepdim);
  // log of an empty sum is −∞, as in PyTorch (amax below has no identity for an empty dim)
  if (dims.some((d) => xf.shape[d] === 0)) return add(sum(xf, dims, keepdim), -Infinity);
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
  return variance('var', x, dim, opts);
}
export { var_ as var };
/** Standard deviation (unbiased by default). */
export function std(x: Tensor, dim?: Dims, opts: { correction?: number; keepdim?: boolean } = {}): Tensor {
  const v = variance('std', x, dim, opts);
  // NOTE: the gradient is 0 where the variance is 0 (constant data), as PyTorch's std_backward
  // masks it: √v's 1/(2√v) = ∞ times the variance's zero gradient would be NaN
  const zero = eq(v, 0);
  return where(zero, 0, sqrt(where(zero, 1, v)));
}
function variance(op: 'var' | 'std', x: Tensor, dim: Dims, opts: { correction?: number; keepdim?: boolean }): Tensor {
  // (PyTorch's unbiased flag is the option correction: 1 or 0; an ignored { unbiased: false } kept 1)
  if (typeof opts === 'object' && opts !== null && 'unbiased' in opts) {
    throw new ValueError(`${op}: unknown option 'unbiased'; write { correction: 0 } for unbiased: false (1, Bessel's correction, is the default)`);
  }
  checkOptions(op, opts, ['correction', 'keepdim']);
  if (opts.correction !== undefined && (typeof opts.correction !== 'number' || !Number.isFinite(opts.correction))) {
    throw new ValueError(`${op}: correction must be a finite number (1: Bessel's, 0: the biased estimate), got ${describeValue(opts.correction)}`);
  }
  if (!isFloat(x.dtype)) throw new DTypeError(`${op}: expected a float tensor, got ${x.dtype}`);
  const dims = reduceDims(op, dim, x.ndim);
  const keepdim = opts.keepdim ?? false;
  boolArg(op, 'keepdim', keepdim);
  const n = dims.reduce((acc, d) => acc * x.shape[d]!, 1);
  const c = opts.correction ?? 1;
  const dev = sub(x, mean(x, dims, true));
  return div(sum(mul(dev, dev), dims, keepdim), Math.max(0, n - c));
}
/** A floating-point input of `op` (softmax of an int tensor is an error in PyTorch too: no silent cast). */
function floatInput(op: string, x: Tensor): Tensor {
  if (!isFloat(x.dtype)) throw new DTypeError(`${op}: expected a floating-point tensor, got ${x.dtype} (shape ${fmtShape(x.shape)}); convert it with .to('float32')`);
  return x;
}

/** softmax along a dim, computed stably. */
export function softmax(x: Tensor, dim: number): Tensor {
  const xf = floatInput('softmax', x);
  const d = normDim('softmax', dim, xf.ndim);
  // an empty input has an empty softmax (the shift's amax has no identity for an empty dim)
  if (xf.numel === 0) return mul(xf, 1);
  const e = exp(sub(xf, detach(amax(xf, d, true))));
  return div(e, sum(e, d, true));
}
/** log of softmax along a dim, computed stably. */
export function logSoftmax(x: Tensor, dim: number): Tensor {
  const xf = floatInput('logSoftmax', x);
  const d = normDim('logSoftmax', dim, xf.ndim);
  if (xf.numel === 0) return mul(xf, 1);
  const shifted = sub(xf, detach(amax(xf, d, true)));
  return sub(shifted, log(sum(exp(shifted), d, true)));
}

// ---------------------------------------------------------------- shape

/** A dim argument: a number (else a ValueError naming the op), normalised by normDim. */
function dimArg(op: string, dim: unknown, ndim: number): number {
  if (typeof dim !== 'number') {
    const lo = ndim === 0 ? -1 : -ndim, hi = ndim === 0 ? 0 : ndim - 1;
    throw new ValueError(`${op}: dim is ${describeValue(dim)}; expected an integer in [${lo}, ${hi}]`);
  }
  return normDim(op, dim, ndim);
}

/** An integer argument, or a ValueError naming the op, the argument, its value and what was expected. */
function intArg(op: string, what: string, v: unknown, expected: string): number {
  if (typeof v !== 'number') throw new ValueError(`${op}: ${what} is ${describeValue(v)}; expected ${expected}`);
  if (!Number.isInteger(v)) throw new ValueError(`${op}: ${what} ${v} is not an integer; expected ${expected}`);
  return v;
}

/** The sizes of a reshape/view target with its one -1 inferred; the element count must match x's. */
function resolveShape(op: 'reshape' | 'view', x: Tensor, shape: readonly number[]): number[] {
  tensorArg(op, x);
  const given: unknown = shape;
  if (!Array.isArray(given)) throw new ShapeError(`${op}: expected a shape (an array of sizes), got ${describeValue(given)}`);
  const out = [...shape];
  const inferIdx = out.indexOf(-1);
  if (out.filter((d) => d === -1).length > 1) throw new ShapeError(`${op}: only one dim can be -1, got ${fmtShape(shape)}`);
  out.forEach((d: unknown, i) => {
    if (typeof d !== 'number') throw new ShapeError(`${op}: the size at index ${i} is ${describeValue(d)}; sizes must be non-negative integers (one may be -1)`);
    if (d !== -1 && (!Number.isInteger(d) || d < 0)) {
      throw new ShapeError(`${op}: invalid size ${d} at index ${i} of ${fmtShape(shape)}; sizes must be non-negative integers (one may be -1)`);
    }
  });
  if (inferIdx >= 0) {
    const rest = out.reduce((acc, d, i) => (i === inferIdx ? acc : acc * d), 1);
    if (rest === 0) throw cannotReshape(op, x, shape, '(the other sizes multiply to 0, so -1 could be any size)');
    if (x.numel % rest !== 0) throw cannotReshape(op, x, shape, `(${x.numel} is not a multiple of ${rest})`);
    out[inferIdx] = x.numel / rest;
  } else if (numel(out) !== x.numel) throw cannotReshape(op, x, shape, `(${numel(out)} elements)`);
  return out;
}

function cannotReshape(op: string, x: Tensor, shape: readonly number[], why: string): ShapeError {
  return new ShapeError(`${op}: cannot ${op} a tensor of shape ${fmtShape(x.shape)} (${x.numel} elements) ${op === 'view' ? 'as' : 'to'} ${fmtShape(shape)} ${why}`);
}

/** A tensor with the same elements in a new shape (a view when the layout allows, else a copy). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const s = resolveShape('reshape', x, shape);
  // NOTE: the same shape is still a new view, as PyTorch's (x.reshape(x.shape) is not x): returning
  // x itself made requiresGrad_(), detach_() or dispose() on the result act on x
  if (numel(s) === x.numel && !x.isSymbolic && !viewStrides(x, s)) x = dispatch(prims.contiguous, [x], {});
  return dispatch(prims.reshape, [x], { shape: s });
}
/** Like reshape, but never copies: an error when the layout cannot be viewed in the new shape. */
export function view(x: Tensor, shape: readonly number[]): Tensor {
  const s = resolveShape('view', x, shape);
  // (while tracing, the layout x would have eagerly: a transposed argument cannot be viewed either)
  const layout = x.isSymbolic ? activeTracer()?.layoutOf?.(x) : x;
  if (layout && numel(s) === x.numel && !viewStrides(layout, s)) {
    throw new ShapeError(`view: a tensor of shape ${fmtShape(x.shape)} with strides ${fmtShape(layout.strides)} cannot be viewed as ${fmtShape(s)} without a copy; use reshape()`);
  }
  return dispatch(prims.reshape, [x], { shape: s });
}
/** Reorders dims. */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  tensorArg('permute', x);
  if (!Array.isArray(dims)) throw new ShapeError(`permute: dims must be a list of the ${x.ndim} dims in their new order, got ${describeValue(dims)}`);
  const perm = dims.map((d) => dimArg('permute', d, x.ndim));
  // checked here too (the primitive checks again) so the message shows the dims as given
  if (perm.length !== x.ndim || new Set(perm).size !== perm.length) {
    throw new ShapeError(`permute: [${dims.join(', ')}] is not a permutation of the ${x.ndim} dims of a tensor of shape ${fmtShape(x.shape)} (each dim exactly once)`);
  }
  return dispatch(prims.permute, [x], { perm });
}
/** Swaps two dims. */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  tensorArg('transpose', x);
  const a = normDim('transpose', dim0, x.ndim), b = normDim('transpose', dim1, x.ndim);
  const perm = [...Array(x.ndim).keys()];
  perm[a] = b; perm[b] = a;
  return permute(x, perm);
}
/** Transpose of a ≤ 2-D tensor. */
export function t(x: Tensor): Tensor {
  tensorArg('t', x);
  if (x.ndim > 2) throw new ShapeError(`t: expects a tensor with ≤ 2 dims, got shape ${fmtShape(x.shape)}; use transpose(dim0, dim1)`);
  return x.ndim < 2 ? permute(x, x.shape.map((_, i) => i)) : transpose(x, 0, 1);
}
/** Broadcasts size-1 dims (and new leading dims) to `shape` without copying; -1 keeps a size. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  tensorArg('expand', x);
  const given: unknown = shape;
  if (!Array.isArray(given)) throw new ShapeError(`expand: expected a shape (an array of sizes), got ${describeValue(given)}`);
  const lead = shape.length - x.ndim;
  shape.forEach((d: unknown, i) => {
    if (typeof d !== 'number') throw new ShapeError(`expand: the size at index ${i} is ${describeValue(d)}; sizes must be non-negative integers, or -1 to keep a dim's size`);
    if (d === -1 && i < lead) {
      throw new ShapeError(`expand: size -1 at index ${i} of ${fmtShape(shape)} is in a new leading dim (expanding shape ${fmtShape(x.shape)}), which has no size to keep; give its size`);
    }
    if (!Number.isInteger(d) || d < -1) {
      throw new ShapeError(`expand: invalid size ${d} at index ${i} of ${fmtShape(shape)} (expanding shape ${fmtShape(x.shape)}); sizes must be non-negative integers, or -1 to keep a dim's size`);
    }
  });
  const s = shape.map((d, i) => (d === -1 && i >= lead ? x.shape[i - lead]! : d));
  return dispatch(prims.expand, [x], { shape: s });
}
/** Removes size-1 dims (all, or the given ones). */
export function squeeze(x: Tensor, dim?: number | readonly number[]): Tensor {
  tensorArg('squeeze', x);
  const dims = dim === undefined ? x.shape.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0) : normDims('squeeze', dim, x.ndim);
  return reshape(x, x.shape.filter((d, i) => !(dims.includes(i) && d === 1)));
}
function squeezeDims(x: Tensor, dims: readonly number[]): Tensor {
  return reshape(x, x.shape.filter((_, i) => !dims.includes(i)));
}
/** Inserts a size-1 dim at `dim` (negative counts from the end of the result). */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  tensorArg('unsqueeze', x);
  const d = normDim('unsqueeze', dim, x.ndim + 1);
  const s = [...x.shape];
  s.splice(d, 0, 1);
  return reshape(x, s);
}
/** Merges dims startDim..endDim into one. */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  tensorArg('flatten', x);
  // a 0-d tensor takes dims as a 1-D one does (-1 or 0), as PyTorch's
  if (x.ndim === 0) {
    normDim('flatten', startDim, 1);
    normDim('flatten', endDim, 1);
    return reshape(x, [1]);
  }
  const a = normDim('flatten', startDim, x.ndim), b = normDim('flatten', endDim, x.ndim);
  if (a > b) throw new ShapeError(`flatten: startDim ${startDim} comes after endDim ${endDim}`);
  const s = [...x.shape.slice(0, a), x.shape.slice(a, b + 1).reduce((p, d) => p * d, 1), ...x.shape.slice(b + 1)];
  // (PyTorch: "if no dimensions are flattened, the original object is returned")
  return sameShape(s, x.shape) ? x : reshape(x, s);
}
/** General strided slice view with per-dim starts, sizes and steps. */
export function sliceView(x: Tensor, starts: readonly number[], sizes: readonly number[], steps: readonly number[]): Tensor {
  return dispatch(prims.slice, [x], { starts, sizes, steps });
}
/** `length` elements of `dim` from `start` (a view). */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  tensorArg('narrow', x);
  if (x.ndim === 0) throw new ShapeError('narrow: cannot be applied to a 0-d tensor (it has no dim to narrow)');
  const d = dimArg('narrow', dim, x.ndim);
  const size = x.shape[d]!;
  intArg('narrow', 'start', start, `an integer in [${-size}, ${size}] (dim ${dim} has size ${size})`);
  intArg('narrow', 'length', length, `an integer in [0, ${size}] (dim ${dim} has size ${size})`);
  const s = start < 0 ? start + size : start;
  if (length < 0 || s < 0 || s + length > size) {
    throw new ShapeError(`narrow: start ${start} and length ${length} do not fit dim ${dim} of size ${size} (shape ${fmtShape(x.shape)}); expected start in [${-size}, ${size}] and start + length ≤ ${size}`);
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
  return sliceRange('slice', '', x, dimArg('slice', dim, x.ndim), start, end, step);
}
/** A slice bound: null when left out, else an integer (Python slice bounds clamp later). */
function sliceBound(op: string, what: string, name: string, v: unknown, d: number, n: number): number | null {
  return v === null || v === undefined ? null
    : intArg(op, `${what}${name}`, v, `an integer or null (Python slice bounds; dim ${d} has size ${n}, so they clamp to [${-n}, ${n}])`);
}

/** slice's range along the normalised dim `d`; `what` prefixes the argument names in errors (index's "dim 1's "). */
function sliceRange(op: string, what: string, x: Tensor, d: number, start: unknown, end: unknown, step: unknown): Tensor {
  const n = x.shape[d]!;
  const lo = sliceBound(op, what, 'start', start, d, n), hi = sliceBound(op, what, 'end', end, d, n);
  const st = step === null || step === undefined ? 1 : intArg(op, `${what}step`, step, 'a positive integer');
  if (st < 1) throw new ValueError(`${op}: ${what}step must be a positive integer, got ${st}`);
  const clampIdx = (v: number) => Math.min(Math.max(v < 0 ? v + n : v, 0), n);
  const s = clampIdx(lo ?? 0), e = clampIdx(hi ?? n);
  const size = e > s ? Math.ceil((e - s) / st) : 0;
  return sliceAlong(x, d, size === 0 ? 0 : s, size, st);
}
/** Basic indexing (see Tensor.index). */
export function index(x: Tensor, ...specs: IndexSpec[]): Tensor {
  tensorArg('index', x);
  if (specs.length > x.ndim) throw new ShapeError(`index: ${specs.length} indices for a tensor of ${x.ndim} dims (shape ${fmtShape(x.shape)})`);
  let y = x;
  const drop: number[] = [];
  specs.forEach((spec: unknown, d) => {
    if (spec === null) return;
    const n = x.shape[d]!;
    if (typeof spec === 'number') {
      intArg('index', `dim ${d}'s index`, spec, `an integer in [${-n}, ${n - 1}] (dim ${d} has size ${n})`);
      if (spec < -n || spec >= n) throw new ShapeError(`index: index ${spec} is out of range for dim ${d} of size ${n}; expected an integer in [${-n}, ${n - 1}]`);
      y = sliceAlong(y, d, spec < 0 ? spec + n : spec, 1, 1);
      drop.push(d);
    } else if (Array.isArray(spec)) {
      const r: readonly unknown[] = spec;
      if (r.length < 2 || r.length > 3) {
        throw new ValueError(`index: the range for dim ${d} has ${r.length} entr${r.length === 1 ? 'y' : 'ies'} ([${r.map((v) => (typeof v === 'number' || v === null ? String(v) : describeValue(v))).join(', ')}]); expected [start, end] or [start, end, step] (for a list of indices, use indexSelect)`);
      }
      y = sliceRange('index', `dim ${d}'s range `, y, d, r[0], r[1], r[2]);
    } else {
      const hint = spec instanceof Tensor ? ' (for a 0-d tensor pass t.item(); for a tensor of indices use indexSelect)' : '';
      throw new ValueError(`index: the spec for dim ${d} is ${describeValue(spec)}${hint}; expected a number (picks one index and drops the dim), [start, end] or [start, end, step] (a range; null bounds mean the ends), or null (the whole dim)`);
    }
  });
  // (x[:, :] is a new view of x, as in PyTorch)
  return drop.length ? squeezeDims(y, drop) : y === x ? reshape(x, x.shape) : y;
}
/** Concatenates tensors along an existing dim. */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  checkTensorList('cat', tensors);
  // a 0-d tensor has no dim to join along (normDim would let dim 0 through for it)
  tensors.forEach((x, i) => {
    if (x.ndim === 0) throw new ShapeError(`cat: tensor ${i} is zero-dimensional (shape []); cat joins tensors along an existing dim (unsqueeze it to shape [1] first, or use stack)`);
  });
  const first = tensors[0]!;
  const d = dimArg('cat', dim, first.ndim);
  let dt = first.dtype;
  for (const x of tensors) dt = promoteTypes(dt, false, x.dtype, false);
  // a new tensor, as PyTorch's cat: writing into the result must not reach the operand
  if (tensors.length === 1) {
    const c = cast(first, dt);
    return c === first ? clone(first) : c;
  }
  return dispatch(prims.cat, tensors.map((x) => cast(x, dt)), { dim: d });
}
/** Stacks tensors of one shape along a new dim. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  checkTensorList('stack', tensors);
  const first = tensors[0]!;
  for (const [i, x] of tensors.entries()) {
    if (!sameShape(x.shape, first.shape)) throw new ShapeError(`stack: tensor ${i} has shape ${fmtShape(x.shape)}, tensor 0 has ${fmtShape(first.shape)}; all must match`);
  }
  const d = dimArg('stack', dim, first.ndim + 1);
  return cat(tensors.map((x) => unsqueeze(x, d)), d);
}
/** cat's and stack's operand list: a non-empty array of tensors. */
function checkTensorList(op: string, tensors: unknown): asserts tensors is readonly Tensor[] {
  if (!Array.isArray(tensors)) throw new ValueError(`${op}: expected an array of tensors, got ${describeValue(tensors)}`);
  if (tensors.length === 0) throw new ValueError(`${op}: expected a non-empty list of tensors`);
  tensors.forEach((x: unknown, i) => {
    if (!(x instanceof Tensor)) throw new ValueError(`${op}: entry ${i} of the list is ${describeValue(x)}; expected a tensor`);
  });
}
/** Splits into pieces of `size` (the last may be smaller) or of the given sizes. */
export function split(x: Tensor, sizeOrSections: number | readonly number[], dim = 0): Tensor[] {
  if (x.ndim === 0) throw new ShapeError('split: expected a tensor of at least 1 dim, got a 0-d tensor');
  const d = dimArg('split', dim, x.ndim);
  const n = x.shape[d]!;
  let sizes: number[];
  if (typeof sizeOrSections !== 'number' && !Array.isArray(sizeOrSections)) {
    throw new ValueError(`split: sizeOrSections is ${describeValue(sizeOrSections)}; expected a positive integer (piece size) or an array of sizes`);
  }
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
  if (!Number.isInteger(chunks) || chunks <= 0) throw new ValueError(`chunk: chunks must be a positive integer, got ${typeof chunks === 'number' ? chunks : describeValue(chunks)}`);
  if (x.ndim === 0) throw new ShapeError('chunk: expected a tensor of at least 1 dim, got a 0-d tensor');
  const d = dimArg('chunk', dim, x.ndim);
  // an empty dim gives `chunks` empty pieces (PyTorch's special case)
  if (x.shape[d] === 0) return Array.from({ length: chunks }, () => narrow(x, d, 0, 0));
  return split(x, Math.max(1, Math.ceil(x.shape[d]! / chunks)), d);
}
/**
 * Constant padding in PyTorch's order: pairs for the last dim first, e.g. [left, right, top, bottom].
 * Negative pads crop.
 */
export function pad(x: Tensor, pads: readonly number[], value = 0): Tensor {
  if (!Array.isArray(pads) || pads.some((p: unknown) => !Number.isInteger(p))) {
    throw new ShapeError(`pad: pads must be a list of integers (before and after, last dim first), got ${Array.isArray(pads) ? `[${pads.map((p: unknown) => describeValue(p)).join(', ')}]` : describeValue(pads)}`);
  }
  if (typeof value !== 'number' && typeof value !== 'boolean') throw new ValueError(`pad: the fill value must be a number, got ${describeValue(value)}`);
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
  const out = padStrided(y, per.map(([lo, hi]) => [Math.max(lo, 0), Math.max(hi, 0)] as const), y.shape.map(() => 1), value);
  // no padding left (zero pads, or crops only): still a new tensor, as PyTorch's pad, not x or a view of it
  return out === y ? clone(y) : out;
}
/** Places x into a tensor filled with `value`, at offsets `pads[d][0]` with element spacing `steps[d]`. */
export function padStrided(x: Tensor, pads: readonly (readonly [number, number])[], steps: readonly number[], value: number): Tensor {
  if (pads.every(([a, b]) => a === 0 && b === 0) && steps.every((s) => s === 1)) return x;
  // as full() and fill_ convert it: an int32 fill out of range or NaN is refused, not wrapped or 0;
  // a fraction truncates, and a bool fill is true where non-zero (0.5 was false)
  const v = toElement('pad', value, x.dtype, () => ` (the fill value) for a ${x.dtype} tensor`);
  return dispatch(prims.pad, [x], { pads, steps, value: v });
}
/**
 * out[...i_dim...] = x[...index[i]...] along dim (PyTorch's gather). `what`: the op a composite
 * gathers for (crossEntropy, indexSelect…), named by index-range errors, compiled ones included.
 */
export function gather(x: Tensor, dim: number, idx: Tensor, what?: string): Tensor {
  const d = dimArg(what ?? 'gather', dim, x.ndim);
  return dispatch(prims.gather, [x, idx], what ? { dim: d, what } : { dim: d });
}
/** x with src (of x's dtype, as PyTorch requires) added at the positions index gives along dim (out of place). */
export function scatterAdd(x: Tensor, dim: number, idx: Tensor, src: Tensor): Tensor {
  const d = dimArg('scatterAdd', dim, x.ndim);
  return dispatch(prims.scatterAdd, [x, idx, src], { dim: d });
}
/** The entries of `x` along `dim` at the positions in the 1-D `index` (an int32 tensor, or an array of integers). */
export function indexSelect(x: Tensor, dim: number, idx: Tensor | readonly number[]): Tensor {
  const d = dimArg('indexSelect', dim, x.ndim);
  const index = Array.isArray(idx) ? indexArray('indexSelect', idx, x.device) : idx;
  if (!(index instanceof Tensor)) throw new ValueError(`indexSelect: index is ${describeValue(idx)}; expected a 1-D int32 tensor or an array of integers`);
  if (index.dtype !== 'int32') throw new DTypeError(`indexSelect: index must be int32, got ${index.dtype}`);
  if (index.ndim !== 1) throw new ShapeError(`indexSelect: index must be 1-D, got shape ${fmtShape(index.shape)}`);
  const shape = x.shape.map((n, i) => (i === d ? index.shape[0]! : n));
  const view = x.shape.map((_, i) => (i === d ? index.shape[0]! : 1));
  return gather(x, d, expand(reshape(index, view), shape), 'indexSelect');
}
/** An array of indices as a 1-D int32 tensor on `device` (each entry an integer in the int32 range). */
function indexArray(op: string, idx: readonly unknown[], device: Device): Tensor {
  const data = new Int32Array(idx.length);
  idx.forEach((v, i) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v !== (v | 0)) {
      throw new ValueError(`${op}: entry ${i} of the index array is ${typeof v === 'number' ? v : describeValue(v)}; expected integers`);
    }
    data[i] = v;
  });
  return fromTypedArray(data, [idx.length], 'int32', device);
}

// ---------------------------------------------------------------- contractions

/**
 * Matrix product with PyTorch's rules: 1-D operands are promoted (and the dim removed after),
 * batch dims broadcast.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  [a, b].forEach((t: unknown, i) => {
    if (!(t instanceof Tensor)) throw new ValueError(`matmul: the ${ORDINAL[i]} operand is ${describeValue(t)}, expected a tensor (for a product with a number use mul)`);
  });
  if (a.ndim === 0 || b.ndim === 0) throw new ShapeError(`matmul: both operands need at least 1 dim, got shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  // as PyTorch: one dtype for both (it refuses float32 · float64 and int32 · float32 rather than
  // promote; a product is not an elementwise op, and a silent upcast doubles its cost)
  if (a.dtype !== b.dtype) {
    throw new DTypeError(`matmul: both operands must have the same dtype, got ${a.dtype}${fmtShape(a.shape)} and ${b.dtype}${fmtShape(b.shape)}; cast one with .to('${promoteTypes(a.dtype, false, b.dtype, false)}')`);
  }
  let x = a, y = b;
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
  const padValue = toElement('unfold (padValue)', attrs.padValue, x.dtype, () => ` for a ${x.dtype} tensor`);
  return dispatch(prims.unfold, [x], padValue === attrs.padValue ? attrs : { ...attrs, padValue });
}
/** Sums columns back into an NCHW image (the adjoint of unfold). */
export function fold(cols: Tensor, attrs: FoldAttrs): Tensor {
  return dispatch(prims.fold, [cols], attrs);
}
