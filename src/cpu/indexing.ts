/** @file gather / scatterAdd kernels (PyTorch semantics along one dim), with index range checks. */
import type { TypedArray } from '../dtype.ts';
import { IndexError } from '../errors.ts';
import { fmtShape } from '../shape.ts';
import type { StridedArray } from './elementwise.ts';

function* positions(shape: readonly number[]): Generator<number[]> {
  const n = shape.reduce((a, b) => a * b, 1);
  const pos = new Array<number>(shape.length).fill(0);
  for (let k = 0; k < n; k++) {
    yield pos;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++pos[d]! < shape[d]!) break;
      pos[d] = 0;
    }
  }
}

function at(v: StridedArray, pos: readonly number[]): number {
  let p = v.offset;
  for (let d = 0; d < pos.length; d++) p += pos[d]! * v.strides[d]!;
  return p;
}

function checkIndex(op: string, i: number, size: number, dim: number, shape: readonly number[]): void {
  if (i < 0 || i >= size || !Number.isInteger(i)) {
    throw new IndexError(`${op}: index ${i} is out of range for dim ${dim} of size ${size} (tensor of shape ${fmtShape(shape)}); indices must be in 0..${size - 1}`);
  }
}

/** out[pos] = x[pos with dim ← idx[pos]] over the index's shape. */
export function runGather(x: StridedArray, xShape: readonly number[], idx: StridedArray, idxShape: readonly number[], dim: number, out: TypedArray): void {
  let o = 0;
  const xs = x.strides, size = xShape[dim]!;
  for (const pos of positions(idxShape)) {
    const i = idx.data[at(idx, pos)]!;
    checkIndex('gather', i, size, dim, xShape);
    let p = x.offset;
    for (let d = 0; d < pos.length; d++) p += (d === dim ? i : pos[d]!) * xs[d]!;
    out[o++] = x.data[p]!;
  }
}

/** out (a contiguous copy of base) gets src[pos] added at pos with dim ← idx[pos]. */
export function runScatterAdd(out: TypedArray, outShape: readonly number[], idx: StridedArray, idxShape: readonly number[], src: StridedArray, dim: number): void {
  const strides: number[] = new Array(outShape.length);
  let acc = 1;
  for (let d = outShape.length - 1; d >= 0; d--) { strides[d] = acc; acc *= outShape[d]!; }
  const size = outShape[dim]!;
  for (const pos of positions(idxShape)) {
    const i = idx.data[at(idx, pos)]!;
    checkIndex('scatterAdd', i, size, dim, outShape);
    let p = 0;
    for (let d = 0; d < pos.length; d++) p += (d === dim ? i : pos[d]!) * strides[d]!;
    out[p] = out[p]! + src.data[at(src, pos)]!;
  }
}
