/**
 * @file Fusion: decides which nodes get a buffer of their own (kernel roots) and which are
 * computed inline inside a consumer's kernel. Elementwise chains and broadcasts fuse into their
 * consumer — another elementwise kernel, or a reduction (as a prologue evaluated per input
 * element) — when every consumer lies in that one kernel and the producer has as many elements
 * as the kernel iterates over (so nothing is recomputed). Views are never materialized unless they
 * are outputs; kernels read them as strided loads. Outputs, update values, non-elementwise ops and
 * index-dependent sources (arange, rand) are roots. A matmul whose every consumer is elementwise of
 * its shape in one kernel runs that kernel as its epilogue (bias + ReLU after a linear layer).
 */
import { prims } from '../../ops/prims.ts';
import type { ReduceOp } from '../../ops/registry.ts';
import { exprKey } from '../../ops/expr.ts';
import type { GNode, Graph } from '../graph.ts';

export interface FuseOptions {
  /** false: every op node is a kernel (no fusion) */
  readonly enabled: boolean;
  /** elementwise producers may fuse into sum/prod/max/min reductions */
  readonly reducePrologue: boolean;
  /** the most distinct buffers one kernel may read (WebGPU: storage buffers per stage − 1) */
  readonly maxInputs: number;
  /** an elementwise consumer of a matmul may run as its epilogue, over the product in place */
  readonly matmulEpilogue: boolean;
  /**
   * An elementwise node read by several kernels, or broadcast into a bigger one, is recomputed
   * inline by each of them when they iterate at most this many elements in all (default 0: never).
   * Where a launch costs tens of microseconds (WebGPU, above all on CPU adapters) recomputing a
   * small intermediate is cheaper than a kernel and a buffer for it (log-softmax's x − max,
   * exp(x − max), log(sum) …).
   */
  readonly recomputeBelow?: number;
  /**
   * A matmul whose value is itself needed (an output, or an update such as a `.grad`) may still
   * run its consumer as an epilogue, the kernel storing both (the gradient and the parameter
   * update computed from it). Needs an executor that stores two outputs (WebGPU's).
   */
  readonly epilogueKeepsProduct?: boolean;
  /**
   * An epilogue may read the product through reshapes, running over the reshaped shape (needs an
   * executor that runs the product at its own shape and the epilogue at the root's: WebGPU's).
   */
  readonly epilogueThroughReshape?: boolean;
  /**
   * An epilogue may have another dtype than the result it reads (x·w > 0.5, a bool): needs an
   * executor that applies it at the store (WebGPU's); the CPU's overwrites the product in place.
   */
  readonly epilogueChangesDtype?: boolean;
  /**
   * An argmax/argmin kernel also stores the elements it picked, standing in for a gather of its
   * operand by its index (max(…).values): needs an executor that stores both (CPU, WebGPU).
   */
  readonly argValues?: boolean;
  /**
   * Reductions (sum, prod, max, min) take epilogues as matmuls do (a bias gradient and the bias
   * update computed from it in one kernel). Needs an executor that runs them (WebGPU's).
   */
  readonly reduceEpilogue?: boolean;
}

export const defaultFuseOptions: FuseOptions = { enabled: true, reducePrologue: true, maxInputs: 64, matmulEpilogue: true };

export interface Fusion {
  /** nodes that get a buffer: inputs, states and kernel roots, in topological order */
  readonly materialized: Set<GNode>;
  /** fused elementwise node → the root of the kernel that computes it inline (the first, if several do) */
  readonly groupOf: Map<GNode, GNode>;
  /** fused nodes recomputed inline by more than one kernel → those kernels' roots */
  readonly recomputed: Map<GNode, Set<GNode>>;
  /**
   * matmul → the elementwise root computed as its epilogue (the product gets no buffer of its
   * own, unless it is materialized too: then the kernel stores both)
   */
  readonly epilogue: Map<GNode, GNode>;
  /** epilogue matmuls whose product is needed too (outputs, update values): their kernel stores both */
  readonly keepProduct: Set<GNode>;
}

export const isView = (n: GNode): boolean => n.op?.kind === 'view';
export const isConstNode = (n: GNode): boolean => n.op === prims.full;
export const isElementwise = (n: GNode): boolean => n.op?.kind === 'elementwise' && n.op !== prims.full;

const indexSources = new Map<string, boolean>();
/** Elementwise sources whose value depends on the element's position (arange, rand). */
export function usesIndex(n: GNode): boolean {
  if (n.op?.kind !== 'elementwise' || n.inputs.length > 0 || n.op === prims.full) return false;
  let v = indexSources.get(n.op.name);
  if (v === undefined) {
    const key = exprKey(n.op.expr([], n.attrs as never, n.aval));
    v = /index|rand/.test(key);
    indexSources.set(n.op.name, v);
  }
  return v;
}

const PROLOGUE_REDUCTIONS: ReadonlySet<string> = new Set(['sum', 'prod', 'max', 'min']);

/**
 * Ops that cost about as much as a load: one consumer kernel broadcasting such a producer up to
 * `CHEAP_BROADCAST_MAX` times recomputes it instead of giving it a buffer (a max-pool gradient's
 * `where(iota == idx, g, 0)` per window row, read once per column). Its operands that are not
 * themselves cheap still get buffers (they are fused only where the element counts match).
 */
const CHEAP_OPS: ReadonlySet<string> = new Set([
  'where', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'add', 'sub', 'mul', 'neg', 'cast', 'relu', 'maximum', 'minimum', 'abs', 'logicalAnd', 'logicalOr', 'logicalNot',
]);
const CHEAP_BROADCAST_MAX = 16;

/** Does kernel root `r` read its operands through a scalar expression (so producers can fuse)? */
export function acceptsFusion(r: GNode, opts: FuseOptions): boolean {
  if (isElementwise(r) || isView(r) || isConstNode(r)) return !usesIndex(r);
  if (r.op?.kind === 'reduce') return opts.reducePrologue && PROLOGUE_REDUCTIONS.has((r.op as ReduceOp).reduce);
  return false;
}

/** How many elements a kernel rooted at `r` iterates over. */
export function iterNumel(r: GNode): number {
  return r.op?.kind === 'reduce' ? r.inputs[0]!.numel : r.numel;
}

/**
 * The fusion decision for a graph. `forced` names nodes that must be roots (the lowering adds
 * to it when a view chain cannot be expressed as strides, or a kernel reads too many buffers).
 */
export function fuse(g: Graph, opts: FuseOptions = defaultFuseOptions, forced: ReadonlySet<GNode> = new Set()): Fusion {
  const users = g.users();
  const pinned = new Set<GNode>([...g.outputs, ...g.updates.map((u) => u.value), ...forced]);
  const materialized = new Set<GNode>();
  const groupOf = new Map<GNode, GNode>();
  const recomputed = new Map<GNode, Set<GNode>>();
  const budget = opts.recomputeBelow ?? 0;

  /** kernel roots that read `n` (through unmaterialized views), and whether one needs a buffer */
  const consumers = (n: GNode, roots: Set<GNode>, acc: { needsBuf: boolean }) => {
    for (const u of users.get(n) ?? []) {
      if (!materialized.has(u) && isView(u)) consumers(u, roots, acc);
      else if (materialized.has(u)) {
        if (acceptsFusion(u, opts)) roots.add(u);
        else acc.needsBuf = true;
      } else {
        const r = groupOf.get(u);
        if (r) for (const x of recomputed.get(u) ?? [r]) roots.add(x);
        else acc.needsBuf = true;
      }
    }
  };

  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (n.kind !== 'op' || pinned.has(n)) {
      materialized.add(n);
      continue;
    }
    if (isView(n)) continue;
    const roots = new Set<GNode>();
    const acc = { needsBuf: false };
    consumers(n, roots, acc);
    if (isConstNode(n)) {
      if (acc.needsBuf) materialized.add(n);
      continue;
    }
    if (!isElementwise(n) || usesIndex(n) || !opts.enabled || acc.needsBuf || roots.size === 0) {
      materialized.add(n);
      continue;
    }
    const root = [...roots][0]!;
    const cheapBroadcast = roots.size === 1 && CHEAP_OPS.has(n.op!.name) && iterNumel(root) <= n.numel * CHEAP_BROADCAST_MAX;
    if (roots.size !== 1 || (iterNumel(root) !== n.numel && !cheapBroadcast)) {
      // recomputed by each kernel reading it, when they are small
      let work = 0;
      for (const r of roots) work += iterNumel(r);
      if (work > budget) {
        materialized.add(n);
        continue;
      }
      if (roots.size > 1) recomputed.set(n, roots);
    }
    groupOf.set(n, root);
  }

  // matmul epilogues: every consumer of the product is an elementwise op of its shape in one
  // kernel rooted at an elementwise node of the same size (bias + ReLU after a linear layer);
  // reshapes between them are looked through (a convolution's product [N, C, H·W] read as
  // [N, C, H, W] by its bias + ReLU): the product is contiguous, so the order of elements holds
  const epilogue = new Map<GNode, GNode>();
  const keepProduct = new Set<GNode>();
  if (opts.enabled && (opts.matmulEpilogue || opts.reduceEpilogue)) {
    for (const m of g.nodes) {
      const kind = m.op === prims.matmul ? opts.matmulEpilogue
        : m.op?.kind === 'reduce' ? opts.reduceEpilogue === true && PROLOGUE_REDUCTIONS.has((m.op as ReduceOp).reduce) && m.dtype !== 'bool' : false;
      if (!kind || (pinned.has(m) && !opts.epilogueKeepsProduct) || forced.has(m)) continue;
      const us: { u: GNode; shape: readonly number[] }[] = [];
      const collect = (x: GNode): void => {
        for (const u of users.get(x) ?? []) {
          if (u.op === prims.reshape && !materialized.has(u) && opts.epilogueThroughReshape) collect(u);
          else us.push({ u, shape: x.shape });
        }
      };
      collect(m);
      let root: GNode | null = null;
      const ok = us.length > 0 && us.every(({ u, shape }) => {
        if (!isElementwise(u) || u.numel !== m.numel || u.shape.length !== shape.length || u.shape.some((d, i) => d !== shape[i])) return false;
        const r = materialized.has(u) ? u : groupOf.get(u);
        if (!r || recomputed.has(u) || (root && r !== root)) return false;
        root = r;
        return true;
      });
      const r = root as GNode | null;
      const dtypeOk = r !== null && (r.dtype === m.dtype || opts.epilogueChangesDtype === true);
      if (ok && r && dtypeOk && isElementwise(r) && !usesIndex(r) && r.numel === m.numel && ![...epilogue.values()].includes(r)) {
        epilogue.set(m, r);
        if (pinned.has(m)) keepProduct.add(m);
      }
    }
  }
  return { materialized, groupOf, recomputed, epilogue, keepProduct };
}
