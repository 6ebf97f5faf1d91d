// Training workloads shared by the eager and jit benchmark suites: seeded parameters, the SGD
// step a user writes (optionally compiled by jit), and the harness's training protocol.

import { fromTypedArray, noGrad, nn, Tensor, type Device } from '../src/index.ts';
import { jit } from '../src/jit/index.ts';
import type { MlpRunnable } from './harness.ts';
import {
  batchRange, lenetWeights, loadMnistTrain, LENET_BATCH, LENET_LR, LR, MLP_BATCH, mlpWeights,
  stepsPerEpoch, type Conv, type Linear, type MnistLike,
} from './peers/data.ts';

const F = nn.functional;

/** Initial values of the parameters, for reset() (read from the host arrays: WebGPU has no sync readback). */
const initOf = new WeakMap<Tensor, Float32Array>();
function param(data: Float32Array, shape: number[], device: Device): Tensor {
  const t = fromTypedArray(data.slice(), shape, 'float32', device).requiresGrad_();
  initOf.set(t, data.slice());
  return t;
}
const linearParams = (l: Linear, d: Device) => [param(l.weight, [l.outF, l.inF], d), param(l.bias, [l.outF], d)] as const;
const convParams = (c: Conv, d: Device) => [param(c.weight, [c.outC, c.inC, c.k, c.k], d), param(c.bias, [c.outC], d)] as const;

/** One SGD step, as a user writes it; `useJit` compiles the whole step (forward, backward, update). */
export function sgdStep(params: Tensor[], lr: number, loss: (x: Tensor, y: Tensor) => Tensor, useJit: boolean) {
  const body = (x: Tensor, y: Tensor): Tensor => {
    for (const p of params) p.grad = null;
    const l = loss(x, y);
    l.backward();
    noGrad(() => { for (const p of params) p.sub_(p.grad!.mul(lr)); });
    return l;
  };
  return useJit ? jit(body, { name: 'sgdStep' }) : body;
}

/** The harness's training protocol over a (possibly jitted) step. */
export function trainer(device: Device, data: MnistLike, batch: number, images: boolean, params: Tensor[], step: (x: Tensor, y: Tensor) => Tensor): MlpRunnable & { step: typeof step } {
  const init = params.map((p) => initOf.get(p)!);
  let cursor = 0;
  const one = (): Tensor => {
    const [s, e] = batchRange(data, batch, cursor++);
    const m = e - s;
    const x = fromTypedArray(data.images.slice(s * 784, e * 784), images ? [m, 1, 28, 28] : [m, 784], 'float32', device);
    const y = fromTypedArray(data.labels.slice(s, e), [m], 'int32', device);
    return step(x, y);
  };
  return {
    step,
    stepsPerEpoch: stepsPerEpoch(data, batch),
    reset() {
      noGrad(() => params.forEach((p, i) => p.copy_(fromTypedArray(init[i]!.slice() as Float32Array, p.shape, 'float32', device))));
      cursor = 0;
    },
    async run() { return one().item(); },
    async runSteps(k: number) {
      let l: Tensor | null = null;
      for (let i = 0; i < k; i++) l = one();
      return l ? l.item() : NaN;
    },
    dispose() {},
  };
}

export function mlpTrainer(device: Device, useJit: boolean) {
  const w = mlpWeights();
  const [w1, b1] = linearParams(w.fc1, device), [w2, b2] = linearParams(w.fc2, device);
  const params = [w1, b1, w2, b2];
  const step = sgdStep(params, LR, (x, y) => F.crossEntropy(F.linear(F.relu(F.linear(x, w1, b1)), w2, b2), y), useJit);
  return trainer(device, loadMnistTrain(), MLP_BATCH, false, params, step);
}

export function lenetTrainer(device: Device, useJit: boolean) {
  const w = lenetWeights();
  const [c1, cb1] = convParams(w.conv1, device), [c2, cb2] = convParams(w.conv2, device);
  const [f1, fb1] = linearParams(w.fc1, device), [f2, fb2] = linearParams(w.fc2, device), [f3, fb3] = linearParams(w.fc3, device);
  const params = [c1, cb1, c2, cb2, f1, fb1, f2, fb2, f3, fb3];
  const step = sgdStep(params, LENET_LR, (x, y) => {
    let h = F.maxPool2d(F.relu(F.conv2d(x, c1, cb1, { padding: 2 })), 2);
    h = F.maxPool2d(F.relu(F.conv2d(h, c2, cb2)), 2);
    let z = h.flatten(1);
    z = F.relu(F.linear(z, f1, fb1));
    z = F.relu(F.linear(z, f2, fb2));
    return F.crossEntropy(F.linear(z, f3, fb3), y);
  }, useJit);
  return trainer(device, loadMnistTrain(), LENET_BATCH, true, params, step);
}

