// Per-kernel profile of one LeNet training step (bench/trainers.ts lenetTrainer, batch 64) on the
// CPU backend.
//
//   npx tsx bench/lenet-cpu-profile.ts [--steps 10] [--reps 30] [--list] [--no-step] [--no-kernels]
//
// Two parts:
//  1. "step": every `cpuBackend.run` of an eager step is timed in place (after a few warm-up
//     steps) and grouped by kernel kind and shapes; ms per step and share of the summed kernel
//     time. The gap to the measured step time is tape/dispatch overhead and in-place assigns.
//  2. "kernels": the CPU templates the step uses — unfold, fold, and the batched matmuls of both
//     convolutions (forward, weight gradient, input gradient) — called directly at the step's
//     shapes on random data, median of `reps` calls each. These are what the jit executor runs too.
//
// The machine is shared and has 2 cores: compare ratios from one run, not absolute numbers.

import { getBackend } from '../src/backend.ts';
import { runFold, runUnfold } from '../src/cpu/conv.ts';
import { matmulInto, type NumArray } from '../src/cpu/matmul.ts';
import type { OpDef } from '../src/ops/registry.ts';
import { lenetTrainer } from './trainers.ts';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const steps = Number(arg('steps', '10'));
const reps = Number(arg('reps', '30'));
const list = process.argv.includes('--list');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const fmt = (x: number, w = 8) => x.toFixed(3).padStart(w);

async function profileStep(): Promise<void> {
  const be = getBackend('cpu');
  const orig = be.run.bind(be);
  let rec: Map<string, { ms: number; calls: number }> | null = null;
  be.run = (op: OpDef, inputs, attrs, out) => {
    if (!rec) return orig(op, inputs, attrs, out);
    const t0 = performance.now();
    const s = orig(op, inputs, attrs, out);
    const dt = performance.now() - t0;
    const name = op.kind === 'elementwise' || op.kind === 'reduce' ? `${op.kind}:${op.name}` : op.kind;
    const key = `${name} ${inputs.map((v) => `[${v.shape.join(',')}]${v.strides.join(',') === contig(v.shape).join(',') ? '' : 'T'}`).join(' ')} → [${out.shape.join(',')}]`;
    const e = rec.get(key) ?? { ms: 0, calls: 0 };
    e.ms += dt;
    e.calls++;
    rec.set(key, e);
    return s;
  };
  const t = lenetTrainer('cpu', false);
  // warm-up: V8 optimises a kernel that runs once per step only after several steps
  await t.runSteps(10);
  rec = new Map();
  const t0 = performance.now();
  await t.runSteps(steps);
  const stepMs = (performance.now() - t0) / steps;
  const r = rec;
  rec = null;
  be.run = orig;

  const byKind = new Map<string, number>();
  let total = 0;
  for (const [k, v] of r) {
    const kind = k.split(' ')[0]!.split(':')[0]!;
    byKind.set(kind, (byKind.get(kind) ?? 0) + v.ms / steps);
    total += v.ms / steps;
  }
  console.log(`eager step: ${stepMs.toFixed(2)} ms, summed kernel time ${total.toFixed(2)} ms (${steps} steps)`);
  console.log('| kernel kind | ms/step | share |\n| --- | ---: | ---: |');
  for (const [k, ms] of [...byKind].sort((a, b) => b[1] - a[1])) console.log(`| ${k} | ${ms.toFixed(2)} | ${((100 * ms) / total).toFixed(0)}% |`);
  const rows = [...r].sort((a, b) => b[1].ms - a[1].ms);
  console.log(`\n${list ? 'all' : 'top 15'} kernels (ms/step, calls/step):`);
  for (const [k, v] of list ? rows : rows.slice(0, 15)) console.log(`${fmt(v.ms / steps)}  ${String(v.calls / steps).padStart(3)}×  ${k}`);
}

function contig(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]!; }
  return s;
}

function time(f: () => void): number {
  for (let i = 0; i < 3; i++) f();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);

/** One batched product at the step's shapes: A and B strided views, `aT`/`bT` transposed, `aB` broadcast. */
function mm(batch: number, M: number, K: number, N: number, aT: boolean, bT: boolean, aBroadcast: boolean): () => void {
  const a = rand((aBroadcast ? 1 : batch) * M * K), b = rand(batch * K * N), out = new Float32Array(batch * M * N);
  const aOff = Int32Array.from({ length: batch }, (_, i) => (aBroadcast ? 0 : i * M * K));
  const bOff = Int32Array.from({ length: batch }, (_, i) => i * K * N);
  const [ars, acs] = aT ? [1, M] : [K, 1];
  const [brs, bcs] = bT ? [1, K] : [N, 1];
  return () => matmulInto(out as NumArray, a, aOff, ars, acs, b, bOff, brs, bcs, batch, M, K, N);
}

function profileKernels(): void {
  const N = 64;
  const conv = (C: number, H: number, k: number, p: number) => {
    const attrs = { kernel: [k, k] as [number, number], stride: [1, 1] as [number, number], padding: [p, p] as [number, number], dilation: [1, 1] as [number, number], padValue: 0 };
    const oh = H + 2 * p - k + 1;
    const x = { data: rand(N * C * H * H), offset: 0, strides: contig([N, C, H, H]) };
    const cols = { data: rand(N * C * k * k * oh * oh), offset: 0, strides: contig([N, C * k * k, oh * oh]) };
    const out = new Float32Array(N * C * k * k * oh * oh), img = new Float32Array(N * C * H * H);
    return {
      unfold: () => runUnfold(x, [N, C, H, H], attrs, out),
      fold: () => { img.fill(0); runFold(cols, [N, C * k * k, oh * oh], { ...attrs, inputSize: [H, H] }, img); },
    };
  };
  const c1 = conv(1, 28, 5, 2), c2 = conv(6, 14, 5, 0);
  const cases: [string, () => void][] = [
    ['unfold conv1 [64,1,28,28] → [64,25,784]', c1.unfold],
    ['unfold conv2 [64,6,14,14] → [64,150,100]', c2.unfold],
    ['fold conv2 [64,150,100] → [64,6,14,14]', c2.fold],
    ['mm conv1 fwd W[6,25] @ cols[64,25,784]', mm(N, 6, 25, 784, false, false, true)],
    ['mm conv1 dW ȳ[64,6,784] @ colsᵀ[64,784,25]', mm(N, 6, 784, 25, false, true, false)],
    ['mm conv2 fwd W[16,150] @ cols[64,150,100]', mm(N, 16, 150, 100, false, false, true)],
    ['mm conv2 dW ȳ[64,16,100] @ colsᵀ[64,100,150]', mm(N, 16, 100, 150, false, true, false)],
    ['mm conv2 dcols Wᵀ[150,16] @ ȳ[64,16,100]', mm(N, 150, 16, 100, true, false, true)],
    ['mm fc1 [64,400] @ Wᵀ[400,120]', mm(1, 64, 400, 120, false, true, false)],
    ['mm fc1 dW ȳᵀ[120,64] @ x[64,400]', mm(1, 120, 64, 400, true, false, false)],
  ];
  console.log(`\nCPU templates at the step's shapes (median of ${reps}):`);
  console.log('| kernel | ms |\n| --- | ---: |');
  let sum = 0;
  for (const [name, f] of cases) {
    const ms = time(f);
    sum += ms;
    console.log(`| ${name} | ${ms.toFixed(3)} |`);
  }
  console.log(`| total | ${sum.toFixed(3)} |`);
}

if (!process.argv.includes('--no-step')) await profileStep();
if (!process.argv.includes('--no-kernels')) profileKernels();
