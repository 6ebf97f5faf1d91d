/**
 * @file Lowering: turns an optimized graph and its fusion decision into a list of kernels over
 * buffers. A fused elementwise kernel is one scalar `Expr` (the same type every backend's
 * elementwise renderer takes, just bigger) over strided loads; views are folded into the load
 * strides with the op records' own `view` rules. Reductions take a prologue `Expr`; matmul and the
 * other templates read strided buffers.
 */
import { internal } from '../errors.ts';
import { E, type Expr } from '../ops/expr.ts';
import { prims } from '../ops/prims.ts';
import type { OpDef, ReduceAttrs, ReduceKind, ReduceOp, ViewMeta, ViewOp } from '../ops/registry.ts';
import { contiguousStrides, sameShape } from '../shape.ts';
import type { DType } from '../dtype.ts';
import { canon, constValue, type GNode, type Graph } from './graph.ts';
import { fuse, isConstNode, isElementwise, isView, usesIndex, type FuseOptions, type Fusion } from './passes/fuse.ts';
import { expandSplit, fromMeta, isSplitView, permuteSplit, refine, reshapeSplit, splitKey, toMeta, type SplitView } from './split-view.ts';

/** A strided read of a buffer (a value), in the kernel's index space. */
export interface Load {
  readonly value: number;
  readonly view: ViewMeta;
}

interface KernelBase {
  /** the graph node this kernel computes */
  readonly node: GNode;
  /** the value it writes (contiguous) */
  readonly out: number;
  readonly loads: readonly Load[];
}
export interface ElementwiseKernel extends KernelBase {
  readonly kind: 'elementwise';
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly expr: Expr;
  /** graph nodes computed inline by this kernel (for stats) */
  readonly fused: number;
}
/**
 * An elementwise epilogue applied where a matmul or reduction stores its result: `expr` reads
 * the result as load 0 (value −1, the kernel's own output) and its other operands from `loads`,
 * views over the epilogue root's shape (`node.shape`; a reshape of the result's at most).
 */
export interface Epilogue {
  readonly expr: Expr;
  readonly loads: readonly Load[];
  readonly fused: number;
  /** the result's own value, when it is needed too (stored contiguous beside the output) */
  readonly product?: number;
}
export interface ReduceKernel extends KernelBase {
  readonly kind: 'reduce';
  readonly reduce: ReduceKind;
  readonly inShape: readonly number[];
  readonly dims: readonly number[];
  /** the reduction's dtype (`node.dtype` is the epilogue's when there is one) */
  readonly dtype: DType;
  /** the reduced value per input element (a prologue over the loads) */
  readonly expr: Expr;
  readonly fused: number;
  /** the reduction node, when `node` is an epilogue's root */
  readonly red?: GNode;
  readonly epilogue?: Epilogue;
  /**
   * argmax/argmin: the value that also receives the picked elements (a gather of the same
   * operand by this index, computed in the same pass: max(…).values beside max(…).indices)
   */
  readonly values?: number;
}
export interface MatmulKernel extends KernelBase {
  readonly kind: 'matmul';
  /** the matmul node (`node` is the epilogue's root when there is one) */
  readonly mm: GNode;
  readonly epilogue?: Epilogue;
}

/** Every value a kernel writes: its output, and a result its epilogue keeps. */
export function kernelWrites(k: Kernel): readonly number[] {
  if (k.kind === 'reduce' && k.values !== undefined) return [k.out, k.values];
  return (k.kind === 'matmul' || k.kind === 'reduce') && k.epilogue?.product !== undefined ? [k.out, k.epilogue.product] : [k.out];
}

/**
 * gather(x, d, argmax(x, d, keepdim)) — and argmin — read the element the reduction just
 * picked: argmax node → that gather (one per argmax), for kernels that store both.
 */
function pickedValues(g: Graph, mat: ReadonlySet<GNode>): Map<GNode, GNode> {
  const out = new Map<GNode, GNode>();
  for (const n of g.nodes) {
    if (n.op !== prims.gather || !mat.has(n)) continue;
    const [x, idx] = n.inputs as [GNode, GNode];
    const red = idx.op?.kind === 'reduce' ? (idx.op as ReduceOp).reduce : null;
    if ((red !== 'argmax' && red !== 'argmin') || idx.inputs[0] !== x || !mat.has(idx) || out.has(idx)) continue;
    const { dims, keepdim } = idx.attrs as ReduceAttrs;
    if (!keepdim || dims.length !== 1 || dims[0] !== (n.attrs as { dim: number }).dim) continue;
    out.set(idx, n);
  }
  return out;
}

/** Every buffer a kernel reads (epilogue operands included; not its own output). */
export function kernelReads(k: Kernel): readonly Load[] {
  return (k.kind === 'matmul' || k.kind === 'reduce') && k.epilogue ? [...k.loads, ...k.epilogue.loads.filter((l) => l.value >= 0)] : k.loads;
}
/** A random source: redrawn from the global seed stream at every call. */
export interface RandKernel extends KernelBase {
  readonly kind: 'rand';
  readonly seed: number;
}
/** Any other template op (gather, scatterAdd, unfold, fold, cat, pad, argmax…), run as is. */
export interface OpKernel extends KernelBase {
  readonly kind: 'op';
  readonly op: OpDef;
}
export type Kernel = ElementwiseKernel | ReduceKernel | MatmulKernel | RandKernel | OpKernel;

export interface Value {
  readonly id: number;
  readonly node: GNode;
  /** where the buffer comes from */
  readonly source: { kind: 'input'; index: number } | { kind: 'state'; index: number } | { kind: 'kernel'; kernel: number };
  readonly dtype: DType;
  readonly numel: number;
}

export interface Lowered {
  readonly graph: Graph;
  readonly values: Value[];
  readonly kernels: Kernel[];
  /** value of each graph output */
  readonly outputs: number[];
  /** target value (an input or state) ← source value (kernel-made) */
  readonly updates: { target: number; source: number }[];
  readonly fusion: Fusion;
}

export interface LowerOptions {
  readonly fuse: FuseOptions;
}

interface Step {
  readonly op: ViewOp<unknown>;
  readonly attrs: unknown;
  /** the node whose value the step reads */
  readonly src: GNode;
}

class Retry extends Error {
  constructor(readonly node: GNode) {
    super('retry');
  }
}

const contiguousMeta = (shape: readonly number[]): ViewMeta => ({ shape: [...shape], strides: contiguousStrides(shape), offset: 0 });

/**
 * x ** n for a small integer constant n as repeated squaring (Math.pow is an order of magnitude
 * slower). NOTE: float64 results may differ from Math.pow in the last bit; float32 ones (rounded
 * after) practically never do.
 */
function powExpr(n: GNode, [x, e]: readonly Expr[]): Expr | null {
  // NOTE: not on the CPU: its renderers already compute x**k by multiplication in double and round
  // once (the JS kernel, and the WebAssembly one in f64x2), bit for bit as eager; a chain of mul
  // nodes would be rounded to float32 at every step (1-2 ulp off, and 0 where an intermediate
  // power overflows: (2e19)**-2). WGSL has no such form (eager's pow is exp(k·log x)).
  if (n.device === 'cpu') return null;
  const k = constValue(n.inputs[1]!);
  if (k === undefined || !Number.isInteger(k) || Math.abs(k) > 32 || k === 0 || (n.dtype !== 'float32' && n.dtype !== 'float64')) return null;
  void e;
  let result: Expr | null = null;
  let base = x!;
  for (let m = Math.abs(k); m > 0; m >>= 1) {
    if (m & 1) result = result ? E.bin('mul', result, base) : base;
    if (m > 1) base = E.bin('mul', base, base);
  }
  return k < 0 ? E.bin('div', E.const(1, n.dtype), result!) : result!;
}

/** Lowers `g` to kernels, re-running fusion until every view chain and input count fits. */
export function lower(g: Graph, opts: LowerOptions): Lowered {
  const forced = new Set<GNode>();
  for (let attempt = 0; attempt < 10_000; attempt++) {
    const fusion = fuse(g, opts.fuse, forced);
    try {
      return build(g, fusion, opts);
    } catch (e) {
      if (!(e instanceof Retry)) throw e;
      if (forced.has(e.node)) internal(`jit: lowering cannot place node #${e.node.id} (${e.node.opName})`);
      forced.add(e.node);
    }
  }
  internal('jit: lowering did not converge');
}

function build(g: Graph, fusion: Fusion, opts: LowerOptions): Lowered {
  const values: Value[] = [];
  const valueOf = new Map<GNode, number>();
  const kernels: Kernel[] = [];
  const mat = fusion.materialized;

  const newValue = (node: GNode, source: Value['source']): number => {
    const id = values.length;
    values.push({ id, node, source, dtype: node.dtype, numel: node.numel });
    return id;
  };
  for (const n of g.inputs) valueOf.set(n, newValue(n, { kind: 'input', index: n.index }));
  for (const n of g.states) valueOf.set(n, newValue(n, { kind: 'state', index: n.index }));

  const epilogueOf = new Map<GNode, GNode>();
  for (const [m, r] of fusion.epilogue) epilogueOf.set(r, m);
  const picks = opts.fuse.enabled && opts.fuse.argValues ? pickedValues(g, mat) : new Map<GNode, GNode>();
  const pickedBy = new Map<GNode, GNode>([...picks].map(([a, gth]) => [gth, a]));

  /** A kernel being built: its loads (deduplicated) and expression cache. */
  class Ctx {
    /**
     * @param limit the most distinct values its loads may name: a matmul epilogue shares the
     * kernel's bindings with the two operands, less the product it reads in place (value −1)
     * @param allowSplit loads may be split views (an elementwise kernel, which then iterates over
     * their refinement: `finish`)
     */
    constructor(private readonly limit = opts.fuse.maxInputs, readonly allowSplit = false) {}
    readonly loads: { value: number; view: ViewMeta | SplitView }[] = [];
    /** the nodes whose views made split loads (cut first when the loads do not refine) */
    readonly splitAt: GNode[] = [];
    /** a matmul computed by this kernel (epilogue): read as load 0, the output itself */
    self: GNode | null = null;
    /** the shape the kernel iterates over (the epilogue root's) */
    selfShape: readonly number[] = [];
    private readonly loadKeys = new Map<string, number>();
    private readonly memo = new Map<string, Expr>();
    fused = 0;
    load(value: number, view: ViewMeta | SplitView, dtype: DType): Expr {
      const key = isSplitView(view) ? `${value}|${splitKey(view)}` : `${value}|${view.shape}|${view.strides}|${view.offset}`;
      let i = this.loadKeys.get(key);
      if (i === undefined) {
        i = this.loads.length;
        this.loads.push({ value, view });
        this.loadKeys.set(key, i);
        if (this.loads.length > this.limit && new Set(this.loads.map((l) => l.value)).size > this.limit) throw new Retry(this.widest());
      }
      return E.input(i, dtype);
    }
    /** the fused producer to cut when a kernel reads too many buffers */
    lastFused: GNode | null = null;
    private widest(): GNode {
      if (!this.lastFused) internal('jit: a single op reads more buffers than the device allows');
      return this.lastFused;
    }
    /** n's value seen through `chain` (steps from n outward) */
    expr(n: GNode, chain: readonly Step[]): Expr {
      const key = `${n.id}|${chain.map((s) => `${s.op.name}${canon(s.attrs)}`).join('/')}`;
      const hit = this.memo.get(key);
      if (hit) return hit;
      let e: Expr;
      const c = constValue(n);
      if (n === this.self) {
        // the product, read element for element where it is written (through reshapes only)
        if (chain.length) {
          const m = applyChain(n, chain);
          if (m.offset !== 0 || !sameShape(m.shape, this.selfShape) || m.strides.some((s, i) => s !== contiguousStrides(m.shape)[i] && m.shape[i] !== 1)) throw new Retry(n);
        }
        e = E.input(0, n.dtype);
      } else if (c !== undefined && !mat.has(n)) e = E.const(c, n.dtype);
      else if (mat.has(n)) e = this.load(valueFor(n), applyChain(n, chain, this.allowSplit ? this.splitAt : null), n.dtype);
      else if (isView(n)) e = this.expr(n.inputs[0]!, [{ op: n.op as ViewOp<unknown>, attrs: n.attrs, src: n.inputs[0]! }, ...chain]);
      else if (isElementwise(n) && fusion.groupOf.has(n)) {
        this.fused++;
        this.lastFused = n;
        e = this.compute(n, chain);
      } else internal(`jit: node #${n.id} (${n.opName}) is neither materialized nor fusible`);
      this.memo.set(key, e);
      return e;
    }
    /**
     * The kernel's iteration shape and plain loads: `shape` itself, or when some loads are split
     * views, the refinement of them all (the output, contiguous, is laid out the same either way).
     */
    finish(shape: readonly number[]): { shape: readonly number[]; loads: Load[] } {
      if (!this.loads.some((l) => isSplitView(l.view))) return { shape, loads: this.loads as Load[] };
      const r = refine(this.loads.map((l) => l.view), shape);
      if (!r) throw new Retry(this.splitAt[0]!);
      return { shape: r.shape, loads: this.loads.map((l, i) => ({ value: l.value, view: r.metas[i]! })) };
    }
    /** The loads of a kernel that takes no split views. */
    plain(): Load[] {
      if (this.loads.some((l) => isSplitView(l.view))) internal('jit: a split view reached a kernel that iterates over its own shape');
      return this.loads as Load[];
    }
    /** the expression computing elementwise node n (its operands broadcast to its shape) */
    compute(n: GNode, chain: readonly Step[]): Expr {
      if (n.op?.kind !== 'elementwise') internal('jit: compute on a non-elementwise node');
      const ins = n.inputs.map((i) =>
        this.expr(i, sameShape(i.shape, n.shape) ? chain : [{ op: prims.expand as ViewOp<unknown>, attrs: { shape: [...n.shape] }, src: i }, ...chain]),
      );
      const e = n.op === prims.pow ? powExpr(n, ins) ?? n.op.expr(ins, n.attrs as never, n.aval) : n.op.expr(ins, n.attrs as never, n.aval);
      return e;
    }
  }

  /**
   * n's buffer seen through `chain`. A step with no plain strides is a Retry (its source gets a
   * buffer), unless `splitAt` is given: then the chain goes on as a split view and the step's
   * source is noted there.
   */
  function applyChain(n: GNode, chain: readonly Step[]): ViewMeta;
  function applyChain(n: GNode, chain: readonly Step[], splitAt: GNode[] | null): ViewMeta | SplitView;
  function applyChain(n: GNode, chain: readonly Step[], splitAt: GNode[] | null = null): ViewMeta | SplitView {
    let meta: ViewMeta | SplitView = contiguousMeta(n.shape);
    for (const s of chain) {
      const plain: ViewMeta | null = isSplitView(meta) ? toMeta(meta) : meta;
      const next: ViewMeta | null = plain ? s.op.view(plain, s.attrs) : null;
      if (next) {
        meta = next;
        continue;
      }
      const split: SplitView | null = splitAt ? splitStep(isSplitView(meta) ? meta : fromMeta(meta), s) : null;
      if (!split) throw new Retry(s.src);
      if (!isSplitView(meta)) splitAt!.push(s.src);
      meta = toMeta(split) ?? split;
    }
    return meta;
  }

  /** A reshape, expand or permute of a split view (other views need plain strides). */
  function splitStep(v: SplitView, s: Step): SplitView | null {
    const a = s.attrs as { shape?: number[]; perm?: number[] };
    if (s.op === prims.reshape) return reshapeSplit(v, a.shape!);
    if (s.op === prims.expand) return expandSplit(v, a.shape!);
    if (s.op === prims.permute) return permuteSplit(v, a.perm!);
    return null;
  }

  function valueFor(n: GNode): number {
    const v = valueOf.get(n);
    if (v !== undefined) return v;
    return emit(n);
  }

  /** Emits the kernel computing materialized node n (after its operands' kernels). */
  function emit(n: GNode): number {
    if (!mat.has(n) || n.kind !== 'op') internal(`jit: emit of unmaterialized node #${n.id}`);
    const op = n.op!;
    const reserve = () => {
      const out = newValue(n, { kind: 'kernel', kernel: -1 });
      valueOf.set(n, out);
      return out;
    };
    const push = (kernel: Kernel) => {
      for (const v of kernelWrites(kernel)) (values[v] as { source: Value['source'] }).source = { kind: 'kernel', kernel: kernels.length };
      kernels.push(kernel);
      return kernel.out;
    };
    // a gather computed by its argmax's kernel: emit that one
    const arg = pickedBy.get(n);
    if (arg) {
      valueFor(arg);
      const v = valueOf.get(n);
      if (v !== undefined) return v;
    }
    if (op === prims.randUniform) {
      return push({ kind: 'rand', node: n, out: reserve(), loads: [], seed: (n.attrs as { seed: number }).seed });
    }
    const mm = epilogueOf.get(n);
    if (mm) {
      const isMm = mm.op === prims.matmul;
      // the result's own reads: a matmul's operands, or a reduction's prologue
      const pctx = new Ctx();
      const pexpr = isMm ? null : pctx.expr(mm.inputs[0]!, []);
      const loads = isMm ? mm.inputs.map((i) => bufferLoad(i, [])) : pctx.plain();
      const ctx = new Ctx(Infinity);
      ctx.self = mm;
      ctx.selfShape = n.shape;
      ctx.loads.push({ value: -1, view: contiguousMeta(n.shape) });
      const expr = ctx.compute(n, []);
      const eloads = ctx.plain();
      // one binding each: the output, a kept result, the result's reads and the epilogue's
      // operands (value −1, the result, is none); past the device's limit, drop the epilogue
      const keep = fusion.keepProduct.has(mm);
      const distinct = (ls: readonly Load[]) => new Set(ls.filter((l) => l.value >= 0).map((l) => l.value)).size;
      if (1 + (keep ? 1 : 0) + (isMm ? 2 : distinct(loads)) + distinct(eloads) > opts.fuse.maxInputs + 1) throw new Retry(mm);
      // operands are read over the root's shape; templates that index them by the result's
      // (WebGPU's) need them as views of that shape too
      if (!sameShape(n.shape, mm.shape) && eloads.some((l) => l.value >= 0 && !(prims.reshape as ViewOp<unknown>).view(l.view, { shape: [...mm.shape] }))) throw new Retry(mm);
      const out = reserve();
      let product: number | undefined;
      if (keep) valueOf.set(mm, (product = newValue(mm, { kind: 'kernel', kernel: -1 })));
      const epilogue: Epilogue = { expr, loads: eloads, fused: ctx.fused + 1, ...(keep ? { product } : {}) };
      if (isMm) return push({ kind: 'matmul', node: n, mm, out, loads, epilogue });
      const x = mm.inputs[0]!;
      return push({
        kind: 'reduce', node: n, red: mm, out, loads, reduce: (mm.op as ReduceOp).reduce, inShape: x.shape, dims: (mm.attrs as ReduceAttrs).dims,
        dtype: mm.dtype, expr: pexpr!, fused: pctx.fused, epilogue,
      });
    }
    if (isElementwise(n) || isConstNode(n) || isView(n)) {
      // NOTE: an index source (arange) numbers the elements of its own shape: never split
      const ctx = new Ctx(opts.fuse.maxInputs, !usesIndex(n));
      const expr = isView(n)
        ? ctx.expr(n.inputs[0]!, [{ op: op as ViewOp<unknown>, attrs: n.attrs, src: n.inputs[0]! }])
        : isConstNode(n) ? E.const(constValue(n)!, n.dtype)
          : ctx.compute(n, []);
      if (usesIndex(n) && n.op !== prims.arange) internal(`jit: index source ${n.opName} without a kernel rule`);
      const { shape, loads } = ctx.finish(n.shape);
      return push({ kind: 'elementwise', node: n, out: reserve(), loads, shape, dtype: n.dtype, expr, fused: ctx.fused });
    }
    if (op.kind === 'reduce') {
      const x = n.inputs[0]!;
      const ctx = new Ctx();
      const expr = ctx.expr(x, []);
      const { dims } = n.attrs as ReduceAttrs;
      const out = reserve();
      // (an operand read as a constant has no elements to store)
      const picked = expr.k === 'in' ? picks.get(n) : undefined;
      let values: number | undefined;
      if (picked) valueOf.set(picked, (values = newValue(picked, { kind: 'kernel', kernel: -1 })));
      return push({
        kind: 'reduce', node: n, out, loads: ctx.plain(), reduce: (op as ReduceOp).reduce, inShape: x.shape, dims, dtype: n.dtype, expr,
        fused: ctx.fused + (picked ? 1 : 0), ...(values !== undefined ? { values } : {}),
      });
    }
    // templates read whole buffers (through views)
    const loads = n.inputs.map((i) => bufferLoad(i, []));
    if (op === prims.matmul) return push({ kind: 'matmul', node: n, mm: n, out: reserve(), loads });
    return push({ kind: 'op', node: n, out: reserve(), loads, op });
  }

  /** A load of node n's buffer seen through `chain` (n must be materialized or a view of one). */
  function bufferLoad(n: GNode, chain: readonly Step[]): Load {
    if (mat.has(n)) return { value: valueFor(n), view: applyChain(n, chain) };
    if (isView(n)) return bufferLoad(n.inputs[0]!, [{ op: n.op as ViewOp<unknown>, attrs: n.attrs, src: n.inputs[0]! }, ...chain]);
    throw new Retry(n);
  }

  // emit kernels in topological order (operands first, via valueFor's recursion)
  for (const n of g.nodes) if (n.kind === 'op' && mat.has(n) && !fusion.epilogue.has(n)) valueFor(n);

  /** A kernel-made copy of an input or state (outputs and update values must be fresh buffers). */
  const copyOf = (n: GNode): number => {
    const out = values.length;
    values.push({ id: out, node: n, source: { kind: 'kernel', kernel: kernels.length }, dtype: n.dtype, numel: n.numel });
    kernels.push({
      kind: 'elementwise', node: n, out, loads: [{ value: valueOf.get(n)!, view: contiguousMeta(n.shape) }], shape: n.shape, dtype: n.dtype, expr: E.input(0, n.dtype), fused: 0,
    });
    return out;
  };
  const copies = new Map<GNode, number>();
  const fresh = (n: GNode): number => {
    const v = valueOf.get(n)!;
    if (values[v]!.source.kind === 'kernel') return v;
    let c = copies.get(n);
    if (c === undefined) copies.set(n, (c = copyOf(n)));
    return c;
  };
  // copies of external values go before every kernel that could overwrite them: move them first
  const outputs = g.outputs.map(fresh);
  const updates = g.updates.map((u) => ({ target: valueOf.get(u.target)!, source: fresh(u.value) }));
  if (copies.size) hoistCopies(values, kernels, new Set(copies.values()));
  return { graph: g, values, kernels, outputs, updates, fusion };
}

/** Moves copy kernels (of inputs/states) to the front, renumbering kernel indices. */
function hoistCopies(values: Value[], kernels: Kernel[], copyValues: Set<number>): void {
  const first = kernels.filter((k) => copyValues.has(k.out));
  const rest = kernels.filter((k) => !copyValues.has(k.out));
  kernels.length = 0;
  kernels.push(...first, ...rest);
  kernels.forEach((k, i) => {
    for (const v of kernelWrites(k)) (values[v] as { source: Value['source'] }).source = { kind: 'kernel', kernel: i };
  });
}
