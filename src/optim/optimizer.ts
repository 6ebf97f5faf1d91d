/**
 * @file Optimizer: the base class of SGD, RMSprop, Adam and AdamW. It holds parameter groups
 * (each with its own options), per-parameter state tensors, and `stateDict`/`loadStateDict`.
 * Updates are in-place tensor ops under noGrad (no host readback), so they run on every device and
 * trace under jit as writes to parameters and state. A group's options are accessor properties:
 * assigning one (`opt.paramGroups[0].lr = 0.01`, or a scheduler's step) refills the 0-d tensors
 * the updates read (see group-scalars.ts), so it takes effect in a jit-compiled step too.
 * @example
 * const opt = new SGD([
 *   { params: model.features.parameters() },
 *   { params: model.head.parameters(), lr: 0.1 },
 * ], { lr: 0.01, momentum: 0.9 });
 * opt.zeroGrad(); loss.backward(); opt.step();
 */
import { isFloat } from '../dtype.ts';
import { ValueError } from '../errors.ts';
import { enableGrad, noGrad } from '../tape.ts';
import { Tensor } from '../tensor.ts';
import { keep } from '../scope.ts';
import { activeTracer } from '../ops/dispatch.ts';
import { fmtShape, sameShape } from '../shape.ts';
import { GroupScalars } from './group-scalars.ts';
import { checkOptions } from '../options.ts';

/** Options every optimizer has. */
export interface BaseOptions {
  lr: number;
}

/** A parameter group as the optimizer keeps it: the parameters and every option filled in. */
export type ParamGroup<O extends BaseOptions> = O & {
  params: Tensor[];
  /** the lr when a scheduler first saw this group */
  initialLr?: number;
};

/** A group as given to the constructor: parameters plus options overriding the defaults. */
export type ParamGroupInput<O extends BaseOptions> = Partial<O> & { params: Iterable<Tensor> };

/** What the constructor takes: parameters (e.g. `model.parameters()`), or groups of them. */
export type ParamsInput<O extends BaseOptions> = Iterable<Tensor> | readonly ParamGroupInput<O>[];

/** One parameter's state, e.g. `{step, expAvg, expAvgSq}` for Adam. */
export type ParamState = Record<string, Tensor>;

/** A snapshot of an optimizer: state by parameter index, and each group's options with the indices of its parameters. */
export interface OptimizerStateDict {
  state: Record<number, ParamState>;
  paramGroups: (Record<string, unknown> & { params: number[] })[];
}

/** Options that reach an update only as tensor mirrors (group-scalars.ts): any value, same trace. */
const VALUE_ONLY: ReadonlySet<string> = new Set(['lr', 'dampening']);
/** Mirrored options whose being zero decides whether the update has their term at all. */
const ZERO_OR_NOT: ReadonlySet<string> = new Set(['weightDecay', 'momentum']);

/**
 * Whether assigning an option changes which terms an update has, so a traced step must trace
 * again: every option read as a JS value (betas, eps, nesterov, amsgrad…), and weight decay or
 * momentum turned on or off; lr, dampening and the values of weight decay and momentum reach the
 * update as tensors.
 */
function changesStructure(key: string, old: unknown, v: unknown): boolean {
  if (VALUE_ONLY.has(key)) return false;
  if (ZERO_OR_NOT.has(key)) return (old !== 0) !== (v !== 0);
  return !Object.is(old, v);
}

/** Each group's tensor mirrors (kept off the group object, so that spreads and stateDict see options only). */
const scalarsOf = new WeakMap<object, GroupScalars<ParamGroup<BaseOptions>>>();

const isGroupList = (x: unknown): x is readonly ParamGroupInput<BaseOptions>[] =>
  Array.isArray(x) && x.length > 0 && x.every((g) => typeof g === 'object' && g !== null && !(g instanceof Tensor) && 'params' in g);

/** Checks a number option: finite and ≥ min (and < max when given). */
export function checkOption(opt: string, name: string, v: unknown, min: number, maxExclusive?: number): void {
  if (typeof v !== 'number' || !(v >= min) || !Number.isFinite(v) || (maxExclusive !== undefined && !(v < maxExclusive))) {
    const range = maxExclusive !== undefined ? `in [${min}, ${maxExclusive})` : `≥ ${min}`;
    throw new ValueError(`${opt}: ${name} must be a number ${range}, got ${String(v)}`);
  }
}

/** Two `Optimizer.layout()`s hold the same objects in the same order. */
function sameLayout(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export abstract class Optimizer<O extends BaseOptions = BaseOptions> {
  /** the options a group gets when it does not set them */
  readonly defaults: O;
  readonly paramGroups: ParamGroup<O>[] = [];
  /** per-parameter state tensors, created on the first step */
  readonly state = new Map<Tensor, ParamState>();
  /**
   * Bumped whenever the update's structure may change (an option turning a term on or off, new
   * state, new groups): a jit-compiled step is reused only while it is unchanged.
   */
  private structureVersion = 0;

  constructor(params: ParamsInput<O>, defaults: O) {
    const given: unknown = params;
    // (a module instead of its parameters is the likely mistake: "group.params is not iterable")
    if (given instanceof Tensor || given === null || typeof given !== 'object' || !(Symbol.iterator in given)) {
      const what = given === null ? 'null' : given instanceof Tensor ? 'a single Tensor' : typeof given === 'object' ? `a ${(given as object).constructor?.name ?? 'object'}` : typeof given;
      throw new ValueError(`${this.constructor.name}: expected the parameters to optimize (model.parameters(), an array of tensors, or parameter groups), got ${what}`);
    }
    this.defaults = { ...defaults };
    this.validate(this.defaults);
    const groups: readonly ParamGroupInput<O>[] = isGroupList(params)
      ? (params as readonly ParamGroupInput<O>[])
      : [{ params: params as Iterable<Tensor> } as ParamGroupInput<O>];
    if (groups.length === 0) throw new ValueError(`${this.constructor.name}: got an empty list of parameter groups`);
    for (const g of groups) this.addParamGroup(g);
  }

  /** Checks a full set of options (throws ValueError naming the optimizer and the option). */
  protected abstract validate(opts: O): void;

  /** Adds a group of parameters with its own options (for fine-tuning, per-layer learning rates…). */
  addParamGroup(group: ParamGroupInput<O>): void {
    const name = this.constructor.name;
    if (typeof group !== 'object' || group === null || !('params' in group)) throw new ValueError(`${name}: a parameter group must be an object with a 'params' list`);
    // a group may carry the lr a scheduler saved (initialLr) when copied from another optimizer's groups
    checkOptions(`${name}: parameter group ${this.paramGroups.length}`, group, ['params', ...Object.keys(this.defaults), 'initialLr']);
    const params = group.params instanceof Tensor ? [group.params] : [...group.params];
    if (params.length === 0) throw new ValueError(`${name}: got an empty parameter list (did the model register its Parameters?)`);
    const seen = new Set(this.paramGroups.flatMap((g) => g.params));
    params.forEach((p, i) => {
      if (!(p instanceof Tensor)) throw new ValueError(`${name}: parameter ${i} is ${p === null ? 'null' : typeof p}, expected a Tensor`);
      if (!isFloat(p.dtype)) throw new ValueError(`${name}: parameter ${i} (shape ${fmtShape(p.shape)}) is ${p.dtype}; only floating-point tensors can be optimized`);
      if (!p.isLeaf) throw new ValueError(`${name}: parameter ${i} (shape ${fmtShape(p.shape)}) is not a leaf tensor (it has a gradFn); optimize the leaves it comes from`);
      if (seen.has(p)) throw new ValueError(`${name}: parameter ${i} (shape ${fmtShape(p.shape)}) appears more than once (in this group or an earlier one)`);
      seen.add(p);
    });
    const { params: _omit, ...opts } = group;
    void _omit;
    const full = { ...this.defaults, ...opts } as O;
    this.validate(full);
    this.paramGroups.push(this.makeGroup(full, params));
    this.structureVersion++;
  }

  /**
   * A group whose options are accessors over a private record: assigning one refreshes the
   * group's tensor mirrors at once. That has to happen on assignment, not in step(): a compiled
   * step does not run step()'s JavaScript, only the graph that reads the mirrors.
   */
  private makeGroup(opts: O, params: Tensor[]): ParamGroup<O> {
    // array options (Adam's betas) are stored frozen: a compiled step reads them as numbers at trace
    // time, so an in-place edit (betas[0] = 0.5) would be silently ignored by it — assign instead
    const frozen = (v: unknown) => (Array.isArray(v) ? Object.freeze([...v]) : v);
    const values: Record<string, unknown> = Object.fromEntries(Object.entries(opts as object).map(([k, v]) => [k, frozen(v)]));
    const scalars = new GroupScalars<ParamGroup<O>>(this.constructor.name);
    const group = {} as ParamGroup<O>;
    for (const key of Object.keys(values)) {
      Object.defineProperty(group, key, {
        enumerable: true,
        configurable: true,
        get: () => values[key],
        set: (v: unknown) => {
          // inside a trace the assignment would run once, at trace time, and never in the compiled calls
          if (activeTracer()) {
            throw new ValueError(`${this.constructor.name}: option '${key}' was assigned inside a jit-traced function; assign options (or call a scheduler's step()) outside the compiled function`);
          }
          const old = values[key];
          values[key] = frozen(v);
          if (changesStructure(key, old, v)) this.structureVersion++;
          try {
            scalars.refresh(group);
          } catch (e) {
            values[key] = old;
            throw e;
          }
        },
      });
    }
    group.params = params;
    scalarsOf.set(group, scalars as unknown as GroupScalars<ParamGroup<BaseOptions>>);
    return group;
  }

  /**
   * A 0-d tensor on `p`'s device and dtype holding the group's option `name` (or, with `derive`,
   * a number computed from the group's options, named `name`), for an update to read in place of
   * a JS number. Under jit it is a state input, so changing the option between compiled calls
   * takes effect without a retrace. A float64 parameter gets a float64 mirror.
   */
  protected scalar(group: ParamGroup<O>, p: Tensor, name: string, derive?: (g: ParamGroup<O>) => number): Tensor {
    const scalars = scalarsOf.get(group) as GroupScalars<ParamGroup<O>> | undefined;
    if (!scalars) throw new ValueError(`${this.constructor.name}: a parameter group was replaced by a plain object; change its options by assignment (group.lr = …) or add groups with addParamGroup()`);
    return scalars.get(group, name, derive ?? ((g) => (g as unknown as Record<string, unknown>)[name] as number), p.device, p.dtype);
  }

  /** Clears the gradients of every parameter: to null (default, as PyTorch), or to zeros in place. */
  zeroGrad(setToNone = true): void {
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        p._clearGrad(setToNone);
      }
    }
  }

  /** The objects a traced step read its groups and state through, in order (compared by identity). */
  private layout(): unknown[] {
    const out: unknown[] = [this.paramGroups.length, this.state.size];
    for (const g of this.paramGroups) {
      out.push(g, g.params.length);
      for (const p of g.params) {
        const st = this.state.get(p);
        out.push(p, st);
        if (st) for (const [k, t] of Object.entries(st)) out.push(k, t);
      }
    }
    return out;
  }

  /**
   * Updates every parameter that has a gradient. With a closure (which should zero the grads,
   * compute the loss, call backward and return the loss), runs it first and returns its loss.
   */
  step(closure?: () => Tensor): Tensor | undefined {
    const loss = closure ? enableGrad(closure) : undefined;
    // traced (jit): the update's terms were chosen by the options' JS values, so a compiled step
    // is reused only while they still choose the same terms
    const tracer = activeTracer();
    if (tracer?.guard) {
      const v = this.structureVersion;
      // also what code may change without the optimizer's methods: a group's params array, the
      // state map's entries (opt.state.clear(), a buffer replaced)
      const layout = this.layout();
      tracer.guard(() => this.structureVersion === v && sameLayout(layout, this.layout()), `${this.constructor.name}'s options, groups or state`);
    }
    noGrad(() => {
      for (const group of this.paramGroups) {
        for (const p of group.params) {
          const grad = p._readGrad();
          if (!grad) continue;
          let st = this.state.get(p);
          const fresh = !st;
          if (!st) this.state.set(p, (st = {}));
          const had = Object.keys(st);
          this.update(p, grad, st, group);
          // new state (a first step's momentum buffer…): the next step has other terms
          if (Object.keys(st).length !== had.length) {
            this.structureVersion++;
            // traced: its first value is an update of the trace; a trace that never runs
            // (warmup, an error) must not leave a zero buffer the next step would take as filled
            const s = st;
            tracer?.onDiscard?.(() => {
              for (const k of Object.keys(s)) if (!had.includes(k)) delete s[k];
              if (fresh && this.state.get(p) === s) this.state.delete(p);
              this.structureVersion++;
            });
          }
          // state lives as long as the optimizer, even when created inside a scope()
          for (const t of Object.values(st)) if (t instanceof Tensor) keep(t);
        }
      }
    });
    return loss;
  }

  /** One parameter's update (called under noGrad). */
  protected abstract update(p: Tensor, grad: Tensor, state: ParamState, group: ParamGroup<O>): void;

  /** The state (by parameter index across groups, as PyTorch) and each group's options. */
  stateDict(): OptimizerStateDict {
    const index = new Map<Tensor, number>();
    const paramGroups = this.paramGroups.map((g) => {
      const { params, ...opts } = g;
      return { ...opts, params: params.map((p) => (index.has(p) ? index.get(p)! : (index.set(p, index.size), index.size - 1))) };
    });
    const state: Record<number, ParamState> = {};
    for (const [p, st] of this.state) {
      const i = index.get(p);
      if (i !== undefined) state[i] = { ...st };
    }
    return { state, paramGroups };
  }

  /**
   * Restores options and state from `stateDict()` output. The groups must have the same sizes;
   * state tensors are copied to each parameter's device (and float ones to its dtype).
   */
  loadStateDict(sd: OptimizerStateDict): void {
    const name = this.constructor.name;
    if (!sd || !Array.isArray(sd.paramGroups) || typeof sd.state !== 'object') throw new ValueError(`${name}.loadStateDict: expected {state, paramGroups}`);
    if (sd.paramGroups.length !== this.paramGroups.length) {
      throw new ValueError(`${name}.loadStateDict: the state dict has ${sd.paramGroups.length} parameter groups, the optimizer has ${this.paramGroups.length}`);
    }
    const byIndex = new Map<number, Tensor>();
    sd.paramGroups.forEach((g, gi) => {
      const mine = this.paramGroups[gi]!;
      if (!Array.isArray(g.params) || g.params.length !== mine.params.length) {
        throw new ValueError(`${name}.loadStateDict: group ${gi} has ${Array.isArray(g.params) ? g.params.length : 'no'} parameters in the state dict, ${mine.params.length} in the optimizer`);
      }
      g.params.forEach((idx, j) => byIndex.set(idx, mine.params[j]!));
    });
    const newState = new Map<Tensor, ParamState>();
    for (const [k, st] of Object.entries(sd.state)) {
      const p = byIndex.get(Number(k));
      if (!p) throw new ValueError(`${name}.loadStateDict: state for parameter index ${k}, which no group lists`);
      const out: ParamState = {};
      for (const [sk, t] of Object.entries(st)) {
        if (!(t instanceof Tensor)) throw new ValueError(`${name}.loadStateDict: state ${JSON.stringify(sk)} of parameter ${k} is not a Tensor`);
        if (t.ndim > 0 && !sameShape(t.shape, p.shape)) {
          throw new ValueError(`${name}.loadStateDict: state ${JSON.stringify(sk)} of parameter ${k} has shape ${fmtShape(t.shape)}, the parameter has ${fmtShape(p.shape)}`);
        }
        out[sk] = noGrad(() => {
          const moved = t.device === p.device ? t : t.to(p.device);
          return (isFloat(moved.dtype) ? moved.to(p.dtype) : moved).clone();
        });
      }
      newState.set(p, out);
    }
    const loaded = sd.paramGroups.map((g, gi) => {
      const { params: _p, ...opts } = g;
      void _p;
      const mine = this.paramGroups[gi]!;
      this.validate({ ...mine, ...opts, params: mine.params } as ParamGroup<O>);
      return opts;
    });
    // assigned into the existing groups (through their setters), never replacing them: a compiled
    // step holds this optimizer's lr tensors by reference, and must see the loaded values
    loaded.forEach((opts, gi) => Object.assign(this.paramGroups[gi]!, opts));
    this.state.clear();
    this.structureVersion++;
    for (const [p, st] of newState) this.state.set(p, st);
  }
}
