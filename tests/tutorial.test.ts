import { describe, expect, it } from 'vitest';
import { grad, tensor, sigmoid } from 'tapegrad';

describe("the tutorial's values (Playing with Theano, eager)", () => {
  it('a + a**10 on [0, 1, 2] is [0, 2, 1026]', () => {
    const a = tensor([0, 1, 2]);
    expect(a.add(a.pow(10)).toArraySync()).toEqual([0, 2, 1026]);
  });
  it('a**2 + 2ab + b**2 on [1, 2], [4, 5] is [25, 49]', () => {
    const a = tensor([1, 2]), b = tensor([4, 5]);
    expect(a.pow(2).add(a.mul(b).mul(2)).add(b.pow(2)).toArraySync()).toEqual([25, 49]);
  });
  it('the logistic 1/(1+exp(-x)) and sigmoid agree on [[0, 1], [-1, -2]]', () => {
    const x = tensor([[0, 1], [-1, -2]], { dtype: 'float64' });
    const expected = [[0.5, 0.73105858], [0.26894142, 0.11920292]];
    const s1 = x.neg().exp().add(1).reciprocal().toArraySync() as number[][];
    const s2 = sigmoid(x).toArraySync() as number[][];
    for (const s of [s1, s2]) s.flat().forEach((v, i) => expect(v).toBeCloseTo(expected.flat()[i]!, 8));
  });
  it('grad(x**2, x) is 2x', () => {
    const x = tensor([-1.5, 0, 2, 4.25], { requiresGrad: true });
    const [g] = grad(x.pow(2).sum(), [x]);
    expect(g!.toArraySync()).toEqual([-3, 0, 4, 8.5]);
  });
  it('the difference, absolute difference and squared difference of two matrices at once', () => {
    const a = tensor([[1, 1], [1, 1]]), b = tensor([[0, 1], [2, 3]]);
    const diff = a.sub(b);
    expect(diff.toArraySync()).toEqual([[1, 0], [-1, -2]]);
    expect(diff.abs().toArraySync()).toEqual([[1, 0], [1, 2]]);
    expect(diff.square().toArraySync()).toEqual([[1, 0], [1, 4]]);
  });
});
