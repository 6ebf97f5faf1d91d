/** @file Integer division and remainder by zero are errors (PyTorch raises ZeroDivisionError); floats give ±inf/NaN. */
import { describe, expect, it } from 'vitest';
import { tensor, ValueError } from '../src/index.ts';

const I = (a: number[]) => tensor(a, { dtype: 'int32' });

describe('integer division by zero', () => {
  it('div with a rounding mode and remainder refuse a zero divisor, naming its position', () => {
    expect(() => I([7, -7]).div(I([2, 0]), { roundingMode: 'floor' })).toThrow(ValueError);
    expect(() => I([7, -7]).div(I([2, 0]), { roundingMode: 'floor' })).toThrow(/div: integer division by zero \(divisor of shape \[2\], int32, has a 0 at flat position 1\)/);
    expect(() => I([7, -7]).div(0, { roundingMode: 'trunc' })).toThrow(/div: integer division by zero/);
    expect(() => I([7, -7]).remainder(0)).toThrow(/remainder: integer division by zero/);
    expect(() => I([7, -7]).remainder(I([3, 0]))).toThrow(/remainder: integer division by zero/);
  });

  it('non-zero integer divisors and float division by zero still work', () => {
    expect(I([7, -7]).div(2, { roundingMode: 'floor' }).toArraySync()).toEqual([3, -4]);
    expect(I([7, -7]).remainder(3).toArraySync()).toEqual([1, 2]);
    expect(I([7, -7]).div(0).toArraySync()).toEqual([Infinity, -Infinity]);
    expect((tensor([7]).remainder(0).toArraySync() as number[])[0]).toBeNaN();
  });
});
