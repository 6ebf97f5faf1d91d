/**
 * @file WebGPU readback: values of every dtype and many sizes come back right when reads are
 * interleaved with kernels and issued concurrently; each `data()` returns a fresh array the
 * caller owns; the MAP_READ staging pool stays bounded; and the waiter that throttles Dawn's
 * event polling (src/gpu/device.ts PollThrottle) settles as the awaited promises do.
 */
import { gpuStatus } from './gpu-setup.ts';
import { describe, expect, it } from 'vitest';
import { arange, fromTypedArray, tensor } from '../src/index.ts';
import { getBackend } from '../src/backend.ts';
import type { GpuBackend } from '../src/gpu/backend.ts';
import { PollThrottle } from '../src/gpu/device.ts';
import { bucketBytes } from '../src/gpu/runtime.ts';

const gpu = await gpuStatus();
const G = { device: 'webgpu' as const };
const backend = (): GpuBackend => getBackend('webgpu') as GpuBackend;

/** n float32 values whose every element is distinct and exactly representable. */
function ramp(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = ((i * 7 + seed) % 65536) - 32768 + seed / 8;
  return a;
}

describe.skipIf(!gpu.ok)('webgpu: readback', () => {
  it('reads back many sizes, interleaved with kernels, with the right values', async () => {
    const sizes = [1, 3, 4, 5, 17, 255, 256, 1023, 4096, 4097, 65537, 300_000];
    for (let round = 0; round < 2; round++) {
      for (const n of sizes) {
        const host = ramp(n, n + round);
        const x = fromTypedArray(host, [n], 'float32', 'webgpu');
        const y = x.mul(2).add(1);
        const [dx, dy] = [await x.data(), await y.data()];
        expect(dx).toBeInstanceOf(Float32Array);
        expect(dx.length).toBe(n);
        expect(Array.from(dx)).toEqual(Array.from(host));
        for (let i = 0; i < n; i += Math.max(1, n >> 6)) expect(dy[i]).toBe(host[i]! * 2 + 1);
        x.dispose();
        y.dispose();
      }
    }
  });

  it('concurrent data() calls of different sizes and dtypes all resolve to their own values', async () => {
    const n = [7, 1000, 33_333, 128, 1, 250_000];
    const xs = n.map((k, i) => fromTypedArray(ramp(k, i), [k], 'float32', 'webgpu'));
    // int32 and bool above the size from which the result array is prepared while the GPU works
    const ints = arange(0, 70_000, 1, { device: 'webgpu', dtype: 'int32' });
    const bools = ints.remainder(3).eq(0);
    const reads = [...xs.map((x) => x.data()), ints.data(), bools.data(), xs[1]!.sum().item()];
    const got = await Promise.all(reads);
    n.forEach((k, i) => expect(Array.from(got[i] as Float32Array)).toEqual(Array.from(ramp(k, i))));
    const gi = got[n.length] as Int32Array;
    expect(gi).toBeInstanceOf(Int32Array);
    expect(gi.length).toBe(70_000);
    expect(gi[69_999]).toBe(69_999);
    const gb = got[n.length + 1] as Uint8Array;
    expect(gb).toBeInstanceOf(Uint8Array);
    expect(Array.from(gb.subarray(0, 7))).toEqual([1, 0, 0, 1, 0, 0, 1]);
    expect(gb.length).toBe(70_000);
    expect(gb[69_999]).toBe(1);
    const sum = ramp(1000, 1).reduce((a, b) => a + b, 0);
    expect(Math.abs((got[n.length + 2] as number) - sum)).toBeLessThan(Math.abs(sum) * 1e-6);
  });

  it('each data() returns a fresh array that owns its whole buffer', async () => {
    const x = fromTypedArray(ramp(1000, 5), [1000], 'float32', 'webgpu');
    const a = await x.data(), b = await x.data();
    expect(a.buffer).not.toBe(b.buffer);
    expect(a.byteOffset).toBe(0);
    expect(a.buffer.byteLength).toBe(4000);
    a[0] = 12345;
    expect(b[0]).not.toBe(12345);
    // a large read too (its array is allocated and touched while the copy runs)
    const big = fromTypedArray(ramp(100_000, 2), [100_000], 'float32', 'webgpu');
    const c = await big.data(), d = await big.data();
    expect(c.buffer).not.toBe(d.buffer);
    expect(c.buffer.byteLength).toBe(400_000);
    expect(Array.from(c)).toEqual(Array.from(ramp(100_000, 2)));
    expect((await x.data())[0]).not.toBe(12345);
    // a strided view reads back its own elements
    const m = fromTypedArray(ramp(12, 1), [3, 4], 'float32', 'webgpu');
    const t = await m.transpose(0, 1).data();
    const h = ramp(12, 1);
    expect(Array.from(t)).toEqual([0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11].map((i) => h[i]!));
  });

  it('item() of a 0-d tensor repeated in a loop is correct and reuses one staging buffer', async () => {
    const rt = backend().rt;
    let s = tensor(0, G);
    await s.item();
    const count = rt.stagingPooledCount;
    for (let i = 1; i <= 50; i++) {
      s = s.add(1);
      expect(await s.item()).toBe(i);
    }
    expect(rt.stagingPooledCount).toBe(count);
  });

  it('the staging pool stays bounded across many distinct readback sizes', async () => {
    const rt = backend().rt;
    for (let k = 0; k < 40; k++) {
      const n = 1000 + k * 997;
      const x = fromTypedArray(ramp(n, k), [n], 'float32', 'webgpu');
      const d = await x.data();
      expect(d[n - 1]).toBe(ramp(n, k)[n - 1]);
      x.dispose();
    }
    expect(rt.stagingPooledCount).toBeLessThanOrEqual(16);
    // a readback larger than the byte cap (64 MiB) keeps (only) its own buffer
    const big = 17 * 2 ** 20;
    const x = fromTypedArray(new Float32Array(big).fill(0.5), [big], 'float32', 'webgpu');
    const d = await x.data();
    expect(d[big - 1]).toBe(0.5);
    x.dispose();
    expect(rt.stagingPooledCount).toBe(1);
    expect(rt.stagingPooledBytes).toBe(bucketBytes(big * 4 + 16));
  });

  it('reports out-of-range gather indices at the readback that follows, then reads cleanly', async () => {
    const x = tensor([1, 2, 3], G);
    const bad = x.gather(0, tensor([0, 5], { device: 'webgpu', dtype: 'int32' }));
    await expect(bad.data()).rejects.toThrow(/out of range/);
    expect(Array.from(await x.data())).toEqual([1, 2, 3]);
  });
});

describe('PollThrottle', () => {
  it('settles as the promise does, for concurrent waits, resolutions and rejections', async () => {
    const th = new PollThrottle(0.01, 0.05, 0.2);
    const later = <T>(ms: number, v: T, fail = false) =>
      new Promise<T>((res, rej) => setTimeout(() => (fail ? rej(new Error(String(v))) : res(v)), ms));
    const a = th.wait(later(5, 'a'));
    const b = th.wait(later(1, 'b'));
    const c = th.wait(later(3, 'c', true));
    const d = th.wait(Promise.resolve('d'));
    await expect(c).rejects.toThrow('c');
    expect(await Promise.all([a, b, d])).toEqual(['a', 'b', 'd']);
    expect(th.sleeps).toBeGreaterThan(0);
    // the loop has stopped: a later wait starts it again
    expect(await th.wait(later(2, 'e'))).toBe('e');
  });
});
