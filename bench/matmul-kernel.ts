// CPU matmul kernel benchmark: tapegrad's `matmulInto` (wasm SIMD kernel) and `matmulIntoJs`
// (plain JS) against tfjs-core's cpu and wasm backends, in the same process, single-threaded.
//
//   npx tsx bench/matmul-kernel.ts [--quick]
//
// Prints GFLOP/s (2·M·N·K / time per call, best of several round-robin rounds) per shape and the
// ratios ours / peer. tfjs timings include reading the result back (dataSync) and disposing it.

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { matmulImpl, matmulInto, matmulIntoJs } from '../src/cpu/matmul.ts';

tf.enableProdMode();
const quick = process.argv.includes('--quick');

interface Shape {
  name: string;
  M: number;
  K: number;
  N: number;
  transposeA: boolean;
  transposeB: boolean;
}

const shapes: Shape[] = [
  { name: '256²', M: 256, K: 256, N: 256, transposeA: false, transposeB: false },
  { name: '512²', M: 512, K: 512, N: 512, transposeA: false, transposeB: false },
  { name: '1024²', M: 1024, K: 1024, N: 1024, transposeA: false, transposeB: false },
  { name: 'MLP fwd [128,784]@[784,128]', M: 128, K: 784, N: 128, transposeA: false, transposeB: false },
  { name: 'MLP dW [128,784]ᵀ@[128,128]', M: 784, K: 128, N: 128, transposeA: true, transposeB: false },
  { name: 'MLP dX [128,128]@[784,128]ᵀ', M: 128, K: 128, N: 784, transposeA: false, transposeB: true },
  { name: 'MLP fwd2 [128,128]@[128,10]', M: 128, K: 128, N: 10, transposeA: false, transposeB: false },
  { name: 'MLP dW2 [128,128]ᵀ@[128,10]', M: 128, K: 128, N: 10, transposeA: true, transposeB: false },
  { name: 'MLP dH [128,10]@[128,10]ᵀ', M: 128, K: 10, N: 128, transposeA: false, transposeB: true },
  { name: 'gemv [1,784]@[784,128]', M: 1, K: 784, N: 128, transposeA: false, transposeB: false },
];

/**
 * Times one call of `fn` in milliseconds: calls it `reps` times (at least `minMs` in all) and
 * returns the mean per call.
 */
function timeBatch(fn: () => void, minMs: number): number {
  let reps = 0;
  const t0 = performance.now();
  let t = t0;
  do {
    fn();
    reps++;
    t = performance.now();
  } while (t - t0 < minMs);
  return (t - t0) / reps;
}

function randomData(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) | 0;
    out[i] = ((s >>> 8) / (1 << 24)) * 2 - 1;
  }
  return out;
}

/** Stored operand shapes: A is [M,K] or, transposed, [K,M]; B is [K,N] or [N,K]. */
function operands(s: Shape) {
  const a = randomData(s.M * s.K, 1);
  const b = randomData(s.K * s.N, 2);
  const [ars, acs] = s.transposeA ? [1, s.M] : [s.K, 1];
  const [brs, bcs] = s.transposeB ? [1, s.K] : [s.N, 1];
  return { a, b, ars, acs, brs, bcs };
}


function ours(s: Shape, kernel: typeof matmulInto): () => void {
  const { a, b, ars, acs, brs, bcs } = operands(s);
  const out = new Float32Array(s.M * s.N);
  return () => kernel(out, a, [0], ars, acs, b, [0], brs, bcs, 1, s.M, s.K, s.N);
}

async function useBackend(backend: string): Promise<string | null> {
  try {
    if (tf.getBackend() !== backend) {
      const ok = await tf.setBackend(backend);
      await tf.ready();
      if (!ok || tf.getBackend() !== backend) return `setBackend('${backend}') failed`;
    }
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

/** tf.matMul on `backend`, including reading the result back (dataSync) and disposing it. */
async function tfjs(s: Shape, backend: string): Promise<(() => void) | string> {
  const why = await useBackend(backend);
  if (why) return why;
  const { a, b } = operands(s);
  const ta = tf.tensor2d(a, s.transposeA ? [s.K, s.M] : [s.M, s.K]);
  const tb = tf.tensor2d(b, s.transposeB ? [s.N, s.K] : [s.K, s.N]);
  return () => {
    const c = tf.matMul(ta, tb, s.transposeA, s.transposeB);
    c.dataSync();
    c.dispose();
  };
}

async function main(): Promise<void> {
  const require = createRequire(import.meta.url);
  const wasmDir = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
  setWasmPaths(wasmDir);
  let wasmSkip: string | null = null;
  try {
    const ok = await tf.setBackend('wasm');
    await tf.ready();
    if (!ok || tf.getBackend() !== 'wasm') wasmSkip = "tf.setBackend('wasm') failed";
  } catch (e) {
    wasmSkip = (e as Error).message;
  }
  if (wasmSkip) console.log(`tfjs-wasm skipped: ${wasmSkip}`);

  console.log(`tapegrad matmulInto implementation: ${matmulImpl()}; Node ${process.version}; float32, one thread; load average ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')} on ${os.cpus().length} CPUs`);
  // Candidates run round-robin (so that load from other processes hits them alike); each round
  // times a batch of calls; the best round counts.
  const rounds = quick ? 3 : 7;
  const gf = (s: Shape, ms: number) => (2 * s.M * s.N * s.K) / ms / 1e6;
  const rows: string[][] = [];
  for (const s of shapes) {
    const flop = 2 * s.M * s.N * s.K;
    const cands: { name: string; backend?: string; fn: (() => void) | string }[] = [
      { name: 'ours', fn: ours(s, matmulInto) },
      { name: 'js', fn: ours(s, matmulIntoJs) },
      { name: 'cpu', backend: 'cpu', fn: await tfjs(s, 'cpu') },
      { name: 'wasm', backend: 'wasm', fn: wasmSkip ?? (await tfjs(s, 'wasm')) },
    ];
    const best = new Map<string, number>();
    for (let r = 0; r < rounds + 1; r++) {
      for (const c of cands) {
        if (typeof c.fn === 'string') continue;
        if (c.backend) await useBackend(c.backend);
        // Each round times at least 30–300 ms of calls (scaled with the work per call).
        const ms = timeBatch(c.fn, Math.max(30, Math.min(300, flop / 1e7)));
        if (r > 0) best.set(c.name, Math.min(best.get(c.name) ?? Infinity, ms)); // round 0 warms up
      }
    }
    const g = (name: string) => (best.has(name) ? gf(s, best.get(name)!) : NaN);
    const [o, js, cpu, wasm] = [g('ours'), g('js'), g('cpu'), g('wasm')];
    const f = (x: number) => (Number.isNaN(x) ? 'n/a' : x.toFixed(2));
    const r = (x: number, y: number) => (Number.isNaN(y) ? 'n/a' : (x / y).toFixed(2) + '×');
    rows.push([s.name, f(o), f(js), f(cpu), f(wasm), r(o, cpu), r(js, cpu), r(o, wasm)]);
    console.log(rows[rows.length - 1]!.join(' | '));
  }
  const header = ['shape', 'ours (wasm)', 'ours (JS)', 'tfjs-cpu', 'tfjs-wasm', 'wasm/tfjs-cpu', 'JS/tfjs-cpu', 'wasm/tfjs-wasm'];
  console.log(`\nGFLOP/s (best of ${rounds} round-robin rounds), ratios = ours / peer\n`);
  console.log('| ' + header.join(' | ') + ' |');
  console.log('|' + header.map(() => ' --- ').join('|') + '|');
  for (const row of rows) console.log('| ' + row.join(' | ') + ' |');
}

await main();
