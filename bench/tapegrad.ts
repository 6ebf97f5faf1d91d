// The tapegrad side of the benchmark: the same workloads as bench/peers/*, written the way a
// user would write them (eager ops, nn.functional, backward, in-place SGD under noGrad).

import { fromTypedArray, noGrad, nn, Tensor, type Device } from '../src/index.ts';
import type { MlpRunnable, Runnable, Suite } from './harness.ts';
import {
  batchRange, lenetWeights, loadMnistTrain, logisticInput, LENET_BATCH, LENET_LR, LR, MLP_BATCH, mlpWeights,
  stepsPerEpoch, uniform, type Conv, type Linear, type MnistLike,
} from './peers/data.ts';

const F = nn.functional;

function param(data: Float32Array, shape: number[], device: Device): Tensor {
  return fromTypedArray(data.slice(), shape, 'float32', device).requiresGrad_();
}
const linearParams = (l: Linear, d: Device) => [param(l.weight, [l.outF, l.inF], d), param(l.bias, [l.outF], d)] as const;
const convParams = (c: Conv, d: Device) => [param(c.weight, [c.outC, c.inC, c.k, c.k], d), param(c.bias, [c.outC], d)] as const;

/** SGD training loop over `data` with `loss(x, y)`; parameters restored by reset(). */
function trainer(device: Device, data: MnistLike, batch: number, images: boolean, lr: number, params: Tensor[],
  loss: (x: Tensor, y: Tensor) => Tensor): MlpRunnable {
  const init = params.map((p) => p.dataSync().slice());
  let cursor = 0;
  const step = (): Tensor => {
    const [s, e] = batchRange(data, batch, cursor++);
    const m = e - s;
    const x = fromTypedArray(data.images.slice(s * 784, e * 784), images ? [m, 1, 28, 28] : [m, 784], 'float32', device);
    const y = fromTypedArray(data.labels.slice(s, e), [m], 'int32', device);
    for (const p of params) p.grad = null;
    const l = loss(x, y);
    l.backward();
    noGrad(() => { for (const p of params) p.sub_(p.grad!.mul(lr)); });
    return l;
  };
  return {
    stepsPerEpoch: stepsPerEpoch(data, batch),
    reset() {
      noGrad(() => params.forEach((p, i) => p.copy_(fromTypedArray(init[i]!.slice() as Float32Array, p.shape, 'float32', device))));
      cursor = 0;
    },
    async run() { return step().item(); },
    async runSteps(k: number) {
      let l: Tensor | null = null;
      for (let i = 0; i < k; i++) l = step();
      return l ? l.item() : NaN;
    },
    dispose() {},
  };
}

export function tapegradSuite(device: Device = 'cpu', label = `tapegrad ${device}`): Suite {
  return {
    library: label,
    async matmul(n: number): Promise<Runnable> {
      const a = fromTypedArray(uniform(n * n, -1, 1, 1), [n, n], 'float32', device);
      const b = fromTypedArray(uniform(n * n, -1, 1, 2), [n, n], 'float32', device);
      return { run: () => a.matmul(b).data(), dispose() {} };
    },
    async mlp(): Promise<MlpRunnable> {
      const w = mlpWeights();
      const [w1, b1] = linearParams(w.fc1, device), [w2, b2] = linearParams(w.fc2, device);
      return trainer(device, loadMnistTrain(), MLP_BATCH, false, LR, [w1, b1, w2, b2],
        (x, y) => F.crossEntropy(F.linear(F.relu(F.linear(x, w1, b1)), w2, b2), y));
    },
    async lenet(): Promise<Runnable> {
      const w = lenetWeights();
      const [c1, cb1] = convParams(w.conv1, device), [c2, cb2] = convParams(w.conv2, device);
      const [f1, fb1] = linearParams(w.fc1, device), [f2, fb2] = linearParams(w.fc2, device), [f3, fb3] = linearParams(w.fc3, device);
      return trainer(device, loadMnistTrain(), LENET_BATCH, true, LENET_LR, [c1, cb1, c2, cb2, f1, fb1, f2, fb2, f3, fb3], (x, y) => {
        let h = F.maxPool2d(F.relu(F.conv2d(x, c1, cb1, { padding: 2 })), 2);
        h = F.maxPool2d(F.relu(F.conv2d(h, c2, cb2)), 2);
        let z = h.flatten(1);
        z = F.relu(F.linear(z, f1, fb1));
        z = F.relu(F.linear(z, f2, fb2));
        return F.crossEntropy(F.linear(z, f3, fb3), y);
      });
    },
    async logistic(): Promise<Runnable> {
      const x = fromTypedArray(logisticInput(), [logisticInput().length], 'float32', device);
      return { run: () => x.sigmoid().data(), dispose() {} };
    },
    async powerSum(): Promise<Runnable> {
      const x = fromTypedArray(logisticInput(), [logisticInput().length], 'float32', device);
      return { run: () => x.add(x.pow(10)).data(), dispose() {} };
    },
  };
}
