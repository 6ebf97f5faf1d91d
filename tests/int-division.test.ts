/**
 * @file Integer division and remainder by zero are errors (PyTorch raises ZeroDivisionError);
 * floats give ±inf/NaN. Eagerly on the CPU at the op; on WebGPU at the next readback; in compiled
 * functions when they run (CPU) or at the next readback (WebGPU).
 */
import { describe, expect, it } from 'vitest';
import { tensor, ValueError, type Tensor } from '../src/index.ts';
import { jit } from '../src/jit/index.ts';
import { gpuStatus } from './gpu-setup.ts';

const gpu = await gpuStatus();
const I = (a: number[], device: 'cpu' | 'webgpu' = 'cpu') => tensor(a, { dtype: 'int32', device });

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

  it('compiled on the CPU: the call that divides by zero throws, one that does not computes', () => {
    const f = jit((a: Tensor, b: Tensor) => [a.div(b, { roundingMode: 'floor' }), a.remainder(b)], { eagerFirstCall: false });
    const [q, r] = f(I([7, -7, 9]), I([2, 3, -4]));
    expect(q!.toArraySync()).toEqual([3, -3, -3]);
    expect(r!.toArraySync()).toEqual([1, 2, -3]);
    expect(() => f(I([7, -7, 9]), I([2, 0, -4]))).toThrow(ValueError);
    expect(() => f(I([7, -7, 9]), I([2, 0, -4]))).toThrow(/div: integer division by zero \(a divisor is 0/);
    const g = jit((a: Tensor, b: Tensor) => a.remainder(b), { eagerFirstCall: false });
    expect(() => g(I([1, 2]), I([0, 1]))).toThrow(/remainder: integer division by zero/);
    expect(g(I([5, 2]), I([3, 1])).toArraySync()).toEqual([2, 0]);
  });
});

describe.skipIf(!gpu.ok)('integer division by zero on WebGPU', () => {
  it('is reported at the next readback, eagerly and compiled; good divisors compute', async () => {
    const W = (a: number[]) => I(a, 'webgpu');
    expect(await W([7, -7]).div(W([2, 3]), { roundingMode: 'floor' }).toArray()).toEqual([3, -3]);
    expect(await W([7, -7]).remainder(3).toArray()).toEqual([1, 2]);
    const q = W([7, -7]).div(W([2, 0]), { roundingMode: 'trunc' });
    await expect(q.toArray()).rejects.toThrow(/div: integer division by zero \(a divisor is 0; reported by a WebGPU kernel at this readback/);
    await expect(W([7, -7]).remainder(0).toArray()).rejects.toThrow(ValueError);
    // the flag is cleared by the readback that reported it
    expect(await W([8]).div(W([2]), { roundingMode: 'floor' }).toArray()).toEqual([4]);
    const f = jit((a: Tensor, b: Tensor) => a.remainder(b), { eagerFirstCall: false });
    expect(await f(W([7, -7]), W([3, 3])).toArray()).toEqual([1, 2]);
    await expect(f(W([7, -7]), W([3, 0])).toArray()).rejects.toThrow(/remainder: integer division by zero/);
    expect(await f(W([5]), W([3])).toArray()).toEqual([2]);
  });
});
