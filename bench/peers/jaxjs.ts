// jax-js (@jax-js/jax 0.1) on its 'wasm' (CPU) and 'webgpu' devices, eager and under `jit`.
//
// jax-js arrays are reference counted and every function consumes its array arguments: pass `x.ref`
// to keep `x`, and `.data()` consumes the array it reads. The code below follows that discipline so
// memory stays flat across steps.

import { blockUntilReady, defaultDevice, init, jit, lax, nn, numpy as np, tree, valueAndGrad, type Device } from '@jax-js/jax';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { MeasureOpts, MlpRunnable, Row, Runnable, Suite } from '../harness.ts';
import {
  LENET_BATCH,
  LENET_LR,
  LR,
  MLP_BATCH,
  batchRange,
  lenetWeights,
  loadMnistTrain,
  logisticInput,
  mlpWeights,
  stepsPerEpoch,
  transpose,
  uniform,
  type Linear,
  type MnistLike,
} from './data.ts';
import { ensureWebGPU } from './webgpu-node.ts';

export type JaxDevice = 'wasm' | 'webgpu';
type Arr = np.Array;

const ready = new Map<JaxDevice, Promise<string | null>>();

/** Starts `device` and makes it the default. Resolves to null when it works, else the reason. */
export function useJaxDevice(device: JaxDevice): Promise<string | null> {
  let p = ready.get(device);
  if (!p) {
    p = (async () => {
      try {
        if (device === 'webgpu') {
          const gpu = await ensureWebGPU();
          if (!gpu.ok) return gpu.detail;
        }
        // Name the device: a bare init() probes navigator.gpu, which Node 20 lacks.
        const got = await init(device as Device);
        if (!got.includes(device)) return `jax-js init('${device}') did not start it`;
        return null;
      } catch (e) {
        return (e as Error).message ?? String(e);
      }
    })();
    ready.set(device, p);
  }
  return p.then((why) => {
    if (why == null) defaultDevice(device);
    return why;
  });
}

async function need(device: JaxDevice): Promise<void> {
  const why = await useJaxDevice(device);
  if (why != null) throw new Error(`jax-js ${device} unavailable: ${why}`);
}

// ---------------------------------------------------------------------------------------------
// W1: matmul (eager; a single op gains nothing from jit)

export async function jaxMatmul(device: JaxDevice, n: number): Promise<Runnable> {
  await need(device);
  const a = np.array(uniform(n * n, -1, 1, 11), { shape: [n, n] });
  const b = np.array(uniform(n * n, -1, 1, 12), { shape: [n, n] });
  return {
    run: () => np.matmul(a.ref, b.ref).data(),
    dispose() {
      a.dispose();
      b.dispose();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Training loops shared by W2 and W3

type Params = Record<string, Arr>;
type StepFn = (p: Params, x: Arr, y: Arr) => [Arr, Params];

/** SGD step from a loss function (p, x, labels) -> scalar. Consumes p, x and y. */
function sgdStep(lossFn: (p: Params, x: Arr, y: Arr) => Arr, lr: number): StepFn {
  const vg = valueAndGrad(lossFn);
  return (p, x, y) => {
    const [loss, g] = vg(tree.ref(p), x, y);
    const next = tree.map((w: Arr, gw: Arr) => w.sub(gw.mul(lr)), p, g as Params) as Params;
    return [loss, next];
  };
}

function trainer(
  data: MnistLike,
  batch: number,
  xShape: (m: number) => number[],
  initParams: () => Params,
  step: StepFn,
  close: () => void,
): MlpRunnable {
  let params = initParams();
  let cursor = 0;
  const one = (): Arr => {
    const [s, e] = batchRange(data, batch, cursor++);
    const x = np.array(data.images.subarray(s * 784, e * 784), { shape: xShape(e - s) });
    const y = np.array(data.labels.subarray(s, e), { dtype: np.int32 });
    const [loss, next] = step(params, x, y);
    params = next;
    return loss;
  };
  return {
    stepsPerEpoch: stepsPerEpoch(data, batch),
    reset() {
      tree.dispose(params);
      params = initParams();
      cursor = 0;
    },
    run: async () => (await one().data())[0]!,
    async runSteps(k: number) {
      let loss: Arr | null = null;
      for (let i = 0; i < k; i++) {
        loss?.dispose();
        loss = one();
        // jax-js queues work lazily; without waiting, pending operations pile up step after step
        // (its docs recommend blockUntilReady in iterative loops). Waiting on the new parameters
        // realises the whole step.
        await blockUntilReady(params);
      }
      return loss ? (await loss.data())[0]! : NaN;
    },
    dispose() {
      tree.dispose(params);
      close();
    },
  };
}

/** x @ W layout [in, out] from a PyTorch Linear. */
function lin(l: Linear, prefix: string): Params {
  return {
    [`${prefix}w`]: np.array(transpose(l.weight, l.outF, l.inF), { shape: [l.inF, l.outF] }),
    [`${prefix}b`]: np.array(l.bias),
  };
}

/** Mean softmax cross-entropy of logits [B, 10] against int32 labels [B]. Consumes both. */
function xent(logits: Arr, labels: Arr): Arr {
  const b = logits.shape[0]!;
  return nn.logSoftmax(logits, -1).mul(nn.oneHot(labels, 10)).sum().mul(-1 / b);
}

function maybeJit(step: StepFn, useJit: boolean): { step: StepFn; close: () => void } {
  if (!useJit) return { step, close: () => {} };
  const j = jit(step);
  return { step: j as unknown as StepFn, close: () => j.dispose() };
}

// ---------------------------------------------------------------------------------------------
// W2: MLP 784-128-10

export async function jaxMlp(device: JaxDevice, useJit: boolean, data: MnistLike = loadMnistTrain()): Promise<MlpRunnable> {
  await need(device);
  const w = mlpWeights();
  const p = (): Params => ({ ...lin(w.fc1, 'l1'), ...lin(w.fc2, 'l2') });
  const loss = (p: Params, x: Arr, y: Arr): Arr => {
    const h = nn.relu(np.matmul(x, p.l1w!).add(p.l1b!));
    return xent(np.matmul(h, p.l2w!).add(p.l2b!), y);
  };
  const { step, close } = maybeJit(sgdStep(loss, LR), useJit);
  return trainer(data, MLP_BATCH, (m) => [m, 784], p, step, close);
}

// ---------------------------------------------------------------------------------------------
// W3: LeNet-5, NCHW (jax-js's lax.conv layout, same as PyTorch)

/** 2×2 max pool, stride 2, on [B, C, H, W] via a reshape and a max reduction. */
function maxPool2(x: Arr): Arr {
  const [b, c, h, w] = x.shape as [number, number, number, number];
  return x.reshape([b, c, h / 2, 2, w / 2, 2]).max([3, 5]);
}

export async function jaxLenet(device: JaxDevice, useJit: boolean, data: MnistLike = loadMnistTrain()): Promise<Runnable> {
  await need(device);
  const w = lenetWeights();
  const p = (): Params => ({
    c1w: np.array(w.conv1.weight, { shape: [6, 1, 5, 5] }),
    c1b: np.array(w.conv1.bias, { shape: [1, 6, 1, 1] }),
    c2w: np.array(w.conv2.weight, { shape: [16, 6, 5, 5] }),
    c2b: np.array(w.conv2.bias, { shape: [1, 16, 1, 1] }),
    ...lin(w.fc1, 'f1'),
    ...lin(w.fc2, 'f2'),
    ...lin(w.fc3, 'f3'),
  });
  const loss = (p: Params, x: Arr, y: Arr): Arr => {
    let h = nn.relu(lax.conv(x, p.c1w!, [1, 1], [[2, 2], [2, 2]]).add(p.c1b!));
    h = maxPool2(h);
    h = nn.relu(lax.conv(h, p.c2w!, [1, 1], 'VALID').add(p.c2b!));
    h = maxPool2(h);
    let z = h.reshape([h.shape[0]!, 400]);
    z = nn.relu(np.matmul(z, p.f1w!).add(p.f1b!));
    z = nn.relu(np.matmul(z, p.f2w!).add(p.f2b!));
    return xent(np.matmul(z, p.f3w!).add(p.f3b!), y);
  };
  const { step, close } = maybeJit(sgdStep(loss, LENET_LR), useJit);
  return trainer(data, LENET_BATCH, (m) => [m, 1, 28, 28], p, step, close);
}

// ---------------------------------------------------------------------------------------------
// W4: logistic and a + a**10

function elementwise(device: JaxDevice, eager: (x: Arr) => Arr, useJit: boolean): Promise<Runnable> {
  return need(device).then(() => {
    const x = np.array(logisticInput());
    const f = useJit ? jit(eager) : null;
    return {
      run: () => (f ? f(x.ref) : eager(x.ref)).data(),
      dispose() {
        x.dispose();
        f?.dispose();
      },
    };
  });
}

/** 1/(1+exp(-x)): eager as `nn.sigmoid`; under jit the formula written out, fused into one kernel. */
export function jaxLogistic(device: JaxDevice, useJit: boolean): Promise<Runnable> {
  const f = useJit ? (x: Arr) => np.reciprocal(np.exp(np.negative(x)).add(1)) : (x: Arr) => nn.sigmoid(x);
  return elementwise(device, f, useJit);
}

export function jaxPowerSum(device: JaxDevice, useJit: boolean): Promise<Runnable> {
  return elementwise(device, (x) => x.ref.add(np.power(x, 10)), useJit);
}

// ---------------------------------------------------------------------------------------------

/** The suite of one jax-js device, eager or jit (the jit suite has no W1: one op, nothing to fuse). */
export function jaxSuite(device: JaxDevice, useJit: boolean, label?: string): Suite {
  const library = label ?? `jax-js ${device}${useJit ? ' jit' : ''}`;
  return {
    library,
    ...(useJit ? {} : { matmul: (n: number) => jaxMatmul(device, n) }),
    mlp: () => jaxMlp(device, useJit),
    lenet: () => jaxLenet(device, useJit),
    logistic: () => jaxLogistic(device, useJit),
    powerSum: () => jaxPowerSum(device, useJit),
  };
}

// ---------------------------------------------------------------------------------------------
// Threads

/**
 * Measures jax-js wasm on `threads` worker threads (eager and jit suites) in a child process:
 * jax-js creates its wasm device, and decides on threads, when it is first imported, so the
 * `Worker` shim has to be in place before that (see jax-threads-child.ts). Rows are labelled
 * 'jax-js wasm <threads>thr' and 'jax-js wasm <threads>thr jit'.
 */
export function measureJaxThreaded(threads: number, opts: MeasureOpts = {}, timeoutS = 240): Row[] {
  const child = fileURLToPath(new URL('./jax-threads-child.ts', import.meta.url));
  const args = ['--import', 'tsx', child, String(threads), JSON.stringify({ ...opts, verbose: opts.verbose ?? true })];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: timeoutS * 1000 });
  const line = r.stdout?.split('\n').find((l) => l.startsWith('ROWS '));
  if (line) return JSON.parse(line.slice(5)) as Row[];
  const why = `child process failed (status ${r.status}${r.signal ? ', ' + r.signal : ''})`;
  return [{ workload: '(all)', library: `jax-js wasm ${threads}thr`, figure: null, unit: 'ms', note: `fails: ${why}` }];
}
