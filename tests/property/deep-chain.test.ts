/**
 * @file A graph 100,000 ops deep backpropagates without stack overflow, in reasonable time:
 * the engine collects and replays nodes iteratively (DESIGN.md §1), never by recursion.
 */
import { expect, test } from 'vitest';
import { grad, noGrad, tensor, type Tensor } from '../../src/index.ts';

const DEPTH = 100_000;

test(`backward through a chain of ${DEPTH.toLocaleString('en')} muls: x·c^N, gradient c^N`, () => {
  const c = 1.0000001;
  const x = tensor(Float64Array.from([1, -2, 0.5]), { dtype: 'float64', requiresGrad: true });
  const t0 = performance.now();
  let y: Tensor = x;
  for (let i = 0; i < DEPTH; i++) y = y.mul(c);
  const t1 = performance.now();
  y.sum().backward();
  const t2 = performance.now();
  const expected = c ** DEPTH; // e^0.01 ≈ 1.01005
  for (const g of x.grad!.dataSync() as Float64Array) expect(g).toBeCloseTo(expected, 9);
  // generous: about 4 s forward and 2 s backward on the 2-core CI machine
  expect(t2 - t1, `backward took ${(t2 - t1).toFixed(0)} ms (forward ${(t1 - t0).toFixed(0)} ms)`).toBeLessThan(60_000);
});

test(`grad() through a chain of ${DEPTH.toLocaleString('en')} adds and a few other ops, alternating`, () => {
  const x = tensor(Float64Array.from([0.25, 1]), { dtype: 'float64', requiresGrad: true });
  let y: Tensor = x;
  // y ← (y + 1e-6)·1 with a reshape round trip every 1,000 steps (views in the chain too)
  for (let i = 0; i < DEPTH; i++) {
    y = i % 2 === 0 ? y.add(1e-6) : y.mul(1);
    if (i % 1000 === 0) y = y.reshape([2, 1]).reshape([2]);
  }
  const [g] = grad(y.square().sum(), [x]);
  const yv = noGrad(() => y.dataSync() as Float64Array);
  const gv = g!.dataSync() as Float64Array;
  gv.forEach((v, i) => expect(v).toBeCloseTo(2 * yv[i]!, 9));
});
