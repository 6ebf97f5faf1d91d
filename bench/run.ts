// `npm run bench`: tapegrad and its peers on the benchmark workloads, side by side in one run,
// printing each figure and how many times faster tapegrad is than each peer.
//
//   npm run bench -- [--device cpu|webgpu] [--quick] [--jax-threads N] [--no-peers] [--peers tfjs,jax]
//                    [--only matmul,mlp,lenet,logistic,powerSum] [--json FILE]
//
// --device cpu     tfjs-cpu, tfjs-wasm, jax-js wasm (eager and jit)
// --device webgpu  tfjs-webgpu, jax-js webgpu (eager and jit); skipped with a message if Dawn finds
//                  no adapter
// --jax-threads N  also run jax-js wasm on N worker threads (in a child process: jax-js fixes its
//                  thread pool when first imported); 0 to skip. Default 2 (quick: 0).
// --json FILE      also write the rows as JSON.

import { writeFileSync } from 'node:fs';
import { measureSuite, printTable, W, type MeasureOpts, type Row, type Suite } from './harness.ts';
import { loadMnistTrain } from './peers/data.ts';
import { jaxSuite, measureJaxThreaded, useJaxDevice } from './peers/jaxjs.ts';
import { tfjsSuite, tfNumTensors, useTfBackend } from './peers/tfjs.ts';
import { ensureWebGPU } from './peers/webgpu-node.ts';
import { tapegradSuite } from './tapegrad.ts';
import { tapegradWebgpuSuite } from './gpu.ts';
import { launchesPerStep, tapegradJitSuite } from './jit.ts';
import { initWebGPU } from '../src/index.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

const device = (arg('device') ?? 'cpu') as 'cpu' | 'webgpu';
const quick = flag('quick');
const jaxThreads = Number(arg('jax-threads') ?? (quick ? 0 : 2));
const only = arg('only')?.split(',');
const jsonOut = arg('json');
const opts: MeasureOpts = { quick, only };
const peers = flag('no-peers') ? [] : (arg('peers') ?? 'tfjs,jax').split(',');

async function run(): Promise<Row[]> {
  const rows: Row[] = [];
  const t0 = performance.now();

  const data = loadMnistTrain();
  process.stderr.write(`data: ${data.source} (${data.n} examples); device: ${device}${quick ? ' (quick)' : ''}\n`);

  const suites: Suite[] = [];
  const skipped: [string, string][] = [];
  if (device === 'webgpu') {
    const gpu = await ensureWebGPU();
    if (!gpu.ok) {
      process.stderr.write(`WebGPU skipped: ${gpu.detail}\n`);
      for (const lib of ['tfjs-webgpu', 'jax-js webgpu', 'jax-js webgpu jit']) skipped.push([lib, gpu.detail]);
    } else {
      process.stderr.write(`WebGPU adapter: ${gpu.detail}\n`);
      await initWebGPU(); // uses the navigator.gpu (Dawn) that ensureWebGPU() installed
      suites.push(tapegradWebgpuSuite(), tapegradJitSuite('webgpu'));
      if (peers.includes('tfjs')) suites.push(tfjsSuite('webgpu'));
      if (peers.includes('jax')) suites.push(jaxSuite('webgpu', false), jaxSuite('webgpu', true));
    }
  } else {
    suites.push(tapegradSuite('cpu'), tapegradJitSuite('cpu'));
    if (peers.includes('tfjs')) suites.push(tfjsSuite('cpu'), tfjsSuite('wasm'));
    if (peers.includes('jax')) suites.push(jaxSuite('wasm', false), jaxSuite('wasm', true));
  }

  for (const s of suites) {
    const isTf = s.library.startsWith('tfjs');
    const isJax = s.library.startsWith('jax');
    const backend = s.library.replace(/^tfjs-/, '') as 'cpu' | 'wasm' | 'webgpu';
    const why = isTf ? await useTfBackend(backend) : isJax ? await useJaxDevice(device === 'webgpu' ? 'webgpu' : 'wasm') : null;
    if (why != null) {
      skipped.push([s.library, why]);
      continue;
    }
    const before = isTf ? tfNumTensors() : 0;
    const ts = performance.now();
    rows.push(...(await measureSuite(s, opts)));
    process.stderr.write(`  ${s.library}: ${((performance.now() - ts) / 1000).toFixed(1)} s\n`);
    const failed = rows.some((r) => r.library === s.library && r.figure == null);
    if (isTf && tfNumTensors() !== before) {
      const why = failed ? ' (tfjs keeps the tensors its tape saved when a step fails)' : '';
      process.stderr.write(`  warning: ${s.library} left ${tfNumTensors() - before} tensors${why}\n`);
    }
  }

  // kernels one MLP step launches, eager vs jit (what fusion saves)
  const ran = rows.some((r) => r.library.startsWith('tapegrad') && r.figure != null);
  if (ran && (!only || only.includes('mlp'))) {
    const l = await launchesPerStep(device);
    rows.push(
      { workload: W.mlpLaunches, library: `tapegrad ${device}`, figure: l.eager, unit: 'launches', note: 'eager' },
      { workload: W.mlpLaunches, library: `tapegrad ${device} jit`, figure: l.jit, unit: 'launches' },
    );
  }

  if (device === 'cpu' && jaxThreads > 1 && peers.includes('jax')) {
    const ts = performance.now();
    rows.push(...measureJaxThreaded(jaxThreads, opts));
    process.stderr.write(`  jax-js wasm ${jaxThreads}thr: ${((performance.now() - ts) / 1000).toFixed(1)} s\n`);
  }

  for (const [library, why] of skipped) rows.push({ workload: '(all)', library, figure: null, unit: 'ms', note: `skipped: ${why}` });
  process.stderr.write(`total ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  return rows;
}

const rows = await run();
printTable(rows);
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(rows, null, 2));
// Dawn and the worker threads keep handles open; the work is done.
process.exit(0);
