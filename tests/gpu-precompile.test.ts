/**
 * @file precompileWebGPU's collect run (dispatches of kernels not compiled yet are skipped) leaves
 * no state behind: a lazy constant it materialises holds its value, and a compiled function's
 * call-invariant kernels (an arange) still run on its next real call. Both read as zeros for good
 * before (a twelfth-session probe). A file of its own: the kernels must not be cached yet.
 */
import { gpuStatus } from './gpu-setup.ts';
import { describe, expect, it } from 'vitest';
import { arange, full, precompileWebGPU, randn, type Tensor } from '../src/index.ts';
import { jit } from '../src/jit/index.ts';

const gpu = await gpuStatus();
const G = { device: 'webgpu' as const };
const close = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).forEach((v, i) => expect(Math.abs(v - b[i]!)).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(b[i]!))));

describe.skipIf(!gpu.ok)('webgpu: precompile leaves no half-made state', () => {
  it("a compiled function's call-invariant arange runs on the calls after precompileWebGPU", async () => {
    const fn = (x: Tensor) => x.matmul(arange(0, 12, 1, G).reshape([3, 4]).float()).add(1);
    const f = jit(fn);
    const x = randn([5, 3], G);
    f(x); // eager first call
    await precompileWebGPU(() => f(x));
    const want = await fn(x).data();
    for (let i = 0; i < 3; i++) close(await f(x).data(), want);
  });

  it('a lazy constant materialised during the collect run keeps its value', async () => {
    const b = full([3, 4], 3, G);
    const x = randn([5, 3], G);
    await precompileWebGPU(() => x.matmul(b));
    expect(Array.from(await b.data())).toEqual(new Array(12).fill(3));
    const c = full([3, 4], 7, G);
    const f = jit((y: Tensor) => y.matmul(c).relu(), { eagerFirstCall: false });
    await precompileWebGPU(() => f(x));
    expect(Array.from(await c.data())).toEqual(new Array(12).fill(7));
    close(await f(x).data(), await x.matmul(full([3, 4], 7, G)).relu().data());
  });
});
