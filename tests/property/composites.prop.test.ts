/**
 * @file Property tests of the public composite ops (src/ops/functional.ts): the cases of
 * composite-cases.ts (gradcheck + forward reference), plus composite-vs-primitive agreement.
 */
import './setup.ts';
import fc from 'fast-check';
import { expect, test } from 'vitest';
import * as T from '../../src/index.ts';
import { grad, tensor, type Tensor } from '../../src/index.ts';
import { tensorArb } from './arbitraries.ts';
import { compositeSuite } from './composite.ts';
import { compositeCases, withDim } from './composite-cases.ts';
import { runs } from './setup.ts';

compositeSuite('composites', compositeCases, runs(80), runs(50));

// ------------------------------------------------------------------ composite vs primitive

test('sigmoid: the primitive and the composite 1/(1+e^-x) agree in values and gradients', () => {
  fc.assert(
    fc.property(tensorArb({}, { domain: 'real' }), (spec) => {
      const x = tensor(Float64Array.from(spec.base), { shape: spec.baseShape, dtype: 'float64', requiresGrad: true });
      const p = T.sigmoid(x), c = T.div(1, T.add(T.exp(T.neg(x)), 1));
      const [gp] = grad(p.sum(), [x]), [gc] = grad(c.sum(), [x]);
      const close = (a: Tensor, b: Tensor) => Array.from(a.dataSync() as Float64Array).every((v, i) => Math.abs(v - (b.dataSync()[i] as number)) <= 1e-14 + 1e-12 * Math.abs(v));
      expect(close(p, c)).toBe(true);
      expect(close(gp!, gc!)).toBe(true);
    }),
    { numRuns: runs(30) },
  );
});

test('max(dim) indices agree with argmax, and min(dim) with argmin', () => {
  fc.assert(
    fc.property(withDim('distinct'), (s) => {
      const x = tensor(Float64Array.from(s.xs[0]!.base), { shape: s.xs[0]!.baseShape, dtype: 'float64' });
      expect(Array.from(T.max(x, s.a.dim).indices.dataSync())).toEqual(Array.from(T.argmax(x, s.a.dim).dataSync()));
      expect(Array.from(T.min(x, s.a.dim).indices.dataSync())).toEqual(Array.from(T.argmin(x, s.a.dim).dataSync()));
    }),
    { numRuns: runs(30) },
  );
});
