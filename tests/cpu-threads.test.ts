/**
 * Helper threads for the CPU kernels (src/cpu/threads.ts): a 1-D WebAssembly elementwise loop or
 * a GEMM split across threads gives the same bits as on one thread (each output element is
 * computed by one thread, in the same order), for every kind of operand.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { fromTypedArray, jit, ValueError, type Tensor } from 'tapegrad';
import { runElementwise, type StridedArray } from '../src/cpu/elementwise.ts';
import { E, type Expr } from '../src/ops/expr.ts';
import { getNumThreads, kernelMemoryShared, setNumThreads } from '../src/cpu/threads.ts';
import {
  setWasmElementwiseThreadMin,
  WASM_ELEMENTWISE_THREAD_MIN,
  wasmElementwiseStats,
  wasmElementwiseSupported,
} from '../src/cpu/wasm/elementwise.ts';
import { matmulIntoWasm } from '../src/cpu/matmul.ts';
import { rng } from './helpers/rng.ts';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const threadsHere = wasmElementwiseSupported() && kernelMemoryShared();
const initial = getNumThreads();

afterEach(() => {
  setNumThreads(initial);
  setWasmElementwiseThreadMin(WASM_ELEMENTWISE_THREAD_MIN);
});

/** Runs a module of source text in a child Node process (through tsx, from the repository root). */
function child(source: string, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const dir = mkdtempSync(join(tmpdir(), 'tapegrad-threads-'));
  const file = join(dir, 'child.mts');
  writeFileSync(file, source);
  const t0 = Date.now();
  return new Promise((done) => {
    execFile(process.execPath, [join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), file], { cwd: root, timeout: 60_000, env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        rmSync(dir, { recursive: true, force: true });
        done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr, ms: Date.now() - t0 });
      });
  });
}

describe('cpu threads: the setting', () => {
  it('is at least 1, returns the previous count, rejects a non-positive count', () => {
    expect(getNumThreads()).toBeGreaterThanOrEqual(1);
    expect(setNumThreads(1)).toBe(initial);
    expect(getNumThreads()).toBe(1);
    expect(setNumThreads(3)).toBe(1);
    expect(getNumThreads()).toBe(threadsHere ? 3 : 1);
    expect(() => setNumThreads(0)).toThrow(ValueError);
    expect(() => setNumThreads(1.5)).toThrow(ValueError);
  });

  it('TAPEGRAD_CPU_THREADS sets the default, and helpers never keep a process alive', async () => {
    const src = `
      import { getNumThreads, randn } from ${JSON.stringify(resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'index.ts'))};
      const a = randn([300, 400]), b = randn([400, 300]);
      const s = a.matmul(b).tanh().sum().itemSync();
      console.log(getNumThreads(), Number.isFinite(s));
    `;
    const [one, two] = await Promise.all([child(src, { TAPEGRAD_CPU_THREADS: '1' }), child(src, { TAPEGRAD_CPU_THREADS: '2' })]);
    expect(one).toMatchObject({ code: 0, stdout: '1 true\n' });
    // the script ends without process.exit: an idle helper (blocked in Atomics.wait) must not hold it
    expect(two).toMatchObject({ code: 0, stdout: `${threadsHere ? 2 : 1} true\n` });
    expect(two.ms).toBeLessThan(30_000);
    // a bad value warns (as OMP_NUM_THREADS does) and the default applies
    const bad = await child(src, { TAPEGRAD_CPU_THREADS: 'two' });
    expect(bad.code).toBe(0);
    expect(bad.stderr).toMatch(/TAPEGRAD_CPU_THREADS="two" is not a positive integer; using \d+ CPU threads/);
  });
});

describe.runIf(threadsHere)('cpu threads: 1-D wasm elementwise loops split across threads', () => {
  const r = rng(7);
  const N = 50_003; // n % 8 = 3: a tail in every part boundary case below
  const a = Float32Array.from({ length: N + 16 }, () => r.uniform(-30, 30));
  const b = Float32Array.from({ length: N + 16 }, () => r.uniform(-3, 3));
  const mask = Uint8Array.from({ length: N + 16 }, () => (r.next() < 0.5 ? 1 : 0));
  a[3] = NaN;
  a[7] = Infinity;
  a[11] = -0;
  const x0 = E.input(0, 'float32');
  const x1 = E.input(1, 'float32');
  const c = (v: number) => E.const(v, 'float32');

  /** Runs expr over n elements on `threads` threads; returns the output (with sentinels around it) and whether it split. */
  function run(threads: number, expr: Expr, n: number, ins: StridedArray[], outOffset: number): { out: Float32Array | Uint8Array; split: boolean } {
    setNumThreads(threads);
    const before = wasmElementwiseStats().threaded;
    const len = outOffset + n + 7;
    const out = expr.dtype === 'bool' ? new Uint8Array(len).fill(0xab) : new Float32Array(len).fill(12345);
    runElementwise(expr, [n], { data: out, offset: outOffset, strides: [1] }, ins);
    return { out, split: wasmElementwiseStats().threaded > before };
  }

  function same(expr: Expr, n: number, ins: StridedArray[], outOffset = 0): void {
    const one = run(1, expr, n, ins, outOffset);
    expect(one.split).toBe(false);
    for (const threads of [2, 3]) {
      const many = run(threads, expr, n, ins, outOffset);
      expect(many.split, `${threads} threads`).toBe(true);
      // the same bits (NaN payloads included: both ran the same kernel), sentinels untouched
      const x = new Uint8Array(one.out.buffer), y = new Uint8Array(many.out.buffer);
      let diff = -1;
      for (let i = 0; i < x.length && diff < 0; i++) if (x[i] !== y[i]) diff = i;
      expect(diff, `${threads} threads: first differing byte`).toBe(-1);
    }
  }

  const at = (data: Float32Array | Uint8Array, offset = 0): StridedArray => ({ data, offset, strides: [1] });
  const scalar = (v: number): StridedArray => ({ data: new Float32Array([v]), offset: 0, strides: [0] });

  it('unary and fused transcendental chains, at offsets, for sizes around the split', () => {
    setWasmElementwiseThreadMin(4096);
    for (const n of [8192, 8193, 12_289, 20_000, N]) {
      same(E.un('sigmoid', x0), n, [at(a)]);
      same(E.bin('div', c(1), E.bin('add', E.un('exp', E.un('neg', x0)), c(1))), n, [at(a, 5)], 3);
    }
  });

  it('several operands, a repeated operand, a scalar operand', () => {
    setWasmElementwiseThreadMin(4096);
    same(E.bin('add', x0, E.bin('mul', x1, E.un('exp', x0))), N, [at(a), at(b, 1)]);
    same(E.bin('mul', x0, E.un('tanh', x1)), N, [at(a, 2), at(a, 2)]);
    same(E.bin('sub', x0, E.bin('mul', x1, E.un('sigmoid', x0))), N, [at(a), scalar(-2.5)]);
    same(E.bin('div', E.un('log1p', E.un('abs', x0)), x1), N, [at(a), at(b)]);
  });

  it('bool outputs and bool operands (a comparison, a masked where)', () => {
    setWasmElementwiseThreadMin(4096);
    same(E.bin('gt', E.un('exp', x0), x1), N, [at(a), at(b)], 1);
    same(E.where(E.input(0, 'bool'), E.un('tanh', x1), c(0)), N, [at(mask, 3), at(b)]);
    same(E.bin('mul', E.un('sigmoid', x1), E.cast(E.input(0, 'bool'), 'float32')), N, [at(mask), at(a)]);
  });

  it('loops of cheap ops only (bound by the copies, which stay on the caller) are not split', () => {
    setWasmElementwiseThreadMin(4096);
    for (const e of [E.bin('add', x0, x1), E.bin('mul', E.un('neg', x0), c(3)), E.bin('gt', x0, x1), E.where(E.bin('gt', x0, c(0)), x1, c(0)), E.bin('div', x0, x1), E.un('sqrt', x0)]) {
      expect(run(2, e, N, [at(a), at(b)], 0).split).toBe(false);
    }
  });

  it('large loops split in rounds; small ones stay on one thread', () => {
    const big = Float32Array.from({ length: 1_200_001 }, (_, i) => Math.sin(i) * 20);
    same(E.un('tanh', x0), big.length, [at(big)]);
    setNumThreads(2);
    expect(run(2, E.un('exp', x0), 2 * WASM_ELEMENTWISE_THREAD_MIN - 1, [at(big)], 0).split).toBe(false);
  });

  it('tensor ops and a compiled function give the same values on one thread and on two', () => {
    setWasmElementwiseThreadMin(4096);
    const x = fromTypedArray(a.slice(0, 40_000), [200, 200], 'float32', 'cpu');
    const f = (t: Tensor) => t.neg().exp().add(1).reciprocal().mul(t.tanh());
    const step = jit(f);
    step(x); // the tracing call (runs eagerly)
    const results = [1, 2].map((threads) => {
      setNumThreads(threads);
      const before = wasmElementwiseStats().threaded;
      const out = [f(x).dataSync(), (step(x) as Tensor).dataSync()];
      expect(wasmElementwiseStats().threaded > before).toBe(threads > 1);
      return out;
    });
    for (let k = 0; k < 2; k++) expect(results[1]![k]).toEqual(results[0]![k]);
  });
});

/** The first element whose bits differ (−1: none; a length mismatch counts as a difference at the end). */
function firstDiff(x: ArrayLike<number> & { buffer: ArrayBufferLike; byteLength: number; byteOffset: number }, y: typeof x): number {
  const a = new Uint8Array(x.buffer, x.byteOffset, x.byteLength), b = new Uint8Array(y.buffer, y.byteOffset, y.byteLength);
  const es = x.byteLength / Math.max(1, x.length);
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return Math.floor(i / es);
  return a.length === b.length ? -1 : Math.min(x.length, y.length);
}

describe.runIf(threadsHere)('cpu threads: WebAssembly GEMM blocks split across threads', () => {
  /** out = A·B through matmulIntoWasm on `threads` threads; A and B given by strides over flat arrays. */
  function product(
    threads: number, make: (n: number) => Float32Array | Float64Array | Int32Array, batch: number, M: number, K: number, N: number,
    aT: boolean, bT: boolean, aBatch0 = false,
  ): Float32Array | Float64Array | Int32Array {
    const r = rng(M * 7 + K * 3 + N);
    const fill = (x: Float32Array | Float64Array | Int32Array) => {
      for (let i = 0; i < x.length; i++) x[i] = x instanceof Int32Array ? r.int(-5, 5) : r.uniform(-1, 1);
      return x;
    };
    const a = fill(make((aBatch0 ? 1 : batch) * M * K));
    const b = fill(make(batch * K * N));
    const out = make(batch * M * N);
    // A row-major [M, K] or stored transposed ([K, M], column-major use); likewise B
    const [ars, acs] = aT ? [1, M] : [K, 1];
    const [brs, bcs] = bT ? [1, K] : [N, 1];
    const aOffsets = Array.from({ length: batch }, (_, i) => (aBatch0 ? 0 : i * M * K));
    const bOffsets = Array.from({ length: batch }, (_, i) => i * K * N);
    setNumThreads(threads);
    matmulIntoWasm(out as never, a as never, aOffsets, ars, acs, b as never, bOffsets, brs, bcs, batch, M, K, N);
    return out;
  }

  it('the same bits on 1, 2 and 3 threads: split by rows and by columns, K over several blocks, edge tiles, every operand layout and dtype', () => {
    const shapes: [number, number, number, number][] = [
      [1, 130, 600, 90], // more row panels than column panels; K = 600: three K blocks (accumulate); edge rows and columns
      [1, 12, 300, 1000], // few rows: split by column panels
      [2, 257, 129, 65], // batched, M over two row blocks
      [1, 784, 128, 128], // the MLP's weight-gradient shape
    ];
    for (const make of [(n: number) => new Float32Array(n), (n: number) => new Float64Array(n), (n: number) => new Int32Array(n)]) {
      for (const [batch, M, K, N] of shapes) {
        for (const [aT, bT] of [[false, false], [true, false], [false, true], [true, true]] as const) {
          const one = product(1, make, batch, M, K, N, aT, bT);
          for (const threads of [2, 3]) {
            const many = product(threads, make, batch, M, K, N, aT, bT);
            expect(firstDiff(many, one), `${make(0).constructor.name} ${batch}×${M}×${K}×${N} aT=${aT} bT=${bT} on ${threads} threads`).toBe(-1);
          }
        }
      }
    }
    // A shared across the batch (a broadcast weight)
    const f32 = (n: number) => new Float32Array(n);
    expect(firstDiff(product(2, f32, 3, 200, 300, 100, false, false, true), product(1, f32, 3, 200, 300, 100, false, false, true))).toBe(-1);
  });

  it('batches of small products split by batch element: the same bits, every layout, shared A, K over several blocks', () => {
    const shapes: [number, number, number, number, boolean][] = [
      [64, 6, 25, 784, true], // conv1 forward: one weight for every image; K = 25 leaves a tail for transposed B
      [16, 6, 784, 25, false], // conv1 weight gradient: K = 784 over several K blocks (accumulate)
      [32, 150, 16, 100, true], // conv2 input gradient
      [9, 33, 70, 41, false], // edge tiles everywhere
    ];
    for (const make of [(n: number) => new Float32Array(n), (n: number) => new Float64Array(n), (n: number) => new Int32Array(n)]) {
      for (const [batch, M, K, N, shareA] of shapes) {
        for (const [aT, bT] of [[false, false], [true, false], [false, true], [true, true]] as const) {
          const one = product(1, make, batch, M, K, N, aT, bT, shareA);
          const many = product(2, make, batch, M, K, N, aT, bT, shareA);
          expect(firstDiff(many, one), `${make(0).constructor.name} ${batch}×${M}×${K}×${N} aT=${aT} bT=${bT} shareA=${shareA}`).toBe(-1);
        }
      }
    }
    // operands with no unit stride (every other element): packed in JavaScript, per batch element
    const r = rng(5);
    const [batch, M, K, N] = [24, 20, 300, 36];
    const a = Float32Array.from({ length: batch * M * K * 2 }, () => r.uniform(-1, 1));
    const b = Float32Array.from({ length: batch * K * N * 2 }, () => r.uniform(-1, 1));
    const outs = [1, 2].map((threads) => {
      setNumThreads(threads);
      const out = new Float32Array(batch * M * N);
      const aOff = Array.from({ length: batch }, (_, i) => i * M * K * 2), bOff = Array.from({ length: batch }, (_, i) => i * K * N * 2);
      matmulIntoWasm(out, a, aOff, 2 * K, 2, b, bOff, 2 * N, 2, batch, M, K, N);
      return out;
    });
    expect(firstDiff(outs[1]!, outs[0]!)).toBe(-1);
    expect(outs[0]![5]).toBeCloseTo(Array.from({ length: K }, (_, k) => a[2 * k]! * b[2 * (k * N + 5)]!).reduce((x, y) => x + y, 0), 4);
  });

  it('tensor matmul and a linear layer with its gradients match one thread', () => {
    const r = rng(11);
    const xs = Float32Array.from({ length: 256 * 784 }, () => r.uniform(-1, 1));
    const ws = Float32Array.from({ length: 128 * 784 }, () => r.uniform(-0.1, 0.1));
    const results = [1, 2].map((threads) => {
      setNumThreads(threads);
      const x = fromTypedArray(xs.slice(), [256, 784], 'float32', 'cpu');
      const w = fromTypedArray(ws.slice(), [128, 784], 'float32', 'cpu').requiresGrad_();
      const y = x.matmul(w.t()).tanh();
      y.sum().backward();
      return [y.dataSync(), w.grad!.dataSync()];
    });
    expect(results[1]![0]).toEqual(results[0]![0]);
    expect(results[1]![1]).toEqual(results[0]![1]);
  });
});
