// TensorFlow.js (tfjs-core 4.22, no tfjs-layers) on the cpu, wasm and webgpu backends.
// Every set-up returns a closure the harness can time side by side with tapegrad.

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { build } from 'esbuild';
import { createRequire } from 'node:module';
import path from 'node:path';
import { readBackAndFree, type MlpRunnable, type Runnable, type Suite } from '../harness.ts';
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
  type Conv,
  type Linear,
  type MnistLike,
} from './data.ts';
import { ensureWebGPU } from './webgpu-node.ts';

export type TfBackend = 'cpu' | 'wasm' | 'webgpu';

// PROD mode: no per-op debug checks, and no "install tfjs-node" banner on the cpu backend.
tf.enableProdMode();

let gradients: Promise<void> | null = null;

/**
 * tfjs-core's Node build (its package `main`) registers no gradients: `@tensorflow/tfjs` normally
 * imports `dist/register_all_gradients.js`, an ES module tree with directory-style imports that
 * Node's ESM loader rejects. So bundle that file with esbuild and import it from a data: URL. The
 * copy shares the engine and the gradient registry with the main build (tfjs keeps both on
 * globalThis), and its ops accept our tensors (tfjs's `instanceof Tensor` is duck-typed).
 */
export function registerTfGradients(): Promise<void> {
  gradients ??= (async () => {
    const require = createRequire(import.meta.url);
    const entry = require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js');
    const out = await build({ entryPoints: [entry], bundle: true, format: 'esm', platform: 'neutral', write: false, logLevel: 'error' });
    await import('data:text/javascript,' + encodeURIComponent(out.outputFiles[0]!.text));
  })();
  return gradients;
}

let wasmPathsSet = false;
const ready = new Map<TfBackend, Promise<string | null>>();

/**
 * Makes `backend` tfjs's current backend. Resolves to null when it works, or to the reason it
 * cannot run here (no WebGPU adapter, wasm binary not found…).
 */
export function useTfBackend(backend: TfBackend): Promise<string | null> {
  let p = ready.get(backend);
  if (!p) {
    p = initBackend(backend);
    ready.set(backend, p);
  }
  return p.then(async (why) => {
    if (why == null && tf.getBackend() !== backend) {
      await tf.setBackend(backend);
      await tf.ready();
    }
    return why;
  });
}

async function initBackend(backend: TfBackend): Promise<string | null> {
  try {
    await registerTfGradients();
    if (backend === 'wasm' && !wasmPathsSet) {
      // In Node, point the Emscripten loader at the package's dist/ folder (a file path prefix with
      // a trailing slash). Node 20 has no SharedArrayBuffer-backed worker support in tfjs, so it
      // picks tfjs-backend-wasm-simd.wasm and runs single-threaded.
      const require = createRequire(import.meta.url);
      const dir = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
      setWasmPaths(dir);
      wasmPathsSet = true;
    }
    if (backend === 'webgpu') {
      const gpu = await ensureWebGPU();
      if (!gpu.ok) return gpu.detail;
      // Registers 'webgpu' only if navigator.gpu exists at import time, hence the dynamic import.
      await import('@tensorflow/tfjs-backend-webgpu');
    }
    const ok = await tf.setBackend(backend);
    await tf.ready();
    if (!ok || tf.getBackend() !== backend) return `tf.setBackend('${backend}') failed`;
    return null;
  } catch (e) {
    return (e as Error).message ?? String(e);
  }
}

/** Live tensor count, to check that memory stays flat. */
export function tfNumTensors(): number {
  return tf.memory().numTensors;
}

// ---------------------------------------------------------------------------------------------
// W1: matmul

export async function tfMatmul(backend: TfBackend, n: number): Promise<Runnable> {
  await need(backend);
  const a = tf.tensor2d(uniform(n * n, -1, 1, 11), [n, n]);
  const b = tf.tensor2d(uniform(n * n, -1, 1, 12), [n, n]);
  return readBackAndFree(() => tf.matMul(a, b), [a, b]);
}

// ---------------------------------------------------------------------------------------------
// W2: MLP 784-128-10

/** tfjs Dense weight [in, out] from a PyTorch-layout Linear. */
function dense(l: Linear): { w: tf.Variable; b: tf.Variable } {
  return {
    w: variable(() => tf.tensor2d(transpose(l.weight, l.outF, l.inF), [l.inF, l.outF])),
    b: variable(() => tf.tensor1d(l.bias)),
  };
}

/** A variable whose initial tensor is disposed (tf.variable keeps its own reference to the data). */
function variable(init: () => tf.Tensor): tf.Variable {
  const v = tf.tidy(() => tf.variable(init()));
  initOf.set(v, init);
  return v;
}
const initOf = new WeakMap<tf.Variable, () => tf.Tensor>();

/** Restores the initial values of `vars`. */
function resetVariables(vars: tf.Variable[]): void {
  for (const v of vars) tf.tidy(() => v.assign(initOf.get(v)!()));
}

/** Uploads batch rows [s, e) as NHWC images or flat rows, plus one-hot float labels. */
function uploadBatch(data: MnistLike, s: number, e: number, images: boolean): [tf.Tensor, tf.Tensor] {
  const m = e - s;
  const pix = data.images.subarray(s * 784, e * 784);
  const x = images ? tf.tensor4d(pix, [m, 28, 28, 1]) : tf.tensor2d(pix, [m, 784]);
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(data.labels.subarray(s, e), 'int32'), 10), 'float32'));
  return [x, y];
}

/**
 * A training loop over `data`: `step(x, y)` must return the scalar loss (inside optimizer.minimize).
 * The returned runnable's `run()` is one step with the loss read back.
 */
function trainer(
  data: MnistLike,
  batch: number,
  images: boolean,
  lr: number,
  vars: tf.Variable[],
  lossFn: (x: tf.Tensor, y: tf.Tensor) => tf.Scalar,
): MlpRunnable {
  const opt = tf.train.sgd(lr);
  let cursor = 0;
  const steps = stepsPerEpoch(data, batch);
  const step = (returnCost: boolean): tf.Scalar | null => {
    const [s, e] = batchRange(data, batch, cursor++);
    const [x, y] = uploadBatch(data, s, e, images);
    try {
      // minimize() tidies the step itself; only the cost survives. (When a kernel is missing, as
      // for LeNet on tfjs-wasm, tfjs leaks the tensors its tape saved: about 34 per failed step.)
      return opt.minimize(() => lossFn(x, y), returnCost, vars);
    } finally {
      x.dispose();
      y.dispose();
    }
  };
  return {
    stepsPerEpoch: steps,
    reset() {
      resetVariables(vars);
      cursor = 0;
    },
    async run() {
      const cost = step(true)!;
      const v = (await cost.data())[0]!;
      cost.dispose();
      return v;
    },
    async runSteps(k: number) {
      let cost: tf.Scalar | null = null;
      for (let i = 0; i < k; i++) {
        cost?.dispose();
        cost = step(i === k - 1);
      }
      const v = cost ? (await cost.data())[0]! : NaN;
      cost?.dispose();
      return v;
    },
    dispose() {
      opt.dispose();
      for (const v of vars) v.dispose();
    },
  };
}

export async function tfMlp(backend: TfBackend, data: MnistLike = loadMnistTrain()): Promise<MlpRunnable> {
  await need(backend);
  const wts = mlpWeights();
  const l1 = dense(wts.fc1);
  const l2 = dense(wts.fc2);
  const loss = (x: tf.Tensor, y: tf.Tensor): tf.Scalar => {
    const h = tf.relu(tf.add(tf.matMul(x as tf.Tensor2D, l1.w as tf.Tensor2D), l1.b));
    const logits = tf.add(tf.matMul(h as tf.Tensor2D, l2.w as tf.Tensor2D), l2.b);
    return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
  };
  return trainer(data, MLP_BATCH, false, LR, [l1.w, l1.b, l2.w, l2.b], loss);
}

// ---------------------------------------------------------------------------------------------
// W3: LeNet-5, NHWC

/** tfjs conv filter [kh, kw, in, out] from PyTorch [out, in, kh, kw]. */
function convFilter(c: Conv): { w: tf.Variable; b: tf.Variable } {
  const { inC, outC, k } = c;
  const f = new Float32Array(c.weight.length);
  for (let o = 0; o < outC; o++)
    for (let i = 0; i < inC; i++)
      for (let y = 0; y < k; y++)
        for (let x = 0; x < k; x++) f[((y * k + x) * inC + i) * outC + o] = c.weight[((o * inC + i) * k + y) * k + x]!;
  return { w: variable(() => tf.tensor4d(f, [k, k, inC, outC])), b: variable(() => tf.tensor1d(c.bias)) };
}

/** fc1 of LeNet: PyTorch flattens NCHW [16,5,5] (c*25+h*5+w); tfjs flattens NHWC (h*80+w*16+c). */
function lenetFc1(l: Linear): { w: tf.Variable; b: tf.Variable } {
  const w = new Float32Array(l.weight.length);
  for (let o = 0; o < 120; o++)
    for (let c = 0; c < 16; c++)
      for (let h = 0; h < 5; h++)
        for (let x = 0; x < 5; x++) w[(h * 80 + x * 16 + c) * 120 + o] = l.weight[o * 400 + c * 25 + h * 5 + x]!;
  return { w: variable(() => tf.tensor2d(w, [400, 120])), b: variable(() => tf.tensor1d(l.bias)) };
}

export async function tfLenet(backend: TfBackend, data: MnistLike = loadMnistTrain()): Promise<Runnable> {
  await need(backend);
  const wts = lenetWeights();
  const c1 = convFilter(wts.conv1);
  const c2 = convFilter(wts.conv2);
  const f1 = lenetFc1(wts.fc1);
  const f2 = dense(wts.fc2);
  const f3 = dense(wts.fc3);
  const loss = (x: tf.Tensor, y: tf.Tensor): tf.Scalar => {
    let h: tf.Tensor4D = x as tf.Tensor4D;
    h = tf.relu(tf.add(tf.conv2d(h, c1.w as tf.Tensor4D, 1, [[0, 0], [2, 2], [2, 2], [0, 0]]), c1.b)) as tf.Tensor4D;
    h = tf.maxPool(h, 2, 2, 'valid');
    h = tf.relu(tf.add(tf.conv2d(h, c2.w as tf.Tensor4D, 1, 'valid'), c2.b)) as tf.Tensor4D;
    h = tf.maxPool(h, 2, 2, 'valid');
    let z: tf.Tensor2D = tf.reshape(h, [h.shape[0], 400]);
    z = tf.relu(tf.add(tf.matMul(z, f1.w as tf.Tensor2D), f1.b)) as tf.Tensor2D;
    z = tf.relu(tf.add(tf.matMul(z, f2.w as tf.Tensor2D), f2.b)) as tf.Tensor2D;
    const logits = tf.add(tf.matMul(z, f3.w as tf.Tensor2D), f3.b);
    return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
  };
  const vars = [c1.w, c1.b, c2.w, c2.b, f1.w, f1.b, f2.w, f2.b, f3.w, f3.b];
  return trainer(data, LENET_BATCH, true, LENET_LR, vars, loss);
}

// ---------------------------------------------------------------------------------------------
// W4: logistic and a + a**10

export async function tfLogistic(backend: TfBackend): Promise<Runnable> {
  await need(backend);
  const x = tf.tensor1d(logisticInput());
  return {
    async run() {
      const y = tf.sigmoid(x);
      const d = await y.data();
      y.dispose();
      return d;
    },
    dispose: () => x.dispose(),
  };
}

export async function tfPowerSum(backend: TfBackend): Promise<Runnable> {
  await need(backend);
  const x = tf.tensor1d(logisticInput());
  return {
    async run() {
      const y = tf.tidy(() => tf.add(x, tf.pow(x, 10)));
      const d = await y.data();
      y.dispose();
      return d;
    },
    dispose: () => x.dispose(),
  };
}

// ---------------------------------------------------------------------------------------------

async function need(backend: TfBackend): Promise<void> {
  const why = await useTfBackend(backend);
  if (why != null) throw new Error(`tfjs-${backend} unavailable: ${why}`);
}

/** The suite of one tfjs backend. */
export function tfjsSuite(backend: TfBackend): Suite {
  return {
    library: `tfjs-${backend}`,
    matmul: (n) => tfMatmul(backend, n),
    mlp: () => tfMlp(backend),
    lenet: () => tfLenet(backend),
    logistic: () => tfLogistic(backend),
    powerSum: () => tfPowerSum(backend),
  };
}
