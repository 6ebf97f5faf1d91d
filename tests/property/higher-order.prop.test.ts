/**
 * @file Higher-order gradients.
 *
 * - Hessian-vector products (grad with createGraph, then grad of ⟨∇f, v⟩) of sum(x³),
 *   sum(sigmoid(x)·x) and the tutorial's logistic-regression cost, against central differences
 *   of the gradient and, where short, the closed form.
 * - Double backward of every differentiable primitive, composite and nn.functional op: the
 *   directional second derivative x ↦ ⟨vjp(f)(x; v), w⟩ is itself gradient-checked.
 */
import './setup.ts';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { grad, tensor, type Tensor } from '../../src/index.ts';
import * as T from '../../src/index.ts';
import { prims } from '../../src/ops/prims.ts';
import type { OpDef } from '../../src/ops/registry.ts';
import { fmtValues } from '../helpers/ndarray.ts';
import { valuesArb } from './arbitraries.ts';
import { compositeCases } from './composite-cases.ts';
import { gradcheck, specInput, vjpOf } from './gradcheck.ts';
import { nnCases } from './nn-cases.ts';
import { primCases, runCase, type PrimCase } from './prim-cases.ts';
import { runs } from './setup.ts';

const f64 = (v: readonly number[], shape: readonly number[] = [v.length]) => tensor(Float64Array.from(v), { shape, dtype: 'float64' });
const read = (t: Tensor) => Array.from(t.dataSync() as Float64Array);

/**
 * Checks H·v for a scalar f of several parameters: the createGraph double-backward result against
 * central differences of the (first-order) gradient along v, and returns H·v.
 */
function checkHvp(label: string, f: (ps: readonly Tensor[]) => Tensor, params: readonly number[][], shapes: readonly number[][], v: readonly number[][]): number[][] {
  const leaves = params.map((p, i) => f64(p, shapes[i]).requiresGrad_());
  const gs = grad(f(leaves), leaves, { createGraph: true });
  const gv = gs.reduce<Tensor>((acc, g, i) => acc.add(g!.mul(f64(v[i]!, shapes[i])).sum()), f64([0], []));
  const hv = grad(gv, leaves, { allowUnused: true }).map((h, i) => (h ? read(h) : new Array<number>(params[i]!.length).fill(0)));
  const eps = 1e-5;
  const gradAt = (s: number) => {
    const ls = params.map((p, i) => f64(p.map((x, k) => x + s * eps * v[i]![k]!), shapes[i]).requiresGrad_());
    return grad(f(ls), ls).map((g) => read(g!));
  };
  const gp = gradAt(1), gm = gradAt(-1);
  hv.forEach((h, i) => h.forEach((a, k) => {
    const n = (gp[i]![k]! - gm[i]![k]!) / (2 * eps);
    if (!(Math.abs(a - n) <= 1e-6 + 1e-5 * Math.max(Math.abs(a), Math.abs(n)))) {
      throw new Error(`${label}: (H·v) of param ${i} element ${k} is ${a}, central differences of the gradient give ${n}\n  params ${params.map((p) => fmtValues(p)).join(' ; ')}\n  v ${v.map((x) => fmtValues(x)).join(' ; ')}\n  H·v ${fmtValues(h)}`);
    }
  }));
  return hv;
}

const vec = (n: number) => valuesArb('real', n);
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

describe('Hessian-vector products', () => {
  test('sum(x³): H·v = 6x·v', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }).chain((n) => fc.tuple(vec(n), vec(n))), ([x, v]) => {
        const hv = checkHvp('sum(x**3)', ([p]) => p!.pow(3).sum(), [x], [[x.length]], [v]);
        hv[0]!.forEach((h, i) => expect(h).toBeCloseTo(6 * x[i]! * v[i]!, 10));
      }),
      { numRuns: runs(40) },
    );
  });

  test('sum(sigmoid(x)·x): H·v = (2σ′ + xσ″)·v', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }).chain((n) => fc.tuple(vec(n), vec(n))), ([x, v]) => {
        const hv = checkHvp('sum(sigmoid(x)*x)', ([p]) => p!.sigmoid().mul(p!).sum(), [x], [[x.length]], [v]);
        hv[0]!.forEach((h, i) => {
          const s = sigmoid(x[i]!), d1 = s * (1 - s), d2 = d1 * (1 - 2 * s);
          expect(h).toBeCloseTo((2 * d1 + x[i]! * d2) * v[i]!, 10);
        });
      }),
      { numRuns: runs(40) },
    );
  });

  test("the tutorial's logistic regression: cost = mean(−y log p − (1−y) log(1−p)) + 0.01‖w‖², p = σ(x·w + b)", () => {
    const data = fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 4 })).chain(([n, k]) =>
      fc.tuple(fc.constant([n, k] as const), vec(n * k), fc.array(fc.constantFrom(0, 1), { minLength: n, maxLength: n }), vec(k), vec(1), vec(k), vec(1)));
    fc.assert(
      fc.property(data, ([[n, k], x, y, w, b, vw, vb]) => {
        const X = f64(x, [n, k]), Y = f64(y);
        const cost = ([wt, bt]: readonly Tensor[]) => {
          const p = T.sigmoid(X.matmul(wt!).add(bt!));
          const xent = Y.neg().mul(p.log()).sub(T.sub(1, Y).mul(T.sub(1, p).log()));
          return xent.mean().add(wt!.square().sum().mul(0.01));
        };
        const [hw, hb] = checkHvp('logistic regression cost', cost, [w, b], [[k], []], [vw, vb]);
        // closed form: H = (1/n) Σ_i p_i(1−p_i) [x_i; 1][x_i; 1]ᵀ + diag(0.02, …, 0)
        const ps = [...Array(n).keys()].map((i) => sigmoid(x.slice(i * k, i * k + k).reduce((a, xi, j) => a + xi * w[j]!, 0) + b[0]!));
        const hvw = w.map((_, j) => ps.reduce((acc, p, i) => {
          const xv = x.slice(i * k, i * k + k).reduce((a, xi, m) => a + xi * vw[m]!, 0) + vb[0]!;
          return acc + (p * (1 - p) * x[i * k + j]! * xv) / n;
        }, 0) + 0.02 * vw[j]!);
        const hvb = ps.reduce((acc, p, i) => acc + (p * (1 - p) * (x.slice(i * k, i * k + k).reduce((a, xi, m) => a + xi * vw[m]!, 0) + vb[0]!)) / n, 0);
        hw!.forEach((h, j) => expect(h).toBeCloseTo(hvw[j]!, 10));
        expect(hb![0]!).toBeCloseTo(hvb, 10);
      }),
      { numRuns: runs(40) },
    );
  });

  test('third order: d³/dx³ sum(x³) = 6 through three nested grads', () => {
    const x = f64([0.3, -1.2, 2]).requiresGrad_();
    const [g1] = grad(x.pow(3).sum(), [x], { createGraph: true });
    const [g2] = grad(g1!.sum(), [x], { createGraph: true });
    const [g3] = grad(g2!.sum(), [x]);
    expect(read(g1!)).toEqual([0.27, 4.32, 12].map((v) => expect.closeTo(v, 12)));
    expect(read(g2!)).toEqual([1.8, -7.2, 12].map((v) => expect.closeTo(v, 12)));
    expect(read(g3!)).toEqual([6, 6, 6].map((v) => expect.closeTo(v, 12)));
  });
});

// ------------------------------------------------------------------ double backward of every op

const DOUBLE_RUNS = runs(25);

describe('double backward: gradcheck of x ↦ ⟨vjp(f)(x; v), w⟩ (float64)', () => {
  const cases = primCases as Record<string, PrimCase>;
  for (const [name, op] of Object.entries(prims) as [string, OpDef][]) {
    if (!op.vjp) continue;
    const c = cases[name]!;
    test(`primitive ${name}`, () => {
      fc.assert(
        fc.property(c.gen, fc.integer({ min: 1, max: 2 ** 31 - 1 }), (s, seed) => {
          const f = (xs: readonly Tensor[]) => runCase(op, c, s, xs);
          gradcheck(`${name} (double backward)`, vjpOf(f, seed ^ 0x5bd1e995), s.xs.map(specInput), { ...c.tol, seed });
        }),
        { numRuns: c.runs ?? DOUBLE_RUNS },
      );
    });
  }
  for (const c of [...compositeCases, ...nnCases]) {
    test(c.name, () => {
      fc.assert(
        fc.property(c.gen, fc.integer({ min: 1, max: 2 ** 31 - 1 }), (s, seed) => {
          gradcheck(`${c.name} (double backward)`, vjpOf((xs) => c.f(xs, s.a), seed ^ 0x5bd1e995), s.xs.map(specInput), { ...c.tol, seed });
        }),
        { numRuns: DOUBLE_RUNS },
      );
    });
  }
});
