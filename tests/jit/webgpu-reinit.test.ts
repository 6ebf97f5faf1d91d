/**
 * @file A compiled function outlives a WebGPU device: after destroyWebGPU() and initWebGPU(), calls
 * with new tensors trace again on the new device (its plans for the old one were kept and every
 * call failed with "device was lost" until the function was disposed). A file of its own: it
 * replaces the device.
 */
import { gpuStatus } from '../gpu-setup.ts';
import { describe, expect, it } from 'vitest';
import { arange, destroyWebGPU, initWebGPU, tensor, type Tensor } from '../../src/index.ts';
import { jit } from '../../src/jit/index.ts';

const gpu = await gpuStatus();
const G = { device: 'webgpu' as const };

describe.skipIf(!gpu.ok)('jit across a WebGPU device replaced', () => {
  it('retraces on the new device instead of failing for good', async () => {
    const fn = (x: Tensor) => x.matmul(arange(0, 12, 1, G).reshape([3, 4]).float()).exp().sum(0);
    const f = jit(fn);
    const xv = [1, 0, 0, 0, 1, 0, 0, 0, 0.1, 0.2, 0.1, 0, 0, 0, 0];
    for (let i = 0; i < 3; i++) await f(tensor(xv, G).reshape([5, 3])).data();
    destroyWebGPU();
    await initWebGPU();
    const x = tensor(xv, G).reshape([5, 3]);
    const want = Array.from(await fn(x).data());
    for (let i = 0; i < 3; i++) {
      const got = Array.from(await f(x).data());
      got.forEach((v, k) => expect(Math.abs(v - want[k]!)).toBeLessThanOrEqual(1e-4 * Math.abs(want[k]!)));
    }
    expect(f.stats.entries).toBe(1);
  });
});
