/**
 * @file jit on WebGPU: fused kernels are handed to the WebGPU backend's own elementwise renderer
 * (WGSL) as one bigger expression; results match the CPU; a training step matches eager. Skipped,
 * loudly, where no adapter exists (CI installs a software one).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Tensor, exp, manualSeed, randn, randint, reciprocal } from '../../src/index.ts';
import { jit } from '../../src/jit/index.ts';
import { Linear, ReLU, Sequential, functional as NF } from '../../src/nn/index.ts';
import { SGD, Adam } from '../../src/optim/index.ts';
import * as F from '../../src/ops/functional.ts';
import { gpuStatus, expectAllClose } from '../gpu-setup.ts';

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

  it('a jit-wrapped MLP training step (SGD with momentum, Adam) matches eager on WebGPU', async () => {
    for (const make of [(ps: Tensor[]) => new SGD(ps, { lr: 0.1, momentum: 0.9 }), (ps: Tensor[]) => new Adam(ps, { lr: 0.01 })]) {
      const run = async (useJit: boolean) => {
        manualSeed(4);
        const model = new Sequential(new Linear(12, 16), new ReLU(), new Linear(16, 3)).to('webgpu');
        const x = randn([16, 12]).to('webgpu'), y = randint(0, 3, [16]).to('webgpu');
        const opt = make(model.parameters());
        const body = (xb: Tensor, yb: Tensor) => {
          opt.zeroGrad();
          const loss = NF.crossEntropy(model.forward(xb), yb);
          loss.backward();
          opt.step();
          return loss;
        };
        const step = useJit ? jit(body) : body;
        const losses: number[] = [];
        for (let i = 0; i < 5; i++) losses.push(await step(x, y).item());
        const params: number[] = [];
        for (const p of model.parameters()) params.push(...(await p.data()));
        return { losses, params };
      };
      const e = await run(false), j = await run(true);
      expectAllClose('losses', j.losses, e.losses, 1e-4, 1e-5);
      expectAllClose('parameters', j.params, e.params, 1e-4, 1e-5);
    }
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
});
