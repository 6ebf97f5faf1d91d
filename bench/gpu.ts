// tapegrad on WebGPU against tfjs-webgpu and jax-js (webgpu) on the same adapter, in one run:
// W1 matmul 256/512/1024 (GFLOP/s, result read back), W2 MLP 784-128-10 training step and epoch
// (batch 128, SGD 0.1, loss read back each step), W3 LeNet-5 training step (batch 64).
//
//   npx tsx bench/gpu.ts [--quick] [--only matmul,mlp,lenet] [--peers tfjs,jax] [--no-peers] [--json FILE]
//
// All libraries start from the same seeded weights (bench/peers/data.ts) and see the same MNIST
// batches. Ratios are what count: the machine may be shared, so absolute times are noisy.

import { writeFileSync } from 'node:fs';
import { fromTypedArray, initWebGPU, nn, noGrad, scope, webgpuStats, type Tensor } from '../src/index.ts';
import { measureSuite, printTable, readBackAndFree, type MeasureOpts, type MlpRunnable, type Row, type Runnable, type Suite } from './harness.ts';
import {
  batchRange, lenetWeights, loadMnistTrain, LENET_BATCH, LENET_LR, LR, MLP_BATCH, mlpWeights, stepsPerEpoch, uniform,
  type Conv, type Linear, type MnistLike,
} from './peers/data.ts';
import { jaxSuite, useJaxDevice } from './peers/jaxjs.ts';
import { tfjsSuite, tfNumTensors, useTfBackend } from './peers/tfjs.ts';
import { ensureWebGPU } from './peers/webgpu-node.ts';
import { overLogisticInput } from './tapegrad.ts';

const F = nn.functional;
const D = 'webgpu' as const;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

/** A parameter on the GPU from host data (kept on the host too, for reset()). */
function param(data: Float32Array, shape: number[]): { t: Tensor; init: Float32Array } {
  return { t: fromTypedArray(data.slice(), shape, 'float32', D).requiresGrad_(), init: data };
}
const linear = (l: Linear) => [param(l.weight, [l.outF, l.inF]), param(l.bias, [l.outF])];
const conv = (c: Conv) => [param(c.weight, [c.outC, c.inC, c.k, c.k]), param(c.bias, [c.outC])];

/**
 * The training loop a PyTorch user writes: upload, forward, backward, SGD under noGrad, read the
 * loss. Each step runs in a scope() (as tfjs's minimize() runs in a tidy), so its intermediates go
 * back to the pool at once even in runSteps(), which never awaits; without it the buffers come back
 * at the next readback (see tests/gpu-memory.test.ts).
 */
function trainer(data: MnistLike, batch: number, images: boolean, lr: number, ps: { t: Tensor; init: Float32Array }[],
  loss: (x: Tensor, y: Tensor) => Tensor): MlpRunnable & { reset(): void } {
  const params = ps.map((p) => p.t);
  let cursor = 0;
  const step = (): Tensor => scope(() => {
    const [s, e] = batchRange(data, batch, cursor++);
    const m = e - s;
    const x = fromTypedArray(data.images.slice(s * 784, e * 784), images ? [m, 1, 28, 28] : [m, 784], 'float32', D);
    const y = fromTypedArray(data.labels.slice(s, e), [m], 'int32', D);
    const l = loss(x, y);
    l.backward();
    noGrad(() => {
      for (const p of params) {
        p.sub_(p.grad!.mul(lr));
        p.grad = null;
      }
    });
    return l;
  });
  return {
    stepsPerEpoch: stepsPerEpoch(data, batch),
    reset() {
      noGrad(() => ps.forEach((p) => p.t.copy_(fromTypedArray(p.init.slice(), [...p.t.shape], 'float32', D))));
      cursor = 0;
    },
    async run() {
      const l = step();
      const v = await l.item();
      l.dispose();
      return v;
    },
    async runSteps(k: number) {
      let l: Tensor | null = null;
      for (let i = 0; i < k; i++) {
        l?.dispose();
        l = step();
      }
      const v = l ? await l.item() : NaN;
      l?.dispose();
      return v;
    },
    dispose() {},
  };
}

/** tapegrad's WebGPU suite (W1–W3). */
export function tapegradWebgpuSuite(label = 'tapegrad webgpu'): Suite {
  return {
    library: label,
    async matmul(n: number): Promise<Runnable> {
      const a = fromTypedArray(uniform(n * n, -1, 1, 11), [n, n], 'float32', D);
      const b = fromTypedArray(uniform(n * n, -1, 1, 12), [n, n], 'float32', D);
      return readBackAndFree(() => a.matmul(b), [a, b]);
    },
    async mlp(): Promise<MlpRunnable> {
      const w = mlpWeights();
      const [w1, b1] = linear(w.fc1), [w2, b2] = linear(w.fc2);
      return trainer(loadMnistTrain(), MLP_BATCH, false, LR, [w1!, b1!, w2!, b2!],
        (x, y) => F.crossEntropy(F.linear(F.relu(F.linear(x, w1!.t, b1!.t)), w2!.t, b2!.t), y));
    },
    logistic: async () => overLogisticInput(D, (x) => x.sigmoid()),
    powerSum: async () => overLogisticInput(D, (x) => x.add(x.pow(10))),
    async lenet(): Promise<Runnable> {
      const w = lenetWeights();
      const [c1, cb1] = conv(w.conv1), [c2, cb2] = conv(w.conv2);
      const [f1, fb1] = linear(w.fc1), [f2, fb2] = linear(w.fc2), [f3, fb3] = linear(w.fc3);
      const ps = [c1!, cb1!, c2!, cb2!, f1!, fb1!, f2!, fb2!, f3!, fb3!];
      return trainer(loadMnistTrain(), LENET_BATCH, true, LENET_LR, ps, (x, y) => {
        let h = F.maxPool2d(F.relu(F.conv2d(x, c1!.t, cb1!.t, { padding: 2 })), 2);
        h = F.maxPool2d(F.relu(F.conv2d(h, c2!.t, cb2!.t)), 2);
        let z = h.flatten(1);
        z = F.relu(F.linear(z, f1!.t, fb1!.t));
        z = F.relu(F.linear(z, f2!.t, fb2!.t));
        return F.crossEntropy(F.linear(z, f3!.t, fb3!.t), y);
      });
    },
  };
}

async function main(): Promise<void> {
  const quick = flag('quick');
  const only = arg('only')?.split(',') ?? ['matmul', 'mlp', 'lenet'];
  const peers = flag('no-peers') ? [] : (arg('peers') ?? 'tfjs,jax').split(',');
  const opts: MeasureOpts = { quick, only };
  const t0 = performance.now();
  const data = loadMnistTrain();
  // one Dawn instance for everyone: the peers' navigator.gpu, which initWebGPU() then uses
  const gpu = await ensureWebGPU();
  if (!gpu.ok) {
    console.error(`bench/gpu: no WebGPU adapter: ${gpu.detail}. Run sudo bash scripts/setup-webgpu.sh`);
    process.exit(1);
  }
  const info = await initWebGPU();
  process.stderr.write(`data: ${data.source} (${data.n} examples); adapter: ${gpu.detail}; tapegrad sees "${info.adapter.description}"\n`);

  const suites: Suite[] = [tapegradWebgpuSuite()];
  if (peers.includes('tfjs')) suites.push(tfjsSuite('webgpu'));
  if (peers.includes('jax')) suites.push(jaxSuite('webgpu', false), jaxSuite('webgpu', true));
  // Interleaved: each workload runs for every library in turn, `rounds` times, keeping each
  // library's best figure — on a shared machine the load drifts, and ratios from one library's
  // whole run against another's later run would measure the drift.
  const rounds = Number(arg('rounds') ?? (quick ? 1 : 2));
  const best = new Map<string, Row>();
  const skipped: Row[] = [];
  const order: string[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const w of only) {
      for (const s of suites) {
        const isTf = s.library.startsWith('tfjs'), isJax = s.library.startsWith('jax');
        const why = isTf ? await useTfBackend('webgpu') : isJax ? await useJaxDevice('webgpu') : null;
        if (why != null) {
          if (r === 0 && w === only[0]) skipped.push({ workload: '(all)', library: s.library, figure: null, unit: 'ms', note: `skipped: ${why}` });
          continue;
        }
        const before = isTf ? tfNumTensors() : 0;
        for (const row of await measureSuite(s, { ...opts, only: [w], verbose: r === 0 })) {
          const key = `${row.workload}|${row.library}`;
          if (!best.has(key)) order.push(key);
          const prev = best.get(key);
          const better = !prev || prev.figure == null ||
            (row.figure != null && (row.unit === 'GFLOP/s' ? row.figure > prev.figure : row.figure < prev.figure));
          if (better) best.set(key, { ...row, note: `${row.note ?? ''}${rounds > 1 ? `, best of ${rounds} rounds` : ''}` });
        }
        if (isTf && tfNumTensors() !== before) process.stderr.write(`  warning: ${s.library} leaked ${tfNumTensors() - before} tensors\n`);
      }
    }
  }
  const st = webgpuStats()!;
  process.stderr.write(`  tapegrad: ${st.pipelines} pipelines, ${st.dispatches} dispatches, ${st.submits} submits, ` +
    `${st.forcedGcs} forced GCs (${st.gcMs.toFixed(0)} ms), ${(st.bytesInUse / 2 ** 20).toFixed(1)} MiB in use, ${(st.bytesPooled / 2 ** 20).toFixed(1)} MiB pooled\n`);
  // rows grouped by workload, libraries in suite order
  const rows: Row[] = [];
  const workloads = [...new Set(order.map((k) => k.split('|')[0]!))];
  for (const w of workloads) for (const s of suites) { const r = best.get(`${w}|${s.library}`); if (r) rows.push(r); }
  rows.push(...skipped);
  process.stderr.write(`total ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  printTable(rows);
  const json = arg('json');
  if (json) writeFileSync(json, JSON.stringify(rows, null, 2));
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('bench/gpu.ts')) {
  await main();
  process.exit(0); // Dawn keeps handles open
}
