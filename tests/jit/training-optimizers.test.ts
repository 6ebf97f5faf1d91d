/**
 * @file Issue #5's training matrix, the cells the other suites leave out: the jit-wrapped step
 * (zeroGrad, forward, crossEntropy, backward, step) matches the eager loop's losses and parameters
 * after N steps for LeNet with RMSprop and Adam on the CPU, and on WebGPU for the MLP with RMSprop
 * and LeNet with Adam and RMSprop (tests/jit/training.test.ts and webgpu.test.ts cover the rest).
 */
import { describe, expect, it } from 'vitest';
import { Tensor, manualSeed, randn, randint, type Device } from '../../src/index.ts';
import type { jit } from '../../src/jit/index.ts';
import { Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential } from '../../src/nn/index.ts';
import { Adam, RMSprop, type BaseOptions, type Optimizer } from '../../src/optim/index.ts';
import { gpuStatus } from '../gpu-setup.ts';
import { classifierStep } from '../helpers/train-step.ts';

type Make = (ps: Tensor[]) => Optimizer<BaseOptions>;
const rmsprop: Make = (ps) => new RMSprop(ps, { lr: 0.01, momentum: 0.5 });
const adam: Make = (ps) => new Adam(ps, { lr: 0.01 });

const mlp = () => new Sequential(new Linear(20, 16), new ReLU(), new Linear(16, 4));
const lenet = () => new Sequential(
  new Conv2d(1, 4, 3, { padding: 1 }), new ReLU(), new MaxPool2d(2),
  new Conv2d(4, 6, 3), new ReLU(), new Flatten(), new Linear(6 * 2 * 2, 4),
);

async function train(device: Device, makeModel: () => Sequential, make: Make, x: Tensor, y: Tensor, steps: number, useJit: boolean) {
  manualSeed(11);
  const model = makeModel().to(device);
  const opt = make(model.parameters());
  const step = classifierStep(model, opt, useJit);
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) losses.push(await step(x.to(device), y.to(device)).item());
  const params: number[] = [];
  for (const p of model.parameters()) params.push(...(await p.data()));
  return { losses, params, stats: useJit ? (step as ReturnType<typeof jit>).stats : null };
}

async function compare(device: Device, makeModel: () => Sequential, make: Make, x: Tensor, y: Tensor, steps: number, tol: number) {
  const e = await train(device, makeModel, make, x, y, steps, false);
  const j = await train(device, makeModel, make, x, y, steps, true);
  j.losses.forEach((l, i) => expect(Math.abs(l - e.losses[i]!), `loss ${i}: ${l} vs ${e.losses[i]}`).toBeLessThanOrEqual(tol * (1 + Math.abs(e.losses[i]!))));
  j.params.forEach((p, i) => expect(Math.abs(p - e.params[i]!), `parameter ${i}`).toBeLessThanOrEqual(tol * (1 + Math.abs(e.params[i]!))));
  expect(e.losses.at(-1)!).toBeLessThan(e.losses[0]!);
  expect(j.stats!.traces).toBe(1);
  expect(j.stats!.eagerCalls).toBe(1);
}

manualSeed(3);
const xm = randn([24, 20]), ym = randint(0, 4, [24]);
const xl = randn([6, 1, 8, 8]), yl = randint(0, 4, [6]);

describe('jit-wrapped LeNet on the CPU matches the eager loop', () => {
  it('RMSprop (with momentum), 5 steps', async () => compare('cpu', lenet, rmsprop, xl, yl, 5, 1e-5));
  it('Adam, 5 steps', async () => compare('cpu', lenet, adam, xl, yl, 5, 1e-5));
});

const gpu = await gpuStatus();
describe.skipIf(!gpu.ok)('jit-wrapped training on WebGPU matches the eager loop', () => {
  it('MLP with RMSprop (with momentum), 6 steps', async () => compare('webgpu', mlp, rmsprop, xm, ym, 6, 1e-4));
  it('LeNet with Adam, 4 steps', async () => compare('webgpu', lenet, adam, xl, yl, 4, 1e-3));
  it('LeNet with RMSprop, 4 steps', async () => compare('webgpu', lenet, rmsprop, xl, yl, 4, 1e-3));
});
