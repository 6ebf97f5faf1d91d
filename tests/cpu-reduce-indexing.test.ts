/**
 * @file CPU reduce, gather and scatterAdd kernels against plain reference loops: random shapes
 * (size-0 and size-1 dims included), strided and permuted inputs, every reduce kind, NaNs, and
 * float32 / float64 / int32 / bool arrays; plus keepdim and negative dims through the public API.
 */
import { describe, expect, it } from 'vitest';
import { rng as seededRng } from './helpers/rng.ts';
import { runReduce } from '../src/cpu/reduce.ts';
import { runGather, runScatterAdd } from '../src/cpu/indexing.ts';
import type { StridedArray } from '../src/cpu/elementwise.ts';
import { arrayFor, type DType, type TypedArray } from '../src/dtype.ts';
import type { ReduceKind } from '../src/ops/registry.ts';
import { tensor } from '../src/index.ts';
import { IndexError } from '../src/errors.ts';

/** Deterministic uniform [0, 1) draws (tests/helpers/rng.ts), so failures reproduce. */
const rng = (seed: number): (() => number) => seededRng(seed).next;

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const contig = (s: readonly number[]) => {
  const r = new Array<number>(s.length);
  let a = 1;
  for (let i = s.length - 1; i >= 0; i--) { r[i] = a; a *= s[i]!; }
  return r;
};
/** Every index tuple of `shape`, row-major. */
function* positions(shape: readonly number[]): Generator<number[]> {
  if (shape.some((d) => d === 0)) return;
  const pos = shape.map(() => 0);
  for (;;) {
    yield [...pos];
    let d = shape.length - 1;
    for (; d >= 0; d--) { if (++pos[d]! < shape[d]!) break; pos[d] = 0; }
    if (d < 0) return;
  }
}
const at = (x: StridedArray, p: readonly number[]) => x.data[x.offset + p.reduce((a, i, d) => a + i * x.strides[d]!, 0)]!;

/**
 * A strided view of `shape` over a larger array: a random dim order in memory, a random offset
 * and (sometimes) a gap of one element between neighbours of the innermost memory dim.
 */
function randomView(r: () => number, shape: number[], dtype: DType, nanRate: number): StridedArray {
  const order = shape.map((_, i) => i).sort(() => r() - 0.5);
  const gap = r() < 0.3 ? 2 : 1;
  const strides = new Array<number>(shape.length);
  let acc = gap;
  for (let k = order.length - 1; k >= 0; k--) { strides[order[k]!] = acc; acc *= Math.max(1, shape[order[k]!]!); }
  const offset = Math.floor(r() * 3);
  const data = arrayFor(dtype, offset + acc + 1);
  for (let i = 0; i < data.length; i++) {
    if (dtype === 'bool') data[i] = r() < 0.5 ? 1 : 0;
    else if (dtype === 'int32') data[i] = Math.floor(r() * 7) - 3; // small range: ties
    else data[i] = r() < nanRate ? NaN : r() < 0.2 ? Math.floor(r() * 3) : r() * 4 - 2;
  }
  return { data, offset, strides };
}

/** Reference reduction: same semantics as the kernel's contract, element by element. */
function refReduce(kind: ReduceKind, x: StridedArray, shape: readonly number[], dims: readonly number[], out: TypedArray): void {
  const kept = shape.map((_, i) => i).filter((i) => !dims.includes(i));
  const redShape = dims.map((d) => shape[d]!);
  let o = 0;
  for (const kp of positions(kept.map((i) => shape[i]!))) {
    let acc = kind === 'sum' ? 0 : kind === 'prod' ? 1 : kind === 'max' || kind === 'argmax' ? -Infinity : Infinity;
    let best = 0, ix = 0, nan = false;
    for (const rp of positions(redShape)) {
      const p = shape.map(() => 0);
      kept.forEach((d, k) => { p[d] = kp[k]!; });
      dims.forEach((d, k) => { p[d] = rp[k]!; });
      const v = at(x, p);
      switch (kind) {
        case 'sum': acc += v; break;
        case 'prod': acc *= v; break;
        case 'max': if (Number.isNaN(v)) nan = true; else acc = Math.max(acc, v); break;
        case 'min': if (Number.isNaN(v)) nan = true; else acc = Math.min(acc, v); break;
        case 'argmax': case 'argmin':
          if (!nan) {
            if (Number.isNaN(v)) { nan = true; best = ix; } else if (kind === 'argmax' ? v > acc : v < acc) { acc = v; best = ix; }
          }
          break;
      }
      ix++;
    }
    out[o++] = kind === 'argmax' || kind === 'argmin' ? best : nan ? NaN : acc;
  }
}

const same = (a: TypedArray, b: TypedArray) => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]!) && Number.isNaN(b[i]!)) continue;
    if (a[i] !== b[i]) throw new Error(`element ${i}: ${a[i]} vs ${b[i]}`);
  }
};

describe('cpu reduce kernel', () => {
  const kinds: ReduceKind[] = ['sum', 'prod', 'max', 'min', 'argmax', 'argmin'];
  const dtypes: DType[] = ['float32', 'float64', 'int32', 'bool'];
  it('matches the reference on random shapes, dims, layouts and dtypes', () => {
    const r = rng(1);
    let cases = 0;
    for (let t = 0; t < 600; t++) {
      const rank = Math.floor(r() * 5);
      const shape = Array.from({ length: rank }, () => (r() < 0.06 ? 0 : r() < 0.2 ? 1 : 1 + Math.floor(r() * 5)));
      const dims = shape.map((_, i) => i).filter(() => r() < 0.5);
      const kind = kinds[t % kinds.length]!;
      const dtype = dtypes[Math.floor(r() * dtypes.length)]!;
      if ((kind === 'argmax' || kind === 'argmin') && dims.some((d) => shape[d] === 0)) continue; // an error at the op level
      const x = randomView(r, shape, dtype, 0.05);
      const outN = numel(shape.filter((_, i) => !dims.includes(i)));
      // output array type as the ops give it: indices int32, sums of int/bool int32, else the input's
      const outType: DType = kind === 'argmax' || kind === 'argmin' ? 'int32' : dtype === 'bool' ? 'int32' : dtype;
      const got = arrayFor(outType, outN), want = arrayFor(outType, outN);
      runReduce(kind, x, shape, dims, got);
      refReduce(kind, x, shape, dims, want);
      same(got, want);
      cases++;
    }
    expect(cases).toBeGreaterThan(500);
  });

  it('plain reductions of several outputs (taken 4 and 2 side by side) equal the reference bit for bit', () => {
    const r = rng(7);
    const cases: [number[], number[]][] = [
      [[8, 6, 7, 7], [0, 2, 3]], [[4, 9, 5], [0, 2]], [[9, 13], [0]], [[5, 11], [1]], [[3, 7, 2], [1]], [[2, 3, 17], [0]],
    ];
    for (const [shape, dims] of cases) {
      for (const kind of ['sum', 'prod', 'max', 'min'] as const) {
        for (const dtype of ['float32', 'float64', 'int32'] as const) {
          const x = randomView(r, shape, dtype, kind === 'max' || kind === 'min' ? 0.02 : 0);
          const outN = numel(shape.filter((_, i) => !dims.includes(i)));
          const got = arrayFor(dtype, outN), want = arrayFor(dtype, outN);
          runReduce(kind, x, shape, dims, got);
          refReduce(kind, x, shape, dims, want);
          same(got, want);
        }
      }
    }
  });

  it('argmax/argmin pick the first NaN and the first of equal values; max/min propagate NaN', () => {
    const x = { data: Float32Array.of(1, NaN, 3, NaN, 2, 2, -Infinity, -Infinity), offset: 0, strides: [2, 1] };
    const o = new Int32Array(4);
    runReduce('argmax', x, [4, 2], [1], o);
    expect([...o]).toEqual([1, 1, 0, 0]);
    runReduce('argmin', x, [4, 2], [1], o);
    expect([...o]).toEqual([1, 1, 0, 0]);
    const m = new Float32Array(4);
    runReduce('max', x, [4, 2], [1], m);
    expect([...m]).toEqual([NaN, NaN, 2, -Infinity]);
    runReduce('argmax', { data: Float32Array.of(0, 5, NaN, 5), offset: 0, strides: [1] }, [4], [0], o);
    expect(o[0]).toBe(2);
  });

  it('handles the max-pool layouts (a trailing dim of 2, a middle dim of 2)', () => {
    const r = rng(2);
    for (const [shape, dims] of [[[3000, 2], [1]], [[120, 2, 14], [1]], [[40, 2, 5], [1]]] as [number[], number[]][]) {
      const x = { ...randomView(r, shape, 'float32', 0.01), strides: contig(shape) };
      const n = numel(shape) / 2;
      for (const kind of ['argmax', 'argmin'] as const) {
        const got = new Int32Array(n), want = new Int32Array(n), vals = new Float32Array(n), wantVals = new Float32Array(n);
        runReduce(kind, x, shape, dims, got, vals);
        refReduce(kind, x, shape, dims, want);
        same(got, want);
        // the values output holds the picked elements (max-pool's forward)
        refReduce(kind === 'argmax' ? 'max' : 'min', x, shape, dims, wantVals);
        same(vals, wantVals);
      }
    }
  });

  it('keepdim and negative dims through the public API', () => {
    const t = tensor([[[1, 5, 2], [7, 0, 7]], [[NaN, 1, 9], [3, 3, 3]]]);
    expect(t.argmax(-1, true).shape).toEqual([2, 2, 1]);
    expect(t.argmax(-1, true).toArraySync()).toEqual([[[1], [0]], [[0], [0]]]);
    expect(t.argmax(-2).toArraySync()).toEqual([[1, 0, 1], [0, 1, 0]]);
    expect(t.sum([0, -1], true).shape).toEqual([1, 2, 1]);
    expect(t.sum([0, -1], true).toArraySync()).toEqual([[[NaN], [23]]]);
    expect(t.amax(1).toArraySync()).toEqual([[7, 5, 7], [NaN, 3, 9]]);
    expect(tensor([[1, 2], [3, 4]], { dtype: 'int32' }).sum(0).toArraySync()).toEqual([4, 6]);
    expect(tensor([[true, false], [true, true]]).sum(-1).toArraySync()).toEqual([1, 2]);
  });
});

describe('cpu gather / scatterAdd kernels', () => {
  it('match the reference on random shapes and layouts', () => {
    const r = rng(3);
    for (let t = 0; t < 300; t++) {
      const rank = 1 + Math.floor(r() * 4);
      const xShape = Array.from({ length: rank }, () => (r() < 0.2 ? 1 : 1 + Math.floor(r() * 4)));
      const dim = Math.floor(r() * rank);
      const idxShape = xShape.map((d, i) => (r() < 0.05 ? 0 : i === dim ? 1 + Math.floor(r() * 4) : 1 + Math.floor(r() * d)));
      const dtype: DType = r() < 0.5 ? 'float32' : r() < 0.5 ? 'float64' : 'int32';
      const x = randomView(r, xShape, dtype, 0);
      const idx = randomView(r, idxShape, 'int32', 0);
      for (let i = 0; i < idx.data.length; i++) idx.data[i] = Math.floor(r() * xShape[dim]!);
      const n = numel(idxShape);
      // gather
      const got = arrayFor(dtype, n), want = arrayFor(dtype, n);
      runGather(x, xShape, idx, idxShape, dim, got);
      let o = 0;
      for (const p of positions(idxShape)) {
        const q = [...p];
        q[dim] = at(idx, p);
        want[o++] = at(x, q);
      }
      same(got, want);
      // scatterAdd onto a contiguous base
      const src = randomView(r, idxShape, dtype, 0);
      const base = arrayFor(dtype, numel(xShape));
      for (let i = 0; i < base.length; i++) base[i] = Math.floor(r() * 5);
      const sGot = base.slice(), sWant = base.slice();
      runScatterAdd(sGot, xShape, idx, idxShape, src, dim);
      const st = contig(xShape);
      for (const p of positions(idxShape)) {
        const q = [...p];
        q[dim] = at(idx, p);
        const k = q.reduce((a, i, d) => a + i * st[d]!, 0);
        sWant[k] = sWant[k]! + at(src, p);
      }
      same(sGot, sWant);
    }
  });

  it('reject out-of-range indices with the offending value', () => {
    const x = { data: new Float32Array(6), offset: 0, strides: [3, 1] };
    const idx = { data: Int32Array.of(0, 2, 3), offset: 0, strides: [3, 1] };
    expect(() => runGather(x, [2, 3], idx, [1, 3], 1, new Float32Array(3))).toThrow(IndexError);
    expect(() => runGather(x, [2, 3], idx, [1, 3], 1, new Float32Array(3))).toThrow(/index 3 is out of range/);
    const neg = { data: Int32Array.of(-1), offset: 0, strides: [1, 1] };
    expect(() => runScatterAdd(new Float32Array(6), [2, 3], neg, [1, 1], { data: Float32Array.of(1), offset: 0, strides: [1, 1] }, 0)).toThrow(/index -1/);
  });
});
