/**
 * @file Autograd: grad mode, the tape nodes recorded by dispatch(), and the backward engine.
 * Nodes are owned by the tensors that refer to them; nothing global grows.
 */
import { checkOptions, optionNames } from './options.ts';
import type { Aval } from './backend.ts';
import { AutogradError, DeviceError, ShapeError, ValueError } from './errors.ts';
import { isFloat } from './dtype.ts';
import type { OpDef, VjpCtx } from './ops/registry.ts';
import { fmtShape, sameShape } from './shape.ts';
import { Tensor } from './tensor.ts';
import { scope } from './scope.ts';
import * as F from './ops/functional.ts';
import { checkLive, describeValue } from './ops/dispatch.ts';

let gradEnabled = true;

/** Whether operations are currently recorded for autograd. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = enabled;
  try {
    const r = fn();
    if (r instanceof Promise) {
      throw new TypeError('noGrad/enableGrad callbacks must be synchronous: the mode would not cover code after an await');
    }
    return r;
  } finally {
    gradEnabled = prev;
  }
}

/** Runs `fn` with gradient recording off (PyTorch's `torch.no_grad()`). */
export function noGrad<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new ValueError(`noGrad: expected a function to run, got ${typeof fn}`);
  return withGradMode(false, fn);
}
/** Runs `fn` with gradient recording on, even inside `noGrad` (PyTorch's `torch.enable_grad()`). */
export function enableGrad<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new ValueError(`enableGrad: expected a function to run, got ${typeof fn}`);
  return withGradMode(true, fn);
}

type Edge = { readonly node: Node } | { readonly leaf: Tensor };

let nextId = 0;

/** One recorded op application: enough to run its backward rule. */
export class Node {
  readonly id = nextId++;
  saved: (Tensor | undefined)[] | null;
  savedOut: Tensor | undefined;
  released = false;
  /** a non-leaf tensor whose .grad the user asked to keep (retainGrad) */
  retainTarget: Tensor | null = null;
  constructor(
    readonly op: OpDef,
    readonly attrs: unknown,
    readonly edges: readonly (Edge | null)[],
    saved: (Tensor | undefined)[],
    savedOut: Tensor | undefined,
    readonly savedVersions: readonly number[],
    readonly outVersion: number,
    readonly inAvals: readonly Aval[],
    readonly outAval: Aval,
    readonly needsGrad: readonly boolean[],
  ) {
    this.saved = saved;
    this.savedOut = savedOut;
  }
  /** PyTorch-style name for printing, e.g. MulBackward. */
  get name(): string {
    return this.op.name[0]!.toUpperCase() + this.op.name.slice(1) + 'Backward';
  }
}

/** Called by dispatch() after every op: records a node when some operand needs a gradient. */
export function recordOp(op: OpDef, inputs: readonly Tensor[], attrs: unknown, out: Tensor): void {
  // integer and bool results carry no gradient (x.int(), comparisons, argmax)
  if (!gradEnabled || !op.vjp || !isFloat(out.dtype)) return;
  const needsGrad = inputs.map((t, i) => t.requiresGrad && !op.nondiff?.includes(i));
  if (!needsGrad.some(Boolean)) return;
  const edges = inputs.map((t, i) => (needsGrad[i] ? (t.gradFn ? { node: t.gradFn } : { leaf: t }) : null));
  const want = op.save?.inputs ?? [];
  const saveIdx = typeof want === 'function' ? want(needsGrad) : want;
  const saved: (Tensor | undefined)[] = inputs.map((t, i) => (saveIdx.includes(i) ? t : undefined));
  for (const t of saved) if (t) countOwnSave(t, 1);
  if (op.save?.out) countOwnSave(out, 1);
  const versions = saved.map((t) => (t ? t._version : 0));
  const node = new Node(
    op, attrs, edges, saved, op.save?.out ? out : undefined, versions, out._version,
    inputs.map((t) => ({ shape: t.shape, dtype: t.dtype })), { shape: out.shape, dtype: out.dtype }, needsGrad,
  );
  out.requiresGrad = true;
  out.gradFn = node;
}

// ---------------------------------------------------------------- composites' own tensors

/**
 * Storages a composite made for its own use (no view of them escapes it: im2col columns, a
 * product before its bias is added), with how many unreleased nodes saved them. A composite
 * disposes one that no node saved when it is done with it; backward disposes the rest when it
 * releases the last node that saved them, as PyTorch frees them by reference count. Without
 * this they wait for the garbage collector (src/cpu/reclaim.ts): LeNet's eager step left its
 * 8.8 MB of im2col columns to it.
 */
const ownSaves = new WeakMap<object, number>();

function countOwnSave(t: Tensor, by: number): number | undefined {
  const s = t._storage;
  const c = s ? ownSaves.get(s) : undefined;
  if (c !== undefined) ownSaves.set(s!, c + by);
  return c === undefined ? undefined : c + by;
}

/** @internal Marks `t`, just made by a composite, as its own until `doneWithOwn`. Returns it. */
export function ownTensor<T extends Tensor>(t: T): T {
  // (not while jit traces: a compiled function plans its buffers itself)
  // (a view shares a storage made elsewhere, which is not the composite's to release)
  if (t._storage && t._base === null && !Tensor._gradHook && !ownSaves.has(t._storage)) ownSaves.set(t._storage, 0);
  return t;
}

/** @internal The composite is done with its own `t`: disposed now unless a node saved it (then backward disposes it). */
export function doneWithOwn(t: Tensor): void {
  const s = t._storage;
  if (s && ownSaves.get(s) === 0) {
    ownSaves.delete(s);
    t.dispose();
  }
}

/** A released node's saved tensor: disposed when it is a composite's own and no unreleased node saved it. */
function releaseSaved(t: Tensor): void {
  if (countOwnSave(t, -1) === 0) {
    ownSaves.delete(t._storage!);
    t.dispose();
  }
}

/** Sums a gradient of a broadcast result back to an operand's shape (the one place unbroadcast happens). */
export function sumToShape(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.ndim - shape.length;
  const dims: number[] = [];
  for (let i = 0; i < g.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) dims.push(i);
  }
  const s = dims.length ? F.sum(g, dims, true) : g;
  return F.reshape(s, shape);
}

export interface BackwardOptions {
  /** keep saved tensors so backward can run through the graph again (default: createGraph) */
  retainGraph?: boolean;
  /** record the backward pass itself, for higher-order gradients */
  createGraph?: boolean;
}

const BACKWARD_OPTIONS = optionNames<BackwardOptions>({ retainGraph: true, createGraph: true });

interface EngineOptions extends BackwardOptions {
  /** tensors whose gradients are returned instead of accumulated into .grad (autograd.grad) */
  targets?: readonly Tensor[];
}

/** Collects the nodes reachable from the roots without recursion. */
function reachable(roots: readonly Node[]): Node[] {
  const seen = new Set<Node>(roots);
  const stack = [...roots];
  while (stack.length) {
    const n = stack.pop()!;
    for (const e of n.edges) {
      if (e && 'node' in e && !seen.has(e.node)) {
        seen.add(e.node);
        stack.push(e.node);
      }
    }
  }
  return [...seen];
}

function checkNode(n: Node, op: string): void {
  if (n.released) {
    throw new AutogradError(
      `${op}: trying to backward through the graph a second time (through '${n.op.name}', output shape ${fmtShape(n.outAval.shape)}); ` +
        'its saved tensors were released after the first backward. Pass {retainGraph: true} to the first backward if you need to backward twice.',
    );
  }
  const check = (t: Tensor, v: number, what: string) => {
    if (t._version !== v) {
      throw new AutogradError(
        `${op}: ${what} of '${n.op.name}' (shape ${fmtShape(t.shape)}, ${t.dtype}) was modified by an in-place operation after it was saved ` +
          `(version ${v} → ${t._version}); it is needed to compute gradients. Use an out-of-place op or clone() the tensor before modifying it.`,
      );
    }
  };
  n.saved?.forEach((t, i) => t && check(t, n.savedVersions[i]!, `operand ${i}`));
  if (n.savedOut) check(n.savedOut, n.outVersion, 'the output');
}

/**
 * The backward engine: replays nodes in decreasing id (reverse recording order, a topological
 * order), accumulating gradients. Returns the gradients of `targets` when given.
 */
export function runBackward(
  roots: readonly (readonly [Tensor, Tensor])[],
  opts: EngineOptions = {},
): Map<Tensor, Tensor> {
  const targets = opts.targets ? new Set(opts.targets) : null;
  const captured = new Map<Tensor, Tensor>();
  const targetByNode = new Map<Node, Tensor>();
  if (opts.targets) for (const t of opts.targets) if (t.gradFn) targetByNode.set(t.gradFn, t);

  const grads = new Map<Node, Tensor>();
  const leafGrads = new Map<Tensor, Tensor>();
  const addTo = <K>(m: Map<K, Tensor>, k: K, g: Tensor) => {
    const prev = m.get(k);
    m.set(k, prev ? F.add(prev, g) : g);
  };

  handedOut = new WeakSet<object>();
  for (const [, g] of roots) if (g._storage) handedOut.add(g._storage);
  const rootNodes: Node[] = [];
  for (const [t, g] of roots) {
    if (t.gradFn) {
      rootNodes.push(t.gradFn);
      addTo(grads, t.gradFn, g);
    } else addTo(leafGrads, t, g);
  }
  const nodes = reachable(rootNodes).sort((a, b) => b.id - a.id);
  // validate everything first, so an error leaves no gradient half-accumulated
  for (const n of nodes) checkNode(n, opts.targets ? 'grad' : 'backward');

  const replay = () => withGradMode(!!opts.createGraph, () => {
    for (const n of nodes) {
      const g = grads.get(n);
      if (!g) continue;
      grads.delete(n);
      if (n.retainTarget && !targets) accumulateLeaf(n.retainTarget, g, !!opts.createGraph, false);
      const tgt = targetByNode.get(n);
      if (tgt) addTo(captured, tgt, g);
      const ctx: VjpCtx<unknown> = {
        inputs: n.saved ?? [], out: n.savedOut, attrs: n.attrs,
        inAvals: n.inAvals, outAval: n.outAval, needsGrad: n.needsGrad,
      };
      const inGrads = (n.op.vjp as (g: Tensor, c: VjpCtx<unknown>) => readonly (Tensor | null)[])(g, ctx);
      n.edges.forEach((e, i) => {
        let gi = inGrads[i];
        if (!e || !gi) return;
        const aval = n.inAvals[i]!;
        gi = sumToShape(gi, aval.shape);
        if (gi.dtype !== aval.dtype) gi = F.cast(gi, aval.dtype);
        if ('node' in e) addTo(grads, e.node, gi);
        else addTo(leafGrads, e.leaf, gi);
      });
    }
  });

  const store = () => {
    for (const [leaf, g] of leafGrads) {
      if (targets) {
        if (targets.has(leaf)) addTo(captured, leaf, g);
      } else if (leaf.requiresGrad) accumulateLeaf(leaf, g, !!opts.createGraph);
      // (a leaf whose requiresGrad was turned off after the graph was built gets nothing, as in PyTorch)
    }
  };
  // NOTE: what the replay makes besides the gradients it stores (each rule's intermediates, the
  // gradients passed from node to node, partial sums, a gradient copied into a leaf's own
  // storage) is released when it ends, as PyTorch frees it by reference count, instead of
  // waiting for the collector (an eager LeNet step left ~10 MB of them). Not when the graph of
  // the gradients is kept (createGraph: they are in it) nor while jit traces (a compiled
  // function plans its own buffers).
  if (opts.createGraph || Tensor._gradHook) {
    replay();
    store();
  } else {
    scope(() => {
      replay();
      store();
      return [...captured.values()];
    });
  }

  if (!opts.retainGraph) {
    for (const n of nodes) {
      // (not with createGraph: the gradients' own graph may have saved them)
      if (!opts.createGraph) {
        for (const t of n.saved ?? []) if (t) releaseSaved(t);
        if (n.savedOut) releaseSaved(n.savedOut);
      }
      n.saved = null;
      n.savedOut = undefined;
      n.released = true;
    }
  }
  return captured;
}

function accumulateLeaf(t: Tensor, g: Tensor, keepGraph: boolean, leaf = true): void {
  if (keepGraph) {
    // a (differentiable) copy, as PyTorch's clone_obey_contract: `g` may be another leaf's
    // gradient too, or an expand()ed view that in-place writes to .grad would refuse
    t.grad = t.grad ? F.add(t.grad, g) : F.clone(g);
    return;
  }
  // NOTE: a rule may hand the same tensor to several operands (d(a+b) = [g, g]) or pass the
  // caller's gradient through; each leaf gets its own storage so in-place edits of one .grad
  // (optimizers, clipping) never change another.
  const had = t._readGrad();
  if (had && leaf && had._writableGrad()) {
    // as PyTorch's AccumulateGrad: `.grad += g` in place, so a reference to `.grad` taken before
    // this backward sees the sum (a retained non-leaf gradient is summed out of place, as
    // PyTorch's retain_grad hook does). While jit traces, the write is an update of that `.grad`
    // (two leaves sharing one `.grad` tensor then both add into it, as eagerly)
    withGradMode(false, () => had.add_(g));
    return;
  }
  const fresh = withGradMode(false, () => (had ? F.add(had, g) : ownedGrad(g)));
  t._replaceGrad(fresh);
  fresh._gradUnread = true;
}


/** `g` itself when no other tensor can share its storage, else a copy. */
function ownedGrad(g: Tensor): Tensor {
  const s = g._storage;
  const exclusive = s && !handedOut.has(s) && g.isContiguous && g.offset === 0 && s.size === g.numel && !g._base;
  if (exclusive) {
    handedOut.add(s);
    return g.detach();
  }
  return F.clone(g.detach());
}
/** Storages given to a leaf's .grad (or passed in by the caller) during the current backward. */
let handedOut = new WeakSet<object>();

/**
 * The gradient of root `out` (as PyTorch's `_make_grads`): `given`, which must be a tensor of
 * out's shape and device (cast to out's dtype), or ones when left out for a one-element output.
 */
function rootGradient(op: 'backward' | 'grad', out: Tensor, given: unknown, what: string, hint: string): Tensor {
  if (given === undefined || given === null) {
    if (out.numel !== 1) {
      throw new AutogradError(`${op}: a gradient can be created implicitly only for a scalar output, but ${what} has shape ${fmtShape(out.shape)}; ${hint}`);
    }
    return F.onesLike(out);
  }
  if (!(given instanceof Tensor)) {
    throw new ValueError(`${op}: the gradient for ${what} is ${describeValue(given)}, expected a tensor of shape ${fmtShape(out.shape)}`);
  }
  checkLive(op, given);
  if (!sameShape(given.shape, out.shape)) {
    throw new ShapeError(`${op}: the gradient for ${what} has shape ${fmtShape(given.shape)} but ${what} has shape ${fmtShape(out.shape)}; they must match`);
  }
  if (given.device !== out.device) {
    throw new DeviceError(`${op}: the gradient for ${what} is on ${given.device} but ${what} is on ${out.device}; move it with .to('${out.device}') first`);
  }
  return given.dtype === out.dtype ? given : F.cast(given, out.dtype);
}

/** `t.backward(gradient?, opts)`: accumulates d(t)/d(leaf) into every leaf's `.grad`. */
export function backward(t: Tensor, gradient?: Tensor, opts: BackwardOptions = {}): void {
  checkOptions('backward', opts, BACKWARD_OPTIONS);
  if (!t.requiresGrad) {
    throw new AutogradError(`backward: the tensor (shape ${fmtShape(t.shape)}) does not require grad and has no gradFn; set requiresGrad on a leaf it depends on`);
  }
  const g = rootGradient('backward', t, gradient, 'the tensor', 'pass a gradient of that shape, or reduce first (e.g. .sum())');
  // retainGraph defaults to createGraph (PyTorch): a graph recorded for higher-order gradients stays usable
  runBackward([[t, g]], { ...opts, retainGraph: opts.retainGraph ?? opts.createGraph });
}

export interface GradOptions extends BackwardOptions {
  /** one gradient per output (undefined for a one-element output means ones) */
  gradOutputs?: readonly (Tensor | undefined)[];
  /** return null for inputs the outputs do not depend on, instead of throwing */
  allowUnused?: boolean;
}

const GRAD_OPTIONS = optionNames<GradOptions>({ retainGraph: true, createGraph: true, gradOutputs: true, allowUnused: true });

/**
 * d(outputs)/d(inputs) without touching `.grad` (PyTorch's `torch.autograd.grad`, Theano's `T.grad`).
 * @example const [dx] = grad(x.pow(2).sum(), [x]); // 2x
 */
export function grad(outputs: Tensor | readonly Tensor[], inputs: Tensor | readonly Tensor[], opts: GradOptions = {}): (Tensor | null)[] {
  checkOptions('grad', opts, GRAD_OPTIONS);
  const outs = Array.isArray(outputs) ? (outputs as readonly Tensor[]) : [outputs as Tensor];
  const ins = Array.isArray(inputs) ? (inputs as readonly Tensor[]) : [inputs as Tensor];
  if (ins.length === 0) throw new ValueError('grad: expected at least one input to differentiate with respect to, got none');
  const check = (list: readonly Tensor[], what: 'output' | 'input') => list.forEach((t, i) => {
    if (!(t instanceof Tensor)) throw new ValueError(`grad: ${what} ${i} is ${describeValue(t)}, expected a tensor`);
    if (!t.requiresGrad) throw new AutogradError(`grad: ${what} ${i} (shape ${fmtShape(t.shape)}) does not require grad`);
  });
  check(outs, 'output');
  check(ins, 'input');
  const given = opts.gradOutputs;
  if (given !== undefined && (!Array.isArray(given) || given.length !== outs.length)) {
    const got = Array.isArray(given) ? `${given.length} gradOutputs` : describeValue(given);
    throw new ValueError(`grad: got ${outs.length} output${outs.length === 1 ? '' : 's'} and ${got}; pass one gradient per output (undefined for a one-element output)`);
  }
  const roots = outs.map((o, i) => [o, rootGradient('grad', o, given?.[i], `output ${i}`, 'pass its gradient in gradOutputs')] as const);
  const got = runBackward(roots, { ...opts, retainGraph: opts.retainGraph ?? opts.createGraph, targets: ins });
  return ins.map((t, i) => {
    const g = got.get(t);
    if (!g) {
      if (opts.allowUnused) return null;
      throw new AutogradError(`grad: input ${i} (shape ${fmtShape(t.shape)}) was not used to compute the outputs; pass {allowUnused: true} to get null for it`);
    }
    return g;
  });
}
