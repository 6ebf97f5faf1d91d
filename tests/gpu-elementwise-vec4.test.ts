/**
 * @file The vec4 elementwise kernel (src/gpu/kernels/elementwise.ts `runVec4`): contiguous runs
 * read and written four elements at a time. Checks that it is the kernel that runs, the partial
 * last vec4 (nothing past the run is written), outputs inside a larger buffer, broadcast scalars
 * at any element offset, bool and int32, index-based sources, and that unaligned views take the
 * scalar kernel with the same results.
 */
import { describe, expect, it } from 'vitest';
import { arange, fromTypedArray, tensor, where, type Tensor } from '../src/index.ts';
import { getBackend } from '../src/backend.ts';
import type { GpuBackend } from '../src/gpu/backend.ts';
import { gpuStatus } from './gpu-setup.ts';

const gpu = await gpuStatus();

/** Runs `f` and returns the keys of the kernels it dispatched. */
async function kernelsOf(f: () => Promise<unknown>): Promise<string[]> {
  const rt = (getBackend('webgpu') as GpuBackend).rt;
  const keys: string[] = [];
  const prev = rt.onDispatch;
  rt.onDispatch = (k) => { keys.push(k.key); };
  try {
    await f();
  } finally {
    rt.onDispatch = prev;
  }
  return keys;
}

const ramp = (n: number, from = 1) => Float32Array.from({ length: n }, (_, i) => from + i);
const gpuT = (a: Float32Array | Int32Array, dtype: 'float32' | 'int32' = 'float32'): Tensor => fromTypedArray(a, [a.length], dtype, 'webgpu');

describe.runIf(gpu.ok)('webgpu elementwise: vec4 kernel', () => {
  it('runs for contiguous operands, with every length 2…13 (partial last vec4)', async () => {
    // (one element collapses to rank 0: the scalar kernel)
    for (let n = 2; n <= 13; n++) {
      const a = ramp(n), b = ramp(n, -3);
      let got: Float32Array | null = null;
      const keys = await kernelsOf(async () => { got = (await gpuT(a).mul(gpuT(b)).add(0.5).data()) as Float32Array; });
      expect(keys.some((k) => k.startsWith('ew4:')), `n=${n}: ${keys.join(', ')}`).toBe(true);
      expect(Array.from(got!)).toEqual(Array.from(a, (v, i) => Math.fround(Math.fround(v * b[i]!) + 0.5)));
    }
  });

  it('writes only its run into a larger buffer: a slice at an aligned offset, length 7', async () => {
    const big = gpuT(new Float32Array(20).fill(-1));
    const src = gpuT(ramp(7));
    const keys = await kernelsOf(async () => { big.narrow(0, 4, 7).copy_(src.mul(2)); await big.data(); });
    expect(keys.filter((k) => k.startsWith('ew4:')).length).toBeGreaterThanOrEqual(2); // the mul and the copy
    const want = new Array(20).fill(-1);
    for (let i = 0; i < 7; i++) want[4 + i] = 2 * (i + 1);
    expect(Array.from(await big.data())).toEqual(want);
  });

  it('an unaligned view (offset 2) takes the scalar kernel, with the same results', async () => {
    const x = gpuT(ramp(12));
    const v = x.narrow(0, 2, 9);
    const keys = await kernelsOf(async () => { expect(Array.from(await v.neg().data())).toEqual(Array.from(ramp(9, 3), (t) => -t)); });
    expect(keys.some((k) => k.startsWith('ew4:'))).toBe(false);
    expect(keys.some((k) => k.startsWith('ew:'))).toBe(true);
  });

  it('broadcast scalars at any element offset; in place over an operand', async () => {
    const s = gpuT(Float32Array.of(10, 20, 30, 40, 50, 60));
    const x = gpuT(ramp(11));
    for (let at = 0; at < 6; at++) {
      const sc = s.narrow(0, at, 1).expand(11);
      expect(Array.from(await x.add(sc).data())).toEqual(Array.from(ramp(11), (t) => t + 10 * (at + 1)));
    }
    const y = gpuT(ramp(9));
    y.mul_(3);
    expect(Array.from(await y.data())).toEqual(Array.from(ramp(9), (t) => 3 * t));
  });

  it('bool and int32 operands and results; index-based sources', async () => {
    const x = gpuT(Float32Array.of(-2, 0, 3, -0.5, 7, NaN, -1));
    expect(Array.from(await x.gt(0).data())).toEqual([0, 0, 1, 0, 1, 0, 0]);
    expect(Array.from(await where(x.gt(0), x, tensor(-9, { device: 'webgpu' })).data())).toEqual([-9, -9, 3, -9, 7, -9, -9]);
    const i = gpuT(Int32Array.of(5, -6, 7, 8, 9), 'int32');
    expect(Array.from(await i.mul(i).sub(1).data())).toEqual([24, 35, 48, 63, 80]);
    for (const n of [1, 4, 5, 10]) {
      expect(Array.from(await arange(0, n, 1, { device: 'webgpu' }).data())).toEqual(Array.from({ length: n }, (_, k) => k));
    }
  });
});
