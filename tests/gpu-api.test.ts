/**
 * @file The WebGPU backend's API contract: dtype and device errors, async readback, index errors
 * reported at readback, dispose/scope, in-place writes into views, lazy constants, grid
 * splitting past the per-dimension workgroup limit, and reproducible random numbers.
 */
import { gpuStatus, expectAllClose, expectSameTensor } from './gpu-setup.ts';
import { describe, expect, it } from 'vitest';
import {
  DTypeError, DeviceError, IndexError, UseAfterDisposeError, arange, full, grad, keep, manualSeed, memory, nn, rand,
  randn, scope, tensor, webgpuStats, zeros, type Tensor,
} from '../src/index.ts';
import { getBackend } from '../src/backend.ts';
import type { GpuBackend } from '../src/gpu/backend.ts';

const gpu = await gpuStatus();
const G = { device: 'webgpu' as const };

describe.skipIf(!gpu.ok)('webgpu: dtypes and devices', () => {
  it('float64 is a DTypeError that names the op and says to use the CPU', () => {
    expect(() => tensor(new Float64Array([1, 2]), G)).toThrow(DTypeError);
    expect(() => tensor(new Float64Array([1, 2]), G)).toThrow(/float64.*CPU/);
    const x = tensor([1, 2, 3], G);
    expect(() => x.double()).toThrow(/cast: float64 is not supported on WebGPU/);
    expect(() => full([2], 1, { ...G, dtype: 'float64' })).toThrow(/full: float64/);
  });

  it('synchronous readers throw a DeviceError pointing at the async ones', async () => {
    const x = tensor([1, 2, 3], G);
    expect(() => x.dataSync()).toThrow(DeviceError);
    expect(() => x.dataSync()).toThrow(/await/);
    expect(() => x.sum().itemSync()).toThrow(/no synchronous readback/);
    expect(() => x.to('cpu')).toThrow(/toAsync/);
    expect(await x.toArray()).toEqual([1, 2, 3]);
    expect(await x.sum().item()).toBe(6);
    const c = await x.toAsync('cpu');
    expect(c.device).toBe('cpu');
    expect(c.toArraySync()).toEqual([1, 2, 3]);
    expect(tensor([4, 5]).to('webgpu').device).toBe('webgpu');
  });

  it('mixing devices in one op is a DeviceError', () => {
    const a = tensor([1, 2], G), b = tensor([1, 2]);
    expect(() => a.add(b)).toThrow(DeviceError);
    expect(() => a.add(b)).toThrow(/different devices/);
  });

  it('bool and int32 round-trip exactly', async () => {
    const b = tensor([true, false, true], G);
    expect(b.dtype).toBe('bool');
    expect(await b.toArray()).toEqual([true, false, true]);
    const i = tensor(new Int32Array([-2147483648, 2147483647, 0, -1]), G);
    expect(await i.toArray()).toEqual([-2147483648, 2147483647, 0, -1]);
    expect(await i.add(1).toArray()).toEqual([-2147483647, -2147483648, 1, 0]); // wraps like the CPU
  });
});

describe.skipIf(!gpu.ok)('webgpu: index errors', () => {
  it('an out-of-range gather index is an IndexError at the next readback', async () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]], G);
    const idx = tensor(new Int32Array([0, 3, 1, 0]), { ...G, shape: [2, 2] });
    const y = x.gather(1, idx); // no error yet: kernels cannot throw
    await expect(y.toArray()).rejects.toThrow(IndexError);
    await expect(x.sum().item()).resolves.toBe(21); // the flag was cleared
    const neg = tensor(new Int32Array([-1]), { ...G, shape: [1, 1] });
    await expect(x.gather(0, neg).toArray()).rejects.toThrow(/index -1 is out of range for dim 0 of size 2/);
  });

  it('an out-of-range scatterAdd index is an IndexError too', async () => {
    const base = zeros([3], G);
    const idx = tensor(new Int32Array([0, 5]), G);
    const src = tensor([1, 2], G);
    await expect(base.scatterAdd(0, idx, src).toArray()).rejects.toThrow(/scatterAdd: index 5/);
  });

  it('crossEntropy with a bad class index on WebGPU fails at readback', async () => {
    const logits = randn([4, 3], G);
    const t = tensor(new Int32Array([0, 1, 7, 2]), G);
    await expect(nn.functional.crossEntropy(logits, t).item()).rejects.toThrow(IndexError);
  });
});

describe.skipIf(!gpu.ok)('webgpu: memory', () => {
  it('dispose frees the buffer; using the tensor afterwards is a named error', async () => {
    const before = memory('webgpu').bytesInUse;
    const x = randn([256, 256], G).mul(2);
    await x.sum().item();
    expect(memory('webgpu').bytesInUse).toBeGreaterThan(before);
    x.dispose();
    expect(() => x.add(1)).toThrow(UseAfterDisposeError);
    await expect(x.toArray()).rejects.toThrow(UseAfterDisposeError);
  });

  it('scope() releases intermediates and keeps what escapes', async () => {
    const w = randn([64, 32], { ...G, requiresGrad: true });
    const x = randn([16, 64], G);
    await w.sum().item();
    const inUse0 = memory('webgpu').bytesInUse;
    let inner: Tensor | null = null;
    const loss = scope(() => {
      inner = x.matmul(w).relu();
      const l = inner.square().mean();
      l.backward();
      return l;
    });
    expect(inner!._disposed).toBe(true);
    expect(loss._disposed).toBe(false);
    expect(w.grad).not.toBeNull();
    expect(w.grad!._disposed).toBe(false); // gradients stored into .grad survive
    await loss.item();
    await w.grad!.sum().item();
    // left: the loss (a lazy or 4-byte buffer) and w.grad
    expect(memory('webgpu').bytesInUse - inUse0).toBeLessThanOrEqual(64 * 32 * 4 + 1024);
    expect(() => inner!.add(1)).toThrow(UseAfterDisposeError);
  });

  it('scope() keeps what the autograd graph of a returned tensor saved, so backward works after it', async () => {
    const w = randn([8, 8], { ...G, requiresGrad: true });
    const y = scope(() => w.exp().mul(w).sum());
    const [g] = grad(y, [w]);
    const wc = await w.toAsync('cpu');
    const ref = wc.exp().mul(wc.add(1)).dataSync(); // d/dw Σ w·e^w = e^w (1 + w)
    expectAllClose('grad after scope', await g!.data(), ref, 1e-5, 1e-6);
  });

  it('scope() rejects async callbacks and nests', () => {
    expect(() => scope(async () => 1)).toThrow(TypeError);
    expect(() => scope((() => Promise.resolve(1)) as () => unknown)).toThrow(/synchronous/);
    let a: Tensor | null = null, b: Tensor | null = null;
    const out = scope(() => {
      const kept = scope(() => {
        a = arange(4, undefined, 1, G).float();
        b = a.mul(2);
        return b;
      });
      expect(a!._disposed).toBe(true);
      expect(b!._disposed).toBe(false);
      return keep(kept.add(1));
    });
    expect(b!._disposed).toBe(true);
    expect(out._disposed).toBe(false);
  });

  it('a view returned from a scope keeps its storage', async () => {
    const v = scope(() => arange(6, undefined, 1, G).reshape([2, 3]).t());
    expect(await v.toArray()).toEqual([[0, 3], [1, 4], [2, 5]]);
  });

  it('memory() reports bytes in use and pooled; stats count pipelines', () => {
    const m = memory('webgpu');
    expect(m.bytesInUse).toBeGreaterThan(0);
    expect(m.bytesPooled).toBeGreaterThanOrEqual(0);
    expect(webgpuStats()!.pipelines).toBeGreaterThan(0);
  });
});

describe.skipIf(!gpu.ok)('webgpu: kernels', () => {
  it('in-place writes into strided views and overlapping sources match the CPU', async () => {
    const base = randn([5, 7]);
    const g = base.to('webgpu'), c = base.clone();
    g.t().narrow(0, 1, 3).add_(1);
    c.t().narrow(0, 1, 3).add_(1);
    await expectSameTensor('strided add_', g, c);
    const sq = randn([4, 4]);
    const gs = sq.to('webgpu'), cs = sq.clone();
    gs.copy_(gs.t()); // the source aliases the destination
    cs.copy_(cs.t().clone());
    await expectSameTensor('aliased copy_', gs, cs);
  });

  it('lazy constants: zeros/full cost no kernel until read, zero_ and fill_ work on views', async () => {
    const z = zeros([1000, 1000], G);
    expect(await z.sum().item()).toBe(0);
    const x = randn([3, 4], G);
    x.zero_();
    expect(await x.toArray()).toEqual([[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]);
    x.narrow(1, 1, 2).fill_(7);
    expect(await x.toArray()).toEqual([[0, 7, 7, 0], [0, 7, 7, 0], [0, 7, 7, 0]]);
    const y = full([2, 2], -Infinity, G);
    expect(await y.add(1).toArray()).toEqual([[-Infinity, -Infinity], [-Infinity, -Infinity]]);
  });

  // NOTE: 16² = 256 workgroups still fit the reduction's one-workgroup-per-output grid (120) that
  // hardware adapters choose; the elementwise grid (≥ 49 workgroups) is split either way
  it('grids past maxComputeWorkgroupsPerDimension are split (limit lowered to 16)', async () => {
    const be = getBackend('webgpu') as GpuBackend;
    const limits = be.ctx.limits as { maxComputeWorkgroupsPerDimension: number };
    const saved = limits.maxComputeWorkgroupsPerDimension;
    const a = randn([3, 40, 50]), b = randn([3, 50, 60]), x = randn([200000]);
    const ga = a.to('webgpu'), gb = b.to('webgpu'), gx = x.to('webgpu');
    limits.maxComputeWorkgroupsPerDimension = 16;
    try {
      await expectSameTensor('elementwise', gx.mul(2).add(1), x.mul(2).add(1));
      await expectSameTensor('matmul', ga.matmul(gb), a.matmul(b), 1e-5, 1e-5);
      await expectSameTensor('reduce', ga.sum(2), a.sum(2), 1e-5, 1e-5);
      await expectSameTensor('argmax', ga.argmax(1), a.argmax(1));
    } finally {
      limits.maxComputeWorkgroupsPerDimension = saved;
    }
  });

  it('index arithmetic past 2^24 elements falls back to exact integer division', async () => {
    const n = 4097; // n² = 16,785,409 > 2^24
    const y = arange(n * n, undefined, 1, G).reshape([n, n]).t().contiguous();
    const at = async (i: number, j: number) => (await y.narrow(0, i, 1).narrow(1, j, 1).item());
    for (const [i, j] of [[0, 0], [1, 0], [4096, 4096], [4095, 17], [123, 4000]] as const) expect(await at(i, j)).toBe(j * n + i);
    y.dispose();
  });

  it('the workgroup-memory matmul (for GPUs) matches the CPU on large, batched and transposed operands', async () => {
    const rt = (getBackend('webgpu') as GpuBackend).rt;
    rt.matmulVariant = 'workgroup';
    try {
      const a = randn([3, 130, 70]), b = randn([70, 150]), w = randn([90, 70]);
      const [ga, gb, gw] = [a, b, w].map((t) => t.to('webgpu'));
      await expectSameTensor('batched', ga!.matmul(gb!), a.matmul(b), 1e-5, 1e-4);
      await expectSameTensor('x @ wᵀ', ga!.matmul(gw!.t()), a.matmul(w.t()), 1e-5, 1e-4);
      await expectSameTensor('aᵀ-strided', ga!.transpose(1, 2).matmul(ga!), a.transpose(1, 2).matmul(a), 1e-5, 1e-4);
    } finally {
      rt.matmulVariant = 'auto';
    }
  });

  it('large reductions take the split path and match the CPU', async () => {
    const x = randn([3, 200_000]);
    const g = x.to('webgpu');
    await expectSameTensor('sum all', g.sum(), x.sum(), 1e-4, 1e-3);
    await expectSameTensor('max dim 1', g.amax(1), x.amax(1));
    await expectSameTensor('argmin', g.argmin(1), x.argmin(1));
  });

  it('rand and dropout give the same numbers as the CPU for the same seed', async () => {
    manualSeed(42);
    const c = rand([1000]);
    manualSeed(42);
    const g = rand([1000], G);
    expect(Array.from(await g.data())).toEqual(Array.from(c.dataSync()));
    manualSeed(7);
    const dc = nn.functional.dropout(tensor(new Float32Array(500).fill(1)), 0.3);
    manualSeed(7);
    const dg = nn.functional.dropout(tensor(new Float32Array(500).fill(1), G), 0.3);
    expect(Array.from(await dg.data())).toEqual(Array.from(dc.dataSync()));
  });

  it('maximum/minimum of +0 and −0 are +0/−0 in either order, as on the CPU (WGSL max/min may return either; compiled code reorders operands)', async () => {
    const sgn = (v: ArrayLike<number>) => Array.from(v).map((x) => (Object.is(x, -0) ? '-0' : String(x)));
    const a = tensor([-0, 0, -0, 0], G), b = tensor([0, -0, -0, 0], G);
    for (const [x, y] of [[a, b], [b, a]] as const) {
      expect(sgn(await nn.functional.relu(x).data())).toEqual(['0', '0', '0', '0']);
      expect(sgn(await x.maximum(y).data())).toEqual(['0', '0', '-0', '0']);
      expect(sgn(await x.minimum(y).data())).toEqual(['-0', '-0', '-0', '0']);
    }
  });

  it('conv2d forward and both backward passes match the CPU', async () => {
    const x = randn([2, 3, 9, 8]), w = randn([4, 3, 3, 3]), b = randn([4]);
    const f = (xx: Tensor, ww: Tensor, bb: Tensor) => nn.functional.conv2d(xx, ww, bb, { stride: 2, padding: 1 });
    const [gx, gw, gb] = [x, w, b].map((t) => t.to('webgpu').requiresGrad_());
    const [cx, cw, cb] = [x, w, b].map((t) => t.clone().requiresGrad_());
    const yg = f(gx!, gw!, gb!), yc = f(cx!, cw!, cb!);
    await expectSameTensor('conv2d', yg, yc, 1e-5, 1e-5);
    const dg = grad(yg.square().sum(), [gx!, gw!, gb!]);
    const dc = grad(yc.square().sum(), [cx!, cw!, cb!]);
    for (let i = 0; i < 3; i++) await expectSameTensor(`conv2d grad ${i}`, dg[i]!, dc[i]!, 1e-4, 1e-4);
    const pg = nn.functional.maxPool2d(yg, 2), pc = nn.functional.maxPool2d(yc, 2);
    await expectSameTensor('maxPool2d', pg, pc, 1e-5, 1e-5);
  });
});

describe.skipIf(!gpu.ok)('webgpu: a device the program opened itself', () => {
  it('is described from its adapterInfo, so a software adapter gets the kernels tuned for CPU adapters', async () => {
    const { findGpu } = await import('../src/gpu/platform.ts');
    const { openDevice } = await import('../src/gpu/device.ts');
    const found = await findGpu();
    if (!found.gpu) throw new Error(found.why);
    const adapter = (await found.gpu.requestAdapter())!;
    const device = await adapter.requestDevice();
    try {
      const ctx = await openDevice({ device });
      const mine = getBackend('webgpu') as unknown as GpuBackend;
      expect(ctx.adapter.isSoftware).toBe(mine.ctx.adapter.isSoftware);
      expect(ctx.adapter.description).toBe(mine.ctx.adapter.description);
      expect(ctx.adapter.vendor).toBe(mine.ctx.adapter.vendor);
    } finally {
      device.destroy();
    }
  });
});

describe.skipIf(!gpu.ok)('webgpu: log, log1p, expm1 and tanh agree with the CPU to a few ulp, small and subnormal arguments included', () => {
  const ulps = (a: ArrayLike<number>, b: ArrayLike<number>) => {
    let worst = 0;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (Math.abs(a[i]!) * 2 ** -23 + 1e-45));
    return worst;
  };
  it('over arguments spread across their ranges', async () => {
    const n = 20000;
    const wide = new Float32Array(n), small = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      wide[i] = Math.exp(((i * 7919) % n / n - 0.5) * 170);
      small[i] = ((i % 2) * 2 - 1) * 10 ** (-8 * ((i * 104729) % n) / n);
    }
    const on = async (f: (t: Tensor) => Tensor, xs: Float32Array) => ulps(f(tensor(xs)).dataSync() as Float32Array, await f(tensor(xs, { device: 'webgpu' })).data() as Float32Array);
    expect(await on((t) => t.log(), wide)).toBeLessThan(4);
    for (const f of [(t: Tensor) => t.log1p(), (t: Tensor) => t.expm1(), (t: Tensor) => t.tanh()]) expect(await on(f, small)).toBeLessThan(6);
    // subnormal inputs, and the former worst cases
    const sub = await tensor([1e-40, 5e-39], { device: 'webgpu' }).log().data();
    expect(sub[0]).toBeCloseTo(Math.log(Math.fround(1e-40)), 4);
    expect(sub[1]).toBeCloseTo(Math.log(Math.fround(5e-39)), 4);
    expect((await tensor([1e-8], { device: 'webgpu' }).tanh().data())[0]).toBeCloseTo(1e-8, 13);
  });
});
