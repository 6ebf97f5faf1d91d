import { describe, expect, it } from 'vitest';
import {
  arange, DTypeError, IndexError, nn, ShapeError, tensor, zeros, ValueError, TapegradError, sum, randn,
} from 'tapegrad';

const F = nn.functional;

describe('bad input gets a clear, typed error', () => {
  it('incompatible broadcast names the op and both shapes', () => {
    expect(() => zeros([2, 3]).add(zeros([4, 3]))).toThrow(ShapeError);
    expect(() => zeros([2, 3]).mul(zeros([4, 3]))).toThrow(/mul: shapes \[2, 3\] and \[4, 3\] cannot be broadcast/);
  });
  it('matmul inner-dimension mismatch names K on both sides', () => {
    expect(() => zeros([2, 3]).matmul(zeros([4, 5]))).toThrow(/matmul: inner dimensions differ: a is \[2, 3\] \(K=3\), b is \[4, 5\] \(K=4\)/);
    expect(() => zeros([3]).matmul(zeros([4]))).toThrow(ShapeError);
    expect(() => zeros([2, 2, 3]).matmul(zeros([3, 3, 1]))).toThrow(/batch dims/);
  });
  it('reshape to a different size names both shapes and sizes', () => {
    expect(() => zeros([2, 3]).reshape(4, 2)).toThrow(/reshape: cannot reshape a tensor of shape \[2, 3\] \(6 elements\) to \[4, 2\] \(8 elements\)/);
    expect(() => zeros([2, 3]).reshape(-1, -1)).toThrow(ShapeError);
    expect(() => zeros([2, 3]).reshape(4, -1)).toThrow(ShapeError);
  });
  it('out-of-range and duplicate dims', () => {
    expect(() => zeros([2, 3]).sum(2)).toThrow(/sum: dim 2 is out of range for a tensor of 2 dims \(expected -2\.\.1\)/);
    expect(() => zeros([2, 3]).sum([0, -2])).toThrow(/dim -2 appears more than once/);
    expect(() => zeros([2, 3]).transpose(0, 5)).toThrow(ShapeError);
    expect(() => zeros([2, 3]).permute(0, 0)).toThrow(ShapeError);
    expect(() => zeros([2]).unsqueeze(3)).toThrow(ShapeError);
  });
  it('class index out of range in crossEntropy names the target, its position and the class count', () => {
    const logits = zeros([2, 3]);
    expect(() => F.crossEntropy(logits, tensor([0, 3], { dtype: 'int32' }))).toThrow(IndexError);
    expect(() => F.crossEntropy(logits, tensor([0, 3], { dtype: 'int32' }))).toThrow(/crossEntropy: target 3 at position 1 is out of range for 3 classes/);
    expect(() => F.crossEntropy(logits, tensor([0, -1], { dtype: 'int32' }))).toThrow(IndexError);
    expect(() => F.crossEntropy(logits, tensor([0, 1]))).toThrow(ShapeError);
    expect(() => zeros([3]).gather(0, tensor([5], { dtype: 'int32' }))).toThrow(/gather: index 5 is out of range for dim 0 of size 3/);
  });
  it('negative or zero sizes where they make no sense', () => {
    expect(() => zeros([-2])).toThrow(ShapeError);
    expect(() => arange(0, 5, 0)).toThrow(ValueError);
    // a bound that is not a number names itself (it used to surface as "invalid size NaN")
    expect(() => arange(NaN)).toThrow(/arange: start must be a finite number, got NaN/);
    expect(() => arange(0, 'x' as never)).toThrow(/arange: end must be a finite number, got the string "x"/);
    expect(() => arange(0, 5, Infinity)).toThrow(/arange: step must be a finite number, got Infinity/);
    // options after the last number, as PyTorch's keyword arguments
    expect(arange(3, { dtype: 'float32' }).dtype).toBe('float32');
    expect(arange(1, 3, { dtype: 'float32' }).toArraySync()).toEqual([1, 2]);
    expect(() => zeros([4]).split(0)).toThrow(ValueError);
    expect(() => zeros([4]).chunk(0)).toThrow(ValueError);
    expect(() => zeros([4]).narrow(0, 2, 5)).toThrow(ShapeError);
    expect(() => zeros([4]).narrow(0, 1, -1)).toThrow(ShapeError);
    expect(() => F.maxPool2d(zeros([1, 1, 4, 4]), 0)).toThrow(ShapeError);
    expect(() => F.conv2d(zeros([1, 1, 2, 2]), zeros([1, 1, 3, 3]))).toThrow(/does not fit/);
  });
  it('layer shape mismatches name the op and the expected layout', () => {
    expect(() => F.linear(zeros([2, 5]), zeros([3, 4]))).toThrow(/linear: input of shape \[2, 5\] does not fit weight of shape \[3, 4\]/);
    expect(() => F.conv2d(zeros([1, 3, 8, 8]), zeros([4, 2, 3, 3]))).toThrow(/conv2d: input has 3 channels/);
    expect(() => F.mseLoss(zeros([2, 3]), zeros([3]))).toThrow(/mseLoss: input has shape \[2, 3\] but target has shape \[3\]/);
  });
  it('dtype errors', () => {
    expect(() => tensor([true]).add(tensor([true]))).toThrow(DTypeError);
    expect(() => zeros([2], { dtype: 'int32' }).mean()).toThrow(/mean: expected a float tensor, got int32/);
    expect(() => F.crossEntropy(zeros([2, 3]), tensor([0, 1], { dtype: 'float64' }))).toThrow(ShapeError);
    expect(() => zeros([2]).gather(0, tensor([0]))).toThrow(/index must be int32/);
  });
  it('every error is a TapegradError and leaves tensors and the tape usable', () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    const y = x.mul(2);
    let caught: unknown;
    try { y.add(zeros([2])); } catch (e) { caught = e; }
    expect(caught).toBeInstanceOf(TapegradError);
    sum(y).backward();
    expect(x.grad!.toArraySync()).toEqual([2, 2, 2]);
  });
});

describe('NaN and infinities propagate, never vanish', () => {
  it('through elementwise ops, reductions and matmul', () => {
    const x = tensor([1, NaN, 3]);
    expect(Number.isNaN((x.exp().toArraySync() as number[])[1])).toBe(true);
    expect(Number.isNaN(x.sum().itemSync())).toBe(true);
    expect(Number.isNaN(x.amax().itemSync())).toBe(true);
    expect(Number.isNaN(x.amin().itemSync())).toBe(true);
    expect(x.argmax().itemSync()).toBe(1);
    expect(Number.isNaN((x.relu().toArraySync() as number[])[1])).toBe(true);
    expect(Number.isNaN((x.maximum(0).toArraySync() as number[])[1])).toBe(true);
    expect(Number.isNaN(x.matmul(tensor([1, 1, 1])).itemSync())).toBe(true);
    expect(x.isnan().toArraySync()).toEqual([false, true, false]);
    expect(tensor([Infinity, -Infinity]).sigmoid().toArraySync()).toEqual([1, 0]);
    expect(tensor([0]).log().itemSync()).toBe(-Infinity);
    const s = F.softmax(tensor([1, NaN]), 0).toArraySync() as number[];
    expect(s.every(Number.isNaN)).toBe(true);
  });
  it('through gradients', () => {
    const x = tensor([1, NaN], { requiresGrad: true });
    x.pow(2).sum().backward();
    const g = x.grad!.toArraySync() as number[];
    expect(g[0]).toBe(2);
    expect(Number.isNaN(g[1])).toBe(true);
  });
  it('softmax and logsumexp stay finite for large logits', () => {
    const big = tensor([1000, 1001]);
    expect((F.softmax(big, 0).toArraySync() as number[]).every(Number.isFinite)).toBe(true);
    expect(big.logsumexp(0).itemSync()).toBeCloseTo(1001.3133, 3);
    expect(randn([3]).logsumexp(0).requiresGrad).toBe(false);
  });
});
