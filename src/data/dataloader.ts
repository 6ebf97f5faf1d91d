/**
 * @file DataLoader: iterates a dataset in batches, optionally shuffled by a seedable generator.
 * A `TensorDataset` serves each batch with one gather per tensor (no per-sample tensors); other
 * datasets are read sample by sample and collated by stacking.
 */
import { tensor } from '../creation.ts';
import { DeviceError, DTypeError, ShapeError, ValueError } from '../errors.ts';
import { fmtShape, sameShape } from '../shape.ts';
import { Tensor } from '../tensor.ts';
import { noGrad } from '../tape.ts';
import * as F from '../ops/functional.ts';
import type { Dataset } from './dataset.ts';
import { Generator } from './generator.ts';
import { checkOptions, optionNames } from '../options.ts';
import { INT32_MAX, INT32_MIN } from '../dtype.ts';

const LOADER_OPTIONS = optionNames<DataLoaderOptions<unknown>>({ batchSize: true, shuffle: true, dropLast: true, generator: true, seed: true, collateFn: true });

/** The batch type `defaultCollate` makes from samples of type T: every tensor, number or boolean leaf becomes a Tensor. */
export type Collated<T> = T extends Tensor ? Tensor
  : T extends number | boolean ? Tensor
  : T extends ArrayBufferView ? Tensor
  : T extends readonly unknown[] ? { -readonly [K in keyof T]: Collated<T[K]> }
  : T extends object ? { [K in keyof T]: Collated<T[K]> }
  : never;

export interface DataLoaderOptions<T, B = Collated<T>> {
  /** samples per batch (default 1, as PyTorch) */
  batchSize?: number;
  /** a new random order every epoch (default false) */
  shuffle?: boolean;
  /** skip the last batch when it would be smaller than batchSize (default false) */
  dropLast?: boolean;
  /** draws the shuffle orders; its state advances epoch after epoch */
  generator?: Generator;
  /** shorthand for `generator: new Generator(seed)`; giving both is an error */
  seed?: number;
  /** turns a list of samples into a batch (default: `defaultCollate`); unused by TensorDataset's fast path */
  collateFn?: (samples: T[]) => B;
}

/**
 * Collates samples PyTorch-style: tensors are stacked along a new dim 0; numbers become a 1-D
 * tensor (int32 when all are integers, else float32), booleans a bool tensor; typed arrays become
 * tensors of their dtype and are stacked; arrays and plain objects are collated field by field
 * (other objects — Map, Set, Date, class instances — are refused: pass a collateFn). Samples must agree in structure, and tensors in shape,
 * dtype and device: the error names the first sample and field that differs from sample 0.
 */
export function defaultCollate<T>(samples: readonly T[]): Collated<T> {
  if (!Array.isArray(samples) || samples.length === 0) {
    throw new ValueError(`defaultCollate: expected a non-empty array of samples, got ${Array.isArray(samples) ? 'an empty array' : samples === null ? 'null' : typeof samples}`);
  }
  return collate(samples, '') as Collated<T>;
}


function kindOf(v: unknown): string {
  if (v instanceof Tensor) return 'a Tensor';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** Collates one field (`path`, e.g. `[1].label`; '' for the samples themselves) across the samples. */
function collate(samples: readonly unknown[], path: string): unknown {
  const at = path ? ` field ${path.startsWith('.') ? path.slice(1) : path}` : '';
  const first = samples[0];
  const kind = kindOf(first);
  samples.forEach((s, i) => {
    if (kindOf(s) !== kind) throw new ValueError(`defaultCollate: sample ${i}${at} is ${kindOf(s)}, but sample 0${at} is ${kind}; every sample must have the same structure`);
  });
  if (first instanceof Tensor) {
    const ts = samples as readonly Tensor[];
    ts.forEach((t, i) => {
      const was = `sample ${i}${at} is`, ref = `sample 0${at} is`;
      if (t.dtype !== first.dtype) throw new DTypeError(`defaultCollate: ${was} ${t.dtype}, but ${ref} ${first.dtype}; cast them to one dtype (stacking does not promote)`);
      if (t.device !== first.device) throw new DeviceError(`defaultCollate: ${was} on ${t.device}, but ${ref} on ${first.device}`);
      if (!sameShape(t.shape, first.shape)) throw new ShapeError(`defaultCollate: ${was} of shape ${fmtShape(t.shape)}, but ${ref} of shape ${fmtShape(first.shape)}; stacked tensors must have equal shapes (pass a collateFn to pad them)`);
    });
    return F.stack(ts, 0);
  }
  if (typeof first === 'number') {
    const nums = samples as readonly number[];
    if (!nums.every(Number.isInteger)) return tensor([...nums], { dtype: 'float32' });
    const i = nums.findIndex((v) => v < INT32_MIN || v > INT32_MAX);
    if (i >= 0) throw new ValueError(`defaultCollate: sample ${i}${at} is the integer ${nums[i]}, outside the int32 range [${INT32_MIN}, ${INT32_MAX}] of integer batches; return a float32 tensor from the dataset, or pass a collateFn`);
    return tensor([...nums], { dtype: 'int32' });
  }
  if (typeof first === 'boolean') return tensor([...(samples as readonly boolean[])]);
  // a typed array is a sample's vector (numpy's array in PyTorch's default_collate): one tensor
  // each, of its dtype, stacked (walked as an object, it was split into columns by index)
  if (ArrayBuffer.isView(first)) {
    return collate(samples.map((s, i) => {
      try {
        return tensor(s as Float32Array);
      } catch (e) {
        throw new ValueError(`defaultCollate: sample ${i}${at} (${kindOf(s)}) cannot become a tensor: ${(e as Error).message}`);
      }
    }), path);
  }
  if (Array.isArray(first)) {
    samples.forEach((s, i) => {
      const n = (s as unknown[]).length;
      const els = (k: number) => `${k} element${k === 1 ? '' : 's'}`;
      if (n !== first.length) throw new ValueError(`defaultCollate: sample ${i}${at} has ${els(n)}, but sample 0${at} has ${els(first.length)}; every sample must have the same structure`);
    });
    return first.map((_, k) => collate(samples.map((s) => (s as unknown[])[k]), `${path}[${k}]`));
  }
  // plain objects only: a Map, Set, Date or class instance has no own keys to walk (they collated to {})
  const proto = first !== null && typeof first === 'object' ? Object.getPrototypeOf(first) : undefined;
  if (first !== null && typeof first === 'object' && (proto === Object.prototype || proto === null)) {
    const keys = Object.keys(first);
    samples.forEach((s, i) => {
      const own = Object.keys(s as object);
      const missing = keys.find((k) => !Object.prototype.hasOwnProperty.call(s, k));
      const extra = own.find((k) => !Object.prototype.hasOwnProperty.call(first, k));
      if (missing !== undefined || extra !== undefined) {
        const what = missing !== undefined ? `lacks key '${missing}'` : `has key '${extra}', which sample 0${at} lacks`;
        throw new ValueError(`defaultCollate: sample ${i}${at} ${what} (sample 0${at} has keys ${keys.map((k) => `'${k}'`).join(', ') || 'none'}); every sample must have the same structure`);
      }
    });
    const out: Record<string, unknown> = {};
    for (const key of keys) out[key] = collate(samples.map((s) => (s as Record<string, unknown>)[key]), `${path}.${key}`);
    return out;
  }
  const type = first === null ? 'null' : typeof first === 'object' ? (first as object).constructor?.name ?? 'object' : typeof first;
  throw new ValueError(`defaultCollate: cannot collate samples${at} of type ${type} (tensors, numbers, booleans, typed arrays, arrays and plain objects collate); pass a collateFn`);
}

/**
 * Batches of a dataset, for `for (const [x, y] of loader)`.
 * @example
 * const loader = new DataLoader(new TensorDataset(x, y), { batchSize: 64, shuffle: true, seed: 0 });
 * for (const [xb, yb] of loader) { ... } // loader.length batches per epoch
 */
export class DataLoader<T, B = Collated<T>> implements Iterable<B> {
  readonly dataset: Dataset<T, B>;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  /** the generator that draws shuffle orders; null means a fresh one per epoch from tapegrad's seed stream */
  readonly generator: Generator | null;
  private readonly collateFn: (samples: T[]) => B;

  constructor(dataset: Dataset<T, B>, opts: DataLoaderOptions<T, B> = {}) {
    if (dataset === null || typeof dataset !== 'object' || typeof dataset.get !== 'function' || !Number.isInteger(dataset.length) || dataset.length < 0) {
      throw new ValueError('DataLoader: expected a dataset with a non-negative integer `length` and a `get(index)` method (e.g. a TensorDataset)');
    }
    checkOptions('DataLoader', opts, LOADER_OPTIONS);
    const batchSize = opts.batchSize ?? 1;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new ValueError(`DataLoader: batchSize must be a positive integer, got ${batchSize}`);
    }
    if (opts.seed !== undefined && !Number.isSafeInteger(opts.seed)) {
      throw new ValueError(`DataLoader: seed must be a safe integer, got ${opts.seed}`);
    }
    if (opts.seed !== undefined && opts.generator != null) {
      throw new ValueError(`DataLoader: got both seed (${opts.seed}) and generator; pass one (seed: n is shorthand for generator: new Generator(n))`);
    }
    if (opts.generator != null && !(opts.generator instanceof Generator)) {
      throw new ValueError(`DataLoader: generator must be a Generator, got ${opts.generator === null ? 'null' : typeof opts.generator}`);
    }
    this.dataset = dataset;
    this.batchSize = batchSize;
    this.shuffle = opts.shuffle ?? false;
    this.dropLast = opts.dropLast ?? false;
    this.generator = opts.generator ?? (opts.seed !== undefined ? new Generator(opts.seed) : null);
    this.collateFn = opts.collateFn ?? (defaultCollate as unknown as (samples: T[]) => B);
  }

  /** Number of batches in one epoch. */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The sample order of the next epoch (draws from the generator when shuffling). */
  private order(): Int32Array {
    const n = this.dataset.length;
    if (!this.shuffle) return Int32Array.from({ length: n }, (_, i) => i);
    // NOTE: without a generator or seed, each epoch takes a fresh seed from tapegrad's global
    // stream, as PyTorch draws from its global RNG, so manualSeed() makes shuffling reproducible.
    return (this.generator ?? new Generator()).randperm(n);
  }

  /** The sample indices of each batch of one epoch (draws a shuffle order). */
  batchIndices(): Int32Array[] {
    const order = this.order();
    const out: Int32Array[] = [];
    for (let b = 0; b < this.length; b++) out.push(order.subarray(b * this.batchSize, Math.min((b + 1) * this.batchSize, order.length)));
    return out;
  }

  *[Symbol.iterator](): IterableIterator<B> {
    const ds = this.dataset;
    for (const idx of this.batchIndices()) {
      if (ds.getBatch) yield ds.getBatch(idx);
      else {
        const samples: T[] = [];
        for (const i of idx) samples.push(ds.get(i));
        yield noGrad(() => this.collateFn(samples));
      }
    }
  }
}
