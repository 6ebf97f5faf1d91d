/**
 * @file DataLoader: iterates a dataset in batches, optionally shuffled by a seedable generator.
 * A `TensorDataset` serves each batch with one gather per tensor (no per-sample tensors); other
 * datasets are read sample by sample and collated by stacking.
 */
import { tensor } from '../creation.ts';
import { ValueError } from '../errors.ts';
import { Tensor } from '../tensor.ts';
import { noGrad } from '../tape.ts';
import * as F from '../ops/functional.ts';
import type { Dataset } from './dataset.ts';
import { Generator } from './generator.ts';

/** The batch type `defaultCollate` makes from samples of type T: every tensor, number or boolean leaf becomes a Tensor. */
export type Collated<T> = T extends Tensor ? Tensor
  : T extends number | boolean ? Tensor
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
  /** shorthand for `generator: new Generator(seed)`; ignored when `generator` is given */
  seed?: number;
  /** turns a list of samples into a batch (default: `defaultCollate`); unused by TensorDataset's fast path */
  collateFn?: (samples: T[]) => B;
}

/**
 * Collates samples PyTorch-style: tensors are stacked along a new dim 0; numbers become a 1-D
 * tensor (int32 when all are integers, else float32), booleans a bool tensor; arrays and plain
 * objects are collated field by field.
 */
export function defaultCollate<T>(samples: readonly T[]): Collated<T> {
  const first = samples[0];
  if (first instanceof Tensor) return F.stack(samples as readonly Tensor[], 0) as Collated<T>;
  if (typeof first === 'number') {
    const nums = samples as readonly number[];
    return tensor([...nums], { dtype: nums.every(Number.isInteger) ? 'int32' : 'float32' }) as Collated<T>;
  }
  if (typeof first === 'boolean') return tensor([...(samples as readonly boolean[])]) as Collated<T>;
  if (Array.isArray(first)) {
    return first.map((_, k) => defaultCollate(samples.map((s) => (s as unknown[])[k]))) as Collated<T>;
  }
  if (first !== null && typeof first === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(first)) out[key] = defaultCollate(samples.map((s) => (s as Record<string, unknown>)[key]));
    return out as Collated<T>;
  }
  throw new ValueError(`defaultCollate: cannot collate samples of type ${first === null ? 'null' : typeof first}; pass a collateFn`);
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
    const batchSize = opts.batchSize ?? 1;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new ValueError(`DataLoader: batchSize must be a positive integer, got ${batchSize}`);
    }
    if (opts.seed !== undefined && !Number.isSafeInteger(opts.seed)) {
      throw new ValueError(`DataLoader: seed must be a safe integer, got ${opts.seed}`);
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
