/**
 * @file jit-wrapped training with the real nn modules and optimizers: a whole step (zeroGrad,
 * forward, crossEntropy, backward, step) traces to one graph, compiles to a handful of kernels,
 * and matches the eager loop's parameters after N steps.
 */
import { describe, expect, it } from 'vitest';
import { Tensor, manualSeed, randn, randint, memory } from '../../src/index.ts';
import { jit } from '../../src/jit/index.ts';
import { Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential, functional as F } from '../../src/nn/index.ts';
import { Adam, RMSprop, SGD, type Optimizer, type BaseOptions } from '../../src/optim/index.ts';
import { classifierStep } from '../helpers/train-step.ts';

type Make = (ps: Tensor[]) => Optimizer<BaseOptions>;
const optimizers: [string, Make][] = [
  ['SGD with momentum', (ps) => new SGD(ps, { lr: 0.1, momentum: 0.9 })],
  ['RMSprop', (ps) => new RMSprop(ps, { lr: 0.01 })],
  ['Adam', (ps) => new Adam(ps, { lr: 0.01 })],
];

function mlp() {
  manualSeed(21);
  return new Sequential(new Linear(20, 16), new ReLU(), new Linear(16, 4));
}

function lenet() {
  manualSeed(5);
  return new Sequential(
    new Conv2d(1, 4, 3), new ReLU(), new MaxPool2d(2),
    new Conv2d(4, 6, 3), new ReLU(), new Flatten(), new Linear(6 * 2 * 2, 5),
  );
}

function train(model: Sequential, make: Make, x: Tensor, y: Tensor, steps: number, useJit: boolean) {
  const opt = make(model.parameters());
  const step = classifierStep(model, opt, useJit);
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) losses.push(step(x, y).itemSync());
  const params = model.parameters().flatMap((p) => Array.from(p.dataSync()));
  return { losses, params, step };
}

describe('jit-wrapped training steps match the eager loop', () => {
  manualSeed(1);
  const x = randn([32, 20]), y = randint(0, 4, [32]);
  for (const [name, make] of optimizers) {
    it(`MLP, ${name}: 8 steps`, () => {
      const e = train(mlp(), make, x, y, 8, false);
      const j = train(mlp(), make, x, y, 8, true);
      j.losses.forEach((l, i) => expect(l).toBeCloseTo(e.losses[i]!, 5));
      j.params.forEach((p, i) => expect(Math.abs(p - e.params[i]!)).toBeLessThan(1e-5));
      expect(e.losses[7]!).toBeLessThan(e.losses[0]!);
      const stats = (j.step as ReturnType<typeof jit>).stats;
      expect(stats.traces).toBe(1);
      expect(stats.eagerCalls).toBe(1);
    });
  }

  it('LeNet-style convnet with SGD: 4 steps', () => {
    manualSeed(2);
    const xi = randn([6, 1, 10, 10]), yi = randint(0, 5, [6]);
    const make: Make = (ps) => new SGD(ps, { lr: 0.05, momentum: 0.9 });
    const e = train(lenet(), make, xi, yi, 4, false);
    const j = train(lenet(), make, xi, yi, 4, true);
    j.losses.forEach((l, i) => expect(l).toBeCloseTo(e.losses[i]!, 5));
    j.params.forEach((p, i) => expect(Math.abs(p - e.params[i]!)).toBeLessThan(1e-5));
  });

  it('a compiled MLP step runs far fewer kernels than eager, holds memory flat, and exposes its graph', () => {
    const model = mlp();
    const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
    const step = jit((xb: Tensor, yb: Tensor) => {
      opt.zeroGrad();
      const loss = F.crossEntropy(model.forward(xb), yb);
      loss.backward();
      opt.step();
      return loss;
    });
    step(x, y); // eager: creates .grad and momentum buffers
    const L = step.lower(x, y);
    const trace = L.passes[0]!.nodes, optimized = L.passes.find((p) => p.name === 'dce')!.nodes;
    expect(optimized).toBeLessThan(trace);
    // eager runs one kernel per non-view op (constants included); since SGD's updates became
    // fused ops (addcmul_) eager runs 52 here, the compiled step 29 (and must not grow)
    const eagerKernels = L.graph('trace').nodes.filter((n) => n.kind === 'op' && n.op!.kind !== 'view').length;
    expect(L.launches).toBeLessThan(eagerKernels / 1.75);
    expect(L.launches).toBeLessThanOrEqual(29);
    // 4 parameters, each with a momentum buffer and a gradient: 12 tensors written in place
    expect(L.graph().updates.length).toBe(12);
    for (let i = 0; i < 3; i++) step(x, y).dispose();
    const before = memory().bytesInUse;
    for (let i = 0; i < 200; i++) step(x, y).dispose();
    expect(memory().bytesInUse).toBeLessThanOrEqual(before);
  });
});
