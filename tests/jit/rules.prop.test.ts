/**
 * @file Issue #5: "Each rule and pass must preserve results: property-test it." For each rewrite
 * rule the issue lists (and the sigmoid family), fast-check draws shapes and values; the function
 * compiled with the full pipeline (the rule fires: checked from the passes' `fired` lists) equals
 * the same function compiled with no graph passes and the eager result. Values stay in the domain
 * where the NaN-unsafe rules are exact (finite, divisors away from 0), as docs/jit.md documents.
 * scatter-pick fires on WebGPU graphs only: its property runs there (against the CPU eagerly).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Tensor, full, matmul, tensor } from '../../src/index.ts';
import * as F from '../../src/ops/functional.ts';
import { jit } from '../../src/jit/index.ts';
import { gpuStatus } from '../gpu-setup.ts';

type Case = { rule: string; f: (x: Tensor, y: Tensor) => Tensor; positive?: boolean };
const cases: Case[] = [
  { rule: 'mul-one', f: (x) => x.mul(1).exp() },
  { rule: 'one-mul', f: (x) => F.mul(1, x).exp() },
  { rule: 'add-zero', f: (x) => x.add(0).sin() },
  { rule: 'sub-zero', f: (x) => x.sub(0).sin() },
  { rule: 'sub-self', f: (x, y) => x.sub(x).add(y) },
  { rule: 'div-one', f: (x) => x.div(1).tanh() },
  { rule: 'neg-neg', f: (x) => x.neg().neg().exp() },
  { rule: 'mul-div-cancel', f: (x, y) => x.mul(y).div(y), positive: true },
  { rule: 'mul-zero', f: (x, y) => x.mul(0).add(y) },
  { rule: 'log-exp', f: (x) => x.exp().log() },
  { rule: 'exp-log', f: (x) => x.abs().add(0.5).sqrt().log().exp() },
  { rule: 'reshape-reshape', f: (x) => x.reshape(-1).reshape(...x.shape).add(1) },
  { rule: 'transpose-transpose', f: (x) => x.t().t().mul(3) },
  { rule: 'sum-size1', f: (x) => x.unsqueeze(-1).sum(-1).exp() },
  { rule: 'sum-neg', f: (x) => x.neg().sum(-1).exp() },
  {
    rule: 'sum-scatter',
    f: (x, y) => {
      const [r, c] = x.shape as [number, number];
      const idx = tensor(Int32Array.from({ length: r }, (_, i) => (i * 7) % c), { shape: [r, 1], dtype: 'int32' });
      const picked = x.gather(1, idx);
      return full([r, c], 0, { dtype: x.dtype }).scatterAdd(1, idx, picked.mul(y.narrow(1, 0, 1))).sum(1).add(picked.sum(1));
    },
  },
  { rule: 'sigmoid', f: (x) => F.reciprocal(F.add(1, x.neg().exp())) },
  { rule: 'sigmoid-div', f: (x) => F.div(1, x.neg().exp().add(1)) },
  { rule: 'matmul-transpose', f: (x, y) => matmul(x.t(), y).t().mul(2) },
];

const shapeArb = fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }));
const dataArb = shapeArb.chain(([r, c]) => fc.tuple(
  fc.constant([r, c] as const),
  fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: r * c, maxLength: r * c }),
  fc.array(fc.double({ min: 0.25, max: 3, noNaN: true }), { minLength: r * c, maxLength: r * c }),
));

const values = (t: Tensor) => Array.from(t.dataSync());

describe('every listed rewrite rule preserves values (property)', () => {
  for (const c of cases) {
    it(`${c.rule}`, () => {
      let fired = false;
      fc.assert(fc.property(dataArb, ([shape, xv, yv]) => {
        const x = tensor(Float64Array.from(c.positive ? yv.map((v, i) => v * Math.sign(xv[i]! || 1)) : xv), { shape: [...shape], dtype: 'float64' });
        const y = tensor(Float64Array.from(yv), { shape: [...shape], dtype: 'float64' });
        const opt = jit((x: Tensor, y: Tensor) => c.f(x, y), { eagerFirstCall: false });
        fired ||= opt.lower(x, y).passes.some((p) => p.fired?.includes(c.rule));
        const got = values(opt(x, y));
        const plain = values(jit((x: Tensor, y: Tensor) => c.f(x, y), { eagerFirstCall: false, fold: false, simplify: false, cse: false })(x, y));
        const eager = values(c.f(x, y));
        got.forEach((v, i) => {
          expect(Math.abs(v - plain[i]!)).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(plain[i]!)));
          expect(Math.abs(v - eager[i]!)).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(eager[i]!)));
        });
      }), { numRuns: 25, seed: 42 });
      expect(fired, `rule ${c.rule} fired`).toBe(true);
    });
  }
});

const gpu = await gpuStatus();

describe.skipIf(!gpu.ok)('scatter-pick preserves values and gradients (property, WebGPU: the rule fires there only)', () => {
  it('random [N, C] picks: a gather and its gradient scatter, compiled, equal eager', async () => {
    let fired = false;
    const cases: { n: number; c: number; idx: number[]; x: number[]; g: number[] }[] = [];
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 6 }).chain((n) => fc.integer({ min: 1, max: 7 }).chain((c) => fc.record({
        n: fc.constant(n), c: fc.constant(c),
        idx: fc.array(fc.integer({ min: 0, max: c - 1 }), { minLength: n, maxLength: n }),
        x: fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: n * c, maxLength: n * c }),
        g: fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: n, maxLength: n }),
      }))),
      (r) => { cases.push(r); },
    ), { numRuns: 25, seed: 7 });
    // gather(x, 1, idx)·2 (its range check) and scatterAdd(0, 1, idx, g) (a gradient's pick)
    const f = (x: Tensor, i: Tensor, g: Tensor) => [F.gather(x, 1, i).mul(2), F.scatterAdd(F.zerosLike(x), 1, i, g).add(x)];
    for (const r of cases) {
      const x = tensor(Float32Array.from(r.x), { shape: [r.n, r.c] });
      const i = tensor(Int32Array.from(r.idx), { shape: [r.n, 1], dtype: 'int32' });
      const g = tensor(Float32Array.from(r.g), { shape: [r.n, 1] });
      const j = jit(f, { eagerFirstCall: false });
      const args = [x.to('webgpu'), i.to('webgpu'), g.to('webgpu')] as const;
      fired ||= j.lower(...args).passes.some((p) => p.fired?.includes('scatter-pick'));
      const got = j(...args), want = f(x, i, g);
      for (let k = 0; k < 2; k++) {
        const a = Array.from(await got[k]!.data()), b = Array.from(want[k]!.dataSync());
        a.forEach((v, m) => expect(Math.abs(v - b[m]!)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(b[m]!))));
      }
    }
    expect(fired).toBe(true);
  });
});
