/**
 * @file Split views (src/jit/split-view.ts): chains of reshape/expand/permute that plain strides
 * cannot express, checked element by element against the same chain run eagerly on a tensor
 * holding its own indices; and kernels that read such chains fuse, iterating over a refined shape.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { arange, randn, tensor, Tensor } from '../../src/index.ts';
import * as F from '../../src/ops/functional.ts';
import { jit } from '../../src/jit/index.ts';
import { expandSplit, fromMeta, permuteSplit, refine, reshapeSplit, toMeta, type SplitView } from '../../src/jit/split-view.ts';
import type { ViewMeta } from '../../src/ops/registry.ts';
import { contiguousStrides } from '../../src/shape.ts';

/** The buffer positions a plain view reads, in row-major order of its shape. */
function addresses(m: ViewMeta): number[] {
  const out: number[] = [];
  const idx = m.shape.map(() => 0);
  const n = m.shape.reduce((a, b) => a * b, 1);
  for (let k = 0; k < n; k++) {
    out.push(m.offset + idx.reduce((a, i, d) => a + i * m.strides[d]!, 0));
    for (let d = m.shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < m.shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

type Step = { op: 'reshape'; shape: number[] } | { op: 'expand'; shape: number[] } | { op: 'permute'; perm: number[] };

const applyEager = (t: Tensor, s: Step): Tensor =>
  s.op === 'reshape' ? F.reshape(F.contiguous(t), s.shape) : s.op === 'expand' ? F.expand(t, s.shape) : F.permute(t, s.perm);
const applySplit = (v: SplitView, s: Step): SplitView | null =>
  s.op === 'reshape' ? reshapeSplit(v, s.shape) : s.op === 'expand' ? expandSplit(v, s.shape) : permuteSplit(v, s.perm);

/** All ways to write n as an ordered product of factors > 1 (up to 3 of them), plus [n]. */
function factorings(n: number): number[][] {
  const out: number[][] = [[n]];
  for (let a = 2; a < n; a++) {
    if (n % a) continue;
    out.push([a, n / a]);
    for (let b = 2; b < n / a; b++) if ((n / a) % b === 0) out.push([a, b, n / a / b]);
  }
  return out;
}

/** A random chain of views over `shape`: each step keeps the element count (reshape) or grows size-1 dims (expand). */
const chainArb = (shape: number[]) =>
  fc.array(fc.tuple(fc.nat(2), fc.nat(1000), fc.nat(1000)), { minLength: 1, maxLength: 5 }).map((draws) => {
    const steps: Step[] = [];
    let cur = [...shape];
    for (const [kind, r1, r2] of draws) {
      if (kind === 0) {
        // regroup: flatten, then cut into random factors (a size-1 dim now and then)
        const n = cur.reduce((a, b) => a * b, 1);
        const fs = factorings(n);
        const next = [...fs[r1 % fs.length]!];
        if (r2 % 3 === 0) next.splice(r2 % (next.length + 1), 0, 1);
        steps.push({ op: 'reshape', shape: next });
        cur = next;
      } else if (kind === 1) {
        const ones = cur.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0);
        if (!ones.length) continue;
        const next = [...cur];
        next[ones[r1 % ones.length]!] = 2 + (r2 % 3);
        steps.push({ op: 'expand', shape: next });
        cur = next;
      } else {
        const perm = cur.map((_, i) => i);
        for (let i = perm.length - 1; i > 0; i--) {
          const j = (r1 * 31 + r2 * 17 + i) % (i + 1);
          [perm[i], perm[j]] = [perm[j]!, perm[i]!];
        }
        steps.push({ op: 'permute', perm });
        cur = perm.map((d) => cur[d]!);
      }
    }
    return steps;
  });

describe('split views', () => {
  it('reshape of a broadcast dim merged with a real one: the max-pool gradient case', () => {
    // idx [6, 1, 4] broadcast to [6, 2, 4] then read as [12, 4]: no plain strides
    const base: ViewMeta = { shape: [6, 1, 4], strides: [4, 4, 1], offset: 0 };
    const e = expandSplit(fromMeta(base), [6, 2, 4]);
    const r = reshapeSplit(e, [12, 4])!;
    expect(toMeta(r)).toBeNull();
    const { shape, metas } = refine([r, { shape: [12, 4], strides: [4, 1], offset: 0 }], [12, 4])!;
    expect(shape).toEqual([6, 2, 4]);
    expect(addresses(metas[0]!)).toEqual(Array.from(F.reshape(F.contiguous(F.expand(F.reshape(arange(24), [6, 1, 4]), [6, 2, 4])), [12, 4]).dataSync()));
    // the contiguous operand stays contiguous over the refined shape
    expect(metas[1]!.strides).toEqual(contiguousStrides([6, 2, 4]));
  });

  it('a cut that does not divide evenly is refused', () => {
    // [2, 3] broadcast read as [3, 2] would need a dim cut at 2 and at 3 of one run of 6
    const v = expandSplit(fromMeta({ shape: [2, 1], strides: [1, 1], offset: 0 }), [2, 3]);
    expect(reshapeSplit(v, [3, 2])).toBeNull();
  });

  it('random chains of reshape/expand/permute read what the eager chain reads', () => {
    const shapeArb = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 });
    let nonPlain = 0;
    fc.assert(fc.property(shapeArb.chain((s) => fc.tuple(fc.constant(s), chainArb(s))), ([shape, steps]) => {
      const n = shape.reduce((a, b) => a * b, 1);
      let t = F.reshape(arange(n), shape);
      let v: SplitView | null = fromMeta({ shape, strides: contiguousStrides(shape), offset: 0 });
      for (const s of steps) {
        t = applyEager(t, s);
        v = v && applySplit(v, s);
      }
      if (v && !toMeta(v)) nonPlain++;
      if (!v) return; // a cut that does not nest: refused, the lowering gives the producer a buffer
      const r = refine([v], t.shape);
      if (!r) return;
      expect(addresses(r.metas[0]!)).toEqual(Array.from(F.contiguous(t).dataSync()));
      expect(r.shape.reduce((a, b) => a * b, 1)).toBe(t.numel);
    }), { numRuns: 1000, seed: 11 });
    // the property must reach chains plain strides cannot express
    expect(nonPlain).toBeGreaterThan(30);
  });
});

describe('kernels reading split views', () => {
  it('fuse a broadcast-then-merge chain into one kernel over a refined shape, with eager values', () => {
    const f = (a: Tensor, m: Tensor) => a.expand(6, 2).reshape(3, 4).mul(m).add(1);
    const a = randn([6, 1]), m = randn([3, 4]);
    const j = jit(f, { eagerFirstCall: false });
    const k = j.lower(a, m).kernels;
    expect(k.map((x) => x.kind)).toEqual(['elementwise']);
    expect(Array.from(j(a, m).dataSync())).toEqual(Array.from(f(a, m).dataSync()));
  });

  it('the max-pool gradient pattern: one-hot rows read back as the image fuse with the mask', () => {
    // g [R, 1] picked by idx [R, 1] into [R, 2], read as [N, W] and masked: one kernel
    const idx = tensor(Int32Array.from([0, 1, 1, 0, 1, 0]), { shape: [6, 1] });
    const g = randn([6, 1]), y = randn([3, 4]);
    const f = (i: Tensor, gg: Tensor, yy: Tensor) =>
      F.where(F.eq(F.reshape(arange(2), [1, 2]), i), gg, 0).reshape(3, 4).mul(yy.gt(0).to('float32'));
    const j = jit(f, { eagerFirstCall: false });
    const kinds = j.lower(idx, g, y).kernels.map((x) => x.kind);
    // arange is an index source (its own kernel); the rest is one
    expect(kinds.filter((x) => x === 'elementwise').length).toBe(2);
    expect(Array.from(j(idx, g, y).dataSync())).toEqual(Array.from(f(idx, g, y).dataSync()));
  });
});
