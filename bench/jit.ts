// jit rows: tapegrad eager, tapegrad jit and jax-js jit on the same device, on the workloads where
// a compiler has something to do — W4 the logistic written as a formula and a + a**10 over 1M
// values, W2 the MLP training step, W3 the LeNet training step — plus kernel launches per MLP step.
//
//   npx tsx bench/jit.ts [--device cpu|webgpu] [--quick] [--no-peers] [--no-table] [--only mlp,lenet,logistic,powerSum] [--json FILE]
//   npx tsx bench/jit.ts --processes N [--device cpu|webgpu] [--only logistic,logistic-resident,powerSum,powerSum-resident,mlp,mlp20,lenet]
//
// First eager and jit alternately, run after run (paired ratios; fair on a busy machine), then
// tapegrad's jit against jax-js's on W4/W4b the same way (unless --no-peers), then the
// harness's table with jax-js's jit beside them.
//
// `--processes N` instead runs each side in a process of its own, as a program runs one or the
// other: N pairs of child processes (eager then jit, then jit then eager, …), each warming up as
// the interleaved runs do and reporting its median call; the ratio is taken pair by pair. Sharing
// one process moves each side's garbage-collection and pool state into the other's timings (the
// eighth to eleventh sessions' notes: on the CPU the W4 logistic with its readback measured
// 3.0–3.3× in separate processes and 1.7× interleaved).
//
// The tapegrad jit suite is also exported (`tapegradJitSuite`) for the main `npm run bench` table.

import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { exp, reciprocal, Tensor, type Device } from '../src/index.ts';
import { getBackend } from '../src/backend.ts';
import { jit, type Jitted } from '../src/jit/index.ts';
import { measureSuite, printTable, W, type MeasureOpts, type MlpRunnable, type Row, type Runnable, type Suite } from './harness.ts';
import { jaxLogistic, jaxPowerSum, jaxSuite, useJaxDevice } from './peers/jaxjs.ts';
import { ensureWebGPU } from './peers/webgpu-node.ts';
import { overLogisticInput, residentOverLogisticInput, tapegradSuite } from './tapegrad.ts';
import { lenetTrainer, mlpTrainer } from './trainers.ts';


/** The logistic as the tutorial writes it: 1/(1+exp(-x)). */
const logisticFormula = (x: Tensor) => reciprocal(exp(x.neg()).add(1));
const powerSum = (x: Tensor) => x.add(x.pow(10));

const elementwise = overLogisticInput;

/** tapegrad with every workload's step compiled by `jit`. */
export function tapegradJitSuite(device: Device = 'cpu', label = `tapegrad ${device} jit`): Suite {
  return {
    library: label,
    mlp: async () => mlpTrainer(device, true),
    lenet: async () => lenetTrainer(device, true),
    logistic: async () => elementwise(device, jit(logisticFormula)),
    powerSum: async () => elementwise(device, jit(powerSum)),
  };
}

/** tapegrad eager with the logistic written as the formula (what the jit compiles), for the fusion ratio. */
function eagerFormulaSuite(device: Device): Suite {
  return { library: `tapegrad ${device} (formula)`, logistic: async () => elementwise(device, logisticFormula) };
}

/**
 * Kernels one eager step launches (backend.run and in-place assigns), and one compiled step. On
 * WebGPU: the dispatches recorded (what the adapter runs, whichever executor issued them).
 */
export async function launchesPerStep(device: Device): Promise<{ eager: number; jit: number }> {
  if (device === 'webgpu') {
    const { webgpuStats } = await import('../src/index.ts');
    const dispatches = async (t: MlpRunnable) => {
      await t.run();
      await t.run();
      const d0 = webgpuStats()!.dispatches;
      await t.run();
      return webgpuStats()!.dispatches - d0;
    };
    return { eager: await dispatches(mlpTrainer(device, false)), jit: await dispatches(mlpTrainer(device, true)) };
  }
  const backend = getBackend(device) as unknown as Record<string, (...a: unknown[]) => unknown>;
  const count = async (t: MlpRunnable) => {
    await t.run();
    await t.run();
    const orig = { run: backend.run!, assign: backend.assign! };
    let n = 0;
    backend.run = (...a: unknown[]) => (n++, orig.run.apply(backend, a));
    backend.assign = (...a: unknown[]) => (n++, orig.assign.apply(backend, a));
    try {
      await t.run();
    } finally {
      backend.run = orig.run;
      backend.assign = orig.assign;
    }
    return n;
  };
  const eager = await count(mlpTrainer(device, false));
  const j = mlpTrainer(device, true);
  await count(j);
  const stats = (j.step as Jitted<[Tensor, Tensor], Tensor>).stats;
  // the CPU executor runs kernels itself (not through backend.run): report the plan's count
  return { eager, jit: device === 'cpu' ? stats.last!.launches : await count(j) };
}

/**
 * Eager and jit timed alternately, call after call, so load on a shared machine hits both alike;
 * returns median times and the median of the per-round ratios.
 */
async function interleaved(label: string, eager: Runnable, jitted: Runnable, rounds: number, names = ['eager', 'jit', 'jit speed-up']): Promise<string> {
  // warm-up: at least 3 rounds and 1 s, so V8 has optimised the kernels it generated for both
  // (the jit's small JavaScript kernels run in the interpreter for their first few dozen calls:
  // a CPU MLP step took 1.50 ms after 5 warm-up steps and 1.18 ms after 500), and 300 rounds
  // where they fit in 10 s: an eager WebGPU MLP step on lavapipe went 7.5 → 6.3 → 5.7 ms over its
  // first ~250 steps while its buffer pool filled, and a 1 s warm-up credited the jit with that.
  const w0 = performance.now();
  for (let i = 0; i < 3 || performance.now() - w0 < 1000 || (i < 300 && performance.now() - w0 < 10_000); i++) {
    await eager.run();
    await jitted.run();
  }
  const te: number[] = [], tj: number[] = [], ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let t0 = performance.now();
    await eager.run();
    const e = performance.now() - t0;
    t0 = performance.now();
    await jitted.run();
    const j = performance.now() - t0;
    te.push(e);
    tj.push(j);
    ratios.push(e / j);
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
  const [a, b, r] = names;
  return `  ${label.padEnd(34)} ${a} ${med(te).toFixed(2).padStart(8)} ms   ${b} ${med(tj).toFixed(2).padStart(8)} ms   ${r} ${med(ratios).toFixed(2)}× (median of ${rounds} paired runs)`;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** The workloads `--processes` runs, eager or compiled, by name. */
const processWorkloads: Record<string, { label: string; make: (device: Device, compiled: boolean) => Runnable; roundsOf: (rounds: number) => number }> = {
  logistic: { label: 'W4 logistic 1/(1+exp(-x)), 1M', make: (d, c) => elementwise(d, c ? jit(logisticFormula) : logisticFormula), roundsOf: (r) => r },
  'logistic-resident': { label: 'W4 logistic, no readback', make: (d, c) => residentOverLogisticInput(d, c ? jit(logisticFormula) : logisticFormula), roundsOf: (r) => r },
  powerSum: { label: 'W4b a + a**10, 1M', make: (d, c) => elementwise(d, c ? jit(powerSum) : powerSum), roundsOf: (r) => r },
  'powerSum-resident': { label: 'W4b a + a**10, no readback', make: (d, c) => residentOverLogisticInput(d, c ? jit(powerSum) : powerSum), roundsOf: (r) => r },
  mlp: { label: 'W2 MLP step (batch 128)', make: (d, c) => mlpTrainer(d, c), roundsOf: (r) => r },
  mlp20: { label: 'W2 MLP 20 steps, one readback', make: (d, c) => { const t = mlpTrainer(d, c); return { run: () => t.runSteps(20), dispose() {} }; }, roundsOf: (r) => Math.ceil(r / 2) },
  lenet: { label: 'W3 LeNet step (batch 64)', make: (d, c) => lenetTrainer(d, c), roundsOf: (r) => Math.ceil(r / 3) },
};

/** One side of `--processes`: warms up as `interleaved` does, times `rounds` calls, prints the median. */
async function childRun(device: Device, workload: string, compiled: boolean, rounds: number): Promise<void> {
  const w = processWorkloads[workload] ?? (() => { throw new Error(`bench/jit.ts: unknown workload ${workload}`); })();
  const r = w.make(device, compiled);
  const w0 = performance.now();
  for (let i = 0; i < 3 || performance.now() - w0 < 1000 || (i < 300 && performance.now() - w0 < 10_000); i++) await r.run();
  const times: number[] = [];
  for (let i = 0; i < w.roundsOf(rounds); i++) {
    const t0 = performance.now();
    await r.run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  console.log(`RESULT ${JSON.stringify({ median: times[times.length >> 1] })}`);
}

/** Each side in processes of its own, `pairs` pairs, alternating which goes first; ratios pair by pair. */
function inProcesses(device: Device, workload: string, pairs: number, rounds: number): string {
  const one = (compiled: boolean): number => {
    const args = [...process.execArgv, process.argv[1]!, '--child', workload, compiled ? 'jit' : 'eager', '--device', device, '--rounds', String(rounds)];
    const out = spawnSync(process.execPath, args, { encoding: 'utf8', env: process.env });
    const line = out.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    if (out.status !== 0 || !line) throw new Error(`bench/jit.ts: child ${workload} ${compiled ? 'jit' : 'eager'} failed (${out.status}): ${out.stderr.slice(-2000)}`);
    return (JSON.parse(line.slice(7)) as { median: number }).median;
  };
  const te: number[] = [], tj: number[] = [], ratios: number[] = [];
  for (let p = 0; p < pairs; p++) {
    let e: number, j: number;
    if (p % 2 === 0) { e = one(false); j = one(true); } else { j = one(true); e = one(false); }
    te.push(e);
    tj.push(j);
    ratios.push(e / j);
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
  const range = `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`;
  return `  ${processWorkloads[workload]!.label.padEnd(34)} eager ${med(te).toFixed(2).padStart(8)} ms   jit ${med(tj).toFixed(2).padStart(8)} ms   jit speed-up ${med(ratios).toFixed(2)}× (median of ${pairs} process pairs, ${range})`;
}

async function main() {
  const device = (arg('device') ?? 'cpu') as Device;
  const quick = process.argv.includes('--quick');
  const noPeers = process.argv.includes('--no-peers');
  const only = arg('only')?.split(',') ?? ['mlp', 'lenet', 'logistic', 'powerSum'];
  const opts: MeasureOpts = { quick, only, fullEpochUnderS: 0, epochSubsetS: quick ? 1 : 2 };
  // paired, interleaved runs: the fairest eager-vs-jit ratio on a busy machine
  const rounds = quick ? 15 : 41;
  const pairs = arg('processes');
  if (pairs) {
    // (the children set up WebGPU themselves; the parent only starts them)
    const names = arg('only')?.split(',') ?? ['logistic', 'logistic-resident', 'powerSum', 'powerSum-resident', 'mlp', 'mlp20', 'lenet'];
    console.log(`eager vs jit, each in processes of its own, on ${device}:`);
    for (const w of names) console.log(inProcesses(device, w, Number(pairs), rounds));
    process.exit(0);
  }
  if (device === 'webgpu') {
    const gpu = await ensureWebGPU();
    if (!gpu.ok) {
      console.log(`WebGPU unavailable: ${gpu.detail}`);
      process.exit(0);
    }
    const { initWebGPU } = await import('../src/index.ts');
    await initWebGPU();
  }
  if (process.argv.includes('--child')) {
    await childRun(device, process.argv[process.argv.indexOf('--child') + 1]!, process.argv[process.argv.indexOf('--child') + 2] === 'jit', Number(arg('rounds') ?? rounds));
    process.exit(0);
  }
  console.log(`eager vs jit, interleaved on ${device}:`);
  if (only.includes('logistic')) {
    console.log(await interleaved('W4 logistic 1/(1+exp(-x)), 1M', elementwise(device, logisticFormula), elementwise(device, jit(logisticFormula)), rounds));
    console.log(await interleaved('W4 logistic, eager x.sigmoid()', elementwise(device, (x) => x.sigmoid()), elementwise(device, jit(logisticFormula)), rounds));
  }
  if (only.includes('powerSum')) console.log(await interleaved('W4b a + a**10, 1M', elementwise(device, powerSum), elementwise(device, jit(powerSum)), rounds));
  // the same without the 4 MB readback each run (result kept on the device, synchronised, disposed)
  const resident = residentOverLogisticInput;
  if (only.includes('logistic')) console.log(await interleaved('W4 logistic, no readback', resident(device, logisticFormula), resident(device, jit(logisticFormula)), rounds));
  if (only.includes('powerSum')) console.log(await interleaved('W4b a + a**10, no readback', resident(device, powerSum), resident(device, jit(powerSum)), rounds));
  if (only.includes('mlp')) console.log(await interleaved('W2 MLP step (batch 128)', mlpTrainer(device, false), mlpTrainer(device, true), rounds));
  if (only.includes('mlp')) {
    // training as a loop runs it: 20 steps, the loss read once at the end (host work of one step
    // overlaps the device's work of the previous ones), eager and jit alternated 20 steps at a time
    const steps = (t: MlpRunnable): Runnable => ({ run: () => t.runSteps(20), dispose() {} });
    console.log(await interleaved('W2 MLP 20 steps, one readback', steps(mlpTrainer(device, false)), steps(mlpTrainer(device, true)), Math.ceil(rounds / 2)));
  }
  if (only.includes('lenet')) console.log(await interleaved('W3 LeNet step (batch 64)', lenetTrainer(device, false), lenetTrainer(device, true), Math.ceil(rounds / 3)));
  if (only.includes('mlp')) {
    const l = await launchesPerStep(device);
    console.log(`  kernel launches per MLP step: eager ${l.eager}, jit ${l.jit}`);
  }
  if (!noPeers && (only.includes('logistic') || only.includes('powerSum'))) {
    // tapegrad's jit and jax-js's jit alternated call by call on the same device (the table below
    // runs them one after the other, where the machine's load can favour either)
    const jd = device === 'webgpu' ? 'webgpu' : 'wasm';
    const why = await useJaxDevice(jd);
    if (why == null) {
      console.log(`tapegrad jit vs jax-js jit, interleaved on ${device}:`);
      const names = ['jax-js jit', 'tapegrad jit', 'tapegrad faster by'];
      if (only.includes('logistic')) console.log(await interleaved('W4 logistic, 1M', await jaxLogistic(jd, true), elementwise(device, jit(logisticFormula)), rounds, names));
      if (only.includes('powerSum')) console.log(await interleaved('W4b a + a**10, 1M', await jaxPowerSum(jd, true), elementwise(device, jit(powerSum)), rounds, names));
    }
  }
  if (process.argv.includes('--no-table')) process.exit(0);
  console.log('');

  const rows: Row[] = [];
  const eager = tapegradSuite(device);
  const suites: Suite[] = [
    { library: `tapegrad ${device} eager`, mlp: eager.mlp, lenet: eager.lenet, logistic: eager.logistic, powerSum: eager.powerSum },
    eagerFormulaSuite(device),
    tapegradJitSuite(device),
  ];
  if (!noPeers) {
    const jd = device === 'webgpu' ? 'webgpu' : 'wasm';
    const why = await useJaxDevice(jd);
    if (why == null) suites.push(jaxSuite(jd, true));
    else process.stderr.write(`jax-js ${jd} skipped: ${why}\n`);
  }
  for (const s of suites) rows.push(...(await measureSuite(s, opts)));
  printTable(rows);

  const fig = (w: string, lib: string) => rows.find((r) => r.workload === w && r.library === lib)?.figure ?? null;
  const ratio = (w: string, a: string, b: string) => {
    const x = fig(w, a), y = fig(w, b);
    return x != null && y != null ? (x / y).toFixed(2) + '×' : '—';
  };
  const e = `tapegrad ${device} eager`, jt = `tapegrad ${device} jit`, jx = `jax-js ${device === 'webgpu' ? 'webgpu' : 'wasm'} jit`;
  console.log('\njit speed-up over eager (time eager / time jit) and over jax-js jit:');
  console.log(`  W4 logistic: vs eager formula ${ratio(W.logistic, `tapegrad ${device} (formula)`, jt)}, vs eager sigmoid primitive ${ratio(W.logistic, e, jt)}, vs jax-js jit ${ratio(W.logistic, jx, jt)}`);
  console.log(`  W4b a + a**10: vs eager ${ratio(W.powerSum, e, jt)}, vs jax-js jit ${ratio(W.powerSum, jx, jt)}`);
  console.log(`  W2 MLP step: vs eager ${ratio(W.mlpStep, e, jt)}, vs jax-js jit ${ratio(W.mlpStep, jx, jt)}`);
  console.log(`  W3 LeNet step: vs eager ${ratio(W.lenet, e, jt)}, vs jax-js jit ${ratio(W.lenet, jx, jt)}`);
  const json = arg('json');
  if (json) writeFileSync(json, JSON.stringify(rows, null, 2));
  process.exit(0);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) await main();
