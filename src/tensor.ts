/**
 * @file The Tensor class: a strided view of a backend storage (or a symbolic graph node while
 * jit traces), with autograd fields. Methods are one-line facades over src/ops/functional.ts.
 */
import { getBackend, type Device, type Storage } from './backend.ts';
import { isFloat, type DType, type TypedArray } from './dtype.ts';
import { AutogradError, DTypeError, DeviceError, ShapeError, ValueError, internal } from './errors.ts';
import { contiguousStrides, fmtShape, hasInternalOverlap, numel, sameShape } from './shape.ts';
import { backward, type BackwardOptions, type Node } from './tape.ts';
import { formatTensor } from './format.ts';
import * as F from './ops/functional.ts';
import type { TensorLike, IndexSpec, MaxResult } from './ops/functional.ts';
import type { OpDef } from './ops/registry.ts';
import { describeValue } from './ops/dispatch.ts';

/** A jit graph node, as seen by the Tensor class (defined by src/jit/). */
export interface SymbolicRef {
  readonly id: number;
}

/** One view op application (op and attributes): replayed on a gradient by in-place writes into views. */
export interface ViewStep {
  readonly op: OpDef;
  readonly attrs: unknown;
}

/** Nested arrays of numbers (or booleans) as returned by toArray(). */
export type NestedArray = number | boolean | NestedArray[];

export class Tensor {
  /** size of each dim */
  readonly shape: readonly number[];
  /** elements to skip per step along each dim (0 for broadcast dims) */
  readonly strides: readonly number[];
  /** index of the first element in the storage */
  readonly offset: number;
  readonly dtype: DType;
  readonly device: Device;
  /** @internal the storage (null for symbolic tensors) */
  _storage: Storage | null;
  /** @internal the graph node while tracing (null for concrete tensors) */
  _sym: SymbolicRef | null;
  /** @internal the tensor this one is a view of */
  readonly _base: Tensor | null;
  /** @internal the view op that made this tensor from `_base` (null: not a view, or a detach() alias) */
  _viewOp: ViewStep | null = null;
  /** @internal set by dispose() */
  _disposed = false;
  /** @internal version counter for symbolic tensors (concrete ones use their storage's) */
  _symVersion = 0;
  /** @internal this tensor is a JS number lifted to a 0-d operand */
  _scalarValue: number | undefined = undefined;

  /** @internal (read `requiresGrad`, which first brings a view written through a sibling up to date) */
  _requiresGrad = false;
  /** @internal the stored gradient (read and write `grad` instead) */
  _grad: Tensor | null = null;
  /** @internal set by jit while tracing: sees every `.grad` read and write */
  static _gradHook: ((t: Tensor, write: boolean) => void) | null = null;
  /** @internal set by scope(): sees every concrete tensor created and every gradient stored */
  static _scopeHooks: { created(t: Tensor): void; gradSet(owner: Tensor, g: Tensor): void } | null = null;
  /** @internal told of every concrete tensor made while set (jit: the tensors a trace makes) */
  static _createdHook: ((t: Tensor) => void) | null = null;
  /**
   * @internal set by backward on a gradient it made for a leaf's `.grad` (a tensor nothing else
   * holds); cleared once the program reads that `.grad` (it may keep the tensor). While set, the
   * optimizers' and modules' zeroGrad() and backward's accumulation release the gradient's memory
   * when they replace it, instead of leaving it to the garbage collector.
   */
  _gradUnread = false;
  /** accumulated gradient (leaves, and non-leaves after retainGrad()) */
  get grad(): Tensor | null {
    const g = this._readGrad();
    if (g) g._gradUnread = false;
    return g;
  }
  /** @internal `.grad` for the library's own reads (optimizers, zeroGrad): seen by jit, not a read by the program */
  _readGrad(): Tensor | null {
    if (Tensor._gradHook) Tensor._gradHook(this, false);
    return this._grad;
  }
  /**
   * @internal zeroGrad() of one tensor (Optimizer and Module): `.grad` to null, or zeroed in place
   * as PyTorch's `zero_grad(set_to_none=False)` does (a reference to `.grad` sees the zeros; a
   * gradient recorded with createGraph, or an expand()ed one, is replaced by fresh zeros instead).
   * A gradient backward made that the program never read is released here, not left to the
   * collector (PyTorch frees it by reference count; in a loop that never yields to the event
   * loop, the CPU's arena would fill with them).
   */
  _clearGrad(setToNone: boolean): void {
    const g = this._readGrad();
    if (!g) return;
    if (!setToNone && !Tensor._gradHook && g._writableGrad()) g.zero_();
    else this._replaceGrad(setToNone ? null : F.zerosLike(g));
  }
  /**
   * @internal Whether this gradient can be written in place (backward's accumulation, zeroGrad):
   * live, owning distinct elements (a user may assign an expand()ed tensor, which in-place writes
   * refuse), and not itself recorded for higher-order gradients (a `.grad` made by
   * `backward({createGraph})` is replaced, not written, as PyTorch does).
   */
  _writableGrad(): boolean {
    return !this._disposed && !this.requiresGrad && !hasInternalOverlap(this.shape, this.strides);
  }
  /**
   * @internal Replaces `.grad` (as the setter does) and disposes the old gradient if backward made
   * it and the program never read it: no reference to it can exist outside the library.
   */
  _replaceGrad(g: Tensor | null): void {
    const old = this._grad;
    this.grad = g;
    // (not while jit traces: a compiled function binds the .grad tensors it saw)
    if (old && old !== g && old._gradUnread && !Tensor._gradHook) old.dispose();
  }
  set grad(g: Tensor | null) {
    // as PyTorch: a gradient always matches its tensor (the optimizers and backward rely on it)
    if (g && (g.dtype !== this.dtype || g.device !== this.device || !sameShape(g.shape, this.shape))) {
      const E = !sameShape(g.shape, this.shape) ? ShapeError : g.dtype !== this.dtype ? DTypeError : DeviceError;
      throw new E(`.grad: assigned a gradient of ${g.dtype}${fmtShape(g.shape)} on ${g.device} to a tensor of ${this.dtype}${fmtShape(this.shape)} on ${this.device}; they must match`);
    }
    if (Tensor._gradHook) Tensor._gradHook(this, true);
    if (g && Tensor._scopeHooks) Tensor._scopeHooks.gradSet(this, g);
    this._grad = g;
  }
  /** @internal the tape node (read `gradFn`, which first brings a view written through a sibling up to date) */
  _gradFn: Node | null = null;
  /** @internal the version at which `_gradFn` and `_requiresGrad` were last set or checked */
  _gradVersion: number;
  /** @internal set by dispatch on views taken while gradients were recorded */
  _viewWithGrad = false;
  /** @internal retainGrad() was called: the retained gradient moves with the tensor's node */
  _retainsGrad = false;

  /** @internal use the creation functions (tensor, zeros, …) instead */
  constructor(
    storage: Storage | null, sym: SymbolicRef | null, shape: readonly number[], strides: readonly number[] | null,
    offset: number, dtype: DType, device: Device, base: Tensor | null,
  ) {
    this._storage = storage;
    this._sym = sym;
    this.shape = shape;
    this.strides = strides ?? contiguousStrides(shape);
    this.offset = offset;
    this.dtype = dtype;
    this.device = device;
    this._base = base;
    this._gradVersion = storage ? storage.version : 0;
  }

  /** @internal */
  static _fromStorage(storage: Storage, shape: readonly number[], strides: readonly number[] | null, offset: number, dtype: DType, device: Device, base: Tensor | null): Tensor {
    const t = new Tensor(storage, null, shape, strides, offset, dtype, device, base);
    if (Tensor._scopeHooks) Tensor._scopeHooks.created(t);
    if (Tensor._createdHook) Tensor._createdHook(t);
    return t;
  }
  /** @internal */
  static _symbolic(sym: SymbolicRef, shape: readonly number[], dtype: DType, device: Device): Tensor {
    return new Tensor(null, sym, shape, null, 0, dtype, device, null);
  }

  get ndim(): number { return this.shape.length; }
  get numel(): number { return numel(this.shape); }
  /** true when the elements are laid out densely in row-major order */
  get isContiguous(): boolean {
    let expected = 1;
    for (let i = this.ndim - 1; i >= 0; i--) {
      const d = this.shape[i]!;
      if (d !== 1 && this.strides[i] !== expected) return false;
      expected *= d;
    }
    return true;
  }
  get isSymbolic(): boolean { return this._sym !== null; }
  /** true for tensors created by the user (not by a recorded op) */
  get isLeaf(): boolean { return this.gradFn === null; }
  /** @internal version counter, shared by all views of one storage */
  get _version(): number { return this._storage ? this._storage.version : this._symVersion; }
  /** @internal */
  _bumpVersion(): void {
    if (this._storage) this._storage.version++;
    else this._symVersion++;
  }

  /** the tape node that produced this tensor (null for leaves) */
  get gradFn(): Node | null {
    this.syncView();
    return this._gradFn;
  }
  set gradFn(node: Node | null) {
    // a retained gradient follows the tensor to its new node (an in-place op, a view made again):
    // it is then the gradient of the current value, as in PyTorch
    if (this._retainsGrad && this._gradFn !== node) {
      if (this._gradFn?.retainTarget === this) this._gradFn.retainTarget = null;
      if (node) node.retainTarget = this;
    }
    this._gradFn = node;
    this._gradVersion = this._version;
  }
  /**
   * After a write into the elements this view shares, through its base or another view, its node
   * still describes the view of the base's old value: like PyTorch, it is made again from the
   * base's current node (a write through this view itself sets its node afresh). Only views,
   * concrete or traced, can go stale: other tensors skip the version read.
   */
  private syncView(): void {
    if ((this._base === null && this._sym === null) || this._gradVersion === this._version) return;
    this._gradVersion = this._version;
    F.refreshViewGrad(this);
  }

  get requiresGrad(): boolean {
    this.syncView();
    return this._requiresGrad;
  }
  set requiresGrad(flag: boolean) {
    // (no truthiness: requiresGrad_('false') turned gradients on)
    if (typeof flag !== 'boolean') throw new ValueError(`requiresGrad: expected true or false, got ${typeof flag === 'string' ? `the string ${JSON.stringify(flag)}` : String(flag)}`);
    if (flag && !isFloat(this.dtype)) {
      throw new DTypeError(`requiresGrad: only floating-point tensors can require gradients, but this tensor (shape ${fmtShape(this.shape)}) is ${this.dtype}`);
    }
    if (!flag && this.gradFn) {
      throw new AutogradError(`requiresGrad: cannot turn off requiresGrad of a non-leaf tensor (produced by ${this.gradFn.name}); use detach()`);
    }
    this._requiresGrad = flag;
  }
  /** Sets requiresGrad in place and returns this tensor. */
  requiresGrad_(flag = true): this {
    this.requiresGrad = flag;
    return this;
  }
  /** Keeps `.grad` for this non-leaf tensor during backward. */
  retainGrad(): this {
    if (!this._requiresGrad) throw new AutogradError(`retainGrad: the tensor (shape ${fmtShape(this.shape)}) does not require grad`);
    this._retainsGrad = true;
    if (this.gradFn) this.gradFn.retainTarget = this;
    return this;
  }
  /** Accumulates gradients of this tensor into the `.grad` of the leaves it depends on. */
  backward(gradient?: Tensor, opts?: BackwardOptions): void {
    backward(this, gradient, opts);
  }
  /** A tensor sharing storage with this one, cut off from the autograd graph. */
  detach(): Tensor {
    return F.detach(this);
  }
  /** Detaches in place (not for views: use `detach()`, as PyTorch requires). */
  detach_(): this {
    // a view's node is made again from its base's after writes into their elements; detaching
    // the view alone would not hold (PyTorch refuses it for the same reason)
    if (this._base !== null && this._viewOp !== null && this.requiresGrad) {
      throw new AutogradError(`detach_: the tensor (shape ${fmtShape(this.shape)}) is a view of a tensor that requires grad; views cannot be detached in place, use detach() instead`);
    }
    this._viewWithGrad = false;
    this.gradFn = null;
    this._requiresGrad = false;
    return this;
  }

  // ---- readback ----
  private backendForRead(op: string) {
    F.checkLiveTensor(op, this);
    if (!this._storage) {
      throw new DeviceError(`${op}: this tensor (shape ${fmtShape(this.shape)}) is symbolic (inside jit tracing) and has no values yet`);
    }
    return getBackend(this.device);
  }
  /** The values as a contiguous typed array (copy). CPU only; use `await data()` elsewhere. */
  dataSync(): TypedArray {
    return this.backendForRead('dataSync').readSync(F.viewOf(this));
  }
  /** The values as a contiguous typed array (copy). */
  async data(): Promise<TypedArray> {
    return this.backendForRead('data').read(F.viewOf(this));
  }
  /** The values as nested arrays. CPU only; use `await toArray()` elsewhere. */
  toArraySync(): NestedArray {
    return nest(this.dataSync(), this.shape, this.dtype);
  }
  /** The values as nested arrays. */
  async toArray(): Promise<NestedArray> {
    return nest(await this.data(), this.shape, this.dtype);
  }
  /** The value of a one-element tensor. CPU only; use `await item()` elsewhere. */
  itemSync(): number {
    this.checkItem();
    return this.dataSync()[0]!;
  }
  /** The value of a one-element tensor. */
  async item(): Promise<number> {
    this.checkItem();
    return (await this.data())[0]!;
  }
  private checkItem() {
    if (this.numel !== 1) throw new ShapeError(`item: only one-element tensors can be converted to a number, got shape ${fmtShape(this.shape)}`);
  }
  /** PyTorch-style printout, e.g. `tensor([0.5000, 0.7311], requiresGrad=true)`. */
  toString(): string {
    return formatTensor(this);
  }
  /** console.log in Node prints the PyTorch-style form, not the internals. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return formatTensor(this);
  }

  /** Releases this tensor's memory now; using it afterwards is a UseAfterDisposeError. */
  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    F.releaseTensor(this);
  }

  // ---- dtype / device ----
  /** Converts to a dtype or copies to a device (same object if nothing changes). */
  to(target: DType | Device): Tensor {
    // spelled out (and kept exhaustive by `satisfies`) so a typo is refused here, naming both
    // kinds of target, rather than reaching cast as an unknown dtype
    const targets = { float32: 0, float64: 0, int32: 0, bool: 0, cpu: 0, webgpu: 0 } satisfies Record<DType | Device, 0>;
    if (typeof target !== 'string' || !Object.hasOwn(targets, target)) {
      const shown = typeof target === 'string' ? `'${target}'` : `${String(target)} (${typeof target})`;
      throw new DTypeError(`to: unknown target ${shown}; expected a dtype (float32, float64, int32, bool) or a device (cpu, webgpu)`);
    }
    return F.to(this, target);
  }
  /** Copies to another device, awaiting readback where the source device needs it. */
  toAsync(device: Device): Promise<Tensor> {
    return F.toAsync(this, device);
  }
  float(): Tensor { return F.to(this, 'float32'); }
  double(): Tensor { return F.to(this, 'float64'); }
  int(): Tensor { return F.to(this, 'int32'); }
  bool(): Tensor { return F.to(this, 'bool'); }
  contiguous(): Tensor { return F.contiguous(this); }
  clone(): Tensor { return F.clone(this); }

  // ---- elementwise ----
  /** this + alpha·o (PyTorch's `add(other, alpha=…)` is `add(o, { alpha })`). */
  add(o: TensorLike, opts?: { alpha?: number }): Tensor { return F.add(this, o, opts); }
  /** this − alpha·o. */
  sub(o: TensorLike, opts?: { alpha?: number }): Tensor { return F.sub(this, o, opts); }
  mul(o: TensorLike): Tensor { return F.mul(this, o); }
  div(o: TensorLike, opts?: { roundingMode?: 'trunc' | 'floor' }): Tensor { return F.div(this, o, opts); }
  pow(o: TensorLike): Tensor { return F.pow(this, o); }
  remainder(o: TensorLike): Tensor { return F.remainder(this, o); }
  maximum(o: TensorLike): Tensor { return F.maximum(this, o); }
  minimum(o: TensorLike): Tensor { return F.minimum(this, o); }
  neg(): Tensor { return F.neg(this); }
  abs(): Tensor { return F.abs(this); }
  sign(): Tensor { return F.sign(this); }
  exp(): Tensor { return F.exp(this); }
  log(): Tensor { return F.log(this); }
  log1p(): Tensor { return F.log1p(this); }
  expm1(): Tensor { return F.expm1(this); }
  sqrt(): Tensor { return F.sqrt(this); }
  rsqrt(): Tensor { return F.rsqrt(this); }
  square(): Tensor { return F.square(this); }
  reciprocal(): Tensor { return F.reciprocal(this); }
  sin(): Tensor { return F.sin(this); }
  cos(): Tensor { return F.cos(this); }
  tanh(): Tensor { return F.tanh(this); }
  sigmoid(): Tensor { return F.sigmoid(this); }
  relu(): Tensor { return F.relu(this); }
  erf(): Tensor { return F.erf(this); }
  floor(): Tensor { return F.floor(this); }
  ceil(): Tensor { return F.ceil(this); }
  round(): Tensor { return F.round(this); }
  trunc(): Tensor { return F.trunc(this); }
  clamp(min?: TensorLike | null, max?: TensorLike | null): Tensor { return F.clamp(this, min, max); }
  /** this + w·(end − this), one kernel (`torch.lerp`). */
  lerp(end: TensorLike, w: TensorLike): Tensor { return F.lerp(this, end, w); }
  /** this + value·t1·t2, one kernel (`torch.addcmul`). */
  addcmul(t1: TensorLike, t2: TensorLike, value: TensorLike = 1): Tensor { return F.addcmul(this, t1, t2, value); }
  /** this + value·t1/t2, one kernel (`torch.addcdiv`). */
  addcdiv(t1: TensorLike, t2: TensorLike, value: TensorLike = 1): Tensor { return F.addcdiv(this, t1, t2, value); }
  isnan(): Tensor { return F.isnan(this); }
  logicalNot(): Tensor { return F.logicalNot(this); }
  logicalAnd(o: TensorLike): Tensor { return F.logicalAnd(this, o); }
  logicalOr(o: TensorLike): Tensor { return F.logicalOr(this, o); }
  gt(o: TensorLike): Tensor { return F.gt(this, o); }
  ge(o: TensorLike): Tensor { return F.ge(this, o); }
  lt(o: TensorLike): Tensor { return F.lt(this, o); }
  le(o: TensorLike): Tensor { return F.le(this, o); }
  eq(o: TensorLike): Tensor { return F.eq(this, o); }
  ne(o: TensorLike): Tensor { return F.ne(this, o); }
  where(cond: Tensor, other: TensorLike): Tensor { return F.where(cond, this, other); }

  // ---- reductions ----
  sum(dim?: number | readonly number[] | null, keepdim = false): Tensor { return F.sum(this, dim, keepdim); }
  mean(dim?: number | readonly number[] | null, keepdim = false): Tensor { return F.mean(this, dim, keepdim); }
  prod(dim?: number | readonly number[] | null, keepdim = false): Tensor { return F.prod(this, dim, keepdim); }
  amax(dim?: number | readonly number[] | null, keepdim = false): Tensor { return F.amax(this, dim, keepdim); }
  amin(dim?: number | readonly number[] | null, keepdim = false): Tensor { return F.amin(this, dim, keepdim); }
  /** max of all elements, or {values, indices} along `dim` */
  max(): Tensor;
  max(dim: number, keepdim?: boolean): MaxResult;
  max(dim?: number, keepdim = false): Tensor | MaxResult { return dim === undefined ? F.max(this) : F.max(this, dim, keepdim); }
  /** min of all elements, or {values, indices} along `dim` */
  min(): Tensor;
  min(dim: number, keepdim?: boolean): MaxResult;
  min(dim?: number, keepdim = false): Tensor | MaxResult { return dim === undefined ? F.min(this) : F.min(this, dim, keepdim); }
  argmax(dim?: number | null, keepdim = false): Tensor { return F.argmax(this, dim, keepdim); }
  argmin(dim?: number | null, keepdim = false): Tensor { return F.argmin(this, dim, keepdim); }
  logsumexp(dim: number | readonly number[], keepdim = false): Tensor { return F.logsumexp(this, dim, keepdim); }
  var(dim?: number | readonly number[] | null, opts?: { correction?: number; keepdim?: boolean }): Tensor { return F.var_(this, dim, opts); }
  std(dim?: number | readonly number[] | null, opts?: { correction?: number; keepdim?: boolean }): Tensor { return F.std(this, dim, opts); }
  softmax(dim: number): Tensor { return F.softmax(this, dim); }
  logSoftmax(dim: number): Tensor { return F.logSoftmax(this, dim); }

  // ---- shape ----
  reshape(...shape: number[] | [readonly number[]]): Tensor { return F.reshape(this, flatArgs(shape)); }
  view(...shape: number[] | [readonly number[]]): Tensor { return F.view(this, flatArgs(shape)); }
  transpose(dim0: number, dim1: number): Tensor { return F.transpose(this, dim0, dim1); }
  /** transpose of a ≤ 2-D tensor */
  t(): Tensor { return F.t(this); }
  /** transpose of the last two dims */
  get mT(): Tensor { return F.transpose(this, -2, -1); }
  permute(...dims: number[] | [readonly number[]]): Tensor { return F.permute(this, flatArgs(dims)); }
  expand(...shape: number[] | [readonly number[]]): Tensor { return F.expand(this, flatArgs(shape)); }
  expandAs(other: Tensor): Tensor { return F.expand(this, other.shape); }
  squeeze(dim?: number | readonly number[]): Tensor { return F.squeeze(this, dim); }
  unsqueeze(dim: number): Tensor { return F.unsqueeze(this, dim); }
  flatten(startDim = 0, endDim = -1): Tensor { return F.flatten(this, startDim, endDim); }
  narrow(dim: number, start: number, length: number): Tensor { return F.narrow(this, dim, start, length); }
  /** elements start, start+step, … < end along dim (negative indices count from the end) */
  slice(dim: number, start?: number | null, end?: number | null, step = 1): Tensor { return F.slice(this, dim, start, end, step); }
  /** Basic indexing: a number picks (and drops) a dim, [start, end, step?] slices, null keeps a dim. */
  index(...specs: IndexSpec[]): Tensor { return F.index(this, ...specs); }
  split(sizeOrSections: number | readonly number[], dim = 0): Tensor[] { return F.split(this, sizeOrSections, dim); }
  chunk(chunks: number, dim = 0): Tensor[] { return F.chunk(this, chunks, dim); }
  /** Elements at `index` (an int32 tensor or an array of integers) along `dim`. */
  indexSelect(dim: number, index: Tensor | readonly number[]): Tensor { return F.indexSelect(this, dim, index); }
  gather(dim: number, index: Tensor): Tensor { return F.gather(this, dim, index); }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor { return F.scatterAdd(this, dim, index, src); }
  matmul(o: Tensor): Tensor { return F.matmul(this, o); }

  // ---- in place ----
  // (each value is computed only once the destination passed inplace()'s checks; ops whose
  // backward may need the old values read them from a copy while gradients are recorded)
  add_(o: TensorLike, opts?: { alpha?: number }): this { return F.inplace(this, () => F.add(this, o, opts, 'add_'), 'add_', true); }
  sub_(o: TensorLike, opts?: { alpha?: number }): this { return F.inplace(this, () => F.sub(this, o, opts, 'sub_'), 'sub_', true); }
  mul_(o: TensorLike): this { return F.inplace(this, () => F.mul(F.oldValues(this, o), o), 'mul_', true); }
  div_(o: TensorLike): this { return F.inplace(this, () => F.div(F.oldValues(this, o), o), 'div_', true); }
  clamp_(min?: TensorLike | null, max?: TensorLike | null): this { return F.inplace(this, () => F.clamp(F.oldValues(this, min ?? 0, max ?? 0), min, max), 'clamp_', true); }
  lerp_(end: TensorLike, w: TensorLike): this { return F.inplace(this, () => F.lerp(F.oldValues(this, end, w), end, w), 'lerp_', true); }
  addcmul_(t1: TensorLike, t2: TensorLike, value: TensorLike = 1): this { return F.inplace(this, () => F.addcmul(this, t1, t2, value), 'addcmul_', true); }
  addcdiv_(t1: TensorLike, t2: TensorLike, value: TensorLike = 1): this { return F.inplace(this, () => F.addcdiv(this, t1, t2, value), 'addcdiv_', true); }
  zero_(): this { return F.inplace(this, () => F.zerosLike(this), 'zero_', true); }
  /** Fills with `v`: a number, a boolean or a 0-d tensor, converted to this tensor's dtype. */
  fill_(v: TensorLike): this {
    if (v instanceof Tensor) {
      if (v.ndim !== 0) throw new ShapeError(`fill_: the value must be a number or a 0-d tensor, got a tensor of shape ${fmtShape(v.shape)}`);
      if (v.device === this.device) return F.inplace(this, () => F.asOperand(v, this, 'fill_'), 'fill_');
      // a CPU value fills a tensor on any device, as in PyTorch; the other way needs a readback
      if (v.device !== 'cpu') {
        throw new DeviceError(`fill_: the value is a 0-d ${v.device} tensor and the tensor filled is on ${this.device}; ${v.device} has no synchronous readback, so pass await value.item()`);
      }
      v = v.itemSync();
    }
    if (typeof v !== 'number' && typeof v !== 'boolean') {
      throw new ValueError(`fill_: the value is ${describeValue(v)}, expected a number, a boolean or a 0-d tensor`);
    }
    const n = Number(v);
    return F.inplace(this, () => F.fullLike(this, n), 'fill_', true);
  }
  /** Copies `src` (broadcast and cast to this tensor's shape and dtype, from the CPU to any device) into this tensor. */
  copy_(src: TensorLike): this { return F.copyInto(this, src); }
}

function flatArgs(args: number[] | [readonly number[]]): readonly number[] {
  return Array.isArray(args[0]) ? (args[0] as readonly number[]) : (args as number[]);
}

function nest(data: TypedArray, shape: readonly number[], dtype: DType): NestedArray {
  const conv = dtype === 'bool' ? (v: number) => v !== 0 : (v: number) => v;
  if (shape.length === 0) {
    if (data.length !== 1) internal('0-d readback without one element');
    return conv(data[0]!);
  }
  let pos = 0;
  const build = (d: number): NestedArray[] => {
    const n = shape[d]!;
    const out: NestedArray[] = new Array(n);
    if (d === shape.length - 1) for (let i = 0; i < n; i++) out[i] = conv(data[pos++]!);
    else for (let i = 0; i < n; i++) out[i] = build(d + 1);
    return out;
  };
  return build(0);
}

