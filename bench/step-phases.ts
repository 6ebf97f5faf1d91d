// Where a training step's time goes, as the benchmark harness runs it (bench/trainers.ts): the
// batch upload, the step call (until it returns) and the loss readback (`item()`), median and
// mean ms over `steps` steps, eager or compiled. On WebGPU the call only issues kernels, so the
// readback includes the GPU's work; `batch` sets the runtime's kernels per submit.
//
//   npx tsx bench/step-phases.ts [mlp|lenet] [eager|jit] [steps=400] [webgpu|cpu] [batch]
import { fromTypedArray, initWebGPU, type Device } from '../src/index.ts';
import { mlpTrainer, lenetTrainer } from './trainers.ts';
import { batchRange, loadMnistTrain, MLP_BATCH, LENET_BATCH } from './peers/data.ts';

const [which = 'mlp', mode = 'jit', stepsArg = '400', deviceArg = 'webgpu', batchArg] = process.argv.slice(2);
const device = deviceArg as Device;
const batchSize = batchArg ? Number(batchArg) : undefined;
if (device === 'webgpu') await initWebGPU(batchSize ? { batchSize } : {});
const t = (which === 'mlp' ? mlpTrainer : lenetTrainer)(device, mode === 'jit');
const data = loadMnistTrain();
const batch = which === 'mlp' ? MLP_BATCH : LENET_BATCH;
const phases = { upload: [] as number[], step: [] as number[], item: [] as number[], total: [] as number[] };
const steps = Number(stepsArg);
for (let i = 0, cursor = 0; i < steps + 50; i++) {
  const t0 = performance.now();
  const [s, e] = batchRange(data, batch, cursor++);
  const x = fromTypedArray(data.images.slice(s * 784, e * 784), which === 'mlp' ? [e - s, 784] : [e - s, 1, 28, 28], 'float32', device);
  const y = fromTypedArray(data.labels.slice(s, e), [e - s], 'int32', device);
  const t1 = performance.now();
  const loss = t.step(x, y);
  const t2 = performance.now();
  await loss.item();
  const t3 = performance.now();
  if (i >= 50) {
    phases.upload.push(t1 - t0);
    phases.step.push(t2 - t1);
    phases.item.push(t3 - t2);
    phases.total.push(t3 - t0);
  }
}
const med = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1]!;
const mean = (a: number[]) => a.reduce((p, q) => p + q, 0) / a.length;
console.log(`${which} ${mode} on ${device}${batchSize ? `, ${batchSize} kernels a submit` : ''}: ` +
  Object.entries(phases).map(([k, v]) => `${k} ${med(v).toFixed(3)} (mean ${mean(v).toFixed(3)})`).join(' | ') + ' ms');
process.exit(0);
