/**
 * @file Property tests of nn.functional: the cases of nn-cases.ts (gradcheck in float64 and a
 * naive plain-JS forward reference each), plus batchNorm's running statistics and dropout's mask.
 */
import './setup.ts';
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { manualSeed, nn, tensor } from '../../src/index.ts';
import { shapeArb, valuesArb } from './arbitraries.ts';
import { compositeSuite } from './composite.ts';
import { nnCases } from './nn-cases.ts';
import { runs } from './setup.ts';

compositeSuite('nn.functional', nnCases, runs(50), runs(40));

const f64 = (v: readonly number[], shape: readonly number[]) => tensor(Float64Array.from(v), { shape, dtype: 'float64' });
const read = (t: { dataSync(): ArrayLike<number> }) => Array.from(t.dataSync());

test('batchNorm (training) updates the running statistics in place: r ← (1−m)·r + m·batch stat (unbiased var)', () => {
  fc.assert(
    fc.property(
      fc.tuple(fc.integer({ min: 2, max: 3 }), fc.integer({ min: 1, max: 3 }), shapeArb({ maxRank: 2, maxDim: 3 }), fc.constantFrom(0.1, 0.5, 1)),
      fc.nat(),
      ([n, c, sp, momentum], seed) => {
        const shape = [n, c, ...sp];
        const count = shape.reduce((a, b) => a * b, 1);
        const vals = Array.from({ length: count }, (_, i) => Math.sin(seed + 7.1 * i) * 2);
        const rm0 = Array.from({ length: c }, (_, i) => 0.1 * i), rv0 = Array.from({ length: c }, (_, i) => 1 + 0.2 * i);
        const rm = f64(rm0, [c]), rv = f64(rv0, [c]);
        nn.functional.batchNorm(f64(vals, shape), rm, rv, { training: true, momentum });
        const inner = sp.reduce((a, b) => a * b, 1);
        for (let ch = 0; ch < c; ch++) {
          // channel ch: the elements whose dim-1 coordinate is ch
          const chan = vals.filter((_, i) => Math.floor(i / inner) % c === ch);
          const mean = chan.reduce((a, b) => a + b, 0) / chan.length;
          const varU = chan.reduce((a, b) => a + (b - mean) ** 2, 0) / (chan.length - 1);
          expect(read(rm)[ch]).toBeCloseTo((1 - momentum) * rm0[ch]! + momentum * mean, 12);
          expect(read(rv)[ch]).toBeCloseTo((1 - momentum) * rv0[ch]! + momentum * varU, 12);
        }
      },
    ),
    { numRuns: runs(30) },
  );
});

test('dropout: every element is 0 or x/(1−p), the same seed gives the same mask, eval and p = 0 are the identity', () => {
  fc.assert(
    fc.property(shapeArb({ maxRank: 3, maxDim: 5 }).chain((s) => valuesArb('nonzero', s.reduce((a, b) => a * b, 1)).map((v) => [s, v] as const)), fc.constantFrom(0.2, 0.5, 0.8), fc.nat(), ([shape, v], p, seed) => {
      const x = f64(v, shape);
      manualSeed(seed);
      const a = read(nn.functional.dropout(x, p));
      manualSeed(seed);
      const b = read(nn.functional.dropout(x, p));
      expect(b).toEqual(a);
      a.forEach((y, i) => expect(y === 0 || Math.abs(y - v[i]! / (1 - p)) < 1e-12).toBe(true));
      expect(read(nn.functional.dropout(x, p, false))).toEqual(v);
      expect(read(nn.functional.dropout(x, 0))).toEqual(v);
    }),
    { numRuns: runs(30) },
  );
});
