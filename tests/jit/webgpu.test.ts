/**
 * @file jit on WebGPU: fused kernels are rendered to WGSL by the backend's own templates (one
 * bigger expression, a matmul epilogue, a reduction prologue), run by the WebGPU executor over
 * planned buffers; results match the CPU; training steps match eager; memory does not grow with
 * calls. Skipped, loudly, where no adapter exists (CI installs a software one).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeviceError, IndexError, Tensor, cat, grad, tensor, exp, manualSeed, noGrad, randn, randint, reciprocal, webgpuStats } from '../../src/index.ts';
import { getBackend } from '../../src/backend.ts';
import type { GpuBackend } from '../../src/gpu/backend.ts';
import { jit, fn, shared, T, type JitOptions } from '../../src/jit/index.ts';
import { Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential, functional as NF, type TensorModule } from '../../src/nn/index.ts';
import { SGD, Adam } from '../../src/optim/index.ts';
import * as F from '../../src/ops/functional.ts';
import { gpuStatus, expectAllClose } from '../gpu-setup.ts';
import { classifierStep } from '../helpers/train-step.ts';

const gpu = await gpuStatus();
const d = describe.skipIf(!gpu.ok);

d('jit on WebGPU', () => {
  it('fuses the logistic and a + a**10 into one WGSL kernel each and matches the CPU', async () => {
    const xc = randn([1000]);
    const x = xc.to('webgpu');
    const logistic = jit((a: Tensor) => reciprocal(exp(a.neg()).add(1)), { eagerFirstCall: false });
    const ps = jit((a: Tensor) => a.add(a.pow(10)), { eagerFirstCall: false });
    expect(logistic.lower(x).kernels).toHaveLength(1);
    expect(ps.lower(x).kernels).toHaveLength(1);
    expect(logistic.lower(x).device).toBe('webgpu');
    expectAllClose('logistic', await logistic(x).data(), xc.sigmoid().dataSync(), 1e-5, 1e-6);
    expectAllClose('a + a**10', await ps(x).data(), xc.add(xc.pow(10)).dataSync(), 1e-5, 1e-5);
    // introspection: once run, each kernel's source is the WGSL it dispatched
    const [k] = logistic.lower(x).kernels;
    expect(k!.source).toMatch(/^\/\/ sigmoid\(in0:float32\)\n/);
    expect(k!.source).toContain('@compute');
    // contiguous: read and written as vec4
    expect(k!.source).toContain('var<storage, read_write> O: array<vec4<f32>>');
  });

  it('random programs of elementwise, reduction, view and matmul ops equal the CPU', async () => {
    const ops: ((a: Tensor) => Tensor)[] = [
      (a) => a.exp().mul(a.sin()).sum(-1),
      (a) => F.matmul(a.t(), a).relu().add(1).log(),
      (a) => a.sub(a.amax(0, true)).exp().div(a.sub(a.amax(0, true)).exp().sum(0, true)),
      (a) => a.reshape(-1).narrow(0, 1, a.numel - 1).tanh().mean(),
      (a) => F.where(a.gt(0), a.mul(2), a.neg()).unsqueeze(0).expand(3, ...a.shape).sum(0),
    ];
    const cases: { shape: number[]; op: number }[] = [];
    fc.assert(fc.property(fc.array(fc.integer({ min: 2, max: 5 }), { minLength: 2, maxLength: 2 }), fc.nat(ops.length - 1), (shape, op) => {
      cases.push({ shape, op });
    }), { numRuns: 10, seed: 3 });
    for (const c of cases) {
      const xc = randn(c.shape);
      const f = ops[c.op]!;
      const got = jit(f, { eagerFirstCall: false })(xc.to('webgpu'));
      expect(got.device).toBe('webgpu');
      expectAllClose(`op ${c.op} on [${c.shape}]`, await got.data(), f(xc).dataSync(), 1e-4, 1e-5);
    }
  });

  it('fuses bias + ReLU into the matmul as an epilogue (both matmul templates) and matches the CPU', async () => {
    const rt = (getBackend('webgpu') as unknown as GpuBackend).rt;
    const xc = randn([33, 20]), wc = randn([24, 20]), bc = randn([24]);
    const [x, w, b] = [xc, wc, bc].map((t) => t.to('webgpu')) as [Tensor, Tensor, Tensor];
    const f = (xx: Tensor, ww: Tensor, bb: Tensor) => NF.linear(xx, ww, bb).relu();
    const want = f(xc, wc, bc).dataSync();
    for (const variant of ['register', 'workgroup'] as const) {
      rt.matmulVariant = variant;
      try {
        const g = jit(f, { eagerFirstCall: false });
        const ks = g.lower(x, w, b).kernels;
        expect(ks.map((k) => k.kind)).toEqual(['matmul']);
        expect(ks[0]!.fused).toBe(2);
        expect(ks[0]!.source).toMatch(/relu\(add/);
        expectAllClose(`linear+relu (${variant})`, await g(x, w, b).data(), want, 1e-4, 1e-5);
      } finally {
        rt.matmulVariant = 'auto';
      }
    }
    // batched, with a broadcast bias and a second operand read at the store
    const ac = randn([3, 17, 8]), bmc = randn([8, 12]), cc = randn([3, 1, 12]);
    const h = (a: Tensor, bm: Tensor, c: Tensor) => a.matmul(bm).mul(c).add(a.sum(-1, true)).tanh();
    const hg = jit(h, { eagerFirstCall: false });
    expectAllClose('batched epilogue', await hg(ac.to('webgpu'), bmc.to('webgpu'), cc.to('webgpu')).data(), h(ac, bmc, cc).dataSync(), 1e-4, 1e-5);
    expect(hg.lower(ac.to('webgpu'), bmc.to('webgpu'), cc.to('webgpu')).kernels.some((k) => k.kind === 'matmul' && k.fused > 0)).toBe(true);
  });

  it('stores a matmul epilogue four columns at a time where n and the operands allow, elsewhere one by one, with the same values', async () => {
    const rt = (getBackend('webgpu') as unknown as GpuBackend).rt;
    const vec4Out = /var<storage, read_write> O: array<vec4<(f32|i32)>>/;
    const check = async (label: string, f: (...t: Tensor[]) => Tensor, args: Tensor[], vec: boolean) => {
      rt.matmulVariant = 'register';
      try {
        const g = jit(f, { eagerFirstCall: false });
        const dev = args.map((t) => t.to('webgpu'));
        const ks = g.lower(...dev).kernels.filter((k) => k.kind === 'matmul');
        expect(ks.length, label).toBe(1);
        const got = await g(...dev).data();
        expect(vec4Out.test(ks[0]!.source), `${label}: vec4 stores`).toBe(vec);
        expectAllClose(label, got, f(...args).dataSync(), 1e-4, 1e-5);
      } finally {
        rt.matmulVariant = 'auto';
      }
    };
    const x = randn([9, 20]);
    // n = 24: a per-column bias (unit column stride) and a per-row operand (column stride 0)
    await check('bias, per-row scale, n = 24', (a, w, b, r) => NF.linear(a, w, b).mul(r).relu(), [x, randn([24, 20]), randn([24]), randn([9, 1])], true);
    // n = 22: one column at a time
    await check('n = 22', (a, w, b) => NF.linear(a, w, b).relu(), [x, randn([22, 20]), randn([22])], false);
    // an operand at an offset that is not a multiple of 4: one column at a time
    await check('operand at offset 1', (a, w, c) => a.matmul(w.t()).add(c.narrow(1, 1, 8)), [x, randn([8, 20]), randn([9, 9])], false);
    // int32 product with an int32 epilogue
    const ai = randint(-5, 5, [7, 6]), bi = randint(-5, 5, [6, 12]), ci = randint(-5, 5, [12]);
    await check('int32', (a, b, c) => a.matmul(b).add(c).mul(2), [ai, bi, ci], true);
  });

  it('computes max(…).values in its argmax\'s kernel (no gather) and matches the CPU, NaN and ties included', async () => {
    const xc = tensor([[1, 3, 3, -2], [NaN, 5, 0, 1], [-0, 0, -1, -3]]);
    const f = (a: Tensor) => { const m = a.max(1, true); const n = a.t().min(0); return [m.values, m.indices, n.values.mul(2), n.indices]; };
    const j = jit(f, { eagerFirstCall: false });
    const x = xc.to('webgpu');
    expect(j.lower(x).kernels.some((k) => k.label.includes('gather'))).toBe(false);
    const got = j(x) as Tensor[], want = f(xc) as Tensor[];
    for (let i = 0; i < got.length; i++) expect(Array.from(await got[i]!.data()).map(String)).toEqual(Array.from(want[i]!.dataSync()).map(String));
  });

  it('a split reduction (≥ 32768 elements) with an epilogue of another dtype sums in its own dtype', async () => {
    const n = 40000;
    const xc = noGrad(() => F.add(F.mul(F.onesLike(randn([n])), 1.5), F.mul(randn([n]), 0.01)));
    const x = xc.to('webgpu');
    const cases: ((a: Tensor) => Tensor[])[] = [
      (a) => [F.cast(a.sum(), 'int32')],
      (a) => [a.sum().gt(20000)],
      (a) => { const m = F.amin(a, 0); return [m, m.gt(-1)]; },
    ];
    for (const f of cases) {
      const got = jit(f, { eagerFirstCall: false })(x), want = f(xc);
      for (let i = 0; i < got.length; i++) expectAllClose(`output ${i}`, await got[i]!.data(), want[i]!.dataSync(), 1e-5, 1e-6);
    }
  });

  it('runs a comparison after a matmul as its epilogue (a bool result stored at the store) and matches the CPU', async () => {
    const xc = randn([6, 3]), wc = randn([3, 1]);
    const f = (x: Tensor, w: Tensor) => F.matmul(x, w).gt(0.1);
    const g = jit(f, { eagerFirstCall: false });
    const args = [xc.to('webgpu'), wc.to('webgpu')] as const;
    expect(g.lower(...args).kernels.map((k) => k.kind)).toEqual(['matmul']);
    expect(Array.from(await g(...args).data())).toEqual(Array.from(f(xc, wc).dataSync()));
  });

  it('runs a convolution\'s bias + ReLU as the epilogue of its matmul, through the reshape', async () => {
    const xc = randn([3, 2, 9, 9]), wc = randn([5, 2, 3, 3]), bc = randn([5]);
    const f = (x: Tensor, w: Tensor, b: Tensor) => NF.conv2d(x, w, b, { padding: 1 }).relu();
    const g = jit(f, { eagerFirstCall: false });
    const args = [xc, wc, bc].map((t) => t.to('webgpu')) as [Tensor, Tensor, Tensor];
    const ks = g.lower(...args).kernels;
    expect(ks.some((k) => k.kind === 'matmul' && k.fused >= 2)).toBe(true);
    expect(ks.some((k) => k.kind === 'elementwise')).toBe(false);
    expectAllClose('conv2d + bias + relu', await g(...args).data(), f(xc, wc, bc).dataSync(), 1e-4, 1e-5);
  });

  it('stores a gradient and the parameter update computed from it in one matmul or reduction (plain SGD, .grad kept)', async () => {
    const run = async (useJit: boolean) => {
      manualSeed(9);
      const w1 = randn([16, 12]).to('webgpu').requiresGrad_(), w2 = randn([3, 16]).to('webgpu').requiresGrad_();
      const b1 = randn([16]).to('webgpu').requiresGrad_(), b2 = randn([3]).to('webgpu').requiresGrad_();
      const ps = [w1, b1, w2, b2];
      const x = randn([20, 12]).to('webgpu'), y = randint(0, 3, [20]).to('webgpu');
      const body = (xb: Tensor, yb: Tensor) => {
        for (const p of ps) p.grad = null;
        const loss = NF.crossEntropy(NF.linear(NF.linear(xb, w1, b1).relu(), w2, b2), yb);
        loss.backward();
        noGrad(() => { for (const p of ps) p.sub_(p.grad!.mul(0.1)); });
        return loss;
      };
      const step = useJit ? jit(body) : body;
      for (let i = 0; i < 4; i++) await step(x, y).item();
      const out: number[] = [];
      for (const p of ps) out.push(...(await p.data()), ...(await p.grad!.data()));
      if (useJit) {
        const ks = (step as ReturnType<typeof jit<[Tensor, Tensor], Tensor>>).lower(x, y).kernels;
        expect(ks.filter((k) => k.kind === 'matmul' && /keeping the product/.test(k.source))).toHaveLength(2);
        expect(ks.filter((k) => k.kind === 'reduce' && /keeping the result/.test(k.source))).toHaveLength(2);
      }
      return out;
    };
    const e = await run(false), j = await run(true);
    expectAllClose('parameters and gradients', j, e, 1e-4, 1e-5);
  });

  it('runs elementwise consumers of a reduction at its store (serial, tree and split kernels)', async () => {
    // [8, 40] serial; [4, 4096] tree (few outputs on a CPU adapter); [4, 6, 100, 100] split (6 outputs of 40,000 elements)
    const cases: [number[], number[], number][] = [[[8, 40], [0], 40], [[4, 4096], [1], 4], [[4, 6, 100, 100], [0, 2, 3], 6]];
    for (const [shape, dims, outN] of cases) {
      const xc = randn(shape), bc = randn([outN]);
      const f = (x: Tensor, b: Tensor) => x.sum(dims).mul(0.5).add(b).tanh();
      const g = jit(f, { eagerFirstCall: false });
      const ks = g.lower(xc.to('webgpu'), bc.to('webgpu')).kernels;
      expect(ks.map((k) => k.kind), `[${shape}]`).toEqual(['reduce']);
      expectAllClose(`reduce epilogue [${shape}]`, await g(xc.to('webgpu'), bc.to('webgpu')).data(), f(xc, bc).dataSync(), 1e-4, 1e-4);
    }
  });

  it('fuses elementwise producers into reductions (several loads, broadcasts, views) and matches the CPU', async () => {
    const ac = randn([37, 29]), bc = randn([29]), cc = randn([29, 37]);
    const f = (a: Tensor, b: Tensor, c: Tensor) => [a.sub(b).pow(2).sum(1), a.mul(c.t()).exp().amax(0), a.add(b).abs().sum()];
    const g = jit(f, { eagerFirstCall: false });
    const args = [ac, bc, cc].map((t) => t.to('webgpu')) as [Tensor, Tensor, Tensor];
    const ks = g.lower(...args).kernels;
    expect(ks.filter((k) => k.kind === 'reduce' && k.fused > 0)).toHaveLength(3);
    expect(ks).toHaveLength(3);
    const got = g(...args), want = f(ac, bc, cc);
    for (let i = 0; i < 3; i++) expectAllClose(`reduction ${i}`, await got[i]!.data(), want[i]!.dataSync(), 1e-4, 1e-4);
  });

  it('writes updates straight into states (in an elementwise kernel and in a matmul epilogue)', async () => {
    const wc = randn([6, 5]), vc = randn([6, 5]);
    const w = wc.to('webgpu'), v = vc.to('webgpu');
    const xc = randn([4, 6]), gc = randn([4, 5]);
    // v ← 0.9 v + xᵀg (the product's epilogue reads v where it writes it); w ← w − 0.1 v
    const step = jit((x: Tensor, g: Tensor) => {
      noGrad(() => {
        v.mul_(0.9).add_(x.t().matmul(g));
        w.sub_(v.mul(0.1));
      });
      return w.sum();
    }, { eagerFirstCall: false });
    let we = wc, ve = vc;
    for (let i = 0; i < 3; i++) {
      const s = step(xc.to('webgpu'), gc.to('webgpu'));
      ve = ve.mul(0.9).add(xc.t().matmul(gc));
      we = we.sub(ve.mul(0.1));
      expectAllClose(`sum at step ${i}`, [await s.item()], [we.sum().itemSync()], 1e-4, 1e-4);
    }
    expectAllClose('v', await v.data(), ve.dataSync(), 1e-4, 1e-5);
    expectAllClose('w', await w.data(), we.dataSync(), 1e-4, 1e-5);
    // both updates are written by the kernels computing them: no copies after the run
    const low = step.lower(xc.to('webgpu'), gc.to('webgpu'));
    expect(low.launches).toBe(low.kernels.length);
    expect(low.kernels.some((k) => k.kind === 'matmul' && k.fused > 0)).toBe(true);
  });

  it('the backend-neutral executor still runs (executor: generic)', async () => {
    const xc = randn([16, 12]), wc = randn([8, 12]), bc = randn([8]);
    const f = (x: Tensor, w: Tensor, b: Tensor) => NF.linear(x, w, b).relu().sum(0);
    const g = jit(f, { eagerFirstCall: false, executor: 'generic' });
    expectAllClose('generic', await g(xc.to('webgpu'), wc.to('webgpu'), bc.to('webgpu')).data(), f(xc, wc, bc).dataSync(), 1e-4, 1e-5);
  });

  it('kernels reading more buffers than the device binds are split, and match the CPU', async () => {
    const limit = (getBackend('webgpu') as unknown as GpuBackend).ctx.limits.maxStorageBuffersPerShaderStage;
    const xs = Array.from({ length: limit + 3 }, () => randn([5, 7]));
    const f = (...a: Tensor[]) => a.reduce((acc, t, i) => acc.add(t.mul(i + 1)), a[0]!.mul(0)).relu();
    const g = jit(f, { eagerFirstCall: false });
    const gs = xs.map((t) => t.to('webgpu'));
    expect(g.lower(...gs).kernels.length).toBeGreaterThan(1);
    expectAllClose(`${xs.length} inputs`, await g(...gs).data(), f(...xs).dataSync(), 1e-5, 1e-5);
  });

  it('a jit-wrapped MLP training step (SGD with momentum, Adam) matches eager on WebGPU', async () => {
    manualSeed(4);
    const x = randn([16, 12]).to('webgpu'), y = randint(0, 3, [16]).to('webgpu');
    for (const make of [(ps: Tensor[]) => new SGD(ps, { lr: 0.1, momentum: 0.9 }), (ps: Tensor[]) => new Adam(ps, { lr: 0.01 })]) {
      const { eager: e, jit: j } = await trainBoth(() => new Sequential(new Linear(12, 16), new ReLU(), new Linear(16, 3)), make, x, y, 5);
      expectAllClose('losses', j.losses, e.losses, 1e-4, 1e-5);
      expectAllClose('parameters', j.params, e.params, 1e-4, 1e-5);
    }
  });
});

/** Runs `steps` training steps eagerly and under jit; returns losses and final parameters of each. */
async function trainBoth(makeModel: () => TensorModule, makeOpt: (ps: Tensor[]) => { zeroGrad(): void; step(): void }, x: Tensor, y: Tensor, steps: number, opts: JitOptions = {}) {
  const run = async (useJit: boolean) => {
    manualSeed(7);
    const model = makeModel().to('webgpu');
    const opt = makeOpt(model.parameters());
    const step = classifierStep(model, opt, useJit, opts);
    const losses: number[] = [];
    for (let i = 0; i < steps; i++) losses.push(await step(x, y).item());
    const params: number[] = [];
    for (const p of model.parameters()) params.push(...(await p.data()));
    return { losses, params };
  };
  return { eager: await run(false), jit: await run(true) };
}

d('jit on WebGPU: training', () => {
  it('a LeNet-style convnet step (SGD with momentum) matches eager after several steps', async () => {
    manualSeed(5);
    const x = randn([8, 1, 12, 12]).to('webgpu'), y = randint(0, 4, [8]).to('webgpu');
    const { eager, jit: j } = await trainBoth(
      () => new Sequential(new Conv2d(1, 4, 3, { padding: 1 }), new ReLU(), new MaxPool2d(2), new Conv2d(4, 6, 3), new ReLU(), new MaxPool2d(2), new Flatten(), new Linear(24, 16), new ReLU(), new Linear(16, 4)),
      (ps) => new SGD(ps, { lr: 0.05, momentum: 0.9 }), x, y, 6,
    );
    expectAllClose('losses', j.losses, eager.losses, 1e-3, 1e-4);
    expectAllClose('parameters', j.params, eager.params, 1e-3, 1e-4);
  });

  it('max-pool and cross-entropy gradients run as fused one-hot selects (scatter-pick), with eager values', async () => {
    const build = (device: 'cpu' | 'webgpu') => {
      manualSeed(9);
      const model = new Sequential(new Conv2d(2, 3, 3, { padding: 1 }), new ReLU(), new MaxPool2d(2), new Flatten(), new Linear(48, 3)).to(device);
      const conv = model.parameters()[0]!;
      return (xb: Tensor, yb: Tensor) => {
        for (const p of model.parameters()) p.grad = null;
        const loss = NF.crossEntropy(model.forward(xb), yb);
        loss.backward();
        return [loss, conv.grad!.mul(1)];
      };
    };
    manualSeed(10);
    const xc = randn([4, 2, 8, 8]), yc = randint(0, 3, [4]);
    const x = xc.to('webgpu'), y = yc.to('webgpu');
    const f = build('webgpu');
    const j = jit(f, { eagerFirstCall: false });
    const low = j.lower(x, y);
    expect(low.passes.flatMap((p) => p.fired ?? [])).toContain('scatter-pick');
    expect(low.kernels.some((k) => k.label.includes('scatterAdd'))).toBe(false);
    const [le, ge] = f(x, y), [lj, gj] = j(x, y);
    expectAllClose('loss', await lj!.data(), await le!.data(), 1e-5, 1e-6);
    expectAllClose('conv weight gradient', await gj!.data(), await ge!.data(), 1e-4, 1e-5);
    // on the CPU the scatter stays (a tight loop there)
    const jc = jit(build('cpu'), { eagerFirstCall: false });
    expect(jc.lower(xc, yc).passes.flatMap((p) => p.fired ?? [])).not.toContain('scatter-pick');
    // only the gradient returned: the loss's gather is dead, so the scatter keeps the range check
    const gradOnly = jit((a: Tensor, t: Tensor) => grad(NF.crossEntropy(a, t), [a])[0]!, { eagerFirstCall: false });
    const logits = randn([3, 4]).to('webgpu').requiresGrad_();
    await expect(gradOnly(logits, tensor([0, 4, 1], { dtype: 'int32' }).to('webgpu')).data()).rejects.toThrow(IndexError);
    // a gather another rule removes (g·0 → 0, g**0 → 1) checks nothing either
    for (const kill of [(t: Tensor) => t.mul(0), (t: Tensor) => t.pow(0)]) {
      const h = jit((a: Tensor, i: Tensor, v: Tensor) => [kill(F.gather(a, 1, i)), F.scatterAdd(F.zerosLike(a), 1, i, v)], { eagerFirstCall: false });
      const outs = h(randn([3, 4]).to('webgpu'), tensor([[0], [4], [1]], { dtype: 'int32' }).to('webgpu'), randn([3, 1]).to('webgpu'));
      await expect(outs[1]!.data()).rejects.toThrow(IndexError);
    }
    const ok = gradOnly(logits, tensor([0, 3, 1], { dtype: 'int32' }).to('webgpu'));
    expectAllClose('gradient', await ok.data(), await grad(NF.crossEntropy(logits, tensor([0, 3, 1], { dtype: 'int32' }).to('webgpu')), [logits])[0]!.data(), 1e-5, 1e-6);
  });

  it('an MLP step with Adam matches eager after 10 steps, with and without the generic executor', async () => {
    manualSeed(6);
    const x = randn([32, 20]).to('webgpu'), y = randint(0, 5, [32]).to('webgpu');
    const mk = () => new Sequential(new Linear(20, 32), new ReLU(), new Linear(32, 5));
    for (const opts of [{}, { executor: 'generic' } as const]) {
      const { eager, jit: j } = await trainBoth(mk, (ps) => new Adam(ps, { lr: 0.01 }), x, y, 10, opts);
      expectAllClose('losses', j.losses, eager.losses, 1e-4, 1e-5);
      expectAllClose('parameters', j.params, eager.params, 1e-4, 1e-5);
    }
  });

  it('a compiled step allocates nothing per call beyond its outputs (memory does not grow)', async () => {
    manualSeed(8);
    const model = new Sequential(new Linear(64, 32), new ReLU(), new Linear(32, 10)).to('webgpu');
    const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
    const x = randn([16, 64]).to('webgpu'), y = randint(0, 10, [16]).to('webgpu');
    const step = jit((xb: Tensor, yb: Tensor) => {
      opt.zeroGrad();
      const loss = NF.crossEntropy(model.forward(xb), yb);
      loss.backward();
      opt.step();
      return loss;
    });
    const one = async () => {
      const l = step(x, y);
      await l.item();
      l.dispose();
      for (const p of model.parameters()) { p.grad?.dispose(); p.grad = null; }
    };
    for (let i = 0; i < 5; i++) await one();
    const s0 = webgpuStats()!;
    for (let i = 0; i < 40; i++) await one();
    const s1 = webgpuStats()!;
    expect(s1.bytesInUse).toBeLessThanOrEqual(s0.bytesInUse);
    expect(s1.buffersCreated - s0.buffersCreated).toBe(0);
    expect(step.stats.traces).toBe(1);
  });
});

d('jit on WebGPU: bad input', () => {
  it('names the devices when a function mixes them', () => {
    const w = randn([3]);
    // an op mixing an argument with a state: dispatch's own check
    const f = jit((x: Tensor) => x.mul(w), { eagerFirstCall: false });
    expect(() => f(randn([3]).to('webgpu'))).toThrow(/operands are on different devices \(webgpu \[3\], cpu \[3\]\)/);
    // two arguments on different devices, never combined: the tracer names the argument
    const g = jit((a: Tensor, b: Tensor) => [a.exp(), b.exp()], { eagerFirstCall: false });
    expect(() => g(randn([2]), randn([2]).to('webgpu'))).toThrow(/argument args\[1\] \(float32\[2\]\) is on webgpu, but argument args\[0\] \(float32\[2\]\) is on cpu/);
  });

  it('fn: an argument on another device than a shared variable is named; numbers land on the shared device', async () => {
    const w = shared(randn([3]).to('webgpu'), { name: 'w' });
    const x = T.vector('x');
    const f = fn([x], x.mul(w));
    expect(() => f(randn([3]))).toThrow(DeviceError);
    expect(() => f(randn([3]))).toThrow(/argument 0 \('x', float32 vector\): the tensor is on cpu but shared variable 'w' is on webgpu; move it with \.to\('webgpu'\)/);
    const y = f([1, 2, 3]) as Tensor;
    expect(y.device).toBe('webgpu');
    const wv = await w.value.data();
    expectAllClose('x·w', await y.data(), [wv[0]!, 2 * wv[1]!, 3 * wv[2]!], 1e-6, 1e-6);
  });

  it('empty intermediates and outputs (a zero-length narrow, slice or cat operand, a sum over nothing) bind a buffer and run', async () => {
    const cases: ((x: Tensor) => Tensor)[] = [
      (x) => x.narrow(1, 0, 0).add(1),
      (x) => x.slice(1, 1, 1),
      (x) => cat([x, x.narrow(1, 0, 0).mul(2)], 1),
      (x) => x.narrow(1, 1, 0).sum(1),
      // a reduction over nothing with an epilogue: the epilogue applies to the identity
      (x) => x.narrow(1, 1, 0).sum(1).add(1),
      (x) => x.narrow(0, 0, 0).sum().add(x.sum()),
    ];
    const host = tensor([[1, 2, 3], [4, 5, 6]]);
    for (const f of cases) {
      const got = jit(f, { eagerFirstCall: false })(host.to('webgpu'));
      const want = f(host);
      expect(got.shape).toEqual(want.shape);
      expect(await got.toArray()).toEqual(want.toArraySync());
    }
  });

  it('an out-of-range index inside a compiled step names the op the user called (crossEntropy, indexSelect), as eager does', async () => {
    const ce = jit((a: Tensor, t: Tensor) => NF.crossEntropy(a, t), { eagerFirstCall: false });
    await expect(ce(randn([3, 4]).to('webgpu'), tensor([0, 9, 1], { dtype: 'int32' }).to('webgpu')).data())
      .rejects.toThrow(/^crossEntropy \(target\): index 9 is out of range for dim 1 of size 4/);
    const sel = jit((a: Tensor, i: Tensor) => a.indexSelect(0, i), { eagerFirstCall: false });
    await expect(sel(randn([3, 4]).to('webgpu'), tensor([5], { dtype: 'int32' }).to('webgpu')).data()).rejects.toThrow(/^indexSelect: index 5 is out of range/);
    // the CPU executor too
    expect(() => jit((a: Tensor, t: Tensor) => NF.crossEntropy(a, t), { eagerFirstCall: false })(randn([3, 4]), tensor([0, 9, 1], { dtype: 'int32' })))
      .toThrow(/^crossEntropy \(target\): index 9 is out of range for dim 1 of size 4/);
  });
});
