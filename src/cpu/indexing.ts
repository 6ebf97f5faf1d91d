/** @file gather / scatterAdd kernels (PyTorch semantics along one dim), with index range checks. */
import type { TypedArray } from '../dtype.ts';
import { IndexError } from '../errors.ts';
import { fmtShape } from '../shape.ts';
import type { StridedArray } from './elementwise.ts';

function rangeError(op: string, i: number, size: number, dim: number, shape: readonly number[]): never {
  throw new IndexError(`${op}: index ${i} is out of range for dim ${dim} of size ${size} (tensor of shape ${fmtShape(shape)}); indices must be in 0..${size - 1}`);
}

/**
 * Walks every position of `idxShape` (row-major) with running offsets into the index, a data
 * tensor (`dataStrides`, with the gathered dim's stride excluded) and a second strided operand;
 * `body(indexOffset, dataOffset, otherOffset, count, ...)` handles one innermost row at a time.
 */
function walk(idxShape: readonly number[], idx: StridedArray, dataStrides: readonly number[], dataOff: number, other: StridedArray,
  row: (ip: number, dp: number, op: number, n: number, is: number, ds: number, os: number) => void): void {
  const r = idxShape.length;
  const total = idxShape.reduce((a, b) => a * b, 1);
  if (total === 0) return;
  if (r === 0) { row(idx.offset, dataOff, other.offset, 1, 0, 0, 0); return; }
  const last = r - 1, n = idxShape[last]!;
  const pos = new Array<number>(r).fill(0);
  let ip = idx.offset, dp = dataOff, op = other.offset;
  for (let k = 0; k < total; k += n) {
    row(ip, dp, op, n, idx.strides[last]!, dataStrides[last]!, other.strides[last]!);
    for (let d = last - 1; d >= 0; d--) {
      pos[d]!++;
      ip += idx.strides[d]!; dp += dataStrides[d]!; op += other.strides[d]!;
      if (pos[d]! < idxShape[d]!) break;
      ip -= idx.strides[d]! * idxShape[d]!; dp -= dataStrides[d]! * idxShape[d]!; op -= other.strides[d]! * idxShape[d]!;
      pos[d] = 0;
    }
  }
}

/** out[pos] = x[pos with dim ← idx[pos]] over the index's shape. */
export function runGather(x: StridedArray, xShape: readonly number[], idx: StridedArray, idxShape: readonly number[], dim: number, out: TypedArray): void {
  const size = xShape[dim]!, dimStride = x.strides[dim]!;
  const base = x.strides.map((s, d) => (d === dim ? 0 : s));
  const xd = x.data, id = idx.data;
  let o = 0;
  const outView: StridedArray = { data: out, offset: 0, strides: idxShape.map(() => 0) };
  walk(idxShape, idx, base, x.offset, outView, (ip, dp, _op, n, is, ds) => {
    for (let j = 0; j < n; j++, ip += is, dp += ds) {
      const i = id[ip]!;
      if (i < 0 || i >= size) rangeError('gather', i, size, dim, xShape);
      out[o++] = xd[dp + i * dimStride]!;
    }
  });
}

/** out (a contiguous copy of base) gets src[pos] added at pos with dim ← idx[pos]. */
export function runScatterAdd(out: TypedArray, outShape: readonly number[], idx: StridedArray, idxShape: readonly number[], src: StridedArray, dim: number): void {
  const strides: number[] = new Array(outShape.length);
  let acc = 1;
  for (let d = outShape.length - 1; d >= 0; d--) { strides[d] = acc; acc *= outShape[d]!; }
  const size = outShape[dim]!, dimStride = strides[dim]!;
  const base = strides.map((s, d) => (d === dim ? 0 : s));
  const id = idx.data, sd = src.data;
  walk(idxShape, idx, base, 0, src, (ip, dp, sp, n, is, ds, ss) => {
    for (let j = 0; j < n; j++, ip += is, dp += ds, sp += ss) {
      const i = id[ip]!;
      if (i < 0 || i >= size) rangeError('scatterAdd', i, size, dim, outShape);
      const p = dp + i * dimStride;
      out[p] = out[p]! + sd[sp]!;
    }
  });
}
