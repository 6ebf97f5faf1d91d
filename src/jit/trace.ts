/**
 * @file Tracing: while `fn` runs with symbolic tensors, every primitive that dispatch() sees
 * becomes a graph node. Concrete tensors the function reads (parameters, optimizer state, `.grad`)
 * become state inputs bound by reference at every call; in-place writes to them, to arguments,
 * and final `.grad` values become updates applied after the compiled graph ran, all computed from
 * pre-update values. Views taken while tracing remember their parent, so a write into a view
 * becomes a new value of its base (view-writes.ts) and every view re-reads the base's current value.
 */
import type { Device, Storage } from '../backend.ts';
import { nextSeed } from '../creation.ts';
import { AutogradError, DeviceError, ShapeError, ValueError, internal } from '../errors.ts';
import { activeTracer, setTracer, type Tracer } from '../ops/dispatch.ts';
import { prims } from '../ops/prims.ts';
import type { OpDef, ViewMeta } from '../ops/registry.ts';
import { contiguousStrides, fmtShape, sameShape } from '../shape.ts';
import type { Node } from '../tape.ts';
import { Tensor, type ViewStep } from '../tensor.ts';
import { Graph, GNode, constValue, type Update } from './graph.ts';
import { keep } from '../scope.ts';
import { flatten, hiddenTensor } from './tree.ts';
import { writeThroughView } from './view-writes.ts';

/** How a state input is bound at every call. */
export type Binding =
  /** this tensor, by reference (parameters, optimizer state, constants created while tracing) */
  | { readonly kind: 'ref'; readonly tensor: Tensor }
  /** `owner.grad` at call time (a gradient the function reads) */
  | { readonly kind: 'grad'; readonly owner: Tensor }
  /** a gradient buffer the compiled function owns; `owner.grad` is set to it after each call */
  | { readonly kind: 'gradBuf'; readonly owner: Tensor }
  /** `.grad` of the i-th tensor argument at call time */
  | { readonly kind: 'argGrad'; readonly arg: number };

/** What becomes of a tensor leaf of the result. */
/** The leaves a traced output's gradient reaches: argument positions and concrete tensors read (parameters). */
export interface GradReach {
  readonly args: readonly number[];
  readonly params: readonly Tensor[];
}

export type OutSpec =
  /** `grad`: null when the output does not require grad (as eager would leave it) */
  | {
    readonly kind: 'node'; readonly output: number; readonly grad: GradReach | null;
    /**
     * not a result itself: the tensor result `hiddenOf` views (an intermediate the function did
     * not return), handed out so that the returned views of it alias one another as eagerly
     */
    readonly hiddenOf?: number;
  }
  /** the same tensor as result `of` (returned twice) */
  | { readonly kind: 'same'; readonly of: number }
  | { readonly kind: 'arg'; readonly arg: number }
  | { readonly kind: 'ref'; readonly tensor: Tensor }
  /** the `.grad` of a tensor (a captured one, or argument `arg`) as the call leaves it: the function returned its new `.grad` */
  | { readonly kind: 'grad'; readonly owner: { readonly ref: Tensor } | { readonly arg: number } }
  /**
   * a view of an argument or of another returned tensor (index into the result's tensors): made
   * by replaying the view ops on it after the call, so it aliases it as eagerly
   */
  | { readonly kind: 'view'; readonly base: { readonly arg: number } | { readonly result: number } | { readonly ref: Tensor }; readonly steps: readonly ViewStep[] };
  // (`result` indexes outSpecs: a returned tensor, or a hidden base after the results)

/** What happens to `.grad` of a tensor after each call. */
export type GradAction =
  | { readonly kind: 'set'; readonly owner: Tensor; readonly value: Tensor | null }
  /** owner.grad ← the buffer bound to state `state` (kind gradBuf) */
  | { readonly kind: 'buf'; readonly owner: Tensor; readonly state: number }
  /** args[arg].grad ← output `output` (a fresh tensor per call) */
  | { readonly kind: 'argOut'; readonly arg: number; readonly output: number }
  /** args[arg].grad was written in place (bound by an argGrad state): nothing to set */;

/** A condition on `.grad` the trace depended on (it read it); checked before reusing the trace. */
export interface Guard {
  readonly owner: Tensor;
  /** null: the gradient was null; else its dtype/shape/device */
  readonly expect: { readonly shape: readonly number[]; readonly dtype: string; readonly device: Device } | null;
}

export interface TraceResult {
  readonly graph: Graph;
  readonly outSpecs: OutSpec[];
  readonly unflatten: (leaves: readonly unknown[]) => unknown;
  readonly gradActions: GradAction[];
  readonly guards: Guard[];
  /** conditions on JavaScript state the trace depended on (see Tracer.guard) */
  readonly checks: { readonly holds: () => boolean; readonly what: string }[];
  /** undoes JavaScript state the trace created (see Tracer.onDiscard), latest first; for a trace that will not run */
  discard(): void;
  /** whether there is such state to undo */
  readonly hasDiscards: boolean;
  /** trace-time seeds of every random source, in trace order (redrawn at each call) */
  readonly seeds: number[];
  /**
   * Per graph output, the first output that came from the same tensor object: two distinct
   * tensors the passes merge into one value (equal expressions, two equal gradients) must still
   * be handed out as two tensors.
   */
  readonly outputSame: number[];
}

/** Names given to tensors (shared variables, parameters) for printing. */
const tensorNames = new WeakMap<Tensor, string>();
/** Names a tensor in printed graphs. */
export function setTensorName(t: Tensor, name: string): void {
  tensorNames.set(t, name);
}
export function tensorName(t: Tensor): string | undefined {
  return tensorNames.get(t);
}

interface StateEntry {
  readonly node: GNode;
  current: GNode;
  written: boolean;
  readonly viewKey: string;
  readonly tensors: Tensor[];
}

interface GradSlot {
  readonly owner: Tensor;
  /** the value before the trace (restored after it) */
  readonly before: Tensor | null;
  /** the value the trace started from (for placeholders: a state bound to the argument's grad) */
  initial: Tensor | null;
  /** the trace read the initial value (so it depends on it) */
  read: boolean;
  /** for a placeholder whose argument has a `.grad`: the state node bound to it */
  argGradState?: GNode;
}

/**
 * A symbolic tensor that is a view (reshape, permute, expand, slice) of `parent`, as it would be
 * eagerly: its value is always `op(parent's current value)`, and writes to it land in the parent.
 */
interface ViewLink {
  readonly parent: Tensor;
  /** null: the same elements (detach) */
  readonly op: OpDef | null;
  readonly attrs: unknown;
  /** the layout eager would give it (decides whether a reshape of it is a view or a copy) */
  readonly layout: ViewMeta;
  /** the tensor at the end of the parent chain (a state, an argument or an op result) */
  readonly root: Tensor;
  /** its node for the parent's node `parentNode` (recomputed when the parent was written) */
  memo: { parentNode: GNode; node: GNode };
}

const viewKeyOf = (t: Tensor) => `${t.dtype}|${t.shape.join(',')}|${t.strides.join(',')}|${t.offset}`;

export function isGNode(x: unknown): x is GNode {
  return x instanceof GNode;
}

/** A concrete tensor's autograd fields as tracing found them. */
interface Autograd { gradFn: Node | null; requiresGrad: boolean }

/** Puts back what tracing changed of `t`'s autograd fields (current as of its version now). */
function restoreAutograd(t: Tensor, s: Autograd): void {
  t._gradFn = s.gradFn;
  t._requiresGrad = s.requiresGrad;
  t._gradVersion = t._version;
}

/** The tracer installed while `fn` runs. */
export class TraceContext implements Tracer {
  readonly graph = new Graph();
  device: Device | null = null;
  private readonly stateOf = new Map<Tensor, StateEntry>();
  private readonly byStorage = new Map<Storage, StateEntry[]>();
  private readonly slots = new Map<Tensor, GradSlot>();
  private readonly gradOwner = new Map<Tensor, Tensor>();
  /** placeholder tensor → argument index */
  readonly placeholders = new Map<Tensor, number>();
  private readonly placeholderNodes: GNode[] = [];
  private readonly realArgs: readonly Tensor[];
  private readonly touched = new Map<Tensor, Autograd>();
  readonly seeds: number[] = [];
  private readonly views = new Map<Tensor, ViewLink>();
  /** root tensor → the views of it taken while tracing (their versions move with the root's) */
  private readonly viewsOfRoot = new Map<Tensor, Tensor[]>();
  /** results of reshapes that eager would have copied (their layout was not viewable): not views */
  private readonly copies = new Set<Tensor>();
  /**
   * Tensors whose value an in-place write replaced: their node may be a view node (a write through
   * a view is written back to its base as reshape/permute…), yet they are bases, not views.
   */
  private readonly rebound = new Set<Tensor>();

  constructor(args: readonly Tensor[], paths: readonly string[], gradEnabled: boolean) {
    this.realArgs = args;
    args.forEach((a, i) => {
      const n = this.graph.addInput({ shape: a.shape, dtype: a.dtype }, a.device, paths[i]);
      this.noteDevice(a.device, `argument ${paths[i]} (${a.dtype}${fmtShape(a.shape)})`);
      const x = Tensor._symbolic(n, a.shape, a.dtype, a.device);
      if (a.requiresGrad && gradEnabled) x.requiresGrad = true;
      this.placeholders.set(x, i);
      this.placeholderNodes.push(n);
    });
  }

  /** The placeholder tensors, in argument order. */
  get placeholderTensors(): Tensor[] {
    return [...this.placeholders.keys()];
  }

  private deviceSource = '';
  private noteDevice(d: Device, what = 'an op') {
    if (this.device === null) {
      this.device = d;
      this.deviceSource = what;
    } else if (this.device !== d) {
      throw new DeviceError(
        `jit: ${what} is on ${d}, but ${this.deviceSource} is on ${this.device}; a compiled function runs on one device — move its arguments and the tensors it reads (parameters, state) to one device with .to()`,
      );
    }
  }

  /** The graph node a tensor stands for right now. */
  nodeOf(t: Tensor): GNode {
    if (t._sym) {
      const n = t._sym;
      if (!isGNode(n) || n.graph !== this.graph) {
        throw new AutogradError(
          `jit: a symbolic tensor (shape ${fmtShape(t.shape)}) from ${isGNode(n) && n.graph.closed ? 'an earlier, finished' : 'another'} trace was used. ` +
            'This happens when a tensor created inside a jit function is kept outside it (in a JS object, array or closure) and used later; ' +
            'keep such state in tensors that exist before the first call and update them in place (copy_, add_, …).',
        );
      }
      const link = this.views.get(t);
      if (link) {
        // a view reads its parent's current value: a write to the base (or to another view of it)
        // since the view was taken shows through, as it does eagerly through shared storage
        const p = this.nodeOf(link.parent);
        if (p !== link.memo.parentNode) {
          link.memo = { parentNode: p, node: link.op ? this.graph.add(link.op, [p], link.attrs, t.device, { shape: t.shape, dtype: t.dtype }) : p };
          t._sym = link.memo.node;
        }
        return link.memo.node;
      }
      return n;
    }
    if (t._scalarValue !== undefined && t.ndim === 0) return this.graph.constant(t._scalarValue, t.dtype, t.device);
    return this.entryOf(t).current;
  }

  private entryOf(t: Tensor): StateEntry {
    const hit = this.stateOf.get(t);
    if (hit) return hit;
    if (!t._storage || t._disposed) throw new AutogradError(`jit: a disposed tensor (shape ${fmtShape(t.shape)}) was read while tracing`);
    this.noteDevice(t.device, `a tensor the function reads (${tensorName(t) ?? 'a parameter or state'}, ${t.dtype}${fmtShape(t.shape)})`);
    const key = viewKeyOf(t);
    const list = this.byStorage.get(t._storage) ?? [];
    let e = list.find((x) => x.viewKey === key);
    if (!e) {
      const owner = this.gradOwner.get(t);
      const binding: Binding = owner ? { kind: 'grad', owner } : { kind: 'ref', tensor: t };
      const name = owner ? `${this.nameOf(owner)}.grad` : tensorName(t);
      const node = this.graph.addState({ shape: t.shape, dtype: t.dtype }, t.device, binding, name);
      e = { node, current: node, written: false, viewKey: key, tensors: [] };
      list.push(e);
      this.byStorage.set(t._storage, list);
    }
    e.tensors.push(t);
    this.stateOf.set(t, e);
    this.touch(t);
    return e;
  }

  /** A printing name for a tensor: its given name, its state's name, or s<i>. */
  private nameOf(t: Tensor): string {
    const e = this.stateOf.get(t);
    return tensorName(t) ?? e?.node.name ?? (e ? `s${e.node.index}` : `t${this.graph.states.length}`);
  }

  private readonly discards: (() => void)[] = [];
  onDiscard(undo: () => void): void {
    this.discards.push(undo);
  }

  /** Runs (once) the undo actions of state the trace created. */
  discard(): void {
    for (const undo of this.discards.splice(0).reverse()) undo();
  }

  keepAutograd(t: Tensor): void {
    if (!t._sym) this.touch(t);
  }

  private touch(t: Tensor) {
    // the raw fields: a read through the getters could make a stale view's node now, inside the trace
    if (!this.touched.has(t)) this.touched.set(t, { gradFn: t._gradFn, requiresGrad: t._requiresGrad });
  }

  record(op: OpDef, inputs: readonly Tensor[], attrs: unknown, aval: { shape: readonly number[]; dtype: Tensor['dtype'] }, device: Device): Tensor {
    const ins = inputs.map((t) => this.nodeOf(t));
    this.noteDevice(device);
    if (op === prims.randUniform) this.seeds.push((attrs as { seed: number }).seed);
    const n = this.graph.add(op, ins, attrs, device, aval);
    const out = Tensor._symbolic(n, aval.shape, aval.dtype, device);
    if (op.kind === 'view') this.noteView(out, inputs[0]!, op, attrs, ins[0]!, n);
    return out;
  }

  /** The layout `t` has (or would have) eagerly. */
  layoutOf(t: Tensor): ViewMeta {
    const link = this.views.get(t);
    if (link) return link.layout;
    const arg = this.placeholders.get(t);
    const real = arg === undefined ? (t._sym ? null : t) : this.realArgs[arg]!;
    return real ? { shape: real.shape, strides: real.strides, offset: real.offset } : { shape: t.shape, strides: contiguousStrides(t.shape), offset: 0 };
  }

  /** Tracer.isDense: would eager contiguous(t) return t itself? (Views taken while tracing know their eager layout.) */
  readonly checks: { holds: () => boolean; what: string }[] = [];
  guard(holds: () => boolean, what: string): void {
    this.checks.push({ holds, what });
  }

  isDense(t: Tensor): boolean {
    const link = this.views.get(t);
    const arg = this.placeholders.get(t);
    if (!link && arg === undefined) return true; // an op result: a fresh dense tensor eagerly
    const { shape, strides, offset } = this.layoutOf(t);
    let expected = 1;
    for (let i = shape.length - 1; i >= 0; i--) {
      if (shape[i] !== 1 && strides[i] !== expected) return false;
      expected *= shape[i]!;
    }
    const root = link ? link.root : t;
    const rootArg = this.placeholders.get(root);
    const real = rootArg === undefined ? (root._sym ? null : root) : this.realArgs[rootArg]!;
    const size = real ? (real._storage?.size ?? real.numel) : root.numel;
    return offset === 0 && size === t.numel;
  }

  constantValue(t: Tensor): number | undefined {
    if (!t._sym || t.ndim !== 0) return undefined;
    return constValue(this.nodeOf(t));
  }

  viewRoot(t: Tensor): Tensor {
    return this.views.get(t)?.root ?? t;
  }

  viewSteps(t: Tensor): { root: Tensor; steps: ViewStep[] } | null {
    const steps: ViewStep[] = [];
    let cur = t;
    for (let link = this.views.get(cur); link; link = this.views.get(cur)) {
      if (!link.op) return null;
      steps.unshift({ op: link.op, attrs: link.attrs });
      cur = link.parent;
    }
    return { root: cur, steps };
  }

  /** Tracer.alias: `t` (a detach() of `of`) shares of's elements, as eagerly. */
  alias(t: Tensor, of: Tensor): void {
    if (!of._sym) return;
    const node = this.nodeOf(of);
    this.link(t, { parent: of, op: null, attrs: undefined, layout: this.layoutOf(of), root: this.views.get(of)?.root ?? of, memo: { parentNode: node, node } });
  }

  private link(t: Tensor, l: ViewLink) {
    this.views.set(t, l);
    let list = this.viewsOfRoot.get(l.root);
    if (!list) this.viewsOfRoot.set(l.root, (list = []));
    list.push(t);
  }

  /** Remembers that `out` is a view of `parent` (unless eager would have copied: a reshape of an unviewable layout). */
  private noteView(out: Tensor, parent: Tensor, op: OpDef, attrs: unknown, parentNode: GNode, node: GNode) {
    if (op.kind !== 'view') return;
    const layout = op.view(this.layoutOf(parent), attrs as never);
    if (!layout) {
      this.copies.add(out);
      return;
    }
    this.link(out, { parent, op, attrs, layout, root: this.views.get(parent)?.root ?? parent, memo: { parentNode, node } });
  }

  /**
   * `dst` (a view) ← `v`: writes back through each view op to the root, whose new value becomes
   * its state update, argument update or new node; returns the root.
   */
  private writeView(dst: Tensor, v: GNode): Tensor {
    const what = `an in-place write to a view (shape ${fmtShape(dst.shape)})`;
    // no element written (an empty narrow, even of a broadcast): the base keeps its value
    if (dst.numel === 0) return dst;
    let t = dst, val = v;
    for (let link = this.views.get(t); link; link = this.views.get(t)) {
      const parentNode = this.nodeOf(link.parent);
      const next = link.op ? writeThroughView(this.graph, parentNode, link.op, link.attrs, val, this.device ?? t.device, what) : val;
      link.memo = { parentNode: next, node: val };
      t._sym = val;
      t = link.parent;
      val = next;
    }
    if (t._sym) {
      t._sym = val;
      this.rebound.add(t);
    } else {
      const e = this.entryOf(t);
      e.current = val;
      e.written = true;
    }
    // eagerly the base and all its views share one storage, and so one version counter
    t._bumpVersion();
    for (const w of this.viewsOfRoot.get(t) ?? []) if (w._sym) w._bumpVersion();
    return t;
  }

  assign(dst: Tensor, src: Tensor): void {
    const v = this.nodeOf(src);
    if (this.views.has(dst)) {
      if (!sameShape(v.shape, dst.shape) || v.dtype !== dst.dtype) internal('jit: in-place value does not match its destination');
      this.writeView(dst, v);
      return;
    }
    if (dst._sym) {
      const n = this.nodeOf(dst);
      if (n.op?.kind === 'view' && !this.copies.has(dst) && !this.rebound.has(dst)) {
        throw new AutogradError(
          `jit: in-place write to a view (${n.op.name}, shape ${fmtShape(dst.shape)}) whose base the trace cannot follow (made outside dispatch); ` +
            'write to the base tensor or to a view taken with narrow/slice/index/reshape/view/permute/transpose, or use an out-of-place op',
        );
      }
      dst._sym = v;
      this.rebound.add(dst);
      dst._bumpVersion();
      for (const w of this.viewsOfRoot.get(dst) ?? []) w._bumpVersion();
      return;
    }
    const e = this.entryOf(dst);
    if (!sameShape(v.shape, dst.shape) || v.dtype !== dst.dtype) internal('jit: in-place value does not match its destination');
    e.current = v;
    e.written = true;
    dst._bumpVersion();
    for (const w of this.viewsOfRoot.get(dst) ?? []) w._bumpVersion();
  }

  /**
   * Concrete tensors the function made while traced (`tensor()`, `eye()`, `fromTypedArray()`; ops
   * record nodes instead): eagerly each call makes them anew, so the compiled function must not
   * carry writes to them from one call to the next, nor hand the same object out twice. Tensors
   * made with the tracer suspended (an optimizer's lazily made state) are state, not these.
   */
  private readonly born = new Set<Tensor>();
  /** Tensor._createdHook while tracing. */
  readonly onCreated = (t: Tensor): void => {
    // (a tensor with a base is an alias of existing memory — detach() of a parameter — not new)
    if (activeTracer() === this && t._base === null) this.born.add(t);
  };

  /** Tensor._gradHook while tracing. */
  readonly onGrad = (t: Tensor, write: boolean): void => {
    const argIndex = write ? this.placeholders.get(t) : undefined;
    if (argIndex !== undefined) {
      const real = this.realArgs[argIndex]!;
      if (real.requiresGrad && !real.isLeaf) {
        const name = this.placeholderNodes[argIndex]!.name ?? `argument ${argIndex}`;
        throw new AutogradError(
          `jit: the function writes the .grad of ${name} (${real.dtype}${fmtShape(real.shape)}; e.g. a backward() inside it reaches it), which is not a leaf: it was computed ` +
            'with gradients recorded, so eagerly its gradient would flow on into the tensors it was computed from, which a compiled function cannot do. ' +
            'Pass a leaf (x.detach().requiresGrad_()) or compute that tensor inside the function',
        );
      }
    }
    let slot = this.slots.get(t);
    if (!slot) {
      const arg = this.placeholders.get(t);
      // the caller's own tensor, reached from a closure (an optimizer holding a parameter that is
      // also passed in): inside the trace the argument is a stand-in, so its gradient lands on the
      // stand-in's .grad while this one reads and writes another — the update would be lost
      const real = arg === undefined && !t._sym ? this.realArgs.indexOf(t) : -1;
      if (real >= 0) {
        const name = this.placeholderNodes[real]!.name ?? `argument ${real}`;
        throw new ValueError(
          `jit: ${name} (${t.dtype}${fmtShape(t.shape)}) is passed to the function and its .grad is also ${write ? 'written' : 'read'} ` +
            'through a reference held outside (e.g. by an optimizer, or captured by a closure); inside a traced function an argument is a ' +
            'stand-in, so the two would part ways. Pass it only as an argument or only through the outside reference.',
        );
      }
      if (t._sym && arg === undefined) return; // a tensor of this trace: nothing to carry over
      slot = { owner: t, before: t._grad, initial: t._grad, read: false };
      this.slots.set(t, slot);
      if (arg !== undefined) {
        const real = this.realArgs[arg]!;
        const g = real._grad;
        if (g) {
          const n = this.graph.addState({ shape: g.shape, dtype: g.dtype }, g.device, { kind: 'argGrad', arg } satisfies Binding, `${this.placeholderNodes[arg]!.name ?? `in${arg}`}.grad`);
          t._grad = slot.initial = Tensor._symbolic(n, g.shape, g.dtype, g.device);
          slot.argGradState = n;
        }
      } else if (t._grad && !t._grad._sym) {
        this.gradOwner.set(t._grad, t);
      }
    }
    if (!write && t._grad === slot.initial) slot.read = true;
  };

  /** Builds the result: outputs, updates, gradient actions, guards; restores what tracing changed. */
  finish(result: unknown): TraceResult {
    const g = this.graph;
    const outSpecs: OutSpec[] = [];
    const outTensors: Tensor[] = [];
    const pushOutput = (t: Tensor, node: GNode): number => {
      outTensors.push(t);
      return g.outputs.push(node) - 1;
    };
    const buried = hiddenTensor(result, 'result');
    if (buried) {
      throw new ValueError(`jit: ${buried} is a computed tensor inside a Map, a Set or a class instance; a compiled function returns its tensors in (nested) arrays and plain objects`);
    }
    const flat = flatten(result, 'result', false);
    // a returned view of an argument, or of another returned tensor, stays a view of it (eager
    // aliasing: writes through either show in both); a view of anything else is a new tensor
    // hidden bases: intermediates that returned views view, handed out after the results
    const hidden: { root: Tensor; of: number }[] = [];
    const viewOf = (t: Tensor, i: number): OutSpec | null => {
      const vs = t._sym && this.views.has(t) ? this.viewSteps(t) : null;
      if (!vs || !vs.steps.length) return null;
      const arg = this.placeholders.get(vs.root);
      if (arg !== undefined) return this.placeholders.get(t) === undefined ? { kind: 'view', base: { arg }, steps: vs.steps } : null;
      // a view of a tensor the function captured (a parameter, a state): of that tensor, as eagerly
      if (!vs.root._sym && !this.born.has(vs.root)) return { kind: 'view', base: { ref: vs.root }, steps: vs.steps };
      if (!vs.root._sym) return null;
      // of an intermediate: of the nearest returned tensor on the way to it (v and v.t() returned
      // alias each other), else of the intermediate itself, handed out hidden (two slices of one
      // intermediate alias each other, as eagerly)
      let cur = t;
      const steps: ViewStep[] = [];
      for (let link = this.views.get(cur); link; link = this.views.get(cur)) {
        steps.unshift({ op: link.op!, attrs: link.attrs });
        cur = link.parent;
        const k = flat.tensors.indexOf(cur);
        if (k >= 0) return { kind: 'view', base: { result: k }, steps: [...steps] };
      }
      let h = hidden.findIndex((x) => x.root === cur);
      if (h < 0) h = hidden.push({ root: cur, of: i }) - 1;
      return { kind: 'view', base: { result: flat.tensors.length + h }, steps };
    };
    // a returned .grad the function set (a backward after zeroGrad) is that .grad, as eagerly
    const gradOf = (t: Tensor): OutSpec | null => {
      if (!t._sym) return null;
      for (const s of this.slots.values()) {
        if (s.owner._grad !== t) continue;
        const arg = this.placeholders.get(s.owner);
        return { kind: 'grad', owner: arg !== undefined ? { arg } : { ref: s.owner } };
      }
      return null;
    };
    for (const [i, t] of flat.tensors.entries()) {
      const first = flat.tensors.indexOf(t);
      if (first < i) {
        outSpecs.push({ kind: 'same', of: first });
        continue;
      }
      const arg = this.placeholders.get(t);
      const view = arg === undefined ? viewOf(t, i) : null;
      const grad = arg === undefined && !view ? gradOf(t) : null;
      if (arg !== undefined) outSpecs.push({ kind: 'arg', arg });
      else if (grad) outSpecs.push(grad);
      else if (!t._sym && !this.born.has(t)) outSpecs.push({ kind: 'ref', tensor: t });
      else if (view) outSpecs.push(view);
      else outSpecs.push({ kind: 'node', output: pushOutput(t, this.nodeOf(t)), grad: this.gradReach(t) });
    }
    for (const { root, of } of hidden) outSpecs.push({ kind: 'node', output: pushOutput(root, this.nodeOf(root)), grad: this.gradReach(root), hiddenOf: of });

    // tensors the function made from values are the compiled function's constants from now on:
    // a scope() around the call that made them must not release them (every later call retraced)
    for (const t of this.born) keep(t);
    const updates = new Map<GNode, GNode>();
    for (const list of this.byStorage.values()) {
      // (a tensor the function made keeps the value it was made with: each call starts from it)
      for (const e of list) if (e.written && e.current !== e.node && !e.tensors.some((t) => this.born.has(t))) updates.set(e.node, e.current);
      if (list.length > 1 && list.some((e) => e.written)) {
        const t = list[0]!.tensors[0]!;
        throw new AutogradError(
          `jit: the function writes in place to a tensor (shape ${fmtShape(t.shape)}) whose storage it also reads through another view; ` +
            'write and read through the same tensor inside a compiled function',
        );
      }
    }
    for (const [x, i] of this.placeholders) {
      const cur = x._sym as GNode;
      if (cur !== this.placeholderNodes[i]) updates.set(this.placeholderNodes[i]!, this.nodeOf(x));
    }

    const gradActions: GradAction[] = [];
    const guards: Guard[] = [];
    for (const slot of this.slots.values()) {
      const owner = slot.owner;
      const fin = owner._grad;
      owner._grad = slot.before;
      const arg = this.placeholders.get(owner);
      if (arg === undefined && slot.read) {
        const b = slot.before;
        guards.push({ owner, expect: b ? { shape: b.shape, dtype: b.dtype, device: b.device } : null });
      }
      if (fin === slot.initial) {
        // the argument's .grad itself, perhaps written in place (zero_, add_): its new value is
        // the state's update (it was lost, and a later replacement of it crashed the planner)
        const st = slot.argGradState;
        if (st && fin && fin._sym !== st) updates.set(st, this.nodeOf(fin));
        continue;
      }
      if (fin === null || !fin._sym) {
        if (arg === undefined) gradActions.push({ kind: 'set', owner, value: fin });
        else if (fin !== null) {
          // a concrete tensor assigned as an argument's gradient: hand it out as an output
          gradActions.push({ kind: 'argOut', arg, output: pushOutput(fin, this.nodeOf(fin)) });
        }
        continue;
      }
      const value = this.nodeOf(fin);
      if (!sameShape(value.shape, owner.shape)) {
        throw new ShapeError(`jit: the gradient assigned to a tensor of shape ${fmtShape(owner.shape)} has shape ${fmtShape(value.shape)}`);
      }
      if (arg !== undefined) {
        if (slot.argGradState && slot.read) updates.set(slot.argGradState, value);
        else gradActions.push({ kind: 'argOut', arg, output: pushOutput(fin, value) });
        continue;
      }
      const init = slot.initial;
      if (init && slot.read) {
        // the function read owner.grad: write the new value into it in place
        const e = this.entryOf(init);
        updates.set(e.node, value);
      } else {
        const n = g.addState({ shape: value.shape, dtype: value.dtype }, value.device, { kind: 'gradBuf', owner } satisfies Binding, `${this.nameOf(owner)}.grad`);
        updates.set(n, value);
        gradActions.push({ kind: 'buf', owner, state: n.index });
      }
    }

    for (const [t, s] of this.touched) restoreAutograd(t, s);
    this.born.clear();
    g.updates = [...updates].map(([target, value]): Update => ({ target, value }));
    for (const u of g.updates) {
      if (!sameShape(u.target.shape, u.value.shape) || u.target.dtype !== u.value.dtype) {
        throw new ShapeError(
          `jit: the update of ${u.target.name ?? `state ${u.target.index}`} (${u.target.dtype}${fmtShape(u.target.shape)}) has a value of ${u.value.dtype}${fmtShape(u.value.shape)}`,
        );
      }
    }
    const outputSame = outTensors.map((t) => outTensors.indexOf(t));
    return { graph: g, outSpecs, unflatten: flat.unflatten, gradActions, guards, checks: this.checks, seeds: this.seeds, outputSame, discard: () => this.discard(), hasDiscards: this.discards.length > 0 };
  }

  /** The arguments and parameters a traced output's gradient reaches through the tape (null: it needs none). */
  private gradReach(t: Tensor): GradReach | null {
    if (!t.requiresGrad) return null;
    const args = new Set<number>(), params = new Set<Tensor>();
    const leaf = (x: Tensor) => {
      const a = this.placeholders.get(x);
      if (a !== undefined) args.add(a);
      else if (!x._sym) params.add(x);
    };
    if (!t.gradFn) leaf(t);
    const seen = new Set<Node>();
    const stack: Node[] = t.gradFn ? [t.gradFn] : [];
    while (stack.length) {
      const n = stack.pop()!;
      if (seen.has(n)) continue;
      seen.add(n);
      for (const e of n.edges) {
        if (!e) continue;
        if ('node' in e) stack.push(e.node);
        else leaf(e.leaf);
      }
    }
    return { args: [...args].sort((a, b) => a - b), params: [...params] };
  }

  /** Puts back `.grad` and autograd fields after a failed trace. */
  abort(): void {
    for (const slot of this.slots.values()) slot.owner._grad = slot.before;
    for (const [t, s] of this.touched) restoreAutograd(t, s);
    this.discard();
  }
}

/**
 * Runs `fn` on symbolic placeholders for `args` (the tensor leaves of its arguments) and returns
 * the traced graph with everything needed to run it in place of `fn`.
 */
export function traceFunction(
  fn: (...a: unknown[]) => unknown,
  argValues: readonly unknown[],
  gradEnabled: boolean,
  names?: readonly (string | undefined)[],
): TraceResult {
  const flat = flatten(argValues, 'args');
  const ctx = new TraceContext(flat.tensors, flat.paths.map((p, i) => names?.[i] ?? p), gradEnabled);
  const symArgs = flat.unflatten(ctx.placeholderTensors) as unknown[];
  const prevTracer = setTracer(ctx);
  const prevHook = Tensor._gradHook, prevCreated = Tensor._createdHook;
  Tensor._gradHook = ctx.onGrad;
  Tensor._createdHook = ctx.onCreated;
  let result: unknown;
  try {
    result = fn(...symArgs);
    if (result instanceof Promise) throw new TypeError('jit: the function must be synchronous (it returned a Promise)');
  } catch (e) {
    Tensor._gradHook = prevHook;
    Tensor._createdHook = prevCreated;
    setTracer(prevTracer);
    ctx.abort();
    ctx.graph.closed = true;
    throw e;
  }
  Tensor._gradHook = prevHook;
  Tensor._createdHook = prevCreated;
  setTracer(prevTracer);
  try {
    return ctx.finish(result);
  } catch (e) {
    ctx.abort();
    throw e;
  } finally {
    ctx.graph.closed = true;
  }
}

/** Fresh seeds for one call, in the trace's order (so jit consumes the random stream as eager does). */
export function drawSeeds(seeds: readonly number[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const s of seeds) m.set(s, nextSeed());
  return m;
}

