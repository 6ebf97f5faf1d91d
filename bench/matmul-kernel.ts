// CPU matmul kernel benchmark: tapegrad's `matmulInto` (wasm SIMD kernel) and `matmulIntoJs`
// (plain JS) against tfjs-core's cpu and wasm backends, in the same process, single-threaded.
//
//   npx tsx bench/matmul-kernel.ts [--quick]
//
// Prints GFLOP/s (2·M·N·K / median time) per shape and the ratios ours / peer.

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
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

function median(fn: () => void, minMs: number): number {
  for (let i = 0; i < 3; i++) fn();
  const times: number[] = [];
  let total = 0;
  while (times.length < 5 || total < minMs) {
    const t0 = performance.now();
    fn();
    const dt = performance.now() - t0;
    times.push(dt);
    total += dt;
    if (times.length >= 2000) break;
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1]!;
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

function timeOurs(s: Shape, kernel: typeof matmulInto, minMs: number): number {
  const { a, b, ars, acs, brs, bcs } = operands(s);
  const out = new Float32Array(s.M * s.N);
  return median(() => kernel(out, a, [0], ars, acs, b, [0], brs, bcs, 1, s.M, s.K, s.N), minMs);
}

async function timeTf(s: Shape, backend: string, minMs: number): Promise<number | string> {
  try {
    if (tf.getBackend() !== backend) {
      const ok = await tf.setBackend(backend);
      await tf.ready();
      if (!ok || tf.getBackend() !== backend) return `setBackend('${backend}') failed`;
    }
  } catch (e) {
    return (e as Error).message;
  }
  const { a, b } = operands(s);
  const ta = tf.tensor2d(a, s.transposeA ? [s.K, s.M] : [s.M, s.K]);
  const tb = tf.tensor2d(b, s.transposeB ? [s.N, s.K] : [s.K, s.N]);
  const ms = median(() => {
    const c = tf.matMul(ta, tb, s.transposeA, s.transposeB);
    c.dataSync();
    c.dispose();
  }, minMs);
  ta.dispose();
  tb.dispose();
  return ms;
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

  console.log(`tapegrad matmulInto implementation: ${matmulImpl()}; Node ${process.version}; float32, one thread`);
  const minMs = quick ? 150 : 600;
  const gf = (s: Shape, ms: number) => (2 * s.M * s.N * s.K) / ms / 1e6;
  const rows: string[][] = [];
  for (const s of shapes) {
    const ours = gf(s, timeOurs(s, matmulInto, minMs));
    const js = gf(s, timeOurs(s, matmulIntoJs, minMs));
    const cpuMs = await timeTf(s, 'cpu', Math.min(minMs, s.M * s.N * s.K > 1e8 ? 3000 : minMs));
    const wasmMs = wasmSkip ? wasmSkip : await timeTf(s, 'wasm', minMs);
    const cpu = typeof cpuMs === 'number' ? gf(s, cpuMs) : NaN;
    const wasm = typeof wasmMs === 'number' ? gf(s, wasmMs) : NaN;
    const f = (x: number) => (Number.isNaN(x) ? 'n/a' : x.toFixed(2));
    const r = (x: number, y: number) => (Number.isNaN(y) ? 'n/a' : (x / y).toFixed(2) + '×');
    rows.push([s.name, f(ours), f(js), f(cpu), f(wasm), r(ours, cpu), r(js, cpu), r(ours, wasm)]);
    console.log(rows[rows.length - 1]!.join(' | '));
  }
  const header = ['shape', 'ours (wasm)', 'ours (JS)', 'tfjs-cpu', 'tfjs-wasm', 'wasm/tfjs-cpu', 'JS/tfjs-cpu', 'wasm/tfjs-wasm'];
  console.log('\nGFLOP/s (median), ratios = ours / peer\n');
  console.log('| ' + header.join(' | ') + ' |');
  console.log('|' + header.map(() => ' --- ').join('|') + '|');
  for (const row of rows) console.log('| ' + row.join(' | ') + ' |');
}

await main();
