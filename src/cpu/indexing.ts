/** @file gather / scatterAdd kernels (PyTorch semantics along one dim), with index range checks. */
import type { TypedArray } from '../dtype.ts';
import { indexRangeError } from '../errors.ts';
import { aroundDim, contiguousStrides, fmtShape, hasContiguousStrides } from '../shape.ts';
import { collapseDims, type StridedArray } from './elementwise.ts';
import { gatherPairsWasm, scatterPairsWasm } from './wasm/pairs.ts';

function rangeError(op: string, i: number, size: number, dim: number, shape: readonly number[]): never {
  throw indexRangeError(op, i, size, dim, `tensor of shape ${fmtShape(shape)}`);
}

/**
 * Index shape and per-operand strides as Int32Arrays, with dims contiguous for every operand
 * merged and size-1 dims dropped (max-pool's index [150528, 1] becomes one run of 150528 instead
 * of 150528 runs of one: 1.0 → 0.34 ms for its gather); rank 0 becomes one element of rank 1.
 */
function walkDims(idxShape: readonly number[], ...strides: (readonly number[])[]): Int32Array[] {
  const c = collapseDims(idxShape, strides);
  if (c.shape.length === 0) return [Int32Array.of(idxShape.includes(0) ? 0 : 1), ...strides.map(() => Int32Array.of(0))];
  return [Int32Array.from(c.shape), ...c.strides.map((s) => Int32Array.from(s))];
}

// NOTE on structure: as in ./conv.ts, the loops below take only numbers and typed arrays, and
// report a bad index by returning its offset instead of throwing. The former version walked the
// index with a shared helper calling a closure per row; in LeNet's step V8 kept deoptimising it
// ("wrong map" as the closures changed). Side by side (one process, median of 30) at max-pool's
// shapes: gather [150528, 2] → [150528, 1] 1.9 → 0.34 ms, scatterAdd at that shape 1.9 → 0.45 ms,
// both at [5376, 2, 14] along dim 1 0.38 → 0.20 and 0.40 → 0.26 ms.

/**
 * out[o++] = xd[dp + id[ip] · ds] over every position of the index (`shape`, rank `r`), with
 * running offsets ip into the index (strides `is`) and dp into the data (strides `xs`, the
 * gathered dim's stride 0). Returns the index offset of the first out-of-range entry, or −1.
 */
function gatherKernel(xd: TypedArray, dp: number, ds: number, size: number, id: TypedArray, ip: number, out: TypedArray,
  shape: Int32Array, is: Int32Array, xs: Int32Array, r: number): number {
  let total = 1;
  for (let d = 0; d < r; d++) total *= shape[d]!;
  if (total === 0) return -1;
  const last = r - 1, n = shape[last]!, isl = is[last]!, xsl = xs[last]!;
  const pos = new Int32Array(r);
  let o = 0;
  for (let k = 0; k < total; k += n) {
    for (let j = 0, q = ip, p = dp; j < n; j++, q += isl, p += xsl) {
      const i = id[q]!;
      if (i < 0 || i >= size) return q;
      out[o++] = xd[p + i * ds]!;
    }
    for (let d = last - 1; d >= 0; d--) {
      ip += is[d]!; dp += xs[d]!;
      if (++pos[d]! < shape[d]!) break;
      ip -= is[d]! * shape[d]!; dp -= xs[d]! * shape[d]!;
      pos[d] = 0;
    }
  }
  return -1;
}

/**
 * out[dp + id[ip] · ds] += sd[sp] over every position of the index, running offsets as in
 * gatherKernel (`os`: the output's strides with the scattered dim's stride 0; `ss`: the source's).
 * Returns the index offset of the first out-of-range entry, or −1.
 */
function scatterAddKernel(out: TypedArray, ds: number, size: number, id: TypedArray, ip: number, sd: TypedArray, sp: number,
  shape: Int32Array, is: Int32Array, os: Int32Array, ss: Int32Array, r: number): number {
  let total = 1;
  for (let d = 0; d < r; d++) total *= shape[d]!;
  if (total === 0) return -1;
  const last = r - 1, n = shape[last]!, isl = is[last]!, osl = os[last]!, ssl = ss[last]!;
  const pos = new Int32Array(r);
  let dp = 0;
  for (let k = 0; k < total; k += n) {
    for (let j = 0, q = ip, p = dp, s = sp; j < n; j++, q += isl, p += osl, s += ssl) {
      const i = id[q]!;
      if (i < 0 || i >= size) return q;
      const t = p + i * ds;
      out[t] = out[t]! + sd[s]!;
    }
    for (let d = last - 1; d >= 0; d--) {
      ip += is[d]!; dp += os[d]!; sp += ss[d]!;
      if (++pos[d]! < shape[d]!) break;
      ip -= is[d]! * shape[d]!; dp -= os[d]! * shape[d]!; sp -= ss[d]! * shape[d]!;
      pos[d] = 0;
    }
  }
  return -1;
}

/** out[pos] = x[pos with dim ← idx[pos]] over the index's shape. */
export function runGather(x: StridedArray, xShape: readonly number[], idx: StridedArray, idxShape: readonly number[], dim: number, out: TypedArray, what = 'gather'): void {
  // max-pooling's pick: a dim of two, every array contiguous and in the arena (./wasm/pairs.ts)
  const pairs = pairLayout(xShape, idxShape, dim, [x, xShape], [idx, idxShape]);
  if (pairs && out instanceof Float32Array && idx.data instanceof Int32Array && x.data instanceof Float32Array) {
    const bad = gatherPairsWasm(x.data, x.offset, pairs.outer, pairs.inner, idx.data, idx.offset, out);
    if (bad !== null) {
      if (bad >= 0) rangeError(what, idx.data[idx.offset + bad]!, 2, dim, xShape);
      return;
    }
  }
  const size = xShape[dim]!;
  if (selectRows(x, xShape, idx, idxShape, dim, out, what)) return;
  const [shape, is, xs] = walkDims(idxShape, idx.strides, x.strides.map((s, d) => (d === dim ? 0 : s)));
  const bad = gatherKernel(x.data, x.offset, x.strides[dim] ?? 0, size, idx.data, idx.offset, out, shape!, is!, xs!, shape!.length);
  if (bad >= 0) rangeError(what, idx.data[bad]!, size, dim, xShape);
}

/** Fewest elements per selected block for `selectRows` (shorter blocks: the element loop). */
const SELECT_MIN_BLOCK = 16;

/**
 * indexSelect's gather — an index that varies along `dim` only (broadcast elsewhere), over a
 * contiguous x with the same sizes after `dim` — as one block copy per selected index: a DataLoader
 * batch of 64 MNIST images (64 blocks of 784 floats) 0.10 → 0.02 ms. False (nothing done) when
 * the layout differs or the blocks are short.
 */
function selectRows(x: StridedArray, xShape: readonly number[], idx: StridedArray, idxShape: readonly number[], dim: number, out: TypedArray, what: string): boolean {
  const r = xShape.length;
  if (idxShape.length !== r || !hasContiguousStrides(xShape, x.strides) || x.data.constructor !== out.constructor) return false;
  let inner = 1, outer = 1;
  for (let d = 0; d < r; d++) {
    if (d !== dim && idx.strides[d] !== 0 && idxShape[d] !== 1) return false;
    if (d > dim) {
      if (idxShape[d] !== xShape[d]) return false;
      inner *= xShape[d]!;
    } else if (d < dim) {
      if (idxShape[d] !== xShape[d]) return false;
      outer *= xShape[d]!;
    }
  }
  if (inner < SELECT_MIN_BLOCK) return false;
  const n = idxShape[dim]!, size = xShape[dim]!, step = idx.strides[dim]!;
  const id = idx.data;
  for (let i = 0, q = idx.offset; i < n; i++, q += step) {
    const k = id[q]!;
    if (k < 0 || k >= size) rangeError(what, k, size, dim, xShape);
  }
  const src = x.data as Float32Array, dst = out as Float32Array;
  for (let o = 0; o < outer; o++) {
    const base = x.offset + o * size * inner;
    for (let i = 0, q = idx.offset; i < n; i++, q += step) {
      const from = base + id[q]! * inner;
      dst.set(src.subarray(from, from + inner), (o * n + i) * inner);
    }
  }
  return true;
}

/** out (a contiguous copy of base) gets src[pos] added at pos with dim ← idx[pos]. */
export function runScatterAdd(out: TypedArray, outShape: readonly number[], idx: StridedArray, idxShape: readonly number[], src: StridedArray, dim: number): void {
  // max-pooling's backward: a dim of two, every array contiguous and in the arena (./wasm/pairs.ts)
  const pairs = pairLayout(outShape, idxShape, dim, [idx, idxShape], [src, idxShape]);
  if (pairs && out instanceof Float32Array && idx.data instanceof Int32Array && src.data instanceof Float32Array) {
    const bad = scatterPairsWasm(out, pairs.outer, pairs.inner, idx.data, idx.offset, src.data, src.offset);
    if (bad !== null) {
      if (bad >= 0) rangeError('scatterAdd', idx.data[idx.offset + bad]!, 2, dim, outShape);
      return;
    }
  }
  const strides = contiguousStrides(outShape);
  const size = outShape[dim]!;
  const [shape, is, os, ss] = walkDims(idxShape, idx.strides, strides.map((s, d) => (d === dim ? 0 : s)), src.strides);
  const bad = scatterAddKernel(out, strides[dim] ?? 0, size, idx.data, idx.offset, src.data, src.offset, shape!, is!, os!, ss!, shape!.length);
  if (bad >= 0) rangeError('scatterAdd', idx.data[bad]!, size, dim, outShape);
}

/**
 * [outer, 2, inner] with an index of [outer, 1, inner] along `dim` (max-pooling's pairs), every
 * given operand laid out contiguously: the layout the pair kernels take, or null.
 */
function pairLayout(shape: readonly number[], idxShape: readonly number[], dim: number, ...operands: [StridedArray, readonly number[]][]): { outer: number; inner: number } | null {
  if (shape[dim] !== 2 || idxShape[dim] !== 1 || idxShape.length !== shape.length || !idxShape.every((n, d) => d === dim || n === shape[d])) return null;
  if (!operands.every(([a, sh]) => hasContiguousStrides(sh, a.strides))) return null;
  return aroundDim(shape, dim);
}
