/**
 * @file Movement, indexing and reduction ops refuse malformed arguments with typed errors naming
 * the op (fractional starts, unknown index specs, mismatched scatterAdd dtypes, string dims, …),
 * and reductions over 2**31 elements or more count them correctly on the CPU.
 */
import { describe, expect, it } from 'vitest';
import { gpuStatus } from './gpu-setup.ts';
import { cat, DTypeError, IndexError, indexSelect, ones, ShapeError, stack, tensor, ValueError, zeros, type Tensor } from '../src/index.ts';
import { throws } from './helpers/throws.ts';

const I = (a: number | number[] | number[][]) => tensor(a, { dtype: 'int32' });
const a = tensor([[1, 2, 3], [4, 5, 6]]);
/** `a` without its static type, for the malformed arguments JavaScript callers can pass. */
const A = a as unknown as Record<string, (...args: unknown[]) => Tensor>;


const gpu = await gpuStatus();

describe('cat', () => {
  it('refuses zero-dimensional tensors, naming the operand', () => {
    throws(() => cat([tensor(1), tensor(2)]), ShapeError, /^cat: tensor 0 is zero-dimensional \(shape \[\]\)/);
    throws(() => cat([tensor([1]), tensor(2)]), ShapeError, /^cat: tensor 1 is zero-dimensional/);
    throws(() => cat([tensor([1]), 2 as unknown as Tensor]), ValueError, /^cat: entry 1 of the list is number 2; expected a tensor/);
    throws(() => stack([tensor([1]), 2 as unknown as Tensor]), ValueError, /^stack: entry 1 of the list is number 2/);
    expect(cat([tensor([1]), tensor([2, 3])]).toArraySync()).toEqual([1, 2, 3]);
    expect(stack([tensor(1), tensor(2)]).toArraySync()).toEqual([1, 2]);
  });
});

describe('narrow, slice and index take integers only', () => {
  it('fractional or non-number starts, lengths, bounds and steps name the op, the value and the range', () => {
    throws(() => a.narrow(1, 0.5, 1), ValueError, /^narrow: start 0\.5 is not an integer; expected an integer in \[-3, 3\]/);
    throws(() => a.narrow(1, 0, 1.5), ValueError, /^narrow: length 1\.5 is not an integer; expected an integer in \[0, 3\]/);
    throws(() => A.narrow!(1, '0', 1), ValueError, /^narrow: start is the string "0"; expected an integer in \[-3, 3\]/);
    throws(() => a.slice(1, 0.5, 2), ValueError, /^slice: start 0\.5 is not an integer; expected an integer or null .*\[-3, 3\]/);
    throws(() => a.slice(1, 0, 2.5), ValueError, /^slice: end 2\.5 is not an integer/);
    throws(() => A.slice!(1, 0, 2, '1'), ValueError, /^slice: step is the string "1"; expected a positive integer/);
    throws(() => A.slice!('1', 0, 2), ValueError, /^slice: dim is the string "1"; expected an integer in \[-2, 1\]/);
    throws(() => a.index(null, [0.5, 2]), ValueError, /^index: dim 1's range start 0\.5 is not an integer.*\[-3, 3\]/);
    throws(() => a.index(null, [0, 2, 1.5]), ValueError, /^index: dim 1's range step 1\.5 is not an integer/);
    throws(() => a.index(null, [0, 2, 0]), ValueError, /^index: dim 1's range step must be a positive integer, got 0/);
    throws(() => a.index(0.5), ValueError, /^index: dim 0's index 0\.5 is not an integer; expected an integer in \[-2, 1\]/);
    // the neighbouring valid calls
    expect(a.narrow(1, -2, 2).toArraySync()).toEqual([[2, 3], [5, 6]]);
    expect(a.slice(1, -2, 100).toArraySync()).toEqual([[2, 3], [5, 6]]);
    expect(a.index(-1, [null, null, 2]).toArraySync()).toEqual([4, 6]);
    expect(a.index(null, [1, null]).toArraySync()).toEqual([[2, 3], [5, 6]]);
  });
  it('index refuses every spec that is not a number, a [start, end, step?] range or null', () => {
    const spec = /expected a number \(picks one index and drops the dim\), \[start, end\] or \[start, end, step\]/;
    throws(() => A.index!(I(1)), ValueError, /^index: the spec for dim 0 is an object \(Tensor\) \(for a 0-d tensor pass t\.item\(\)/);
    throws(() => A.index!('0'), ValueError, /^index: the spec for dim 0 is the string "0"/);
    throws(() => A.index!(true), ValueError, /^index: the spec for dim 0 is boolean true/);
    throws(() => A.index!({}), ValueError, spec);
    throws(() => A.index!(undefined, 1), ValueError, /^index: the spec for dim 0 is undefined/);
    throws(() => A.index!(0, [1, 2, 3, 4]), ValueError, /^index: the range for dim 1 has 4 entries \(\[1, 2, 3, 4\]\); expected \[start, end\] or \[start, end, step\]/);
  });
});

describe('scatterAdd and indexSelect', () => {
  it('scatterAdd requires src of the dtype it is added into', () => {
    const base = zeros([2, 3]);
    throws(() => base.scatterAdd(1, I([[0, 1]]), tensor([[1.1, 2.2]], { dtype: 'float64' })), DTypeError,
      /^scatterAdd: src is float64 but the tensor it is added into is float32/);
    throws(() => base.scatterAdd(1, I([[0, 1]]), I([[1, 2]])), DTypeError, /^scatterAdd: src is int32 but the tensor it is added into is float32/);
    expect(base.scatterAdd(1, I([[0, 1]]), tensor([[1, 2]])).toArraySync()).toEqual([[1, 2, 0], [0, 0, 0]]);
  });
  it('indexSelect takes an array of integers, and its errors name indexSelect', () => {
    expect(indexSelect(a, 1, [2, 0]).toArraySync()).toEqual([[3, 1], [6, 4]]);
    expect(a.indexSelect(1, [2, 0]).toArraySync()).toEqual([[3, 1], [6, 4]]);
    expect(indexSelect(a, 0, []).shape).toEqual([0, 3]);
    throws(() => indexSelect(a, 1, [0.5]), ValueError, /^indexSelect: entry 0 of the index array is 0\.5; expected integers/);
    throws(() => a.indexSelect(1, I([3])), IndexError, /^indexSelect: index 3 is out of range for dim 1 of size 3/);
    throws(() => indexSelect(a, 1, [0, 3]), IndexError, /^indexSelect: index 3 is out of range for dim 1 of size 3/);
    throws(() => a.indexSelect(1, tensor([0])), DTypeError, /^indexSelect: index must be int32, got float32/);
    throws(() => A.indexSelect!(1, 'x'), ValueError, /^indexSelect: index is the string "x"; expected a 1-D int32 tensor or an array of integers/);
  });
});

describe('reshape, view, expand and permute', () => {
  it('view names itself; sizes must be integers', () => {
    throws(() => a.view([5]), ShapeError, /^view: cannot view a tensor of shape \[2, 3\] \(6 elements\) as \[5\] \(5 elements\)/);
    throws(() => a.view([-1, 4]), ShapeError, /^view: cannot view a tensor of shape \[2, 3\] \(6 elements\) as \[-1, 4\] \(6 is not a multiple of 4\)/);
    throws(() => a.reshape([0.5, 12]), ShapeError, /^reshape: invalid size 0\.5 at index 0 of \[0\.5, 12\]/);
    throws(() => a.reshape(['a' as unknown as number]), ShapeError, /^reshape: the size at index 0 is the string "a"/);
    expect(a.view([3, -1]).shape).toEqual([3, 2]);
  });
  it('expand refuses fractional, negative and leading -1 sizes', () => {
    throws(() => a.expand([2, 0.5, 3]), ShapeError, /^expand: invalid size 0\.5 at index 1 of \[2, 0\.5, 3\]/);
    throws(() => ones([1]).expand([-3]), ShapeError, /^expand: invalid size -3 at index 0 of \[-3\]/);
    throws(() => a.expand([-1, 2, 3]), ShapeError, /^expand: size -1 at index 0 of \[-1, 2, 3\] is in a new leading dim/);
    expect(a.expand([4, -1, 3]).shape).toEqual([4, 2, 3]);
  });
  it('permute refuses duplicate, missing and non-number dims as given', () => {
    throws(() => a.permute(0, -2), ShapeError, /^permute: \[0, -2\] is not a permutation of the 2 dims of a tensor of shape \[2, 3\]/);
    throws(() => A.permute!('1', 0), ValueError, /^permute: dim is the string "1"; expected an integer in \[-2, 1\]/);
    expect(a.permute(-1, 0).shape).toEqual([3, 2]);
  });
});

describe('reductions validate dims and keepdim', () => {
  it('names the reduction and the malformed argument', () => {
    throws(() => A.sum!('1'), ValueError, /^sum: dim is the string "1"; expected an integer, an array of integers, or null/);
    throws(() => A.sum!([0, '1']), ValueError, /^sum: entry 1 of dims is the string "1"/);
    throws(() => A.sum!(1, 'yes'), ValueError, /^sum: keepdim is the string "yes"; expected true or false/);
    throws(() => A.mean!('1'), ValueError, /^mean: dim is the string "1"/);
    throws(() => A.prod!({}), ValueError, /^prod: dim is an object \(Object\)/);
    throws(() => A.amax!('0'), ValueError, /^amax: dim is the string "0"/);
    throws(() => A.argmax!([0, 1]), ValueError, /^argmax: dim is an object \(Array\); expected an integer in \[-2, 1\]/);
    throws(() => A.max!('0'), ValueError, /^max: dim is the string "0"/);
    throws(() => A.logsumexp!('0'), ValueError, /^logsumexp: dim is the string "0"/);
    throws(() => A.std!('x'), ValueError, /^std: dim is the string "x"/);
    throws(() => I([1, 2]).std(), DTypeError, /^std: expected a float tensor, got int32/);
    throws(() => zeros([2, 0]).min(1), ShapeError, /^min: cannot reduce over dim 1 of size 0/);
    expect(a.sum([1, -2]).itemSync()).toBe(21);
    expect(a.sum(1, true).toArraySync()).toEqual([[6], [15]]);
    expect(a.argmax(1).toArraySync()).toEqual([2, 2]);
  });
});

describe('reductions over 2**31 elements or more (expanded views)', () => {
  it('count every element on the CPU', () => {
    // an Int32Array of the collapsed dims wrapped 2**31 + 3 to a negative size, and summed nothing
    // (float64, so that the count is exact; two rows, reduced side by side in one pass)
    expect(ones([2, 1], { dtype: 'float64' }).expand([2, 2 ** 31 + 3]).sum(1).toArraySync()).toEqual([2 ** 31 + 3, 2 ** 31 + 3]);
  }, 60_000);
  it.skipIf(!gpu.ok)('are refused on WebGPU past its 2**32 - 1 element count', async () => {
    const big = ones([1], { device: 'webgpu' }).expand([2 ** 32 + 5]);
    throws(() => big.sum(), ShapeError, /^sum: reducing 4294967301 elements into each output \(shape \[4294967301\], dims \[0\]\) exceeds WebGPU's limit of 4294967295/);
    throws(() => ones([1, 1], { device: 'webgpu' }).expand([2 ** 20, 2 ** 20]).mean(), ShapeError, /^sum: reducing 1099511627776 elements/);
    expect(await ones([2, 1], { device: 'webgpu' }).expand([2, 4]).sum(1).toArray()).toEqual([4, 4]);
  });
});
