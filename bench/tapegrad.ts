// The tapegrad side of the benchmark: the same workloads as bench/peers/*, written the way a
// user would write them (eager ops, nn.functional, backward, in-place SGD under noGrad; the
// training steps live in bench/trainers.ts, shared with the jit suite).

import { fromTypedArray, syncWebGPU, type Device, type Tensor } from '../src/index.ts';
import { readBackAndFree, type MlpRunnable, type Runnable, type Suite } from './harness.ts';
import { logisticInput, uniform } from './peers/data.ts';
import { lenetTrainer, mlpTrainer } from './trainers.ts';

export function tapegradSuite(device: Device = 'cpu', label = `tapegrad ${device}`): Suite {
  return {
    library: label,
    async matmul(n: number): Promise<Runnable> {
      const a = fromTypedArray(uniform(n * n, -1, 1, 1), [n, n], 'float32', device);
      const b = fromTypedArray(uniform(n * n, -1, 1, 2), [n, n], 'float32', device);
      return readBackAndFree(() => a.matmul(b), [a, b]);
    },
    mlp: async (): Promise<MlpRunnable> => mlpTrainer(device, false),
    lenet: async (): Promise<Runnable> => lenetTrainer(device, false),
    logistic: async () => overLogisticInput(device, (x) => x.sigmoid()),
    powerSum: async () => overLogisticInput(device, (x) => x.add(x.pow(10))),
  };
}

/**
 * W4/W4b: `f` over the 1M resident values; each run reads the result back and then frees it, as
 * the peers' runs do (tfjs disposes it, jax-js's `.data()` consumes it). Undisposed results would
 * wait for the garbage collector: on WebGPU every run then creates a fresh 4 MB buffer.
 */
export function overLogisticInput(device: Device, f: (x: Tensor) => Tensor): Runnable {
  const x = fromTypedArray(logisticInput(), [logisticInput().length], 'float32', device);
  return {
    async run() {
      const y = f(x);
      const d = await y.data();
      y.dispose();
      return d;
    },
    dispose: () => x.dispose(),
  };
}

/**
 * W4/W4b without the readback: `f` over the 1M resident values, the device synchronised (WebGPU:
 * the submitted work finished; the CPU computes synchronously), the result disposed. Every run of
 * `overLogisticInput` also copies 4 MB to the host, which costs both sides alike (on a GPU more
 * than the kernels); this isolates what fusing the formula saves.
 */
export function residentOverLogisticInput(device: Device, f: (x: Tensor) => Tensor): Runnable {
  const x = fromTypedArray(logisticInput(), [logisticInput().length], 'float32', device);
  return {
    async run() {
      const y = f(x);
      if (device === 'webgpu') await syncWebGPU();
      y.dispose();
    },
    dispose: () => x.dispose(),
  };
}
