/**
 * @file Module: the base class of layers and models. Parameters and submodules are found by
 * looking at the module's own fields (in definition order), as PyTorch finds them via setattr.
 * @example
 * class Net extends Module {
 *   fc1 = new Linear(784, 128);
 *   fc2 = new Linear(128, 10);
 *   forward(x: Tensor) { return this.fc2.call(this.fc1.call(x).relu()); }
 * }
 * const net = new Net();
 * net.namedParameters().map(([n]) => n); // ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']
 */
import type { Device } from '../backend.ts';
import { isFloat, type DType } from '../dtype.ts';
import { DeviceError, DTypeError, IndexError, ShapeError, TapegradError, ValueError } from '../errors.ts';
import { fmtShape, sameShape } from '../shape.ts';
import { activeTracer } from '../ops/dispatch.ts';
import { noGrad } from '../tape.ts';
import { Tensor } from '../tensor.ts';
import { Parameter } from './parameter.ts';
import { checkOptions } from '../options.ts';

/** Tensors by dotted name, e.g. `{'0.weight': …, '0.bias': …}`. */
export type StateDict = Record<string, Tensor>;
/** Any module, whatever its forward takes and returns. */
export type AnyModule = Module<any[], any>;

/** What `loadStateDict` found besides the keys it loaded. */
export interface LoadStateDictResult {
  /** keys the module has but the dict lacks */
  missingKeys: string[];
  /** keys the dict has but the module lacks */
  unexpectedKeys: string[];
}

/** `loadStateDict` refused a dict: the message lists every missing, unexpected and wrongly shaped key. */
export class StateDictError extends ValueError {
  override name = 'StateDictError';
  constructor(
    message: string,
    readonly missingKeys: readonly string[],
    readonly unexpectedKeys: readonly string[],
    readonly mismatchedKeys: readonly string[],
  ) {
    super(message);
  }
}

const isModule = (v: unknown): v is AnyModule => v instanceof Module;
const quoteList = (keys: readonly string[]) => keys.map((k) => JSON.stringify(k)).join(', ');
const validName = (name: string) => name.length > 0 && !name.includes('.');

/** Indents every line but the first by `n` spaces (PyTorch's `_addindent`). */
function indentTail(s: string, n: number): string {
  const lines = s.split('\n');
  return [lines[0], ...lines.slice(1).map((l) => ' '.repeat(n) + l)].join('\n');
}

/** The fields of each module that have held a Parameter (assigning a plain tensor there is refused). */
const paramFieldsOf = new WeakMap<object, Set<string>>();
function paramFields(m: object): Set<string> {
  let s = paramFieldsOf.get(m);
  if (!s) paramFieldsOf.set(m, (s = new Set()));
  return s;
}

/** Modules whose train() is running (a cycle of fields does not recurse forever). */
const inTrain = new Set<object>();

/**
 * The base class of every layer and model. Subclasses store Parameters, submodules and buffers in
 * fields and implement `forward`; `call(x)` runs it.
 */
export abstract class Module<I extends unknown[] = [Tensor], O = Tensor> {
  #training = true;
  /**
   * true in training mode (Dropout drops, BatchNorm uses batch statistics); see train()/eval().
   * Read while `jit` traces, it guards the compiled function: after `eval()` (or `train()`) a call
   * traces again instead of reusing the other mode's graph.
   */
  get training(): boolean {
    const v = this.#training;
    activeTracer()?.guard?.(() => this.#training === v, `${this.constructor.name}.training (was ${v})`);
    return v;
  }
  set training(mode: boolean) {
    if (typeof mode !== 'boolean') throw new ValueError(`${this.constructor.name}.training: expected true or false, got ${String(mode)}`);
    this.#training = mode;
  }
  /** @internal buffer names → persistent (kept in stateDict) */
  declare private readonly _bufferNames: Map<string, boolean>;
  /**
   * @internal own field names in the order they were added. JavaScript lists integer-like keys
   * ('0', '10') before all others whatever their order, so Object.keys alone would run a
   * Sequential({fc, '1': relu}) or an appended layer out of order; names registered through
   * register* are placed here when registered, other fields in JavaScript's (insertion) order.
   */
  declare private readonly _fieldOrder: string[];

  constructor() {
    // not enumerable, so they do not show up among the fields that registration looks at
    Object.defineProperty(this, '_bufferNames', { value: new Map<string, boolean>(), enumerable: false });
    Object.defineProperty(this, '_fieldOrder', { value: [], enumerable: false });
  }

  /** The computation; subclasses implement it. Call it directly or through `call`. */
  abstract forward(...inputs: I): O;

  /** Runs `forward` (PyTorch's `module(x)`). */
  call(...inputs: I): O {
    return this.forward(...inputs);
  }

  // ---------------------------------------------------------------- registration

  /** Appends to the field order the own fields it lacks (assigned directly), then `name` if given. */
  private noteFields(name?: string): void {
    const order = this._fieldOrder;
    for (const k of Object.keys(this)) if (!order.includes(k)) order.push(k);
    if (name !== undefined && !order.includes(name)) order.push(name);
  }

  private ownEntries(): [string, unknown][] {
    this.noteFields();
    return this._fieldOrder.filter((k) => Object.hasOwn(this, k)).map((k) => [k, (this as Record<string, unknown>)[k]]);
  }

  /**
   * Registers a tensor that is state but not a parameter (BatchNorm's running statistics): stored
   * as field `name`, moved by `to()`, and included in `stateDict()` unless `persistent` is false.
   * A null buffer is registered but skipped until a tensor is assigned.
   */
  registerBuffer(name: string, tensor: Tensor | null, opts: { persistent?: boolean } = {}): void {
    if (!validName(name)) throw new ValueError(`registerBuffer: buffer name ${JSON.stringify(name)} must be non-empty and contain no '.'`);
    if (tensor !== null && !(tensor instanceof Tensor)) throw new ValueError(`registerBuffer: buffer ${JSON.stringify(name)} must be a Tensor or null`);
    if (tensor instanceof Parameter) throw new ValueError(`registerBuffer: ${JSON.stringify(name)} is a Parameter; assign it to a field instead`);
    const existing = (this as Record<string, unknown>)[name];
    if (!this._bufferNames.has(name) && (isModule(existing) || existing instanceof Parameter)) {
      throw new ValueError(`registerBuffer: ${this.constructor.name} already has a ${isModule(existing) ? 'submodule' : 'parameter'} named ${JSON.stringify(name)}`);
    }
    this._bufferNames.set(name, opts.persistent ?? true);
    this.noteFields(name);
    (this as Record<string, unknown>)[name] = tensor;
  }

  /** Stores a parameter as field `name` (the same as assigning the field; for computed names). */
  registerParameter(name: string, param: Parameter | null): void {
    if (!validName(name)) throw new ValueError(`registerParameter: parameter name ${JSON.stringify(name)} must be non-empty and contain no '.'`);
    if (param !== null && !(param instanceof Parameter)) throw new ValueError(`registerParameter: ${JSON.stringify(name)} must be a Parameter (wrap the tensor: new Parameter(t))`);
    this._bufferNames.delete(name);
    this.noteFields(name);
    (this as Record<string, unknown>)[name] = param;
  }

  /** Stores a submodule as field `name` (the same as assigning the field; for computed names). */
  registerModule(name: string, module: AnyModule | null): void {
    if (!validName(name)) throw new ValueError(`registerModule: module name ${JSON.stringify(name)} must be non-empty and contain no '.'`);
    if (module !== null && !isModule(module)) throw new ValueError(`registerModule: ${JSON.stringify(name)} must be a Module`);
    this._bufferNames.delete(name);
    this.noteFields(name);
    (this as Record<string, unknown>)[name] = module;
  }

  /** This module's own parameters (not its children's), in field order. */
  private ownParameters(): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const [k, v] of this.ownEntries()) {
      if (this._bufferNames.has(k)) continue;
      if (v instanceof Parameter) {
        paramFields(this).add(k);
        out.push([k, v]);
      } else if (v instanceof Tensor && paramFields(this).has(k)) {
        // PyTorch refuses this assignment: the parameter would silently leave parameters() (the
        // optimizer) and the state dict
        throw new ValueError(
          `${this.constructor.name}.${k}: a plain tensor (shape ${fmtShape(v.shape)}) was assigned where a Parameter was; assign new Parameter(t) ` +
            `to replace the parameter, or copy the values into it (noGrad(() => module.${k}.copy_(t)))`,
        );
      }
    }
    return out;
  }

  /** This module's own buffers that hold a tensor, with their persistence. */
  private ownBuffers(): [string, Tensor, boolean][] {
    const out: [string, Tensor, boolean][] = [];
    for (const [name, persistent] of this._bufferNames) {
      const t = (this as Record<string, unknown>)[name];
      if (t instanceof Tensor) out.push([name, t, persistent]);
    }
    return out;
  }

  /** The direct submodules with their field names, in field order. */
  namedChildren(): [string, AnyModule][] {
    // a submodule held by two fields (shared layers) is one child, under its first name (PyTorch's named_children)
    const seen = new Set<AnyModule>();
    return this._childEntries().filter(([, m]) => !seen.has(m) && !!seen.add(m));
  }

  /** @internal every field holding a submodule, shared ones under each name (PyTorch's _modules: state dicts, Sequential's layers) */
  _childEntries(): [string, AnyModule][] {
    return this.ownEntries().filter((e): e is [string, AnyModule] => isModule(e[1]) && e[1] !== this);
  }

  /** The direct submodules. */
  children(): AnyModule[] {
    return this.namedChildren().map(([, m]) => m);
  }

  /** This module and every submodule, depth first, each once, with dotted names ('' for this one). */
  namedModules(prefix = ''): [string, AnyModule][] {
    const out: [string, AnyModule][] = [];
    const seen = new Set<AnyModule>();
    const visit = (m: AnyModule, name: string) => {
      if (seen.has(m)) return;
      seen.add(m);
      out.push([name, m]);
      for (const [k, c] of m.namedChildren()) visit(c, name ? `${name}.${k}` : k);
    };
    visit(this, prefix);
    return out;
  }

  /** This module and every submodule. */
  modules(): AnyModule[] {
    return this.namedModules().map(([, m]) => m);
  }

  /**
   * Parameters with dotted names (`'0.weight'`, `'fc1.bias'`), each shared parameter once, in the
   * order PyTorch gives: a module's own parameters, then each child's.
   */
  namedParameters(opts: { prefix?: string; recurse?: boolean } = {}): [string, Parameter][] {
    const prefix = opts.prefix ?? '';
    const mods = opts.recurse === false ? ([[prefix, this]] as [string, AnyModule][]) : this.namedModules(prefix);
    const seen = new Set<Parameter>();
    const out: [string, Parameter][] = [];
    for (const [mname, m] of mods) {
      for (const [k, p] of m.ownParameters()) {
        if (seen.has(p)) continue;
        seen.add(p);
        out.push([mname ? `${mname}.${k}` : k, p]);
      }
    }
    return out;
  }

  /** Every parameter (each shared one once); pass it to an optimizer. */
  parameters(opts: { recurse?: boolean } = {}): Parameter[] {
    return this.namedParameters(opts).map(([, p]) => p);
  }

  /** Buffers with dotted names (BatchNorm's `runningMean`, …). */
  namedBuffers(opts: { prefix?: string; recurse?: boolean } = {}): [string, Tensor][] {
    const prefix = opts.prefix ?? '';
    const mods = opts.recurse === false ? ([[prefix, this]] as [string, AnyModule][]) : this.namedModules(prefix);
    const seen = new Set<Tensor>();
    const out: [string, Tensor][] = [];
    for (const [mname, m] of mods) {
      for (const [k, t] of m.ownBuffers()) {
        if (seen.has(t)) continue;
        seen.add(t);
        out.push([mname ? `${mname}.${k}` : k, t]);
      }
    }
    return out;
  }

  /** Every buffer. */
  buffers(opts: { recurse?: boolean } = {}): Tensor[] {
    return this.namedBuffers(opts).map(([, t]) => t);
  }

  /** Calls `fn` on every submodule (children first) and then on this module. */
  apply(fn: (m: AnyModule) => void): this {
    for (const c of this.children()) c.apply(fn);
    fn(this);
    return this;
  }

  // ---------------------------------------------------------------- modes and gradients

  /** Sets training mode on this module and every submodule. */
  train(mode = true): this {
    // each child's own train() (PyTorch's recursion), so a subclass overriding it — a frozen
    // BatchNorm kept in eval mode — is honoured inside a bigger model
    if (inTrain.has(this)) return this; // a field pointing back up the tree
    inTrain.add(this);
    try {
      this.training = mode;
      for (const c of this.children()) c.train(mode);
    } finally {
      inTrain.delete(this);
    }
    return this;
  }

  /** Sets evaluation mode (Dropout off, BatchNorm on running statistics). */
  eval(): this {
    return this.train(false);
  }

  /** Clears every parameter's gradient: to null (default, as PyTorch), or to zeros in place. */
  zeroGrad(setToNone = true): void {
    for (const p of this.parameters()) {
      p._clearGrad(setToNone);
    }
  }

  // ---------------------------------------------------------------- state dict

  /**
   * Parameters and persistent buffers by dotted name, sharing storage with the module (detached
   * unless `keepVars`). A submodule reachable under two names appears under both, as in PyTorch.
   */
  stateDict(opts: { prefix?: string; keepVars?: boolean } = {}): StateDict {
    const out: StateDict = {};
    const stack = new Set<AnyModule>();
    const visit = (m: AnyModule, prefix: string) => {
      if (stack.has(m)) throw new ValueError(`stateDict: module ${m.constructor.name} at ${JSON.stringify(prefix || '(root)')} contains itself`);
      stack.add(m);
      const put = (k: string, t: Tensor) => {
        Object.defineProperty(out, prefix + k, { value: opts.keepVars ? t : t.detach(), enumerable: true, writable: true, configurable: true });
      };
      for (const [k, p] of m.ownParameters()) put(k, p);
      for (const [k, t, persistent] of m.ownBuffers()) if (persistent) put(k, t);
      for (const [k, c] of m._childEntries()) visit(c, `${prefix}${k}.`);
      stack.delete(m);
    };
    visit(this, opts.prefix ?? '');
    return out;
  }

  /**
   * Copies tensors from `dict` into this module's parameters and buffers (cast to their dtype and
   * moved to their device). With `strict` (default), missing or unexpected keys are an error; a
   * wrong shape always is. Everything is checked before anything is copied.
   * NOTE: values of any dtype are cast to the module's (an int32 dict value into a float
   * parameter too), as PyTorch's load_state_dict copies with copy_.
   */
  loadStateDict(dict: Record<string, Tensor>, opts: { strict?: boolean } = {}): LoadStateDictResult {
    checkOptions('loadStateDict', opts, ['strict']);
    const strict = opts.strict ?? true;
    if (typeof dict !== 'object' || dict === null) throw new ValueError(`loadStateDict: expected an object of tensors, got ${dict === null ? 'null' : typeof dict}`);
    const own = this.stateDict({ keepVars: true });
    const ownKeys = Object.keys(own), keys = Object.keys(dict);
    const missing = ownKeys.filter((k) => !Object.prototype.hasOwnProperty.call(dict, k));
    const unexpected = keys.filter((k) => !Object.prototype.hasOwnProperty.call(own, k));
    const mismatched: string[] = [];
    const problems: string[] = [];
    const plan: [Tensor, Tensor][] = [];
    for (const k of ownKeys) {
      if (!Object.prototype.hasOwnProperty.call(dict, k)) continue;
      const src = dict[k], dst = own[k]!;
      if (!(src instanceof Tensor)) {
        mismatched.push(k);
        problems.push(`value for ${JSON.stringify(k)} is ${src === null ? 'null' : typeof src}, expected a Tensor`);
      } else if (!sameShape(src.shape, dst.shape)) {
        mismatched.push(k);
        problems.push(`size mismatch for ${JSON.stringify(k)}: the dict has shape ${fmtShape(src.shape)}, the module has ${fmtShape(dst.shape)}`);
      } else if (src._disposed) {
        mismatched.push(k);
        problems.push(`value for ${JSON.stringify(k)} was disposed`);
      } else plan.push([dst, src]);
    }
    const lines: string[] = [];
    if (strict && missing.length) lines.push(`Missing key(s): ${quoteList(missing)}.`);
    if (strict && unexpected.length) lines.push(`Unexpected key(s): ${quoteList(unexpected)}.`);
    lines.push(...problems);
    if (lines.length) {
      throw new StateDictError(
        `Error(s) in loading stateDict for ${this.constructor.name}:\n  ${lines.join('\n  ')}`,
        missing, unexpected, mismatched,
      );
    }
    noGrad(() => {
      // move first, so a device error leaves the module untouched
      const moved = plan.map(([dst, src]) => [dst, src.device === dst.device ? src : src.to(dst.device)] as const);
      for (const [dst, src] of moved) dst.copy_(src);
    });
    return { missingKeys: missing, unexpectedKeys: unexpected };
  }

  // ---------------------------------------------------------------- device and dtype

  private convertAll(convert: (t: Tensor) => Tensor): void {
    noGrad(() => {
      for (const m of this.modules()) {
        for (const [, p] of m.ownParameters()) {
          const np = convert(p);
          if (np !== p) p._setData(np);
          if (p.grad) p.grad = convert(p.grad);
        }
        for (const [k, t] of m.ownBuffers()) (m as unknown as Record<string, unknown>)[k] = convert(t);
      }
    });
  }

  /**
   * Moves every parameter and buffer to a device, or casts the floating-point ones to a dtype, in
   * place: Parameter objects stay the same (optimizers built earlier keep working); buffers are
   * replaced. Moving off a device without synchronous readback (webgpu) needs `toAsync`.
   */
  to(target: Device | DType): this {
    const name = `${this.constructor.name}.to`;
    switch (target) {
      case 'cpu': case 'webgpu': this.convertAll((t) => t.to(target)); break;
      case 'float32': case 'float64': this.convertAll((t) => (isFloat(t.dtype) ? t.to(target) : t)); break;
      // as PyTorch's Module.to: casting every float parameter to an integer type would lose them
      case 'int32': case 'bool': throw new DTypeError(`${name}: only floating dtypes ('float32', 'float64') can be a module's dtype, got '${target}'; cast single tensors with tensor.to('${target}')`);
      default: {
        const t: unknown = target satisfies never;
        const what = typeof t === 'string' ? `'${t}'` : t === null ? 'null' : typeof t;
        const Err = typeof t === 'string' && /^(float|int|uint|bool|bfloat|half|double|complex)/i.test(t) ? DTypeError : DeviceError;
        throw new Err(`${name}: unknown target ${what}; expected a device ('cpu', 'webgpu') or a floating dtype ('float32', 'float64')`);
      }
    }
    return this;
  }

  /** `to(device)` that awaits readback, for moving off webgpu. */
  async toAsync(device: Device): Promise<this> {
    const tensors: Tensor[] = [];
    for (const m of this.modules()) {
      for (const [, p] of m.ownParameters()) tensors.push(p, ...(p.grad ? [p.grad] : []));
      for (const [, t] of m.ownBuffers()) tensors.push(t);
    }
    const moved = new Map<Tensor, Tensor>();
    for (const t of tensors) if (!moved.has(t)) moved.set(t, await t.toAsync(device));
    this.convertAll((t) => moved.get(t) ?? t);
    return this;
  }

  /** Casts floating-point parameters and buffers to float32. */
  float(): this { return this.to('float32'); }
  /** Casts floating-point parameters and buffers to float64. */
  double(): this { return this.to('float64'); }

  // ---------------------------------------------------------------- printing and errors

  /** The arguments shown between the parentheses of this module's printout. */
  extraRepr(): string {
    return '';
  }

  /** The one-line description used in error messages, e.g. `Conv2d(1, 6, kernelSize=[5, 5], stride=[1, 1])`. */
  protected label(): string {
    return `${this.constructor.name}(${this.extraRepr()})`;
  }

  /** Throws a ShapeError that names this layer. */
  protected shapeError(msg: string): never {
    throw new ShapeError(`${this.label()}: ${msg}`);
  }

  /** Runs `fn`, prefixing this layer's label to shape, index and dtype errors from the functional ops. */
  protected guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof ShapeError || e instanceof IndexError || e instanceof DTypeError) {
        const Ctor = e.constructor as new (m: string, o?: { cause?: unknown }) => TapegradError;
        throw new Ctor(`${this.label()}: ${e.message}`, { cause: e });
      }
      throw e;
    }
  }

  /** The module tree, as PyTorch prints it. */
  toString(): string {
    const extra = this.extraRepr();
    const extraLines = extra ? extra.split('\n') : [];
    const childLines = this._childEntries().map(([k, m]) => `(${k}): ${indentTail(m.toString(), 2)}`);
    const lines = [...extraLines, ...childLines];
    let s = `${this.constructor.name}(`;
    if (lines.length === 1 && extraLines.length === 1) s += extraLines[0];
    else if (lines.length) s += `\n  ${lines.join('\n  ')}\n`;
    return s + ')';
  }
}
