/**
 * @file Asynchronous pipeline compilation: `precompileWebGPU(fn)` records the kernels `fn` needs
 * and compiles them with createComputePipelineAsync into the same cache the synchronous path
 * uses, so running the ops afterwards creates no pipeline; `Runtime.kernelAsync` shares one
 * promise per key.
 */
import { gpuStatus } from './gpu-setup.ts';
import { describe, expect, it } from 'vitest';
import { precompileWebGPU, tensor, webgpuPipelineKeys, webgpuStats } from '../src/index.ts';
import { getBackend } from '../src/backend.ts';
import type { GpuBackend } from '../src/gpu/backend.ts';

const gpu = await gpuStatus();
const G = { device: 'webgpu' as const };

describe.skipIf(!gpu.ok)('webgpu: asynchronous pipeline compilation', () => {
  it('precompileWebGPU compiles asynchronously; the later synchronous ops create no pipeline', async () => {
    // an expression structure no other test uses, so its kernels are surely not cached yet
    const f = (a: ReturnType<typeof tensor>, b: ReturnType<typeof tensor>) => a.mul(b).add(a).sub(b.mul(3)).abs().sqrt();
    const a0 = [1, 4, 9, 16, 2, 3], b0 = [0.5, -1, 2, 3, -4, 1.5];
    const before = webgpuStats()!.pipelines;
    const keysBefore = new Set(webgpuPipelineKeys());
    const keys = await precompileWebGPU(() => f(tensor(a0, G), tensor(b0, G)));
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) expect(keysBefore.has(k), `${k} was new`).toBe(false);
    const after = webgpuStats()!.pipelines;
    expect(after - before).toBe(keys.length);
    expect(new Set(webgpuPipelineKeys())).toEqual(new Set([...keysBefore, ...keys]));

    // precompiling again finds everything cached
    expect(await precompileWebGPU(() => f(tensor(a0, G), tensor(b0, G)))).toEqual([]);

    const out = await f(tensor(a0, G), tensor(b0, G)).toArray() as number[];
    expect(webgpuStats()!.pipelines).toBe(after); // the synchronous path found them cached
    const want = a0.map((a, i) => Math.sqrt(Math.abs(a * b0[i]! + a - 3 * b0[i]!)));
    out.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5));
  });

  it('covers matmul, reductions and softmax: a precompiled forward pass compiles nothing later', async () => {
    const fwd = () => {
      const x = tensor(Array.from({ length: 6 * 5 }, (_, i) => (i % 7) - 3), G).reshape([6, 5]);
      const w = tensor(Array.from({ length: 5 * 3 }, (_, i) => ((i * 3) % 5) / 4 - 0.5), G).reshape([5, 3]);
      return x.matmul(w).relu().softmax(-1).sum(0);
    };
    expect((await precompileWebGPU(fwd)).some((k) => k.startsWith('matmul'))).toBe(true);
    const n = webgpuStats()!.pipelines;
    const got = await fwd().toArray() as number[];
    expect(webgpuStats()!.pipelines).toBe(n);
    expect(got.reduce((a, b) => a + b, 0)).toBeCloseTo(6, 4); // six rows of a softmax
  });

  it('kernelAsync: concurrent requests share one promise and one pipeline; kernel() then hits', async () => {
    const rt = (getBackend('webgpu') as GpuBackend).rt;
    const key = 'test:async-fill';
    let builds = 0;
    const build = () => {
      builds++;
      return {
        code: [
          'struct U { v: vec4<u32> };',
          '@group(0) @binding(0) var<uniform> u: U;',
          '@group(0) @binding(1) var<storage, read_write> O: array<u32>;',
          '@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {',
          '  if (g.x < u.v.x) { O[g.x] = u.v.y; }',
          '}',
        ].join('\n'),
        bindings: ['rw' as const],
        uniformSlots: 4,
      };
    };
    const before = rt.stats.pipelines;
    const p1 = rt.kernelAsync(key, build), p2 = rt.kernelAsync(key, build);
    expect(p2).toBe(p1);
    const [k1, k2] = await Promise.all([p1, p2]);
    expect(k1).toBe(k2);
    expect(builds).toBe(1);
    expect(rt.stats.pipelines).toBe(before + 1);
    expect(webgpuPipelineKeys()).toContain(key);
    const k3 = rt.kernel(key, build);
    expect(k3).toBe(k1);
    expect(builds).toBe(1);
    expect(rt.stats.pipelines).toBe(before + 1);
    // and it runs
    const buf = rt.acquire(64 * 4);
    rt.dispatch(k3, [buf], new Uint32Array([10, 7, 0, 0]), 1);
    const { data } = await rt.read(buf, 0, 12 * 4);
    rt.release(buf);
    expect(Array.from(new Uint32Array(data)).slice(0, 10)).toEqual(new Array(10).fill(7));
  });

  it('a shader that fails to compile rejects with a DeviceError naming the kernel and is not cached', async () => {
    const rt = (getBackend('webgpu') as GpuBackend).rt;
    const bad = () => ({ code: '@compute @workgroup_size(1) fn main() { let x: u32 = nope; }', bindings: [] as const, uniformSlots: 4 });
    await expect(rt.kernelAsync('test:bad', bad)).rejects.toThrow(/test:bad/);
    expect(webgpuPipelineKeys()).not.toContain('test:bad');
    await rt.ctx.throwPendingErrors().catch(() => {}); // the module's validation error, also collected by the scope
  });

  it('precompileWebGPU rejects async functions', async () => {
    await expect(precompileWebGPU(async () => 1)).rejects.toThrow(/synchronous/);
  });
});
