// Benchmark harness: timing, the workload protocol every library (tapegrad and its peers) implements,
// one measuring routine per workload so all libraries are measured the same way, and the table.

import { LENET_BATCH, LOGISTIC_N, MLP_BATCH } from './peers/data.ts';

// ---------------------------------------------------------------------------------------------
// Timing

export interface TimeOpts {
  /** Untimed calls first (compilation, allocation, caches). Default 2. */
  warmup?: number;
  /** At least this many timed calls. Default 5. */
  minRuns?: number;
  /** Keep timing until this much time has been spent in timed calls. Default 1. */
  minSeconds?: number;
  /** Never more than this many timed calls. Default 1000. */
  maxRuns?: number;
}

export interface Timing {
  medianMs: number;
  minMs: number;
  runs: number;
}

/** Times `fn` (awaiting it when it returns a promise): median and minimum over the timed calls. */
export async function timeIt(fn: () => unknown | Promise<unknown>, opts: TimeOpts = {}): Promise<Timing> {
  const { warmup = 2, minRuns = 5, minSeconds = 1, maxRuns = 1000 } = opts;
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  let total = 0;
  while (times.length < maxRuns && (times.length < minRuns || total < minSeconds * 1000)) {
    const t0 = performance.now();
    await fn();
    const dt = performance.now() - t0;
    times.push(dt);
    total += dt;
  }
  times.sort((a, b) => a - b);
  const mid = times.length >> 1;
  const medianMs = times.length % 2 ? times[mid]! : (times[mid - 1]! + times[mid]!) / 2;
  return { medianMs, minMs: times[0]!, runs: times.length };
}

// ---------------------------------------------------------------------------------------------
// Workload protocol: what a library provides so the harness can time it.

/** A prepared workload: `run()` does one unit of work, including reading the result back. */
export interface Runnable {
  run(): unknown | Promise<unknown>;
  dispose(): void;
}

/**
 * W1's run for any library: `product()` computed, read back, then freed, as a program that only
 * wants the values does; disposing the runnable frees `operands`.
 */
export function readBackAndFree(product: () => { data(): Promise<unknown>; dispose(): void }, operands: readonly { dispose(): void }[]): Runnable {
  return {
    async run() {
      const c = product();
      const d = await c.data();
      c.dispose();
      return d;
    },
    dispose() {
      for (const t of operands) t.dispose();
    },
  };
}

/** W2: an MLP training set-up. `run()` = one SGD step on batch `i` (cycling), reading the loss back. */
export interface MlpRunnable extends Runnable {
  /** 469 for 60,000 examples at batch 128. */
  stepsPerEpoch: number;
  /**
   * Back to the initial weights and the first batch (keeping compiled code), so that a full epoch
   * after reset() ends on the same loss in every library: a cross-check of the implementations.
   */
  reset(): void;
  /**
   * Runs `k` consecutive steps (continuing where the last call stopped, wrapping at the epoch end),
   * uploading each batch from host memory, and reads back only the final loss, which it returns.
   */
  runSteps(k: number): Promise<number>;
}

/**
 * What one library (on one device, one mode) offers. Any member may be missing; a set-up that
 * throws (or a first `run()` that throws) is reported as "fails".
 */
export interface Suite {
  /** Name shown in the table, e.g. 'tfjs-wasm', 'jax-js wasm jit', 'tapegrad cpu'. */
  library: string;
  /** W1: n×n float32 matmul of two resident matrices, result read back. */
  matmul?(n: number): Promise<Runnable>;
  /** W2: 784-128-10 ReLU MLP, softmax cross-entropy, SGD lr 0.1, batch 128. */
  mlp?(): Promise<MlpRunnable>;
  /** W3: one LeNet-5 training step on a batch of 64, SGD. */
  lenet?(): Promise<Runnable>;
  /** W4: 1/(1+exp(-x)) over 1M resident float32 values, result read back. */
  logistic?(): Promise<Runnable>;
  /** W4b: a + a**10 over the same 1M values, result read back. */
  powerSum?(): Promise<Runnable>;
  /** Called once when the suite is done. */
  close?(): Promise<void> | void;
}

// ---------------------------------------------------------------------------------------------
// Rows and table

/** 'launches': kernels per step (fewer is better, compared like times). */
export type Unit = 'GFLOP/s' | 'ms' | 's' | 'launches';

export interface Row {
  workload: string;
  library: string;
  /** null when the library cannot run the workload. */
  figure: number | null;
  unit: Unit;
  /** Short remark: 'fails: …', 'extrapolated from 20 steps', 'median of 7'. */
  note?: string;
}

export const W = {
  matmul: (n: number) => `W1 matmul ${n}²`,
  mlpStep: `W2 MLP step (batch ${MLP_BATCH})`,
  mlpEpoch: 'W2 MLP epoch (60k)',
  lenet: `W3 LeNet step (batch ${LENET_BATCH})`,
  mlpLaunches: 'W2 kernel launches per MLP step',
  logistic: `W4 logistic ${LOGISTIC_N / 1e6}M`,
  powerSum: `W4b a+a**10 ${LOGISTIC_N / 1e6}M`,
} as const;

export const isOurs = (library: string): boolean => library.toLowerCase().startsWith('tapegrad');

function toMs(figure: number, unit: Unit): number {
  return unit === 's' ? figure * 1000 : figure;
}

/** How many times faster `ours` is than `peer` (>1: tapegrad faster). */
export function ratio(ours: Row, peer: Row): number | null {
  if (ours.figure == null || peer.figure == null || ours.figure <= 0 || peer.figure <= 0) return null;
  if (ours.unit === 'GFLOP/s' || peer.unit === 'GFLOP/s') {
    if (ours.unit !== peer.unit) return null;
    return ours.figure / peer.figure;
  }
  return toMs(peer.figure, peer.unit) / toMs(ours.figure, ours.unit);
}

/** Best tapegrad row of each workload (highest GFLOP/s or shortest time). */
function bestOurs(rows: Row[]): Map<string, Row> {
  const best = new Map<string, Row>();
  for (const r of rows) {
    if (!isOurs(r.library) || r.figure == null) continue;
    const b = best.get(r.workload);
    if (!b || (ratio(r, b) ?? 0) > 1) best.set(r.workload, r);
  }
  return best;
}

function fmtFigure(r: Row): string {
  if (r.figure == null) return r.note?.startsWith('skipped') ? '—' : 'fails';
  const x = r.figure;
  const digits = r.unit === 'launches' || x >= 100 ? 0 : x >= 10 ? 1 : x >= 1 ? 2 : 3;
  return `${x.toFixed(digits)} ${r.unit}`;
}

function fmtRatio(x: number | null): string {
  if (x == null) return '—';
  return `${x >= 10 ? x.toFixed(0) : x >= 1 ? x.toFixed(1) : x.toFixed(2)}×`;
}

/** Rows grouped by workload (in order of first appearance), tapegrad rows first in each group. */
export function groupRows(rows: Row[]): Row[] {
  const order = new Map<string, number>();
  for (const r of rows) if (!order.has(r.workload)) order.set(r.workload, order.size);
  return rows
    .map((r, i) => ({ r, i }))
    .sort((a, b) => order.get(a.r.workload)! - order.get(b.r.workload)! || Number(isOurs(b.r.library)) - Number(isOurs(a.r.library)) || a.i - b.i)
    .map((x) => x.r);
}

/** The table as Markdown (aligned, so it reads well in a terminal too), grouped by workload. */
export function formatTable(rows: Row[], opts: { group?: boolean } = {}): string {
  if (opts.group ?? true) rows = groupRows(rows);
  const best = bestOurs(rows);
  const header = ['workload', 'library', 'figure', `tapegrad ×`, 'note'];
  const body = rows.map((r) => {
    const ours = best.get(r.workload);
    const x = ours && !isOurs(r.library) ? ratio(ours, r) : null;
    const rel = isOurs(r.library) ? (ours === r ? 'best' : '') : ours ? fmtRatio(x) : '';
    return [r.workload, r.library, fmtFigure(r), rel, r.note ?? ''];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const right = [false, false, true, true, false];
  const line = (cells: string[]) =>
    '| ' + cells.map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ') + ' |';
  const sep = '| ' + widths.map((w, i) => (right[i] ? '-'.repeat(w - 1) + ':' : '-'.repeat(w))).join(' | ') + ' |';
  return [line(header), sep, ...body.map(line)].join('\n');
}

/**
 * Prints workload, library, figure with unit, and for peer rows how many times faster the best
 * tapegrad row of the same workload is (peerTime/ourTime or ourGflops/peerGflops).
 */
export function printTable(rows: Row[], opts: { group?: boolean } = {}): void {
  console.log(formatTable(rows, opts));
}

// ---------------------------------------------------------------------------------------------
// Measuring one suite

export interface MeasureOpts {
  /** Fewer sizes and runs. */
  quick?: boolean;
  /** Matmul sizes (default 256, 512, 1024; quick: 256, 1024). */
  sizes?: number[];
  /**
   * Seconds an epoch may take to be run in full; slower suites are timed on a subset of steps
   * and extrapolated to `stepsPerEpoch`. Default 12 (quick: 0, always extrapolate).
   */
  fullEpochUnderS?: number;
  /** Seconds to spend on the timed subset when extrapolating. Default 3 (quick: 1.5). */
  epochSubsetS?: number;
  /** Progress lines to stderr. Default true. */
  verbose?: boolean;
  /** Only these workloads (keys of W: 'matmul', 'mlp', 'lenet', 'logistic', 'powerSum'). */
  only?: string[];
}

function errMsg(e: unknown): string {
  const m = e instanceof Error ? e.message : typeof e === 'object' && e && 'message' in e ? String((e as { message: unknown }).message) : String(e);
  return m.split('\n')[0]!.slice(0, 90);
}

/**
 * Adaptive timing: the first call (compilation, allocation) is discarded and the second one sizes
 * the run count to about `budgetS` seconds, between 2 and 50 timed calls.
 */
async function timeAdaptive(r: Runnable, quick: boolean, budgetS = quick ? 1 : 2.5): Promise<Timing> {
  await r.run(); // first call: compile / allocate; also where a failure shows up
  const t0 = performance.now();
  await r.run();
  const probe = performance.now() - t0;
  if (probe > 1000) {
    // slow workload (e.g. tfjs-cpu LeNet ~2.6 s/step): 2 timed calls (quick: 1)
    const n = quick ? 1 : 2;
    return timeIt(() => r.run(), { warmup: 0, minRuns: n, minSeconds: 0, maxRuns: n });
  }
  const runs = Math.max(3, Math.min(50, Math.floor((budgetS * 1000) / Math.max(probe, 0.05))));
  // every library's fast workloads warm up for about half a second (2 to 50 calls): V8 runs a
  // new WebAssembly function with its baseline compiler and swaps in the optimized code only
  // after enough work (tapegrad's 1M-element sigmoid: ~3 ms a call for the first ten calls, 0.8
  // from the 25th on), and JavaScript tiers up the same way
  const warmup = probe > 200 ? 0 : Math.max(2, Math.min(50, Math.ceil(500 / Math.max(probe, 0.05))));
  return timeIt(() => r.run(), { warmup, minRuns: Math.min(runs, 5), minSeconds: budgetS, maxRuns: runs });
}

function log(verbose: boolean, msg: string) {
  if (verbose) process.stderr.write(msg + '\n');
}

/** Runs every workload the suite offers and returns its rows. Failures become 'fails' rows. */
export async function measureSuite(suite: Suite, opts: MeasureOpts = {}): Promise<Row[]> {
  const quick = opts.quick ?? false;
  const verbose = opts.verbose ?? true;
  const sizes = opts.sizes ?? (quick ? [256, 1024] : [256, 512, 1024]);
  const want = (k: string) => !opts.only || opts.only.includes(k);
  const lib = suite.library;
  const rows: Row[] = [];

  async function simple(workload: string, unit: 'ms' | 'GFLOP/s', setup: () => Promise<Runnable>, flops = 0) {
    log(verbose, `  ${lib}: ${workload} …`);
    let r: Runnable | undefined;
    try {
      r = await setup();
      const t = await timeAdaptive(r, quick);
      const figure = unit === 'GFLOP/s' ? flops / (t.medianMs * 1e6) : t.medianMs;
      rows.push({ workload, library: lib, figure, unit, note: `median of ${t.runs}` });
    } catch (e) {
      rows.push({ workload, library: lib, figure: null, unit, note: `fails: ${errMsg(e)}` });
    } finally {
      try {
        r?.dispose();
      } catch {
        /* ignore */
      }
    }
  }

  if (suite.matmul && want('matmul')) {
    for (const n of sizes) await simple(W.matmul(n), 'GFLOP/s', () => suite.matmul!(n), 2 * n ** 3);
  }

  if (suite.mlp && want('mlp')) {
    log(verbose, `  ${lib}: ${W.mlpStep} …`);
    let m: MlpRunnable | undefined;
    try {
      m = await suite.mlp();
      const t = await timeAdaptive(m, quick);
      rows.push({ workload: W.mlpStep, library: lib, figure: t.medianMs, unit: 'ms', note: `median of ${t.runs}` });
      log(verbose, `  ${lib}: ${W.mlpEpoch} …`);
      const fullUnder = opts.fullEpochUnderS ?? (quick ? 0 : 12);
      const estS = (t.medianMs * m.stepsPerEpoch) / 1000;
      if (estS < fullUnder) {
        m.reset();
        const t0 = performance.now();
        const loss = await m.runSteps(m.stepsPerEpoch);
        const s = (performance.now() - t0) / 1000;
        rows.push({ workload: W.mlpEpoch, library: lib, figure: s, unit: 's', note: `full epoch, final loss ${loss.toFixed(3)}` });
      } else {
        const subsetS = opts.epochSubsetS ?? (quick ? 1.5 : 3);
        const k = Math.max(5, Math.min(m.stepsPerEpoch, Math.round((subsetS * 1000) / t.medianMs)));
        await m.runSteps(2); // warm the batched path
        const t0 = performance.now();
        await m.runSteps(k);
        const s = ((performance.now() - t0) / 1000) * (m.stepsPerEpoch / k);
        rows.push({ workload: W.mlpEpoch, library: lib, figure: s, unit: 's', note: `extrapolated from ${k} steps` });
      }
    } catch (e) {
      rows.push({ workload: W.mlpStep, library: lib, figure: null, unit: 'ms', note: `fails: ${errMsg(e)}` });
    } finally {
      try {
        m?.dispose();
      } catch {
        /* ignore */
      }
    }
  }

  if (suite.lenet && want('lenet')) await simple(W.lenet, 'ms', () => suite.lenet!());
  if (suite.logistic && want('logistic')) await simple(W.logistic, 'ms', () => suite.logistic!());
  if (suite.powerSum && want('powerSum')) await simple(W.powerSum, 'ms', () => suite.powerSum!());

  await suite.close?.();
  return rows;
}
