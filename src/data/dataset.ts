/**
 * @file Datasets: the `Dataset` protocol `DataLoader` reads, and `TensorDataset`, which wraps
 * tensors that share their first dimension and serves whole batches with one gather per tensor.
 */
import type { Device } from '../backend.ts';
import { fromTypedArray } from '../creation.ts';
import { DeviceError, IndexError, ShapeError, ValueError } from '../errors.ts';
import { fmtShape } from '../shape.ts';
import { Tensor } from '../tensor.ts';
import { noGrad } from '../tape.ts';
import * as F from '../ops/functional.ts';

/**
 * What `DataLoader` reads: a length and random access by index (PyTorch's map-style dataset).
 * `getBatch` is an optional fast path that returns a whole batch at once, already collated.
 */
export interface Dataset<T, B = T> {
  readonly length: number;
  get(index: number): T;
  getBatch?(indices: Int32Array): B;
}

/** True when `indices` is start, start+1, start+2, … (a slice of the dataset). */
function isRange(indices: Int32Array): boolean {
  const s = indices[0] ?? 0;
  for (let i = 1; i < indices.length; i++) if (indices[i] !== s + i) return false;
  return true;
}

/**
 * Tensors that share their first dimension, seen as a dataset of samples:
 * sample `i` is `[t0[i], t1[i], …]`.
 * @example
 * const ds = new TensorDataset(images, labels); // [N, 1, 28, 28] and [N]
 * const [x, y] = ds.get(0);                      // [1, 28, 28] and []
 */
export class TensorDataset<T extends Tensor[] = Tensor[]> implements Dataset<T> {
  readonly tensors: T;
  readonly length: number;

  constructor(...tensors: T) {
    if (tensors.length === 0) throw new ValueError('TensorDataset: needs at least one tensor');
    tensors.forEach((t, i) => {
      if (!(t instanceof Tensor)) {
        throw new ValueError(`TensorDataset: argument ${i} is ${t === null ? 'null' : typeof t}, expected a Tensor`);
      }
      if (t.ndim === 0) {
        throw new ShapeError(`TensorDataset: tensor ${i} is 0-d (a scalar); every tensor needs a first dimension that indexes samples`);
      }
    });
    const n = tensors[0]!.shape[0]!;
    if (tensors.some((t) => t.shape[0] !== n)) {
      const shapes = tensors.map((t, i) => `tensor ${i}: ${fmtShape(t.shape)}`).join(', ');
      throw new ShapeError(`TensorDataset: all tensors must have the same size in dim 0 (the sample dim); got ${shapes}`);
    }
    // (a batch of x on one device and y on another would fail only at the first op that mixes them)
    const other = tensors.findIndex((t) => t.device !== tensors[0]!.device);
    if (other >= 0) throw new DeviceError(`TensorDataset: tensor ${other} is on ${tensors[other]!.device} but tensor 0 is on ${tensors[0]!.device}; move them to one device`);
    this.tensors = tensors;
    this.length = n;
  }

  private checkIndex(op: string, i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) {
      throw new IndexError(`TensorDataset.${op}: index ${i} is out of range for a dataset of ${this.length} samples (${this.length ? `expected an integer in 0..${this.length - 1}` : 'the dataset is empty'})`);
    }
  }

  /** Sample `index`: each tensor's row at that index (views, sharing storage). */
  get(index: number): T {
    this.checkIndex('get', index);
    return this.tensors.map((t) => F.index(t, index)) as T;
  }

  /**
   * The samples at `indices`, stacked: one gather (`indexSelect`) per tensor, or a copy of a
   * slice when the indices are consecutive. The result never shares storage with the dataset,
   * so writing to or disposing of a batch leaves the dataset intact.
   */
  getBatch(indices: Int32Array): T {
    if (indices.length === 0) {
      return this.tensors.map((t) => F.narrow(t, 0, 0, 0)) as T;
    }
    for (const i of [indices[0]!, indices[indices.length - 1]!]) this.checkIndex('getBatch', i);
    const range = isRange(indices);
    return noGrad(() => {
      const idx = new Map<Device, Tensor>();
      const batch = this.tensors.map((t) => {
        if (range) return F.clone(F.narrow(t, 0, indices[0]!, indices.length));
        let it = idx.get(t.device);
        if (!it) {
          it = fromTypedArray(indices, [indices.length], 'int32', t.device);
          idx.set(t.device, it);
        }
        return F.indexSelect(t, 0, it);
      }) as T;
      for (const it of idx.values()) it.dispose(); // free now rather than at the next garbage collection
      return batch;
    });
  }
}
