/**
 * @file The sigmoid rewrites of the simplify pass: every way user code (PyTorch-style or the
 * Theano-style front end) writes the logistic compiles to the one `sigmoid` primitive (pinned
 * graphs), and values and gradients agree with eager — exactly in the normal range (fast-check,
 * float64), and better than the formula in the far tails (documented in docs/jit.md).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Tensor, grad, tensor } from '../../src/index.ts';
import * as F from '../../src/ops/functional.ts';
import { T, fn, jit } from '../../src/jit/index.ts';

const arr = (t: Tensor) => Array.from(t.dataSync());
const close = (got: number[], want: number[], tol: number) => {
  expect(got.length).toBe(want.length);
  got.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThanOrEqual(tol * (1 + Math.abs(want[i]!))));
};

/** The logistic as users write it (all with x of float dtype). */
const forms: Record<string, { f: (x: Tensor) => Tensor; fired: string[]; sigmoidOf: 'x' | '-x' }> = {
  'reciprocal(exp(−x) + 1) (the tutorial, bench W4)': { f: (x) => F.reciprocal(F.exp(x.neg()).add(1)), fired: ['sigmoid'], sigmoidOf: 'x' },
  '1 / (1 + exp(−x))': { f: (x) => F.div(1, F.add(1, x.neg().exp())), fired: ['sigmoid-div'], sigmoidOf: 'x' },
  '1 / (exp(0 − x) + 1)': { f: (x) => F.div(1, F.sub(0, x).exp().add(1)), fired: ['zero-sub', 'sigmoid-div'], sigmoidOf: 'x' },
  '(1 + exp(−1·x))⁻¹ (pow)': { f: (x) => F.pow(F.add(1, x.mul(-1).exp()), -1), fired: ['pow-minus-one', 'sigmoid'], sigmoidOf: 'x' },
  'exp(x) / (1 + exp(x))': { f: (x) => x.exp().div(x.exp().add(1)), fired: ['sigmoid-exp-ratio'], sigmoidOf: 'x' },
  '1 / (1 + exp(x)) = σ(−x)': { f: (x) => F.div(1, x.exp().add(1)), fired: ['sigmoid-div'], sigmoidOf: '-x' },
  '1 − σ(x) = σ(−x)': { f: (x) => F.sub(1, x.sigmoid()), fired: ['one-minus-sigmoid'], sigmoidOf: '-x' },
};

const pinned = { x: 'in (args[0]: f64[5])\n%0 = sigmoid args[0] : f64[5]\nout (%0)', '-x': 'in (args[0]: f64[5])\n%0 = neg args[0] : f64[5]\n%1 = sigmoid %0 : f64[5]\nout (%1)' };

describe('simplify: the logistic compiles to sigmoid', () => {
  const x = tensor([-3, -0.5, 0, 0.75, 4], { dtype: 'float64' });
  for (const [name, c] of Object.entries(forms)) {
    it(`${name}: graph pinned, values and gradients equal eager`, () => {
      const lowered = jit(c.f, { eagerFirstCall: false }).lower(x);
      expect(lowered.text()).toBe(pinned[c.sigmoidOf]);
      const fired = lowered.passes.flatMap((p) => p.fired ?? []);
      for (const r of c.fired) expect(fired).toContain(r);
      close(arr(jit(c.f, { eagerFirstCall: false })(x)), arr(c.f(x)), 1e-14);
      // gradients: the function's own backward, traced and simplified, against eager
      const g = (t: Tensor) => grad([c.f(t).mul(tensor([1, -2, 3, 0.5, 1], { dtype: 'float64' })).sum()], [t])[0]!;
      const xs = x.clone().requiresGrad_();
      close(arr(jit(g, { eagerFirstCall: false })(xs)), arr(g(xs)), 1e-13);
    });
  }

  it('matches eager on random float64 inputs in the normal range (values and gradients)', () => {
    const cases = Object.values(forms);
    fc.assert(
      fc.property(fc.array(fc.double({ min: -30, max: 30, noNaN: true }), { minLength: 1, maxLength: 8 }), fc.nat(cases.length - 1), (vals, k) => {
        const f = cases[k]!.f;
        const t = tensor(vals, { dtype: 'float64' }).requiresGrad_();
        const both = (z: Tensor) => [f(z), grad([f(z).sum()], [z])[0]!];
        const [y, gy] = jit(both, { eagerFirstCall: false })(t);
        const [ye, ge] = both(t);
        close(arr(y!), arr(ye!), 1e-12);
        close(arr(gy!), arr(ge!), 1e-10);
      }),
      { numRuns: 40 },
    );
  });

  it('is stable in the far tails where the formula overflows or cancels (NOTE in simplify.ts)', () => {
    const x = tensor([-1000, -100, 100, 1000]);
    // 1/(1 + exp(1000)) is 1/Inf = 0 eagerly; σ(−1000) underflows to 0 as well, σ(−100) keeps 3.7e−44
    const logistic = jit((z: Tensor) => F.reciprocal(F.exp(z.neg()).add(1)), { eagerFirstCall: false });
    expect(arr(logistic(x))).toEqual(arr(x.sigmoid()));
    // exp(x)/(1+exp(x)) is Inf/Inf = NaN eagerly for x > 88 (float32); the jit gives σ(x) = 1
    const ratio = (z: Tensor) => z.exp().div(z.exp().add(1));
    expect(arr(ratio(x)).slice(2).every(Number.isNaN)).toBe(true);
    expect(arr(jit(ratio, { eagerFirstCall: false })(x))).toEqual(arr(x.sigmoid()));
    // 1 − σ(30) rounds to 0 in float32; σ(−30) = 9.4e−14
    const oneMinus = jit((z: Tensor) => F.sub(1, z.sigmoid()), { eagerFirstCall: false });
    expect(arr(F.sub(1, tensor([30]).sigmoid()))).toEqual([0]);
    close(arr(oneMinus(tensor([30]))), [9.357622968839564e-14], 1e-6);
  });

  it('1 − σ(x) stays a subtraction where σ(x) has another use (sigmoid\'s backward σ·(1 − σ)): no second σ', () => {
    const x = tensor([-2, 0.5, 3], { dtype: 'float64' });
    const f = jit((z: Tensor) => z.sigmoid().mul(F.sub(1, z.sigmoid())), { eagerFirstCall: false });
    const L = f.lower(x);
    expect(L.passes.flatMap((p) => p.fired ?? [])).not.toContain('one-minus-sigmoid');
    expect(L.text().match(/sigmoid/g)).toHaveLength(1);
    const g = jit((z: Tensor) => grad([z.sigmoid().sum()], [z])[0]!, { eagerFirstCall: false });
    expect(g.lower(x.clone().requiresGrad_()).text().match(/sigmoid/g)).toHaveLength(1);
  });

  it('log σ(x) becomes the where-form of softplus (no abs/relu, whose kinks at 0 would zero its derivative there)', () => {
    const x = tensor([-2, 0, 2], { dtype: 'float64' });
    const f = jit((z: Tensor) => z.sigmoid().log(), { eagerFirstCall: false });
    const text = f.lower(x).text();
    expect(text).not.toMatch(/abs|relu/);
    close(arr(f(x)), arr(x.sigmoid().log()), 1e-15);
  });

  it('the Theano-style front end: T.div(1, T.add(1, T.exp(−x·w − b))) and the cross-entropy compile to sigmoid/softplus', () => {
    const x = T.dmatrix('x'), y = T.dvector('y'), w = T.dvector('w'), b = T.dscalar('b');
    const p1 = T.div(1, T.add(1, T.exp(T.dot(x, w).neg().sub(b))));
    const predict = fn([x, w, b], p1);
    const L = predict.lower([[1, 2], [-1, 0.5]], [0.3, -0.2], 0.1);
    expect(L.text()).toMatch(/sigmoid/);
    expect(L.text()).not.toMatch(/exp|reciprocal|div/);
    const xent = y.neg().mul(T.log(p1)).sub(T.sub(1, y).mul(T.log(T.sub(1, p1))));
    const loss = fn([x, y, w, b], xent);
    // the third row's logit is 40.1: eagerly 1 − σ rounds to 0 there and the loss is Inf; compiled it is finite
    const lx = [[1, 2], [-1, 0.5], [400, 400]], ly = [1, 0, 0], lw = [0.3, -0.2], lb = 0.1;
    const fired = loss.lower(lx, ly, lw, lb).passes.flatMap((p) => p.fired ?? []);
    // p1 is used twice (log p1 and 1 − p1): log(1 − p1) becomes −softplus(z) without a second σ
    expect(fired).toEqual(expect.arrayContaining(['sigmoid-div', 'log-sigmoid', 'log-one-minus-sigmoid']));
    expect(fired).not.toContain('one-minus-sigmoid');
    const z = lx.map((r) => r[0]! * lw[0]! + r[1]! * lw[1]! + lb);
    const want = z.map((v, i) => (ly[i] ? Math.log1p(Math.exp(-v)) : v + Math.log1p(Math.exp(-v))));
    close(arr(loss(lx, ly, lw, lb) as Tensor), want, 1e-14);
  });
});
