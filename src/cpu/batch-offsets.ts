/** @file Where each matrix of a batched matmul operand starts, with broadcast batch dims. */
import { numel } from '../shape.ts';

/**
 * Element offsets (from `start`) of the [M, K] matrices of an operand of `shape`/`strides` (≥ 2-D)
 * for every index of the broadcast `batch` dims (size-1 and missing dims repeat).
 */
export function batchOffsets(shape: readonly number[], strides: readonly number[], start: number, batch: readonly number[]): Int32Array {
  const n = numel(batch);
  const out = new Int32Array(n);
  const lead = batch.length - (shape.length - 2);
  const pos = new Array<number>(batch.length).fill(0);
  for (let k = 0; k < n; k++) {
    let p = start;
    for (let d = 0; d < batch.length; d++) {
      const vd = d - lead;
      if (vd >= 0 && shape[vd] !== 1) p += pos[d]! * strides[vd]!;
    }
    out[k] = p;
    for (let d = batch.length - 1; d >= 0; d--) {
      if (++pos[d]! < batch[d]!) break;
      pos[d] = 0;
    }
  }
  return out;
}
