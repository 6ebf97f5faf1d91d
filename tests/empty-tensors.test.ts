/** @file Ops over empty tensors behave as in PyTorch: empty results where PyTorch gives them, −∞ for an empty logsumexp, errors for reductions without an identity. */
import { describe, expect, it } from 'vitest';
import { ShapeError, zeros } from '../src/index.ts';
import { jit } from '../src/jit/index.ts';

describe('empty tensors', () => {
  it('softmax and logSoftmax of an empty tensor are empty (and differentiable), eagerly and compiled', () => {
    const e = zeros([0, 3], { requiresGrad: true });
    expect(e.softmax(-1).shape).toEqual([0, 3]);
    expect(e.logSoftmax(0).shape).toEqual([0, 3]);
    expect(zeros([2, 0]).softmax(-1).shape).toEqual([2, 0]);
    e.softmax(0).sum().backward();
    expect(e.grad!.shape).toEqual([0, 3]);
    expect(jit((x: typeof e) => x.logSoftmax(-1), { eagerFirstCall: false })(zeros([2, 0])).shape).toEqual([2, 0]);
  });

  it('logsumexp over an empty dim is −∞ (the log of an empty sum)', () => {
    expect(zeros([2, 0]).logsumexp(1).toArraySync()).toEqual([-Infinity, -Infinity]);
    expect(zeros([2, 0]).logsumexp(1, true).shape).toEqual([2, 1]);
    expect(zeros([0, 2]).logsumexp(1).shape).toEqual([0]);
  });

  it('amax over an empty dim stays an error (no identity, as in PyTorch)', () => {
    expect(() => zeros([2, 0]).amax(1)).toThrow(ShapeError);
  });
});
