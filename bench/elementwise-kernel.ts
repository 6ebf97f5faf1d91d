// Elementwise float32 benchmark: tapegrad's CPU kernels with the WebAssembly SIMD path
// (src/cpu/wasm/elementwise.ts) and with it switched off (the generated JS loop), against
// tfjs-core's cpu and wasm (XNNPACK, SIMD) backends, in the same process, single-threaded.
//
//   npx tsx bench/elementwise-kernel.ts [--quick] [--n=1000000] [--no-threshold]
//   IMPLS=wasm,tfjs-wasm npx tsx bench/elementwise-kernel.ts   (a subset of wasm,js,tfjs-cpu,tfjs-wasm)
//
// Each figure is the ms of one op on n float32 values including the result's readback
// (`y = x.sigmoid(); await y.data()`, as in workload W4). The machine may be shared and noisy, so
// the implementations are timed in interleaved rounds; the tables give the median and the minimum
// over all rounds. A last table times the kernel alone (runElementwise into a preallocated output)
// for wasm vs JS at sizes around WASM_ELEMENTWISE_MIN.

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fromTypedArray, type Tensor } from '../src/index.ts';
import { runElementwise } from '../src/cpu/elementwise.ts';
import { E, type Expr } from '../src/ops/expr.ts';
import {
  setWasmElementwise,
  setWasmElementwiseMin,
  WASM_ELEMENTWISE_MIN,
  wasmElementwiseEnabled,
  wasmElementwiseStats,
} from '../src/cpu/wasm/elementwise.ts';

tf.enableProdMode();
const quick = process.argv.includes('--quick');
const nArg = process.argv.find((a) => a.startsWith('--n='));
const N = nArg ? Number(nArg.slice(4)) : 1_000_000;

function uniform(n: number, lo: number, hi: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) | 0;
    out[i] = lo + ((s >>> 8) / (1 << 24)) * (hi - lo);
  }
  return out;
}

interface Case {
  name: string;
  /** Input range (log needs positive values). */
  lo: number;
  hi: number;
  ours: (a: Tensor, b: Tensor) => Tensor;
  tf: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;
  expr: Expr;
  binary: boolean;
}

const x0 = E.input(0, 'float32');
const x1 = E.input(1, 'float32');
const cases: Case[] = [
  { name: 'sigmoid', lo: -6, hi: 6, ours: (a) => a.sigmoid(), tf: (a) => tf.sigmoid(a), expr: E.un('sigmoid', x0), binary: false },
  { name: 'exp', lo: -6, hi: 6, ours: (a) => a.exp(), tf: (a) => tf.exp(a), expr: E.un('exp', x0), binary: false },
  { name: 'tanh', lo: -6, hi: 6, ours: (a) => a.tanh(), tf: (a) => tf.tanh(a), expr: E.un('tanh', x0), binary: false },
  { name: 'log', lo: 0.01, hi: 100, ours: (a) => a.log(), tf: (a) => tf.log(a), expr: E.un('log', x0), binary: false },
  { name: 'relu', lo: -6, hi: 6, ours: (a) => a.relu(), tf: (a) => tf.relu(a), expr: E.un('relu', x0), binary: false },
  { name: 'add', lo: -6, hi: 6, ours: (a, b) => a.add(b), tf: (a, b) => tf.add(a, b), expr: E.bin('add', x0, x1), binary: true },
  { name: 'mul', lo: -6, hi: 6, ours: (a, b) => a.mul(b), tf: (a, b) => tf.mul(a, b), expr: E.bin('mul', x0, x1), binary: true },
  {
    name: 'a+a**10', lo: -6, hi: 6,
    ours: (a) => a.add(a.pow(10)),
    tf: (a) => tf.add(a, tf.pow(a, 10)),
    expr: E.bin('add', x0, E.bin('pow', x0, E.const(10, 'float32'))),
    binary: false,
  },
];

type Impl = 'wasm' | 'js' | 'tfjs-cpu' | 'tfjs-wasm';
const IMPLS: Impl[] = ['wasm', 'js', 'tfjs-cpu', 'tfjs-wasm'];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function setTf(backend: 'cpu' | 'wasm'): Promise<void> {
  if (tf.getBackend() !== backend) {
    await tf.setBackend(backend);
    await tf.ready();
  }
}

async function main(): Promise<void> {
  const require = createRequire(import.meta.url);
  setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep);
  let tfWasm = true;
  try {
    tfWasm = (await tf.setBackend('wasm')) && tf.getBackend() === 'wasm';
    await tf.ready();
  } catch (e) {
    console.log(`tfjs-wasm skipped: ${(e as Error).message}`);
    tfWasm = false;
  }
  const only = process.env.IMPLS?.split(',');
  const impls = IMPLS.filter((i) => (i !== 'tfjs-wasm' || tfWasm) && (!only || only.includes(i)));
  console.log(`Node ${process.version}; n = ${N} float32; wasm elementwise enabled: ${wasmElementwiseEnabled()}; ` +
    `timed: op + readback (await data()), median over interleaved rounds\n`);

  const rounds = quick ? 6 : 15;
  const perRound = quick ? 3 : 5;
  const rows: string[][] = [];
  const minRows: string[][] = [];
  for (const c of cases) {
    const a = uniform(N, c.lo, c.hi, 1);
    const b = uniform(N, c.lo, c.hi, 2);
    const ours = { a: fromTypedArray(a, [N], 'float32', 'cpu'), b: fromTypedArray(b, [N], 'float32', 'cpu') };
    const tfIn: Partial<Record<'cpu' | 'wasm', { a: tf.Tensor; b: tf.Tensor }>> = {};
    for (const be of ['cpu', 'wasm'] as const) {
      if (be === 'wasm' && !tfWasm) continue;
      await setTf(be);
      tfIn[be] = { a: tf.tensor1d(a), b: tf.tensor1d(b) };
    }
    const once: Record<Impl, () => Promise<unknown>> = {
      wasm: () => c.ours(ours.a, ours.b).data(),
      js: () => c.ours(ours.a, ours.b).data(),
      'tfjs-cpu': async () => {
        const y = tf.tidy(() => c.tf(tfIn.cpu!.a, tfIn.cpu!.b));
        await y.data();
        y.dispose();
      },
      'tfjs-wasm': async () => {
        const y = tf.tidy(() => c.tf(tfIn.wasm!.a, tfIn.wasm!.b));
        await y.data();
        y.dispose();
      },
    };
    const times: Record<Impl, number[]> = { wasm: [], js: [], 'tfjs-cpu': [], 'tfjs-wasm': [] };
    for (let r = 0; r <= rounds; r++) {
      for (const impl of impls) {
        if (impl === 'wasm' || impl === 'js') setWasmElementwise(impl === 'wasm');
        else await setTf(impl === 'tfjs-cpu' ? 'cpu' : 'wasm');
        // round 0 warms up (JIT tiers, wasm tier-up, tfjs kernels)
        for (let k = 0; k < (r === 0 ? 3 * perRound : perRound); k++) {
          const t0 = performance.now();
          await once[impl]();
          if (r > 0) times[impl].push(performance.now() - t0);
        }
      }
    }
    setWasmElementwise(true);
    for (const be of ['cpu', 'wasm'] as const) {
      if (!tfIn[be]) continue;
      await setTf(be);
      tfIn[be].a.dispose();
      tfIn[be].b.dispose();
    }
    const f = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(2));
    const ratio = (p: number | undefined, q: number | undefined) =>
      p === undefined || q === undefined || Number.isNaN(p) || Number.isNaN(q) ? 'n/a' : (p / q).toFixed(1) + '×';
    for (const [stat, table] of [[median, rows], [(xs: number[]) => Math.min(...xs), minRows]] as const) {
      const ms = Object.fromEntries(IMPLS.map((i) => [i, times[i].length ? stat(times[i]) : NaN])) as Record<Impl, number>;
      table.push([c.name, f(ms.wasm), f(ms.js), f(ms['tfjs-cpu']), f(ms['tfjs-wasm']),
        ratio(ms.js, ms.wasm), ratio(ms['tfjs-cpu'], ms.wasm), ratio(ms['tfjs-wasm'], ms.wasm)]);
    }
    console.log(rows[rows.length - 1]!.join(' | '));
  }
  const header = [`op (${N} f32)`, 'ours wasm', 'ours JS', 'tfjs-cpu', 'tfjs-wasm', 'JS / wasm', 'tfjs-cpu / wasm', 'tfjs-wasm / wasm'];
  for (const [title, table] of [['median', rows], ['minimum', minRows]] as const) {
    console.log(`\nms (${title}, op + readback); ratios > 1 mean the wasm path is faster\n`);
    console.log('| ' + header.join(' | ') + ' |');
    console.log('|' + header.map(() => ' --- ').join('|') + '|');
    for (const row of table) console.log('| ' + row.join(' | ') + ' |');
  }

  if (!process.argv.includes('--no-threshold')) await thresholdTable();
  console.log('\n', wasmElementwiseStats());
}

/** Kernel-only time (µs) of wasm vs JS for small n: where the wasm path starts to pay. */
async function thresholdTable(): Promise<void> {
  const sizes = [64, 256, 512, 1024, 2048, 4096, 16384, 65536];
  const sel = cases.filter((c) => ['sigmoid', 'relu', 'add', 'a+a**10'].includes(c.name));
  console.log(`\nkernel only (runElementwise into a preallocated output), µs (median); WASM_ELEMENTWISE_MIN = ${WASM_ELEMENTWISE_MIN}\n`);
  console.log('| n | ' + sel.map((c) => `${c.name} wasm | ${c.name} JS`).join(' | ') + ' |');
  console.log('|' + ' --- |'.repeat(1 + 2 * sel.length));
  for (const n of sizes) {
    const a = uniform(n, -6, 6, 3);
    const b = uniform(n, -6, 6, 4);
    const out = new Float32Array(n);
    const cells: string[] = [];
    for (const c of sel) {
      const ins = [{ data: a, offset: 0, strides: [1] }, { data: b, offset: 0, strides: [1] }].slice(0, c.binary ? 2 : 1);
      const res: Record<string, number[]> = { wasm: [], js: [] };
      const reps = Math.max(1, Math.round(20000 / n));
      for (let r = 0; r < (quick ? 20 : 60); r++) {
        for (const impl of ['wasm', 'js'] as const) {
          setWasmElementwise(impl === 'wasm');
          const t0 = performance.now();
          for (let k = 0; k < reps; k++) runForced(c.expr, n, out, ins, impl === 'wasm');
          if (r >= 5) res[impl]!.push(((performance.now() - t0) / reps) * 1000);
        }
      }
      cells.push(median(res.wasm!).toFixed(1), median(res.js!).toFixed(1));
    }
    console.log(`| ${n} | ${cells.join(' | ')} |`);
  }
  setWasmElementwise(true);
}

/** runElementwise with the wasm path forced on (any n) or off. */
function runForced(expr: Expr, n: number, out: Float32Array, ins: { data: Float32Array; offset: number; strides: number[] }[], wasm: boolean): void {
  const prev = setWasmElementwiseMin(wasm ? 1 : Infinity);
  runElementwise(expr, [n], { data: out, offset: 0, strides: [1] }, ins);
  setWasmElementwiseMin(prev);
}

await main();
