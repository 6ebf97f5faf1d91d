/**
 * @file `jit(fn)`: a function with fn's signature that traces `fn` once per input signature
 * (shapes, dtypes, device, static arguments, grad mode), optimizes and compiles the graph, and
 * runs the compiled plan on later calls. A new signature retraces — never a silent reuse — and
 * repeated retracing warns, naming what changed.
 *
 * The first call of a signature runs `fn` eagerly (as tinygrad's TinyJit does), so state a
 * function creates lazily on its first step — optimizer moments, `.grad` — exists as concrete
 * tensors when the second call traces; pass `{eagerFirstCall: false}` to trace at once.
 * JavaScript control flow and JS numbers are fixed at trace time, as in JAX.
 *
 * @example
 * const step = jit((x: Tensor, y: Tensor) => {
 *   opt.zeroGrad();
 *   const loss = F.crossEntropy(model.forward(x), y);
 *   loss.backward();
 *   opt.step();
 *   return loss;
 * });
 * for (const [x, y] of loader) console.log(await step(x, y).item());
 */
import type { Device } from '../backend.ts';
import type { CpuStorage } from '../cpu/backend.ts';
import { restoreSeedStream, seedStreamState, zeros } from '../creation.ts';
import { AutogradError, DeviceError, ValueError, internal } from '../errors.ts';
import { activeTracer, dispatch } from '../ops/dispatch.ts';
import { fmtShape, hasInternalOverlap, sameShape } from '../shape.ts';
import { enableGrad, grad as tapeGrad, isGradEnabled, noGrad, recordOp } from '../tape.ts';
import { zerosLike } from '../creation.ts';
import type { OpDef } from '../ops/registry.ts';
import type { Tensor } from '../tensor.ts';
import { compileGraph, type CompileOptions, type Compiled, type PassRecord } from './compile.ts';
import type { KernelInfo } from './exec/program.ts';
import type { Graph } from './graph.ts';
import { ppGraph } from './pp.ts';
import { checkOptions, optionNames, optionValue, type OptionKeys } from '../options.ts';
import type { SimplifyOptions } from './passes/simplify.ts';
import { drawSeeds, traceFunction, type Binding, type TraceResult } from './trace.ts';
import { describeChange, flatten, type Flat, type LeafSig } from './tree.ts';

export interface JitOptions extends CompileOptions {
  /** name used in messages (default: the function's name) */
  name?: string;
  /** run the first call of each signature eagerly and trace on the second (default true) */
  eagerFirstCall?: boolean;
  /** warn once a function has been traced more than this many times (default 5) */
  warnAfter?: number;
  /** where warnings go (default console.warn) */
  onWarn?: (message: string) => void;
  /** names of the tensor arguments in printed graphs (default: their paths, args[0]…) */
  argNames?: readonly (string | undefined)[];
  /**
   * compiled signatures kept (default 64); past it the least recently used is dropped with its
   * buffers, and traced again if it comes back (each holds its plan and every pass's graph, ~1 MB
   * for an MLP step: a batch size that changed every call grew memory without bound)
   */
  cacheLimit?: number;
}

/** What `lower()` reports about one compiled signature. */
export interface Lowering {
  /** node counts after every pass: trace, fold, simplify, cse, dce…, then kernels (fuse), temporaries (plan) */
  readonly passes: readonly { name: string; nodes: number; ms: number; fired?: readonly string[] }[];
  /** the graph after the named pass (default: the optimized one) */
  graph(pass?: string): Graph;
  /** `ppGraph` of the graph after the named pass */
  text(pass?: string): string;
  readonly kernels: readonly KernelInfo[];
  /** kernels launched per call, update copies included */
  readonly launches: number;
  /** bytes of temporary buffers the compiled plan holds */
  readonly tempBytes: number;
  readonly device: string;
  /**
   * WebGPU: calls that replayed the commands recorded from a planned call (no kernel planning on
   * the host), and why recording was last refused; undefined on the CPU.
   */
  readonly replay: { readonly calls: number; readonly refused: string | null } | undefined;
  /**
   * Times every kernel of this compiled signature from now on (or stops); `profile()` reads the
   * totals: wall time on the CPU, GPU time from timestamp queries on WebGPU (measured once the
   * GPU has run the call: after the next readback or `syncWebGPU()`). WebGPU needs the adapter's
   * timestamp-query feature (a DeviceError otherwise).
   */
  setProfiling(on: boolean): void;
  profile(): { label: string; kind: string; calls: number; ms: number }[];
}

export interface JitStats {
  /** calls so far */
  calls: number;
  /** traces so far (each new signature, or a changed `.grad` the function reads) */
  traces: number;
  /** calls that ran eagerly (first call of a signature) */
  eagerCalls: number;
  /** compiled signatures held */
  entries: number;
  /** the most recent compilation */
  last: Lowering | null;
}

export type Jitted<A extends unknown[], R> = ((...args: A) => R) & {
  /** Traces and compiles for these arguments (if needed) and reports passes, graphs and kernels, without running. */
  lower(...args: A): Lowering;
  /** Compiles for these arguments without running (a trace with `eagerFirstCall` ignored). */
  warmup(...args: A): void;
  readonly stats: JitStats;
  /** Drops every compiled signature and its buffers. */
  dispose(): void;
};

interface Entry {
  readonly key: string;
  readonly sigs: LeafSig[];
  readonly trace: TraceResult;
  readonly compiled: Compiled;
  readonly gradBufs: Map<number, Tensor>;
  readonly lowering: Lowering;
  /** requiresGrad of each tensor the trace read by reference (its tape depends on it) */
  readonly refGrad: Map<Tensor, boolean>;
  /** when it last ran (the least recently used entry goes first past cacheLimit) */
  used: number;
}

function makeLowering(c: Compiled): Lowering {
  const byName = (pass?: string): PassRecord => {
    if (!pass) return c.passes.filter((p) => p.name !== 'fuse' && p.name !== 'plan' && p.name !== 'codegen').at(-1)!;
    const hit = c.passes.filter((p) => p.name === pass).at(-1);
    if (!hit) throw new Error(`jit: no pass named '${pass}' (passes: ${[...new Set(c.passes.map((p) => p.name))].join(', ')})`);
    return hit;
  };
  return {
    passes: c.passes.map((p) => ({ name: p.name, nodes: p.nodes, ms: p.ms, ...(p.fired ? { fired: p.fired } : {}) })),
    graph: (pass) => byName(pass).graph,
    text: (pass) => ppGraph(byName(pass).graph),
    kernels: c.program.kernels,
    launches: c.program.launches,
    tempBytes: c.program.tempBytes,
    device: c.program.device,
    get replay() { return c.program.replay; },
    setProfiling: (on) => c.program.setProfiling(on),
    profile: () => c.program.profile(),
  };
}

const describeTensor = (t: { dtype: string; shape: readonly number[]; device: string }) => `${t.dtype}${fmtShape(t.shape)} on ${t.device}`;

/**
 * Seeds a compiled call's random sources take instead of fresh ones (in trace order): set while
 * a backward recomputes a forward, so it sees the random numbers that forward drew.
 */
let seedOverride: readonly number[] | null = null;

const JIT_OPTIONS: OptionKeys<JitOptions> = {
  name: true, eagerFirstCall: true, warnAfter: true, onWarn: true, argNames: true, cacheLimit: true,
  fold: true, simplify: true, cse: true, dce: true, fuse: true, inPlace: true, executor: true,
};
const SIMPLIFY_OPTIONS: OptionKeys<SimplifyOptions> = { unsafe: true, only: true, onFire: true, late: true };

/** Compiles `fn` (see the file comment). */
export function jit<A extends unknown[], R>(fn: (...args: A) => R, opts: JitOptions = {}): Jitted<A, R> {
  if (typeof fn !== 'function') throw new ValueError(`jit: expected a function to compile, got ${fn === null ? 'null' : typeof fn}`);
  checkOptions('jit', opts, optionNames(JIT_OPTIONS));
  if (typeof opts.simplify === 'object' && opts.simplify !== null) checkOptions('jit: simplify', opts.simplify, optionNames(SIMPLIFY_OPTIONS));
  optionValue('jit', opts, 'executor', ['auto', 'generic'], "'auto'");
  const name = opts.name ?? (fn.name || 'fn');
  const cacheLimit = opts.cacheLimit ?? 64;
  if (!(Number.isInteger(cacheLimit) && cacheLimit >= 1)) throw new ValueError(`jit: cacheLimit must be a positive integer, got ${String(opts.cacheLimit)}`);
  let clock = 0;
  const cache = new Map<string, Entry[]>();
  const seen = new Set<string>();
  const stats: JitStats = { calls: 0, traces: 0, eagerCalls: 0, entries: 0, last: null };
  let lastSigs: LeafSig[] | null = null;
  let nextWarn = opts.warnAfter ?? 5;
  const warn = opts.onWarn ?? ((m: string) => console.warn(m));

  const keyOf = (args: readonly unknown[]) => {
    const flat = flatten(args, 'args');
    // grad mode is the signature's first leaf, so a retrace warning can name it
    const sigs: LeafSig[] = [{ path: 'grad mode', desc: isGradEnabled() ? 'enabled' : 'disabled' }, ...flat.sigs];
    const key = sigs.map((s) => `${s.path}:${s.desc}`).join('|');
    return { flat, key, sigs };
  };

  /** The JavaScript state (guard) the trace branched on that changed since, if any. */
  const changedGuard = (e: Entry): string | null => e.trace.checks.find((c) => !c.holds())?.what ?? null;

  /** Does every state binding (and every `.grad` the trace read) still look as it did? */
  const usable = (e: Entry): boolean => {
    if (changedGuard(e) !== null) return false;
    for (const gd of e.trace.guards) {
      const g = gd.owner._grad;
      if (gd.expect === null ? g !== null : !g || g.dtype !== gd.expect.dtype || g.device !== gd.expect.device || !sameShape(g.shape, gd.expect.shape)) return false;
    }
    for (const s of e.compiled.graph.states) {
      const b = s.binding as Binding;
      if (b.kind !== 'ref') continue;
      const t = b.tensor;
      if (t._disposed || !t._storage || t.dtype !== s.dtype || t.device !== s.device || !sameShape(t.shape, s.shape)) return false;
      // a parameter unfrozen (or frozen) since: the gradients the trace recorded change
      if (e.refGrad.has(t) && e.refGrad.get(t) !== t.requiresGrad) return false;
    }
    return true;
  };

  const compile = (args: readonly unknown[], key: string, sigs: LeafSig[]): Entry => {
    stats.traces++;
    if (lastSigs && stats.traces > nextWarn) {
      const guard = (cache.get(key) ?? []).map(changedGuard).find((w) => w !== null);
      const why = guard ? `${guard} changed` : lastDropped ?? describeChange(lastSigs, sigs);
      warn(`jit(${name}): traced ${stats.traces} times; the last retrace happened because ${why}. ` +
        'Each new signature (shapes, dtypes, devices, non-tensor arguments, grad mode) compiles again; pass values that change per call as tensors.');
      nextWarn *= 2;
    }
    lastSigs = sigs;
    lastDropped = null;
    const trace = traceFunction(fn as (...a: unknown[]) => unknown, args, isGradEnabled(), opts.argNames);
    const device: Device = trace.graph.nodes.find((n) => n.device)?.device ?? 'cpu';
    let compiled: ReturnType<typeof compileGraph>;
    try {
      compiled = compileGraph(trace.graph, device, opts);
    } catch (e) {
      trace.discard();
      throw e;
    }
    const refGrad = new Map<Tensor, boolean>();
    for (const s of trace.graph.states) {
      const b = s.binding as Binding;
      if (b.kind === 'ref') refGrad.set(b.tensor, b.tensor.requiresGrad);
    }
    const entry: Entry = { key, sigs, trace, compiled, gradBufs: new Map(), lowering: makeLowering(compiled), refGrad, used: ++clock };
    let list = cache.get(key);
    if (!list) cache.set(key, (list = []));
    list.push(entry);
    stats.entries++;
    if (stats.entries > cacheLimit) evictOldest(entry);
    stats.last = entry.lowering;
    return entry;
  };

  /**
   * Fewer arguments than `fn` declares (before any default) would trace `undefined` leaves; more
   * than a function without defaults, rest parameters or `arguments` can read would be dropped.
   */
  const most = exactArity(fn);
  const checkArity = (args: readonly unknown[]) => {
    if (args.length >= fn.length && (most === null || args.length <= most)) return;
    const names = opts.argNames ? ` (${opts.argNames.join(', ')})` : '';
    const why = args.length < fn.length ? '' : ': the extra ones would be ignored';
    throw new ValueError(`jit(${name}): called with ${args.length} argument${args.length === 1 ? '' : 's'}, but the function takes ${fn.length}${names}${why}`);
  };

  /**
   * Entries bound to a tensor disposed since can never run again (disposal is for good): they are
   * dropped with their buffers, not kept beside each retrace (a tensor made from values inside the
   * function and released by the caller's scope() left one entry per call).
   */
  let lastDropped: string | null = null;
  const find = (key: string): Entry | undefined => {
    const list = cache.get(key);
    if (!list) return undefined;
    for (let i = list.length - 1; i >= 0; i--) {
      const e = list[i]!;
      const dead = e.compiled.graph.states.find((st) => (st.binding as Binding).kind === 'ref' && ((st.binding as { tensor: Tensor }).tensor._disposed));
      // (a plan for a WebGPU device lost or replaced since cannot run either: initWebGPU() again
      // and new tensors retrace instead of failing for good)
      const stale = !dead && e.compiled.program.stale?.();
      if (!dead && !stale) continue;
      lastDropped = dead ? `a tensor it reads (${dead.name ?? `${dead.dtype}${fmtShape(dead.shape)}`}) was disposed` : 'the WebGPU device it was compiled for is gone';
      drop(e);
    }
    const hit = list.find(usable);
    if (hit) hit.used = ++clock;
    return hit;
  };

  /** Removes an entry from the cache and frees its buffers. */
  const drop = (e: Entry) => {
    const list = cache.get(e.key)!;
    list.splice(list.indexOf(e), 1);
    if (!list.length) cache.delete(e.key);
    e.compiled.program.dispose();
    stats.entries--;
  };

  /** Drops the least recently used entry other than `keep`. */
  const evictOldest = (keep: Entry) => {
    let oldest: Entry | null = null;
    for (const list of cache.values()) for (const e of list) if (e !== keep && (!oldest || e.used < oldest.used)) oldest = e;
    if (oldest) drop(oldest);
  };

  const run = (e: Entry, flat: Flat, fresh: boolean): R => {
    const tensors = flat.tensors;
    const g = e.compiled.graph;
    g.inputs.forEach((n, i) => {
      const t = tensors[i]!;
      if (t._disposed) throw new DeviceError(`jit(${name}): argument ${n.name ?? i} (${describeTensor(t)}) was used after dispose()`);
    });
    const states = g.states.map((s): Tensor => {
      const b = s.binding as Binding;
      switch (b.kind) {
        case 'ref': return b.tensor;
        case 'grad': return b.owner._grad!;
        case 'argGrad': return tensors[b.arg]!._grad!;
        case 'gradBuf': {
          let buf = e.gradBufs.get(s.index);
          if (!buf || buf._disposed) e.gradBufs.set(s.index, (buf = noGrad(() => zeros(s.shape, { dtype: s.dtype, device: s.device }))));
          return buf;
        }
        default: return b satisfies never;
      }
    });
    // a .grad the plan writes in place whose elements overlap (a user assigned an expand()ed
    // tensor): in-place writes refuse it, and eager accumulation replaces it with a new tensor;
    // so here, or the plan's write would land several sums on one element
    for (const u of g.updates) {
      if (u.target.kind !== 'state') continue;
      const b = u.target.binding as Binding;
      if (b.kind !== 'grad' && b.kind !== 'argGrad') continue;
      const cur = states[u.target.index]!;
      if (!hasInternalOverlap(cur.shape, cur.strides)) continue;
      const fresh = noGrad(() => cur.contiguous().clone());
      (b.kind === 'grad' ? b.owner : tensors[b.arg]!).grad = fresh;
      states[u.target.index] = fresh;
    }
    if (g.updates.length) checkAliasing(e, tensors, states);
    // the call that traced already drew its seeds from the stream (as eager would): use those
    const override = seedOverride;
    seedOverride = null;
    const seedMap = override ? new Map(e.trace.seeds.map((s, k) => [s, override[k] ?? s] as const)) : fresh ? new Map<number, number>() : drawSeeds(e.trace.seeds);
    const outs = e.compiled.program.run(tensors, states, seedMap);
    // distinct tensors of the trace that became one value (equal expressions, equal gradients)
    // are distinct tensors of the call too: a write to one must not show in the other
    const owner = new Map<Tensor, number>();
    outs.forEach((t, i) => {
      const id = e.trace.outputSame[i]!;
      const prev = owner.get(t);
      if (prev === undefined) owner.set(t, id);
      else if (prev !== id) outs[i] = noGrad(() => t.clone());
    });
    // one tensor passed as several arguments gets the sum of their gradients, as eagerly
    const given = new Set<Tensor>();
    for (const a of e.trace.gradActions) {
      switch (a.kind) {
        case 'set': a.owner.grad = a.value; break;
        case 'buf': a.owner.grad = states[a.state]!; break;
        case 'argOut': {
          const t = tensors[a.arg]!, g = outs[a.output]!;
          if (given.has(t) && t._grad) noGrad(() => t._grad!.add_(g));
          else t.grad = g;
          given.add(t);
          break;
        }
        default: a satisfies never;
      }
    }
    const specs = e.trace.outSpecs;
    const leaves: (Tensor | null)[] = specs.map((s) => {
      switch (s.kind) {
        case 'node': return outs[s.output]!;
        case 'arg': return tensors[s.arg]!;
        case 'ref': return s.tensor;
        case 'grad': return ('arg' in s.owner ? tensors[s.owner.arg]! : s.owner.ref)._grad;
        case 'view': case 'same': return null;
        default: return s satisfies never;
      }
    });
    // the outputs' tape nodes first, so that the views made of them below link to them
    if (isGradEnabled()) attachGrad(e, flat, leaves as Tensor[], states, e.trace.seeds.map((s) => seedMap.get(s) ?? s));
    // views of arguments (now updated), of captured tensors or of other results (returned or
    // hidden): the view ops replayed, as eager made them
    const resolve = (i: number): Tensor => {
      const s = specs[i]!;
      if (leaves[i]) return leaves[i]!;
      if (s.kind === 'same') return (leaves[i] = resolve(s.of));
      if (s.kind !== 'view') return internal(`jit: result ${i} has no value`);
      const base = 'arg' in s.base ? tensors[s.base.arg]! : 'ref' in s.base ? s.base.ref : resolve(s.base.result);
      return (leaves[i] = s.steps.reduce((v, st) => dispatch(st.op, [v], st.attrs), base));
    };
    specs.forEach((_, i) => resolve(i));
    return e.trace.unflatten(leaves) as R;
  };

  /**
   * Makes the outputs of a pure compiled call differentiable from outside: each output that
   * requires grad gets a tape node to the arguments and parameters its gradient reaches (as the
   * eager tape would), whose backward runs a compiled vector-Jacobian product — the function
   * traced again with `grad` inside; the forward is recomputed there, from the same random
   * numbers this call drew. Functions that write `.grad` are steps, not functions: their outputs
   * are left as they are. Functions that write other state in place (a BatchNorm's running
   * statistics in a compiled forward) cannot be recomputed at backward time without writing it
   * again: their outputs get a node whose backward is an AutogradError, not silently none.
   * NOTE: the recomputation reads the arguments and tensors the function read as they are at
   * backward time: one of them written in place since this call is an AutogradError (eager
   * raises it where an op saved the tensor; here every tensor read counts).
   */
  const attachGrad = (e: Entry, flat: Flat, leaves: readonly Tensor[], states: readonly Tensor[], seeds: readonly number[]) => {
    if (e.trace.gradActions.length) return;
    const writes = e.compiled.graph.updates.map((u) => u.target.name ?? `a ${u.target.dtype}${fmtShape(u.target.shape)} tensor`);
    const tensors = flat.tensors;
    // the arguments as they were at the call (the caller may change its arrays and objects since)
    const args = flat.unflatten(tensors) as unknown[];
    const g = e.compiled.graph;
    const describe = (k: number): string => {
      const b = g.states[k]!.binding as Binding;
      return b.kind === 'grad' || b.kind === 'argGrad' ? `the .grad it reads (${describeTensor(states[k]!)})` : `a tensor it reads (${describeTensor(states[k]!)})`;
    };
    const read = [...tensors.map((t, k) => [t, `argument ${g.inputs[k]?.name ?? k}`] as const), ...states.map((t, k) => [t, describe(k)] as const)];
    const versions = read.map(([t]) => t._version);
    /** a `.grad` the function read must still be the same tensor (its value is read again) */
    const sameGrads = () => g.states.every((s, k) => {
      const b = s.binding as Binding;
      return b.kind === 'grad' ? b.owner._grad === states[k] : b.kind === 'argGrad' ? tensors[b.arg]!._grad === states[k] : true;
    });
    e.trace.outSpecs.forEach((s, i) => {
      if (s.kind !== 'node' || !s.grad) return;
      const out = leaves[i]!;
      if (out.dtype !== 'float32' && out.dtype !== 'float64') return;
      // the leaves this node links, fixed now (as eager's tape fixes its edges at the op)
      const which = {
        args: s.grad.args.filter((a) => tensors[a]!.requiresGrad),
        params: s.grad.params.flatMap((p, k) => (p.requiresGrad ? [k] : [])),
      };
      const inputs = [...which.args.map((a) => tensors[a]!), ...which.params.map((k) => s.grad!.params[k]!)];
      if (!inputs.length) return;
      const op = {
        kind: 'copy', name: `jit(${name})`, infer: () => ({ shape: out.shape, dtype: out.dtype }),
        vjp: (gOut: Tensor) => {
          if (writes.length) {
            throw new AutogradError(
              `backward: jit(${name}) writes state in place (${writes.slice(0, 3).join(', ')}${writes.length > 3 ? ', …' : ''}), so its gradient cannot be ` +
                'recomputed at backward time without writing it again (a BatchNorm in training mode updates its running statistics). ' +
                'Compile the whole training step — forward, loss, backward and the optimizer step — in one jit, or run this function eagerly.',
            );
          }
          read.forEach(([t, what], k) => {
            if (t._version !== versions[k]) {
              throw new AutogradError(
                `backward: ${what} of jit(${name}) was modified by an in-place operation after the call; its gradient recomputes the function ` +
                  'from the values it reads now. Call backward before changing it, or pass a clone.',
              );
            }
          });
          if (!sameGrads()) throw new AutogradError(`backward: a .grad jit(${name}) read was replaced after the call; its gradient recomputes the function from the values it reads now`);
          // the linked leaves require grad while the recomputation runs (one may have been turned off since)
          const off = inputs.filter((t) => !t.requiresGrad);
          const state = seedStreamState();
          seedOverride = seeds;
          for (const t of off) t.requiresGrad = true;
          try {
            return enableGrad(() => vjpOf(e)(args, i, gOut, which));
          } finally {
            for (const t of off) t.requiresGrad = false;
            seedOverride = null;
            restoreSeedStream(state);
          }
        },
      } as unknown as OpDef;
      recordOp(op, inputs, {}, out);
    });
  };
  type Which = { args: number[]; params: number[] };
  const vjps = new WeakMap<Entry, Jitted<[readonly unknown[], number, Tensor, Which], Tensor[]>>();
  const vjpOf = (e: Entry) => {
    let v = vjps.get(e);
    if (!v) {
      v = jit((argv: readonly unknown[], i: number, g: Tensor, which: Which): Tensor[] => {
        const placeholders = flatten(argv, 'args').tensors;
        const outT = flatten(fn(...(argv as A)), 'result', false).tensors;
        const spec = e.trace.outSpecs[i]!;
        const reach = spec.kind === 'node' ? spec.grad : null;
        if (!reach) return internal(`jit: backward through output ${i}, which needs no gradient`);
        // a hidden base: the intermediate that result hiddenOf views, found again in this trace
        const hiddenOf = spec.kind === 'node' ? spec.hiddenOf : undefined;
        const out = hiddenOf === undefined ? outT[i]! : activeTracer()?.viewRoot?.(outT[hiddenOf]!) ?? internal('jit: the base of a returned view was not found again');
        // the same targets, in the same order, as the tape node's inputs
        const targets = [...which.args.map((a) => placeholders[a]!), ...which.params.map((k) => reach.params[k]!)];
        return tapeGrad([out], targets, { gradOutputs: [g], allowUnused: true }).map((gr, j) => gr ?? zerosLike(targets[j]!));
      }, { ...opts, name: `vjp(${name})`, eagerFirstCall: false });
      vjps.set(e, v);
    }
    return v;
  };

  /** Writes in place are planned per tensor: two bindings of one storage, one of them written, would race. */
  const checkAliasing = (e: Entry, tensors: readonly Tensor[], states: readonly Tensor[]) => {
    const g = e.compiled.graph;
    const bound = [...g.inputs.map((n, i) => [n, tensors[i]!] as const), ...g.states.map((n, i) => [n, states[i]!] as const)];
    const written = new Set(g.updates.map((u) => u.target));
    const owner = new Map<unknown, (typeof bound)[number][0]>();
    const what = (x: (typeof bound)[number][0]) => (x.kind === 'input' ? `argument ${x.name ?? x.index}` : `state ${x.name ?? x.index}`);
    const refuse = (a: (typeof bound)[number][0], b: (typeof bound)[number][0]) => {
      const [w, r] = written.has(a) ? [a, b] : [b, a];
      throw new ValueError(`jit(${name}): ${what(w)} is written in place but shares memory with ${what(r)}; pass distinct tensors (clone() one of them)`);
    };
    // CPU storages over one JavaScript buffer (fromTypedArray of one array, or of overlapping
    // subarrays) share memory without sharing a storage: compared by their byte ranges
    type Range = { from: number; to: number; node: (typeof bound)[number][0] };
    const ranges = new Map<ArrayBufferLike, Range[]>();
    for (const [n, t] of bound) {
      // a written tensor whose elements overlap (an expand()ed argument or state): the plan writes
      // a dense value back through its strides, where the last of the elements sharing memory
      // wins (eager refuses a write to all of it, and a write through a row of it lands once)
      if (written.has(n) && hasInternalOverlap(t.shape, t.strides)) {
        throw new ValueError(
          `jit(${name}): ${what(n)} (shape ${fmtShape(t.shape)}, strides ${fmtShape(t.strides)}) is written in place, but elements of it share memory ` +
            '(an expand()ed tensor); a compiled function cannot write it: pass the tensor it was expanded from, or a clone()',
        );
      }
      const m = owner.get(t._storage);
      if (m === undefined) owner.set(t._storage, n);
      else if (written.has(n) || written.has(m)) refuse(m, n);
      if (t.device !== 'cpu' || m !== undefined) continue;
      const data = (t._storage as CpuStorage).data;
      const list = ranges.get(data.buffer) ?? [];
      list.push({ from: data.byteOffset, to: data.byteOffset + data.byteLength, node: n });
      ranges.set(data.buffer, list);
    }
    for (const list of ranges.values()) {
      if (list.length < 2) continue;
      list.sort((a, b) => a.from - b.from);
      // a sweep: the ranges still open where the next one starts (one storage per range here)
      let open: Range[] = [];
      for (const r of list) {
        open = open.filter((o) => o.to > r.from);
        for (const o of open) if (r.from < r.to && o.from < o.to && (written.has(r.node) || written.has(o.node))) refuse(o.node, r.node);
        open.push(r);
      }
    }
  };

  const jitted = ((...args: A): R => {
    if (activeTracer()) return fn(...args); // nested inside another trace: inline
    checkArity(args);
    stats.calls++;
    const { flat, key, sigs } = keyOf(args);
    let e = find(key);
    let fresh = false;
    if (!e) {
      if ((opts.eagerFirstCall ?? true) && !seen.has(key) && !cache.has(key)) {
        seen.add(key);
        stats.eagerCalls++;
        return fn(...args);
      }
      e = compile(args, key, sigs);
      fresh = true;
    }
    return run(e, flat, fresh);
  }) as Jitted<A, R>;

  const lowerFor = (args: A): Lowering => {
    checkArity(args);
    const { key, sigs } = keyOf(args);
    const found = find(key);
    if (found) return found.lowering;
    // tracing draws the seeds of the function's random ops as a call would; lower() and warmup()
    // run nothing, so they leave the stream where it was (manualSeed(s); step(x) then draws what
    // the eager function would)
    const state = seedStreamState();
    try {
      const e = compile(args, key, sigs);
      if (e.trace.hasDiscards) {
        // the trace created JavaScript state (an optimizer's first-step buffers) that only running
        // it fills: undone, and the plan (valid for that one first run) dropped, so the first call
        // runs as if nothing had been compiled
        e.trace.discard();
        drop(e);
      }
      return e.lowering;
    } finally {
      restoreSeedStream(state);
    }
  };
  Object.defineProperty(jitted, 'name', { value: `jit(${name})` });
  jitted.lower = (...args: A) => lowerFor(args);
  jitted.warmup = (...args: A) => void lowerFor(args);
  Object.defineProperty(jitted, 'stats', { get: () => stats });
  jitted.dispose = () => {
    for (const list of cache.values()) for (const e of list) e.compiled.program.dispose();
    cache.clear();
    stats.entries = 0;
  };
  return jitted;
}

/** Compiles `f` for `args` without running it (`f.warmup(...args)`). */
export function warmup<A extends unknown[], R>(f: Jitted<A, R>, ...args: A): void {
  f.warmup(...args);
}

/**
 * How many arguments `fn` can read, when its source says so exactly: its declared parameters,
 * unless it has defaults or a rest parameter, reads `arguments`, or is native (bound); else null.
 */
function exactArity(fn: (...args: never[]) => unknown): number | null {
  const src = Function.prototype.toString.call(fn);
  if (src.includes('[native code]') || /\barguments\b/.test(src)) return null;
  const single = /^\s*(?:async\s*)?[A-Za-z_$][\w$]*\s*=>/.test(src);
  if (single) return 1;
  const open = src.indexOf('(');
  if (open < 0) return null;
  let depth = 0, close = -1;
  for (let i = open; i < src.length && close < 0; i++) {
    if (src[i] === '(') depth++;
    else if (src[i] === ')' && --depth === 0) close = i;
  }
  const params = close < 0 ? null : src.slice(open + 1, close);
  // defaults and rest parameters end fn.length early; comments could hide either
  return params === null || /\.\.\.|=|\/[/*]/.test(params) ? null : fn.length;
}
