/**
 * @file The tutorial's Theano-style front end over the jit: `T.dscalar('x')` and friends make
 * named placeholders; expressions on them (`x.add(y)`, `T.exp(x)`, `T.grad(cost, [w, b])`) are
 * recorded, not run; `fn(inputs, outputs, {updates})` compiles them with `jit` — a trace replays
 * the expression through the ordinary Tensor API, so every op, gradient rule and graph pass is the
 * one eager code and `jit` use — and `shared(value)` is state bound by reference with
 * `getValue()`/`setValue()`. Placeholders have a dtype and a number of dims but no sizes (as in
 * Theano): a compiled function specialises to the sizes it is called with.
 * @example
 * const x = T.dscalar('x'), y = T.dscalar('y');
 * const z = x.add(y);
 * const f = fn([x, y], z);
 * (f(2, 3) as Tensor).itemSync(); // 5
 * z.eval({ x: 16.3, y: 12.1 }); // 28.4
 * pp(z);                       // '(x + y)'
 */
import { tensor } from '../creation.ts';
import { INT32_MAX, INT32_MIN, type DType, type TypedArray } from '../dtype.ts';
import { AutogradError, DeviceError, DTypeError, ShapeError, ValueError } from '../errors.ts';
import * as Fn from '../ops/functional.ts';
import { fmtShape, sameShape } from '../shape.ts';
import { grad as tapeGrad, noGrad } from '../tape.ts';
import { Tensor } from '../tensor.ts';
import type { GNode, Graph } from './graph.ts';
import { jit, type Jitted, type JitOptions, type Lowering } from './jit.ts';
import { optimize } from './compile.ts';
import { infixText, ppNode, ppOutputs } from './pp.ts';
import { isGNode, setTensorName, traceFunction, TraceContext } from './trace.ts';
import { activeTracer, dispatch } from '../ops/dispatch.ts';
import { dce } from './passes/dce.ts';
import { checkOptions, optionNames, optionValue, type OptionKeys } from '../options.ts';

type Kind =
  | { readonly k: 'placeholder'; readonly dtype: DType; readonly ndim: number; readonly shape?: readonly number[] }
  | { readonly k: 'shared'; readonly tensor: Tensor }
  | { readonly k: 'apply'; readonly label: string; readonly fn: (...args: unknown[]) => unknown; readonly args: readonly unknown[] }
  | { readonly k: 'item'; readonly of: Var; readonly index: number };

let nextVarId = 0;

/** Argument types of a Tensor method, with tensors also accepting symbolic variables. */
type LiftArgs<P extends unknown[]> = { [K in keyof P]: P[K] extends Tensor ? Var | Tensor : P[K] extends Fn.TensorLike ? P[K] | Var : P[K] };
type TensorMethods = {
  [K in keyof Tensor as Tensor[K] extends (...a: never[]) => Tensor ? (K extends `_${string}` | `${string}_` | 'detach' | 'clone' | 'contiguous' ? never : K) : never]:
    Tensor[K] extends (...a: infer P) => Tensor ? (...a: LiftArgs<P>) => Var : never;
};

/**
 * A symbolic variable of the Theano-style API: a placeholder, a shared variable, or an
 * expression over them. It has the Tensor methods (each records the call) plus `eval`.
 */
export interface Var extends TensorMethods {}
export class Var {
  readonly id = nextVarId++;
  /** @internal */
  readonly _kind: Kind;
  /** the name printed by pp and used by eval({name: value}) */
  name: string | undefined;

  /** @internal use T.*, shared() or the methods */
  constructor(kind: Kind, name?: string) {
    this._kind = kind;
    this.name = name;
    if (kind.k === 'shared' && name) setTensorName(kind.tensor, name);
  }

  /** The dtype of a placeholder or shared variable. */
  get dtype(): DType | undefined {
    const k = this._kind;
    return k.k === 'placeholder' ? k.dtype : k.k === 'shared' ? k.tensor.dtype : undefined;
  }

  /** Evaluates the expression with placeholders bound by name (or by Var in a Map). */
  eval(bindings: Record<string, unknown> | Map<Var, unknown> = {}): Tensor {
    const holders = placeholdersOf([this]);
    // as Theano's function does, a value for something the expression does not use is an error
    // (a misspelt name would otherwise be dropped)
    const unused = bindings instanceof Map
      ? [...bindings.keys()].filter((k) => !holders.includes(k)).map((k) => (k instanceof Var ? k.name ?? `#${k.id}` : String(k)))
      : Object.keys(bindings).filter((k) => !holders.some((p) => p.name === k));
    if (unused.length) {
      const known = holders.map((p) => `'${p.name ?? `#${p.id}`}'`).join(', ') || 'none';
      throw new ValueError(`eval: ${unused.map((k) => `'${k}'`).join(', ')} ${unused.length === 1 ? 'is not a placeholder' : 'are not placeholders'} of this expression (its placeholders: ${known})`);
    }
    if (!(bindings instanceof Map)) {
      // by name, two placeholders that share a name would both take its value
      const twice = holders.find((p, i) => p.name !== undefined && holders.findIndex((q) => q.name === p.name) !== i);
      if (twice) throw new ValueError(`eval: the expression has several placeholders named '${twice.name}'; bind them by variable with a Map (new Map([[x1, 1], [x2, 2]]))`);
    }
    const values = holders.map((p) => {
      const v = bindings instanceof Map ? bindings.get(p) : p.name !== undefined && Object.hasOwn(bindings, p.name) ? bindings[p.name] : undefined;
      if (v === undefined) {
        throw new ValueError(`eval: placeholder '${p.name ?? `#${p.id}`}' (${describe(p)}) has no value; pass it as eval({${p.name ?? 'name'}: …})`);
      }
      return v;
    });
    let f = evalCache.get(this);
    if (!f || f.inputs.length !== holders.length || f.inputs.some((p, i) => p !== holders[i])) {
      f = fn(holders, this, { name: `eval(${this.name ?? `#${this.id}`})` });
      evalCache.set(this, f);
    }
    return f(...values) as Tensor;
  }

  // ---- shared variables ----
  /** The current value of a shared variable (nested arrays; CPU). */
  getValue(): number | boolean | unknown[] {
    return this.sharedTensor('getValue').toArraySync();
  }
  /** Replaces the value of a shared variable in place (same shape; cast to its dtype). */
  setValue(v: unknown): void {
    const t = this.sharedTensor('setValue');
    const who = `setValue: shared variable '${this.name ?? `#${this.id}`}' (${t.dtype}${fmtShape(t.shape)})`;
    if (v instanceof Tensor && v.dtype !== t.dtype) throw new DTypeError(`${who} got a ${v.dtype} tensor; convert it with .to('${t.dtype}') first`);
    if (!(v instanceof Tensor)) refuseLossy(who, v, t.dtype);
    const src = v instanceof Tensor ? v : tensor(v as number, { dtype: t.dtype, device: t.device });
    if (!sameShape(src.shape, t.shape)) {
      throw new ShapeError(`setValue: shared variable '${this.name ?? `#${this.id}`}' has shape ${fmtShape(t.shape)}; the new value has ${fmtShape(src.shape)} (compiled functions hold it by reference, so its shape is fixed)`);
    }
    noGrad(() => t.copy_(src));
  }
  /** The tensor holding a shared variable's value. */
  get value(): Tensor {
    return this.sharedTensor('value');
  }
  private sharedTensor(op: string): Tensor {
    if (this._kind.k !== 'shared') throw new ValueError(`${op}: only shared variables have a value (this is a ${this._kind.k})`);
    return this._kind.tensor;
  }

  toString(): string {
    return pp(this);
  }
}

const evalCache = new WeakMap<Var, TheanoFunction>();

/** The tensor whose elements `t` views (itself when it is not a view), traced or not. */
function rootOf(t: Tensor): Tensor {
  let r = activeTracer()?.viewRoot?.(t) ?? t;
  while (r._base) r = r._base;
  return r;
}

function describe(p: Var): string {
  const k = p._kind;
  if (k.k !== 'placeholder') return k.k;
  const kind = ['scalar', 'vector', 'matrix', 'tensor3', 'tensor4'][k.ndim] ?? `${k.ndim}-d tensor`;
  return `${k.dtype} ${kind}`;
}

const METHOD_SKIP = new Set(['constructor', 'toString', 'backward', 'dispose', 'toArray', 'toArraySync', 'data', 'dataSync', 'item', 'itemSync', 'toAsync', 'retainGrad', 'requiresGrad_']);
for (const name of Object.getOwnPropertyNames(Tensor.prototype)) {
  const d = Object.getOwnPropertyDescriptor(Tensor.prototype, name);
  if (!d || typeof d.value !== 'function' || METHOD_SKIP.has(name) || name.startsWith('_') || name.endsWith('_')) continue;
  Object.defineProperty(Var.prototype, name, {
    value(this: Var, ...args: unknown[]) {
      return new Var({ k: 'apply', label: name, fn: (self, ...a) => (self as Record<string, (...x: unknown[]) => unknown>)[name]!(...a), args: [this, ...args] });
    },
    writable: true,
    configurable: true,
  });
}

/** Makes a tensor function accept symbolic variables (it then records the call). */
export function lift<P extends unknown[]>(f: (...args: P) => unknown, label = f.name): (...args: LiftArgs<P>) => Var {
  return (...args) => new Var({ k: 'apply', label, fn: f as (...a: unknown[]) => unknown, args });
}

// ---------------------------------------------------------------- evaluation

/** The placeholders an expression depends on, in first-seen order. */
function placeholdersOf(roots: readonly unknown[]): Var[] {
  return leavesOf(roots, 'placeholder');
}

/** Shared variables the expressions read. */
function sharedOf(roots: readonly unknown[]): Var[] {
  return leavesOf(roots, 'shared');
}

/** Every variable of the expressions `roots` (nested arrays allowed), once each, in first-seen order. */
function* varsOf(roots: readonly unknown[]): Generator<Var> {
  const seen = new Set<Var>();
  const stack = [...roots].reverse();
  while (stack.length) {
    const v = stack.pop();
    if (Array.isArray(v)) {
      stack.push(...[...v].reverse());
      continue;
    }
    if (!(v instanceof Var) || seen.has(v)) continue;
    seen.add(v);
    yield v;
    const k = v._kind;
    if (k.k === 'apply') stack.push(...[...k.args].reverse());
    else if (k.k === 'item') stack.push(k.of);
  }
}

function leavesOf(roots: readonly unknown[], kind: 'placeholder' | 'shared'): Var[] {
  return [...varsOf(roots)].filter((v) => v._kind.k === kind);
}

/** Variables that some T.grad differentiates with respect to. */
function gradTargets(roots: readonly unknown[]): Set<Var> {
  const out = new Set<Var>();
  for (const v of varsOf(roots)) {
    const k = v._kind;
    if (k.k === 'apply' && k.label === 'grad') for (const w of k.args.slice(1)) if (w instanceof Var) out.add(w);
  }
  return out;
}

/** Replays expressions with placeholders bound to tensors (runs inside a jit trace). */
function replay(roots: readonly unknown[], env: Map<Var, unknown>, targets?: ReadonlySet<Var>): unknown[] {
  const resolve = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(resolve);
    if (!(v instanceof Var)) return v;
    const hit = env.get(v);
    if (hit !== undefined) return hit;
    // iterative post-order, so long expression chains do not overflow the stack
    const stack: Var[] = [v];
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      if (env.has(top)) {
        stack.pop();
        continue;
      }
      const k = top._kind;
      const deps = (k.k === 'apply' ? k.args : k.k === 'item' ? [k.of] : []).flatMap(function flat(a): Var[] {
        return Array.isArray(a) ? a.flatMap(flat) : a instanceof Var && !env.has(a) ? [a] : [];
      });
      if (deps.length) {
        stack.push(...deps);
        continue;
      }
      stack.pop();
      switch (k.k) {
        case 'placeholder':
          throw new ValueError(`placeholder '${top.name ?? `#${top.id}`}' (${describe(top)}) is not among the function's inputs`);
        case 'shared': env.set(top, k.tensor); break;
        case 'apply': {
          const value = k.fn(...k.args.map(resolve));
          // T.grad with respect to an intermediate expression (Theano allows it): computed from
          // nothing that requires grad, its value becomes a leaf that does
          if (targets?.has(top) && value instanceof Tensor && !value.requiresGrad) value.requiresGrad = true;
          env.set(top, value);
          break;
        }
        case 'item': env.set(top, (env.get(k.of) as unknown[])[k.index]); break;
        default: k satisfies never;
      }
    }
    return env.get(v);
  };
  return roots.map(resolve);
}

/**
 * The argument for placeholder `p` as a tensor (numbers and nested arrays are converted to its
 * dtype; a conversion that would lose a value is an error, as in Theano). `shared` is a shared variable the function reads,
 * if any: a number or array lands on its device, and a tensor elsewhere is a DeviceError naming both.
 */
function toInput(p: Var, v: unknown, i: number, shared?: Var, allowDowncast = false): Tensor {
  const k = p._kind;
  if (k.k !== 'placeholder') throw new ValueError(`fn: input ${i} is not a placeholder`);
  const who = `argument ${i} ('${p.name ?? `#${p.id}`}', ${describe(p)})`;
  const device = shared ? (shared._kind as { tensor: Tensor }).tensor.device : undefined;
  let t: Tensor;
  if (v instanceof Tensor) {
    if (v.dtype !== k.dtype) throw new DTypeError(`${who}: expected ${k.dtype}, got a ${v.dtype} tensor; convert it with .to('${k.dtype}')`);
    if (device && v.device !== device) {
      throw new DeviceError(`${who}: the tensor is on ${v.device} but shared variable '${shared!.name ?? `#${shared!.id}`}' is on ${device}; move it with .to('${device}')`);
    }
    t = v;
  } else {
    // as Theano: a float64 array is not rounded to float32 unless asked (JS numbers, like Python
    // floats, are)
    if (v instanceof Float64Array && k.dtype === 'float32' && !allowDowncast) {
      throw new DTypeError(`${who}: got a Float64Array, which float32 would round; pass a Float32Array (Float32Array.from(v)) or compile with { allowInputDowncast: true }`);
    }
    refuseLossy(who, v, k.dtype);
    try {
      t = tensor(v as number, { dtype: k.dtype, ...(device ? { device } : {}) });
    } catch (e) {
      throw new ValueError(`${who}: cannot convert ${Array.isArray(v) ? 'the array' : typeof v} to a tensor: ${(e as Error).message}`);
    }
  }
  if (t.ndim !== k.ndim) throw new ShapeError(`${who}: expected ${k.ndim} dims, got shape ${fmtShape(t.shape)}`);
  if (k.shape && !sameShape(k.shape, t.shape)) throw new ShapeError(`${who}: expected shape ${fmtShape(k.shape)}, got ${fmtShape(t.shape)}`);
  return t;
}

/** A DTypeError naming `who` when `v` (numbers, nested arrays, a typed array) holds a value `dtype` cannot hold exactly. */
function refuseLossy(who: string, v: unknown, dtype: DType): void {
  if (dtype !== 'int32' && dtype !== 'bool') return;
  const bad = firstLossy(v, dtype);
  if (bad === undefined) return;
  throw new DTypeError(`${who}: ${String(bad)} is not ${dtype === 'int32' ? 'an int32 integer' : 'a boolean (true, false, 0 or 1)'}; convert it explicitly (Math.trunc, Math.round) if that is what you mean`);
}

/** The first number or boolean in nested arrays `v` that `dtype` cannot hold exactly, if any. */
function firstLossy(v: unknown, dtype: 'int32' | 'bool'): unknown {
  if (Array.isArray(v)) {
    for (const x of v) {
      const bad = firstLossy(x, dtype);
      if (bad !== undefined) return bad;
    }
    return undefined;
  }
  // typed arrays too: a float's fraction, or an int32 of 2 as a bool, would be lost as silently
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    for (const x of v as TypedArray) {
      const bad = firstLossy(x, dtype);
      if (bad !== undefined) return bad;
    }
    return undefined;
  }
  if (typeof v === 'boolean') return undefined;
  if (typeof v !== 'number') return undefined; // left to tensor() to reject
  const ok = dtype === 'int32' ? Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX : v === 0 || v === 1;
  return ok ? undefined : v;
}

// ---------------------------------------------------------------- fn

export type Update = readonly [Var, Var | number | Tensor];

export interface FnOptions {
  /** shared variable ← new value, all computed from values before the call */
  updates?: readonly Update[] | Map<Var, Var | number | Tensor>;
  name?: string;
  /**
   * An input the outputs and updates do not use: an error (the default, as Theano's
   * `on_unused_input='raise'`: a misplaced argument would otherwise be dropped), a warning, or ignored.
   */
  onUnusedInput?: 'raise' | 'warn' | 'ignore';
  /** Accept a Float64Array for a float32 input, rounding it (Theano's `allow_input_downcast`); plain JS numbers are always accepted. */
  allowInputDowncast?: boolean;
  /** passed on to jit (passes, executor…) */
  jit?: Omit<JitOptions, 'eagerFirstCall' | 'name'>;
}

const SHARED_OPTIONS: OptionKeys<SharedOptions> = { name: true, dtype: true };
const GRAD_OPTIONS: OptionKeys<GradOptions> = { disconnectedInputs: true };
const FN_OPTIONS: OptionKeys<FnOptions> = { updates: true, name: true, onUnusedInput: true, allowInputDowncast: true, jit: true };

/** A compiled Theano-style function. */
export interface TheanoFunction {
  (...args: unknown[]): Tensor | Tensor[] | undefined;
  readonly inputs: readonly Var[];
  /** The optimized output expressions (and updates) of the last compiled signature. */
  pp(): string;
  /** Passes, graphs and kernels for these arguments. */
  lower(...args: unknown[]): Lowering;
  /** the underlying jit function */
  readonly jitted: Jitted<Tensor[], Tensor[]>;
}

/**
 * Compiles `outputs` as a function of `inputs` (Theano's `function`). Returns one tensor for a
 * single output, an array for a list, undefined for none. Updates are applied after the outputs
 * are computed, from the values before the call.
 */
export function fn(inputs: readonly Var[], outputs?: Var | readonly Var[] | null, opts: FnOptions = {}): TheanoFunction {
  if (!Array.isArray(inputs)) throw new ValueError(`fn: inputs must be a list of placeholders (T.scalar, T.vector, …), got ${inputs === null ? 'null' : typeof inputs}`);
  inputs.forEach((p, i) => {
    if (!(p instanceof Var) || p._kind.k !== 'placeholder') throw new ValueError(`fn: input ${i} must be a placeholder (T.scalar, T.vector, …)`);
    if (inputs.indexOf(p) !== i) throw new ValueError(`fn: placeholder '${p.name ?? `#${p.id}`}' is listed twice among the inputs`);
  });
  const single = outputs instanceof Var;
  const outs: Var[] = outputs == null ? [] : single ? [outputs as Var] : [...(outputs as readonly Var[])];
  const updates: [Var, unknown][] = opts.updates instanceof Map ? [...opts.updates] : [...(opts.updates ?? [])].map(([a, b]) => [a, b]);
  updates.forEach(([s], j) => {
    if (!(s instanceof Var) || s._kind.k !== 'shared') throw new ValueError(`fn: an update target must be a shared variable, got ${s instanceof Var ? `a ${s._kind.k}` : typeof s}`);
    if (updates.findIndex(([t]) => t === s) !== j) throw new ValueError(`fn: shared variable '${s.name ?? `#${s.id}`}' is updated twice (updates ${updates.findIndex(([t]) => t === s)} and ${j}); give it one update`);
  });
  const roots: unknown[] = [...outs, ...updates.map(([, v]) => v)];
  for (const p of placeholdersOf(roots)) {
    if (!inputs.includes(p)) {
      throw new ValueError(`fn: the outputs depend on placeholder '${p.name ?? `#${p.id}`}' (${describe(p)}), which is not among the inputs`);
    }
  }
  checkOptions('fn', opts, optionNames(FN_OPTIONS));
  optionValue('fn', opts, 'onUnusedInput', ['raise', 'warn', 'ignore'], "'raise'");
  const used = placeholdersOf(roots);
  const unused = inputs.filter((p) => !used.includes(p));
  if (unused.length && (opts.onUnusedInput ?? 'raise') !== 'ignore') {
    const what = `fn: ${unused.map((p) => `input ${inputs.indexOf(p)} ('${p.name ?? `#${p.id}`}')`).join(', ')} ${unused.length === 1 ? 'is' : 'are'} not used by the outputs or updates`;
    if (opts.onUnusedInput === 'warn') (opts.jit?.onWarn ?? ((m: string) => console.warn(m)))(`${what}; its value is ignored`);
    else throw new ValueError(`${what}; drop it, or pass { onUnusedInput: 'ignore' } (or 'warn') if that is what you mean`);
  }
  const targets = gradTargets(roots);

  const body = (...xs: Tensor[]): Tensor[] => {
    const env = new Map<Var, unknown>();
    inputs.forEach((p, i) => {
      const x = xs[i]!;
      if (targets.has(p)) x.requiresGrad = true;
      env.set(p, x);
    });
    const sharedTargets = [...targets].filter((v) => v._kind.k === 'shared').map((v) => (v._kind as { tensor: Tensor }).tensor);
    const prev = sharedTargets.map((t) => t.requiresGrad);
    // (the tracer restores what it first saw of a tensor: let it see the flag before it is set)
    for (const t of sharedTargets) activeTracer()?.keepAutograd?.(t);
    for (const t of sharedTargets) t.requiresGrad = true;
    try {
      const vals = replay(roots, env, targets).map((v, i) => {
        if (v instanceof Tensor) return v;
        if (typeof v === 'number' && i >= outs.length) return v;
        throw new ValueError(`fn: output ${i} is not a tensor expression (got ${typeof v})`);
      });
      const results = vals.slice(0, outs.length).map((v) => {
        const t = v as Tensor;
        // outputs are values before the updates: copy shared variables and arguments
        return t.isSymbolic && ![...env.values()].includes(t) ? t : Fn.clone(t);
      });
      noGrad(() => {
        // every update value is taken before any variable is written (Theano's semantics: a swap
        // [[a, b], [b, a]] exchanges them): a value that is a shared variable or a view of one that
        // an update writes is copied first
        const written = new Set(updates.map(([s]) => rootOf((s._kind as { tensor: Tensor }).tensor)));
        const values = updates.map(([s], j) => {
          const dst = (s._kind as { tensor: Tensor }).tensor;
          const v = vals[outs.length + j]!;
          if (!(v instanceof Tensor)) {
            const bad = dst.dtype === 'int32' || dst.dtype === 'bool' ? firstLossy(v, dst.dtype) : undefined;
            if (bad !== undefined) throw new DTypeError(`fn: the update of shared variable '${s.name ?? `#${s.id}`}' (${dst.dtype}${fmtShape(dst.shape)}) is ${String(bad)}, which ${dst.dtype} cannot hold`);
            // a number is a 0-d value: it updates a scalar variable, never fills a larger one
            if (dst.ndim !== 0) {
              throw new ShapeError(
                `fn: the update of shared variable '${s.name ?? `#${s.id}`}' (${dst.dtype}${fmtShape(dst.shape)}) is the number ${String(v)}; an update must keep its ` +
                  "variable's shape (updates are never broadcast): give a tensor of that shape, e.g. T.onesLike(v).mul(x)",
              );
            }
            return Fn.scalar(v as number, dst.dtype, dst.device);
          }
          const what = `fn: the update of shared variable '${s.name ?? `#${s.id}`}' (${dst.dtype}${fmtShape(dst.shape)}) has a value of ${v.dtype}${fmtShape(v.shape)}; ` +
            "an update must keep its variable's shape and dtype";
          if (v.dtype !== dst.dtype) throw new DTypeError(`${what} (cast with .to('${dst.dtype}') if that is what you mean)`);
          if (!sameShape(v.shape, dst.shape)) throw new ShapeError(`${what} (updates are never broadcast)`);
          return written.has(rootOf(v)) ? Fn.clone(v) : v;
        });
        updates.forEach(([s], j) => (s._kind as { tensor: Tensor }).tensor.copy_(values[j]!));
      });
      return results;
    } finally {
      sharedTargets.forEach((t, i) => {
        t.gradFn = null;
        t.requiresGrad = prev[i]!;
      });
    }
  };
  const names = inputs.map((p) => p.name);
  const shareds = sharedOf(roots);
  /** a shared variable the function reads (arguments must be on its device) */
  const anchor = (): Var | undefined => shareds[0];
  const jitted = jit(body, { ...opts.jit, name: opts.name ?? 'fn', eagerFirstCall: false, argNames: names });
  const call = ((...args: unknown[]) => {
    if (args.length !== inputs.length) {
      throw new ValueError(`fn: expected ${inputs.length} argument(s) (${inputs.map((p) => `'${p.name ?? `#${p.id}`}'`).join(', ')}), got ${args.length}`);
    }
    const s = anchor();
    const r = jitted(...args.map((a, i) => toInput(inputs[i]!, a, i, s, opts.allowInputDowncast)));
    return outputs == null ? undefined : single ? r[0] : r;
  }) as TheanoFunction;
  Object.defineProperty(call, 'inputs', { value: inputs });
  Object.defineProperty(call, 'jitted', { value: jitted });
  call.lower = (...args: unknown[]) => jitted.lower(...args.map((a, i) => toInput(inputs[i]!, a, i, anchor(), opts.allowInputDowncast)));
  call.pp = () => {
    const last = jitted.stats.last;
    if (!last) {
      // before a call: the outputs and the updates traced with placeholders of their declared
      // shapes, printed as the compiled function prints them (a shared variable or an argument
      // returned as is by name)
      const g = optimize(provisionalGraph(roots, inputs, true)).graph;
      let next = 0;
      const text = roots.map((r, i) => {
        const out = r instanceof Var || r instanceof Tensor ? g.outputs[next++] : undefined;
        const k = r instanceof Var ? r._kind.k : null;
        const e = r instanceof Var && (k === 'shared' || k === 'placeholder') ? r.name ?? `#${r.id}` : out ? ppNode(out) : String(r);
        return i < outs.length ? e : `${updates[i - outs.length]![0].name ?? `#${updates[i - outs.length]![0].id}`} ← ${e}`;
      });
      return text.join('\n');
    }
    return ppOutputs(last.graph());
  };
  return call;
}

/**
 * The graph of expressions traced with placeholders of their declared shapes (scalars: []).
 * `everyRoot`: every root that is not a number is an output of the graph, in order (a shared
 * variable or an argument as a copy of it), so outputs line up with roots.
 */
function provisionalGraph(roots: readonly unknown[], holders: readonly Var[], everyRoot = false): Graph {
  const args = holders.map((p) => {
    const k = p._kind as { dtype: DType; ndim: number; shape?: readonly number[] };
    const shape = k.shape ?? (k.ndim === 0 ? [] : null);
    if (!shape) throw new ValueError(`pp: placeholder '${p.name ?? `#${p.id}`}' (${describe(p)}) has no sizes; give it a shape (T.vector('${p.name ?? 'x'}', {shape: [n]})) or print a compiled function after a call`);
    return noGrad(() => Fn.zeros(shape, { dtype: k.dtype }));
  });
  const targets = gradTargets(roots);
  const sharedTargets = [...targets].filter((v) => v._kind.k === 'shared').map((v) => (v._kind as { tensor: Tensor }).tensor);
  const prev = sharedTargets.map((t) => t.requiresGrad);
  try {
    const tr = traceFunction(
      (...xs: unknown[]) => {
        const env = new Map<Var, unknown>();
        holders.forEach((p, i) => {
          const x = xs[i] as Tensor;
          if (targets.has(p)) x.requiresGrad = true;
          env.set(p, x);
        });
        for (const t of sharedTargets) t.requiresGrad = true;
        const vals = replay(roots, env, targets);
        if (!everyRoot) return vals;
        const args = [...env.values()];
        return vals.map((v) => (v instanceof Tensor ? (v.isSymbolic && !args.includes(v) ? v : Fn.clone(v)) : null));
      },
      args,
      true,
      holders.map((p) => p.name),
    );
    return tr.graph;
  } finally {
    sharedTargets.forEach((t, i) => {
      t.gradFn = null;
      t.requiresGrad = prev[i]!;
    });
  }
}

// ---------------------------------------------------------------- shared, pp, T

export interface SharedOptions {
  name?: string;
  dtype?: DType;
}

/**
 * A shared variable: state that compiled functions read by reference and update in place.
 * A single integer becomes int32, booleans bool, other numbers and arrays of numbers float32, a
 * typed array or tensor keeps its dtype, unless `dtype` says otherwise (a value it cannot hold
 * exactly — 1.5 as int32 — is an error; a tensor must already have it).
 */
export function shared(value: unknown, opts: SharedOptions = {}): Var {
  checkOptions('shared', opts, optionNames(SHARED_OPTIONS));
  const who = `shared${opts.name ? ` '${opts.name}'` : ''}`;
  let t: Tensor;
  if (value instanceof Tensor) {
    if (opts.dtype && opts.dtype !== value.dtype) throw new DTypeError(`${who}: the value is a ${value.dtype} tensor but dtype '${opts.dtype}' was asked; convert it with .to('${opts.dtype}') first`);
    t = noGrad(() => Fn.clone(value.detach()));
  } else {
    const flatNums = ArrayBuffer.isView(value) ? [] : ([value] as unknown[]).flat(Infinity as 1);
    const ints = flatNums.every((v) => typeof v === 'number' && Number.isInteger(v));
    const bools = flatNums.length > 0 && flatNums.every((v) => typeof v === 'boolean');
    if (!opts.dtype && ints && typeof value === 'number' && firstLossy(value, 'int32') !== undefined) {
      throw new DTypeError(`${who}: the integer ${value} does not fit int32 (tapegrad has no int64); pass { dtype: 'float64' } or 'float32' to store it as a float`);
    }
    // a value the asked dtype cannot hold is refused, as setValue and fn arguments refuse it
    if (opts.dtype) refuseLossy(who, value, opts.dtype);
    const dtype = opts.dtype ?? (ArrayBuffer.isView(value) ? undefined : bools ? 'bool' : ints && typeof value === 'number' ? 'int32' : 'float32');
    t = tensor(value as number, { dtype });
  }
  return new Var({ k: 'shared', tensor: t }, opts.name);
}

/** Pretty-prints an expression like Theano's `pp`: `(x + y)`. Accepts variables, compiled functions, symbolic tensors and graph nodes. */
export function pp(x: Var | TheanoFunction | Tensor | GNode | Graph): string {
  if (x instanceof Var) {
    try {
      const g = provisionalGraph([x], placeholdersOf([x]));
      // (a placeholder itself traces to no op: it prints by name)
      const out = g.outputs[0];
      return out ? ppNode(out) : ppVar(x);
    } catch (e) {
      if (!(e instanceof ValueError)) throw e;
      return ppVar(x);
    }
  }
  if (typeof x === 'function' && typeof (x as Partial<TheanoFunction>).pp === 'function') return (x as TheanoFunction).pp();
  if (x instanceof Tensor) return ppNode(x);
  if (x !== null && typeof x === 'object' && 'nodes' in x) return ppOutputs(x);
  if (isGNode(x)) return ppNode(x);
  throw new ValueError(`pp: expected a symbolic variable, a compiled fn, a symbolic tensor, a graph or a graph node, got ${x === null ? 'null' : typeof x}`);
}

const INFIX: Record<string, string> = { add: '+', sub: '-', mul: '*', div: '/', pow: '**', gt: '>', lt: '<', ge: '>=', le: '<=', eq: '==', ne: '!=', matmul: '@' };

/** The recorded expression, when placeholders have no sizes to trace with. */
function ppVar(v: Var): string {
  const go = (a: unknown): string => {
    if (Array.isArray(a)) return `[${a.map(go).join(', ')}]`;
    if (a instanceof Tensor) return a.numel <= 8 ? `tensor(${JSON.stringify(a.toArraySync())}, ${a.dtype})` : `tensor(${a.dtype}${fmtShape(a.shape)})`;
    if (!(a instanceof Var)) return typeof a === 'number' ? String(a) : JSON.stringify(a) ?? String(a);
    const k = a._kind;
    switch (k.k) {
      case 'placeholder': case 'shared': return a.name ?? `${k.k}#${a.id}`;
      case 'item': return `${go(k.of)}[${k.index}]`;
      case 'apply': {
        const infix = INFIX[k.label];
        if (infix && k.args.length === 2) return infixText(go(k.args[0]), infix, go(k.args[1]));
        if (k.label === 'neg' && k.args.length === 1) return `(-${go(k.args[0])})`;
        return `${k.label}(${k.args.map(go).join(', ')})`;
      }
      default: return k satisfies never;
    }
  };
  return go(v);
}

/**
 * The gradient of the cost's *optimized* graph: while tracing, the cost's subgraph is folded and
 * simplified first (1/(1+e⁻ˣ) → sigmoid, log σ → −softplus, …), replayed through the ordinary ops
 * with the tape on, and differentiated — so the gradient inherits the stable forms, as Theano's
 * optimizer gave the tutorial's cross-entropy finite gradients. Falls back to differentiating the
 * recorded ops when a target is not a placeholder or shared variable.
 */
function stableGrad(cost: Tensor, wrt: readonly Tensor[]): (Tensor | null)[] {
  const plain = () => tapeGrad(cost, wrt, { createGraph: true, allowUnused: true });
  const ctx = activeTracer();
  if (!(ctx instanceof TraceContext) || !cost._sym) return plain();
  const g = ctx.graph;
  const byInput = new Map<number, Tensor>();
  ctx.placeholders.forEach((i, t) => byInput.set(i, t));
  if (wrt.some((w) => w._sym && (w._sym as GNode).kind !== 'input')) return plain();
  const saved = g.outputs;
  let opt: Graph;
  try {
    g.outputs = [cost._sym as GNode];
    opt = optimize(dce(g)).graph;
  } finally {
    g.outputs = saved;
  }
  const env = new Map<GNode, Tensor>();
  for (const n of opt.inputs) env.set(n, byInput.get(n.index)!);
  for (const n of opt.states) {
    const b = n.binding as { kind: string; tensor?: Tensor };
    if (b.kind !== 'ref' || !b.tensor) return plain();
    env.set(n, b.tensor);
  }
  for (const n of opt.nodes) {
    if (n.kind === 'op' && !env.has(n)) env.set(n, dispatch(n.op!, n.inputs.map((i) => env.get(i)!), n.attrs, n.device));
  }
  const c = env.get(opt.outputs[0]!)!;
  if (!c.requiresGrad) return plain();
  return tapeGrad(c, wrt, { createGraph: true, allowUnused: true });
}

/** Options of `T.grad`. */
export interface GradOptions {
  /**
   * A target the cost's expression does not contain: an error (the default, as Theano's
   * `disconnected_inputs='raise'`), a warning, or ignored; the last two give it a zero gradient.
   */
  disconnectedInputs?: 'raise' | 'warn' | 'ignore';
}

/** Whether `target` occurs in the expression `root`. */
function occursIn(target: Var, root: unknown): boolean {
  for (const v of varsOf([root])) if (v === target) return true;
  return false;
}

/**
 * d cost / d wrt (Theano's `T.grad`): one variable for one target, a list for a list. A target the
 * cost does not contain is an error unless `disconnectedInputs` says otherwise; one it reaches only
 * through ops without a gradient (comparisons, argmax, casts to int) gets zeros, as in Theano.
 */
function gradVar(cost: Var, wrt: Var, opts?: GradOptions): Var;
function gradVar(cost: Var, wrt: readonly Var[], opts?: GradOptions): Var[];
function gradVar(cost: Var, wrt: Var | readonly Var[], opts: GradOptions = {}): Var | Var[] {
  checkOptions('T.grad', opts, optionNames(GRAD_OPTIONS));
  const mode = optionValue('T.grad', opts, 'disconnectedInputs', ['raise', 'warn', 'ignore'], "'raise'") ?? 'raise';
  const list = wrt instanceof Var ? [wrt] : [...wrt];
  list.forEach((w, i) => {
    if (!(w instanceof Var)) throw new ValueError(`T.grad: target ${i} must be a symbolic variable (a placeholder, a shared variable or an expression), got ${typeof w}`);
  });
  const cut = list.filter((w) => !occursIn(w, cost));
  if (cut.length && mode !== 'ignore') {
    const what = `T.grad: the cost does not depend on ${cut.map((w) => `'${w.name ?? `#${w.id}`}'`).join(', ')}`;
    if (mode === 'raise') throw new AutogradError(`${what} (Theano's DisconnectedInputError); pass { disconnectedInputs: 'ignore' } (or 'warn') for a zero gradient`);
    console.warn(`${what}; its gradient is zero`);
  }
  const node = new Var({
    k: 'apply', label: 'grad', args: [cost, ...list],
    fn: (c, ...ws) => {
      const targets = ws as Tensor[];
      // a cost computed without anything that has a gradient (its targets reached only through
      // comparisons, say): zeros, as Theano gives
      if (!(c as Tensor).requiresGrad) return targets.map((w) => Fn.zerosLike(w));
      return stableGrad(c as Tensor, targets).map((g, i) => g ?? Fn.zerosLike(targets[i]!));
    },
  });
  const items = list.map((_, i) => new Var({ k: 'item', of: node, index: i }, `d${cost.name ?? 'cost'}/d${list[i]!.name ?? i}`));
  return wrt instanceof Var ? items[0]! : items;
}

const placeholder = (dtype: DType, ndim: number) => (name?: string, opts: { shape?: readonly number[] } = {}): Var => {
  checkOptions(`placeholder '${name}'`, opts, ['shape']);
  if (opts.shape && opts.shape.length !== ndim) throw new ShapeError(`placeholder '${name}': shape ${fmtShape(opts.shape)} does not have ${ndim} dims`);
  return new Var({ k: 'placeholder', dtype, ndim, ...(opts.shape ? { shape: [...opts.shape] } : {}) }, name);
};
const several = (make: (name?: string) => Var) => (...names: string[]): Var[] => names.map((n) => make(n));

const L = <P extends unknown[]>(f: (...a: P) => unknown, label: string) => lift(f, label);

/**
 * Theano's `T` (theano.tensor): placeholders (`scalar`, `vector`, `matrix` in float32; `d…` float64;
 * `i…` int32), the tensor functions on symbolic variables, `grad`, and `nnet`.
 */
export const T = {
  scalar: placeholder('float32', 0), vector: placeholder('float32', 1), matrix: placeholder('float32', 2), tensor3: placeholder('float32', 3), tensor4: placeholder('float32', 4),
  fscalar: placeholder('float32', 0), fvector: placeholder('float32', 1), fmatrix: placeholder('float32', 2), ftensor3: placeholder('float32', 3), ftensor4: placeholder('float32', 4),
  dscalar: placeholder('float64', 0), dvector: placeholder('float64', 1), dmatrix: placeholder('float64', 2), dtensor3: placeholder('float64', 3), dtensor4: placeholder('float64', 4),
  iscalar: placeholder('int32', 0), ivector: placeholder('int32', 1), imatrix: placeholder('int32', 2), itensor3: placeholder('int32', 3), itensor4: placeholder('int32', 4),
  scalars: several(placeholder('float32', 0)), vectors: several(placeholder('float32', 1)), matrices: several(placeholder('float32', 2)),
  fscalars: several(placeholder('float32', 0)), fvectors: several(placeholder('float32', 1)), fmatrices: several(placeholder('float32', 2)),
  dscalars: several(placeholder('float64', 0)), dvectors: several(placeholder('float64', 1)), dmatrices: several(placeholder('float64', 2)),
  iscalars: several(placeholder('int32', 0)), ivectors: several(placeholder('int32', 1)), imatrices: several(placeholder('int32', 2)),
  add: L(Fn.add, 'add'), sub: L(Fn.sub, 'sub'), mul: L(Fn.mul, 'mul'), div: L((a: Fn.TensorLike, b: Fn.TensorLike) => Fn.div(a, b), 'div'), pow: L(Fn.pow, 'pow'),
  neg: L(Fn.neg, 'neg'), abs: L(Fn.abs, 'abs'), exp: L(Fn.exp, 'exp'), log: L(Fn.log, 'log'), log1p: L(Fn.log1p, 'log1p'),
  sqrt: L(Fn.sqrt, 'sqrt'), sqr: L(Fn.square, 'sqr'), tanh: L(Fn.tanh, 'tanh'), sin: L(Fn.sin, 'sin'), cos: L(Fn.cos, 'cos'),
  maximum: L(Fn.maximum, 'maximum'), minimum: L(Fn.minimum, 'minimum'),
  gt: L(Fn.gt, 'gt'), lt: L(Fn.lt, 'lt'), ge: L(Fn.ge, 'ge'), le: L(Fn.le, 'le'), eq: L(Fn.eq, 'eq'), neq: L(Fn.ne, 'ne'),
  switch: L((c: Tensor, a: Fn.TensorLike, b: Fn.TensorLike) => Fn.where(c.dtype === 'bool' ? c : Fn.ne(c, 0), a, b), 'switch'),
  dot: L(Fn.matmul, 'dot'),
  sum: L((x: Tensor, axis?: number | readonly number[] | null, keepdims: boolean = false) => Fn.sum(x, axis, keepdims), 'sum'),
  mean: L((x: Tensor, axis?: number | readonly number[] | null, keepdims: boolean = false) => Fn.mean(Fn.cast(x, x.dtype === 'float64' ? 'float64' : 'float32'), axis, keepdims), 'mean'),
  max: L((x: Tensor, axis?: number | readonly number[] | null, keepdims: boolean = false) => Fn.amax(x, axis, keepdims), 'max'),
  min: L((x: Tensor, axis?: number | readonly number[] | null, keepdims: boolean = false) => Fn.amin(x, axis, keepdims), 'min'),
  argmax: L((x: Tensor, axis?: number | null, keepdims: boolean = false) => Fn.argmax(x, axis, keepdims), 'argmax'),
  cast: L((x: Tensor, dtype: DType) => Fn.cast(x, dtype), 'cast'),
  zerosLike: L((x: Tensor) => Fn.zerosLike(x), 'zeros_like'), onesLike: L((x: Tensor) => Fn.onesLike(x), 'ones_like'),
  grad: gradVar,
  nnet: {
    sigmoid: L(Fn.sigmoid, 'sigmoid'),
    softmax: L((x: Tensor) => Fn.softmax(x, -1), 'softmax'),
    relu: L(Fn.relu, 'relu'),
    binaryCrossentropy: L((p: Tensor, y: Tensor) => Fn.neg(Fn.add(Fn.mul(y, Fn.log(p)), Fn.mul(Fn.rsub(y, 1), Fn.log(Fn.rsub(p, 1))))), 'binary_crossentropy'),
  },
};
