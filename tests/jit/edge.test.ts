/** @file jit on the less common paths: every template op, integer and bool dtypes, 0-d and empty tensors. */
import { describe, expect, it } from 'vitest';
import { Tensor, arange, cat, grad, nn, randn, randint, tensor, zeros, stack, full } from '../../src/index.ts';
import * as F from '../../src/ops/functional.ts';
import { jit, type JitOptions } from '../../src/jit/index.ts';

const same = (got: unknown, want: unknown): void => {
  if (got instanceof Tensor) {
    const w = want as Tensor;
    expect(got.shape).toEqual(w.shape);
    expect(got.dtype).toBe(w.dtype);
    const a = Array.from(got.dataSync()), b = Array.from(w.dataSync());
    a.forEach((v, i) => (Number.isNaN(b[i]!) ? expect(v).toBeNaN() : expect(Math.abs(v - b[i]!)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(b[i]!)))));
  } else if (Array.isArray(got)) got.forEach((g, i) => same(g, (want as unknown[])[i]));
  else expect(got).toEqual(want);
};

const check = (f: (...a: Tensor[]) => unknown, args: Tensor[], opts: JitOptions = {}) => {
  for (const o of [opts, { ...opts, executor: 'generic' as const }, { ...opts, fuse: false }]) {
    same(jit(f, { ...o, eagerFirstCall: false })(...args), f(...args));
  }
};

describe('jit: template ops, dtypes and odd shapes', () => {
  it('cat, stack, pad, split, flip-free slicing with steps', () => {
    check((a, b) => [cat([a, b.exp()], 1), stack([a, b]), F.pad(a, [1, 2, 0, 1], 0.5), ...a.split(1, 1), a.slice(1, 0, null, 2)], [randn([3, 4]), randn([3, 4])]);
  });

  it('gather, scatterAdd, indexSelect, argmax and max along a dim', () => {
    const idx = randint(0, 4, [3, 2]);
    check((a, i) => [a.gather(1, i), zeros([3, 4]).scatterAdd(1, i, a.narrow(1, 0, 2).mul(2)), a.indexSelect(1, i.reshape(-1)), a.argmax(1), a.max(1).values, a.max(1).indices], [randn([3, 4]), idx]);
  });

  it('unfold/fold (convolution and pooling) forward and backward', () => {
    const w = randn([2, 1, 3, 3]).requiresGrad_();
    check((x) => {
      const y = nn.functional.maxPool2d(nn.functional.conv2d(x, w, null, { padding: 1 }).relu(), 2);
      const [gx] = grad(y.sum(), [x]);
      return [y, gx!];
    }, [randn([2, 1, 6, 6]).requiresGrad_()]);
  });

  it('int32 and bool arithmetic, where, comparisons, casts, remainder and integer division', () => {
    check((a, b) => [a.add(b).mul(3), a.remainder(b.add(5)), F.div(a, b.add(7), { roundingMode: 'floor' }), a.gt(b).logicalAnd(a.ne(0)), F.where(a.lt(0), a, b).float().sqrt(), a.sum(), a.abs().max()],
      [randint(-9, 9, [5]), randint(0, 4, [5])]);
  });

  it('sources inside the function: arange, full, zeros', () => {
    check((a) => [a.add(arange(4)), a.mul(full([4], 2.5)).add(zeros([4])), arange(0, 1, 0.25)], [randn([4])]);
  });

  it('0-d values, size-1 dims, and empty tensors', () => {
    check((a, b, c) => [a.mul(2).add(b.sum()), b.squeeze().exp(), c.sum(0), c.add(1), a], [tensor(1.5), randn([1, 3, 1]), zeros([0, 3])]);
  });

  it('float64 end to end, and a function returning no tensor at all', () => {
    check((a) => a.log1p().expm1().tanh().mean(), [randn([4, 3], { dtype: 'float64' }).abs()]);
    const f = jit((x: Tensor) => x.numel, { eagerFirstCall: false });
    expect(f(randn([2, 3]))).toBe(6);
  });
});
