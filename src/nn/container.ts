/**
 * @file Containers: Sequential (layers applied in order) and ModuleList (an indexable list of
 * submodules with no forward of its own).
 * @example
 * const model = new Sequential(new Linear(784, 128), new ReLU(), new Linear(128, 10));
 * model[0]; // the first Linear; parameters are named '0.weight', '0.bias', '2.weight', …
 */
import { ValueError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { Module, type AnyModule } from './module.ts';

/** A module that maps one tensor to one tensor, as Sequential chains them. */
export type TensorModule = Module<[Tensor], Tensor>;

function checkIndex(op: string, i: number, n: number): number {
  if (!Number.isInteger(i) || i < -n || i >= n) throw new ValueError(`${op}: index ${i} is out of range for ${n} modules`);
  return i < 0 ? i + n : i;
}

function checkModule(op: string, m: unknown, where: string): void {
  if (!(m instanceof Module)) throw new ValueError(`${op}: ${where} is ${m === null ? 'null' : typeof m}, expected a Module`);
}

/**
 * The name an appended module gets: the number of modules so far, as PyTorch's
 * `str(len(self._modules))` (Sequential({fc}).append(relu) names it '1'), or one past the largest
 * integer name if that is larger — names whose module was removed (set to null) count — so no layer
 * is replaced.
 */
function nextIndex(m: Module<never[], unknown>): string {
  let next = m._childEntries().length;
  for (const k of Object.keys(m)) if (/^\d+$/.test(k)) next = Math.max(next, Number(k) + 1);
  return String(next);
}

/**
 * Applies its layers in order. Built from layers (named '0', '1', …) or from named layers: a Map
 * (PyTorch's OrderedDict) or a plain object — whose integer-like keys JavaScript lists first, in
 * numeric order, whatever order they were written in (use a Map to mix such names with others in
 * any order); `seq[i]` and `seq.at(i)` index it, `append`/`add` extend it.
 */
export class Sequential extends Module<[Tensor], Tensor> {
  [index: number]: TensorModule;

  constructor(...layers: TensorModule[] | [Record<string, TensorModule> | Map<string, TensorModule>]) {
    super();
    const first = layers[0];
    if (layers.length === 1 && first !== undefined && first !== null && !(first instanceof Module) && typeof first === 'object') {
      for (const [k, m] of first instanceof Map ? first : Object.entries(first)) {
        if (typeof k !== 'string') throw new ValueError(`Sequential: a layer's name must be a string, got ${typeof k}`);
        checkModule('Sequential', m, `layer ${JSON.stringify(k)}`);
        this.registerModule(k, m);
      }
    } else {
      (layers as unknown[]).forEach((m, i) => {
        checkModule('Sequential', m, `argument ${i}`);
        this.registerModule(String(i), m as TensorModule);
      });
    }
  }

  /** The layers in order. */
  layers(): TensorModule[] {
    return this._childEntries().map(([, m]) => m) as TensorModule[];
  }

  /** Number of layers. */
  get length(): number {
    return this._childEntries().length;
  }

  /** The layer at position `i` (negative counts from the end). */
  at(i: number): TensorModule {
    const ls = this.layers();
    return ls[checkIndex('Sequential.at', i, ls.length)]!;
  }

  /** Appends a layer, named by its position. */
  append(layer: TensorModule): this {
    checkModule('Sequential.append', layer, 'the layer');
    this.registerModule(nextIndex(this), layer);
    return this;
  }

  /** Same as `append` (Keras's name). */
  add(layer: TensorModule): this {
    return this.append(layer);
  }

  /** A new Sequential of layers [start, end), sharing the layer objects. */
  slice(start?: number, end?: number): Sequential {
    // NOTE: renumbered from 0, so that slice[i] indexes it; PyTorch's seq[a:b] keeps the names
    // (its state-dict keys then differ from this one's)
    return new Sequential(...this.layers().slice(start, end));
  }

  [Symbol.iterator](): Iterator<TensorModule> {
    return this.layers()[Symbol.iterator]();
  }

  forward(x: Tensor): Tensor {
    for (const layer of this.layers()) x = layer.call(x);
    return x;
  }
}

/** A list of submodules, registered under '0', '1', …; it has no forward of its own. */
export class ModuleList<M extends AnyModule = AnyModule> extends Module<never[], never> {
  [index: number]: M;

  constructor(modules: Iterable<M> = []) {
    super();
    const given: unknown = modules;
    if (given === null || typeof given !== 'object' || !(Symbol.iterator in given)) throw new ValueError(`ModuleList: expected a list of modules, got ${given === null ? 'null' : typeof given}`);
    for (const m of modules) this.append(m);
  }

  get length(): number {
    return this._childEntries().length;
  }

  /** The module at position `i` (negative counts from the end). */
  at(i: number): M {
    const ms = this._childEntries().map(([, m]) => m) as M[];
    return ms[checkIndex('ModuleList.at', i, ms.length)]!;
  }

  append(module: M): this {
    checkModule('ModuleList.append', module, 'the module');
    this.registerModule(nextIndex(this), module);
    return this;
  }

  [Symbol.iterator](): Iterator<M> {
    return (this._childEntries().map(([, m]) => m) as M[])[Symbol.iterator]();
  }

  forward(): never {
    throw new ValueError('ModuleList has no forward; iterate over it and call its modules');
  }
}
