import { describe, expect, it } from 'vitest';
import {
  arange, cast, DTypeError, eye, fromTypedArray, full, fullLike, linspace, manualSeed, ones, rand, randint, randn,
  ShapeError, tensor, ValueError, zeros, zerosLike,
} from 'tapegrad';
import { throws } from './helpers/throws.ts';

/** Asserts `f` throws an instance of `cls` whose message matches `re`. */

describe('fromTypedArray and tensor(typedArray) validate shape and array type', () => {
  it('refuses negative, fractional and non-filling sizes', () => {
    throws(() => fromTypedArray(new Float32Array([1, 2, 3, 4]), [-2, -2], 'float32'), ShapeError, /^fromTypedArray: invalid size -2 at index 0 of shape \[-2, -2\]/);
    throws(() => tensor(new Float32Array(4), { shape: [0.5, 8] }), ShapeError, /^tensor: invalid size 0\.5 at index 0 of shape \[0\.5, 8\]/);
    throws(() => fromTypedArray(new Float32Array(4), [2, 3], 'float32'), ShapeError, /fromTypedArray: 4 values do not fill shape \[2, 3\] \(6 elements\)/);
    throws(() => tensor(new Float32Array(4), { shape: [3] }), ShapeError, /tensor: 4 values do not fill shape \[3\]/);
    expect(fromTypedArray(new Float32Array([1, 2, 3, 4]), [2, 2], 'float32').toArraySync()).toEqual([[1, 2], [3, 4]]);
  });

  it('fromTypedArray adopts, so the array type must be the dtype\'s', () => {
    throws(() => fromTypedArray(new Float32Array([1.5, 2.5, 3, 4]), [2, 2], 'int32'), DTypeError, /fromTypedArray: a Float32Array cannot be adopted as int32 storage; expected an Int32Array/);
    throws(() => fromTypedArray(new Float64Array([1.1]), [1], 'float32'), DTypeError, /a Float64Array cannot be adopted as float32 storage; expected a Float32Array/);
    throws(() => fromTypedArray([1, 2] as never, [2], 'float32'), ValueError, /fromTypedArray: data is an object \(Array\); expected a Float32Array/);
    expect(fromTypedArray(new Int32Array([7, 8]), [2], 'int32').toArraySync()).toEqual([7, 8]);
  });

  it('tensor(typedArray, { dtype }) converts as torch.tensor(array, dtype=...) does', () => {
    expect(tensor(new Float32Array([1.5, -2.5, 3, 4]), { dtype: 'int32', shape: [2, 2] }).toArraySync()).toEqual([[1, -2], [3, 4]]);
    const f = tensor(new Float64Array([1.1]), { dtype: 'float32' });
    expect(f.dtype).toBe('float32');
    expect(f.dataSync()[0]).toBe(Math.fround(1.1));
    expect(tensor(new Float32Array([0, 2, -0.5]), { dtype: 'bool' }).toArraySync()).toEqual([false, true, true]);
    throws(() => tensor(new Float32Array([1, NaN]), { dtype: 'int32' }), ValueError, /tensor: value NaN at index 1 cannot be converted to int32/);
    throws(() => tensor(new Float64Array([3e9]), { dtype: 'int32' }), ValueError, /tensor: value 3000000000 at index 0 cannot be converted to int32; expected a finite number in \[-2147483648, 2147483647\]/);
    throws(() => tensor(new Int16Array(2) as never), DTypeError, /tensor: unsupported typed array Int16Array/);
  });

  it('a Uint8Array is read as bool only when it holds 0/1', () => {
    throws(() => tensor(new Uint8Array([2, 255])), ValueError, /tensor: a Uint8Array becomes a bool tensor, but it holds 2 at index 0 \(bool needs 0 or 1\); for byte values pass an Int32Array/);
    expect(tensor(new Uint8Array([1, 0])).toArraySync()).toEqual([true, false]);
    expect(tensor(new Uint8Array([2, 255]), { dtype: 'int32' }).toArraySync()).toEqual([2, 255]);
    const mask = tensor(new Uint8Array([2, 0]), { dtype: 'bool' });
    expect(mask.toArraySync()).toEqual([true, false]);
    expect(mask.int().toArraySync()).toEqual([1, 0]); // stored as 1, not 2
  });
});

describe('fill values, arange and explicit int32/bool dtypes', () => {
  it('full refuses non-number fill values', () => {
    throws(() => full([2], 'a' as never), ValueError, /^full: fill value is the string "a"; expected a number or boolean/);
    throws(() => full([2], undefined as never), ValueError, /^full: fill value is undefined/);
    throws(() => fullLike(zeros([2]), null as never), ValueError, /^fullLike: fill value is null/);
    expect(full([2], true).toArraySync()).toEqual([true, true]);
    expect(full([2], true, { dtype: 'float32' }).toArraySync()).toEqual([1, 1]);
  });

  it('arange computes start + i·step in double, then converts; checks the step', () => {
    expect(arange(0, 2, 0.5, { dtype: 'int32' }).toArraySync()).toEqual([0, 0, 1, 1]);
    expect(arange(-1.5, 1, 0.5, { dtype: 'int32' }).toArraySync()).toEqual([-1, -1, 0, 0, 0]);
    expect(arange(5, 0, -2).toArraySync()).toEqual([5, 3, 1]);
    expect(arange(3, 3).toArraySync()).toEqual([]);
    throws(() => arange(0, 5, -1), ValueError, /^arange: step -1 points away from end: start 0, end 5; expected a positive step/);
    throws(() => arange(5, 0), ValueError, /arange: step 1 points away from end: start 5, end 0; expected a negative step/);
    throws(() => arange(0, 5, 0), ValueError, /arange: step must be a non-zero/);
    throws(() => arange(0, 3, { dtype: 'bool' }), DTypeError, /arange: dtype bool is not supported/);
    throws(() => arange(2 ** 31 - 2, 2 ** 31 + 1), ValueError, /arange: value 2147483648 \(the last value\) cannot be converted to int32/);
  });

  it('int32 refuses NaN, ±Infinity and out-of-range values; bool refuses NaN; fractions truncate', () => {
    throws(() => tensor([NaN, Infinity], { dtype: 'int32' }), ValueError, /^tensor: value NaN at \[0\] cannot be converted to int32/);
    throws(() => tensor([[1], [-Infinity]], { dtype: 'int32' }), ValueError, /value -Infinity at \[1\]\[0\] cannot be converted to int32/);
    throws(() => tensor([3e9], { dtype: 'int32' }), ValueError, /tensor: value 3000000000 at \[0\] cannot be converted to int32; expected a finite number in \[-2147483648, 2147483647\]/);
    throws(() => full([2], 3e9, { dtype: 'int32' }), ValueError, /^full: value 3000000000 cannot be converted to int32/);
    throws(() => full([2], NaN, { dtype: 'int32' }), ValueError, /^full: value NaN cannot be converted to int32/);
    throws(() => tensor([NaN], { dtype: 'bool' }), ValueError, /^tensor: value NaN at \[0\] cannot be converted to bool/);
    throws(() => full([1], NaN, { dtype: 'bool' }), ValueError, /^full: value NaN cannot be converted to bool/);
    expect(tensor([1.5, -1.5, 2147483647.5], { dtype: 'int32' }).toArraySync()).toEqual([1, -1, 2147483647]);
    expect(full([2], 2.7, { dtype: 'int32' }).toArraySync()).toEqual([2, 2]);
    expect(tensor([0, 0.5, -3], { dtype: 'bool' }).toArraySync()).toEqual([false, true, true]);
    expect(tensor([NaN]).toArraySync()).toEqual([NaN]); // float32 holds NaN
  });
});

describe('manualSeed', () => {
  const draw = (seed: number): number[] => {
    manualSeed(seed);
    return rand([4]).toArraySync() as number[];
  };
  it('refuses non-integers and values beyond 2**53', () => {
    throws(() => manualSeed(1.5), ValueError, /^manualSeed: seed must be an integer in \[-\(2\*\*53 - 1\), 2\*\*53 - 1\], got 1\.5/);
    throws(() => manualSeed(NaN), ValueError, /got NaN/);
    throws(() => manualSeed(2 ** 53), ValueError, /got 9007199254740992/);
    throws(() => manualSeed('1' as never), ValueError, /got the string "1"/);
  });
  it('folds the high bits in instead of dropping them; small seeds are unchanged', () => {
    expect(draw(2 ** 40)).not.toEqual(draw(0));
    expect(draw(2 ** 32 + 1)).not.toEqual(draw(1));
    expect(draw(-1)).not.toEqual(draw(2 ** 32 - 1));
    expect(draw(2 ** 40)).toEqual(draw(2 ** 40));
    expect(draw(7)).toEqual(draw(7));
  });
});

describe('dtype strings are validated by every creation function and by cast', () => {
  it('names the op and the dtypes there are', () => {
    const bad = 'float16' as never;
    const known = /unknown dtype 'float16'; expected one of float32, float64, int32, bool$/;
    for (const [op, f] of [
      ['tensor', () => tensor([1], { dtype: bad })],
      ['tensor', () => tensor(new Float32Array(1), { dtype: bad })],
      ['zeros', () => zeros([1], { dtype: bad })],
      ['ones', () => ones([1], { dtype: bad })],
      ['full', () => full([1], 1, { dtype: bad })],
      ['zerosLike', () => zerosLike(zeros([1]), { dtype: bad })],
      ['arange', () => arange(3, { dtype: bad })],
      ['linspace', () => linspace(0, 1, 3, { dtype: bad })],
      ['eye', () => eye(2, 2, { dtype: bad })],
      ['rand', () => rand([2], { dtype: bad })],
      ['randn', () => randn([2], { dtype: bad })],
      ['randint', () => randint(0, 3, [2], { dtype: bad })],
      ['fromTypedArray', () => fromTypedArray(new Float32Array(1), [1], bad)],
      ['cast', () => cast(tensor([1]), bad)],
    ] as const) {
      throws(f, DTypeError, new RegExp(`^${op}: ${known.source}`));
    }
  });
  it('Tensor.to refuses a target that is neither a dtype nor a device', () => {
    throws(() => tensor([1]).to('float16' as never), DTypeError, /^to: unknown target 'float16'; expected a dtype \(float32, float64, int32, bool\) or a device \(cpu, webgpu\)/);
    throws(() => tensor([1]).to(42 as never), DTypeError, /^to: unknown target 42 \(number\)/);
    expect(tensor([1.5]).to('int32').toArraySync()).toEqual([1]);
    expect(tensor([1]).to('cpu').device).toBe('cpu');
  });
});

describe('tensor() data and shape option', () => {
  it('honours the shape option or refuses it', () => {
    throws(() => tensor([1, 2, 3], { shape: [2, 2] }), ShapeError, /^tensor: shape \[2, 2\] \(4 elements\) does not fit the data's 3 elements \(nested as \[3\]\)/);
    expect(tensor([[1, 2], [3, 4]], { shape: [4] }).toArraySync()).toEqual([1, 2, 3, 4]);
    expect(tensor([1, 2, 3, 4, 5, 6], { shape: [3, 2] }).shape).toEqual([3, 2]);
  });
  it('refuses a Tensor (suggesting clone) and Tensor elements (suggesting stack)', () => {
    throws(() => tensor(tensor([1]) as never), ValueError, /^tensor: data is a Tensor \(shape \[1\], float32\); to copy it use t\.detach\(\)\.clone\(\)/);
    throws(() => tensor([tensor(1)] as never), DTypeError, /^tensor: element \[0\] is a Tensor \(shape \[\]\); expected a number or boolean \(join tensors with stack\(\)/);
    throws(() => tensor('5' as never), ValueError, /^tensor: data is the string "5"; expected a number, a boolean/);
    throws(() => tensor([[1, 'a']] as never), DTypeError, /^tensor: element \[0\]\[1\] is the string "a"/);
  });
  it('refuses nesting deeper than 64 (or cyclic) before recursing', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 3000; i++) deep = [deep];
    throws(() => tensor(deep as never), ShapeError, /^tensor: data is nested more than 64 arrays deep; at most 64 dims are supported/);
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    throws(() => tensor(cyclic as never), ShapeError, /nested more than 64 arrays deep/);
    let ok: unknown = 5;
    for (let i = 0; i < 64; i++) ok = [ok];
    expect(tensor(ok as never).shape.length).toBe(64);
  });
});

describe('shapes given to creation functions', () => {
  it('says a size is a string', () => {
    throws(() => zeros(['2'] as never), ShapeError, /^zeros: size "2" at index 0 of shape \["2"\] is a string; sizes must be non-negative integers/);
    throws(() => ones([2, null] as never), ShapeError, /^ones: size null at index 1 of shape \[2, null\] is null/);
    throws(() => zeros('3' as never), ShapeError, /^zeros: expected a shape \(an array of sizes\), got the string "3"/);
  });
  it('refuses shapes beyond the element limit with a typed error', () => {
    throws(() => zeros([1e6, 1e6]), ShapeError, /^zeros: shape \[1000000, 1000000\] has 1000000000000 elements; at most 2147483647 \(2\*\*31 - 1\) are supported/);
    throws(() => rand([2 ** 16, 2 ** 16]), ShapeError, /^rand: shape \[65536, 65536\] has 4294967296 elements/);
    throws(() => full([1e300, 0], 1), ShapeError, /^full: size 1e\+300 at index 0 of shape \[1e\+300, 0\] exceeds the limit/);
    expect(zeros([0, 5]).shape).toEqual([0, 5]);
  });
  it('refuses a number where the options go', () => {
    throws(() => zeros(2, 3 as never), ValueError, /^zeros: options must be an object like \{ dtype, device, requiresGrad \}, got number 3 \(a shape of several sizes is one array/);
  });
  it('a refused rand call does not move the seed stream', () => {
    manualSeed(3);
    const first = rand([2]).toArraySync();
    manualSeed(3);
    expect(() => rand([2], { dtype: 'int32' })).toThrow(DTypeError);
    expect(rand([2]).toArraySync()).toEqual(first);
  });
  it('zerosLike keeps the dtype when an explicit undefined dtype is passed', () => {
    expect(zerosLike(tensor([1], { dtype: 'int32' }), { dtype: undefined }).dtype).toBe('int32');
  });
});
