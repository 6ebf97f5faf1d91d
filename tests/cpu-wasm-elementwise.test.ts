/**
 * The WebAssembly SIMD elementwise path (src/cpu/wasm/elementwise.ts) against the JS kernel it
 * replaces (the same runElementwise call with the wasm path switched off).
 *
 * Tolerances: the "exact" ops must match bit for bit (NaN for NaN, and the sign of zero);
 * exp, expm1, log, log1p, sigmoid, tanh and rsqrt within 2 ulp of the JS kernel (Math.* in double,
 * rounded to float32), NaN/±Inf/±0 exactly; fused expressions within 8 ulp or 1e-5 × the largest
 * operand (each wasm operation rounds to float32, the JS kernel rounds once at the end).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { tensor } from 'tapegrad';
import { runElementwise, type StridedArray } from '../src/cpu/elementwise.ts';
import { E, type Expr, type UnaryExprOp } from '../src/ops/expr.ts';
import {
  compileWasmElementwise,
  setWasmElementwise,
  setWasmElementwiseMin,
  WASM_ELEMENTWISE_HELPER_ROUND,
  WASM_ELEMENTWISE_MIN,
  WASM_ELEMENTWISE_ROW_MIN,
  wasmElementwiseEnabled,
  wasmElementwiseShaped,
  wasmElementwiseStats,
  wasmElementwiseSupported,
} from '../src/cpu/wasm/elementwise.ts';
import { roundAll } from '../src/cpu/round-steps.ts';
import { getNumThreads } from '../src/cpu/threads.ts';
import { rng } from './helpers/rng.ts';

const F32_MAX = 3.4028234663852886e38;
const SPECIALS = [
  NaN, Infinity, -Infinity, 0, -0, 1, -1, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 3, -3, 2 ** -149, -(2 ** -149), 2 ** -126,
  -(2 ** -126), 1e-40, -1e-40, 1e-30, F32_MAX, -F32_MAX, 1e30, -1e30, 88.72, 88.73, 89, 100, -87.33, -87.34, -88,
  -100, -103.3, -103.9, -104, -120, 1e-8, -1e-8, 1e-4, 0.3466, -0.3466, 0.55, 9, -9, 20, -20, 16777216, 16777217,
  -0.999999, 0.999999, 1.0000001, 1e-7, -1e-7,
].map(Math.fround);

/** NaN, ±Inf and ±0 only (for fused expressions, where float32 intermediates may overflow). */
const IEEE = [NaN, Infinity, -Infinity, 0, -0];

/**
 * n float32 values: specials, small and wide uniform ranges, and raw bit patterns (denormals, huge,
 * NaN); with `range`, uniform in it plus 5% of `specials`.
 */
function values(n: number, seed: number, range?: [number, number], specials = SPECIALS): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < n; i++) {
    const u = r.next();
    if (range) out[i] = u < 0.05 ? specials[r.int(0, specials.length - 1)]! : r.uniform(range[0], range[1]);
    else if (u < 0.15) out[i] = SPECIALS[r.int(0, SPECIALS.length - 1)]!;
    else if (u < 0.45) out[i] = r.uniform(-10, 10);
    else if (u < 0.6) out[i] = r.uniform(-120, 120);
    else if (u < 0.7) out[i] = r.uniform(-1e-3, 1e-3);
    else bits[i] = Math.floor(r.next() * 2 ** 32) >>> 0;
  }
  return out;
}

/** An operand: a streamed array (optionally at an offset) or a scalar broadcast with stride 0. */
type Operand = Float32Array | { scalar: number } | { data: Float32Array; offset: number };

function strided(op: Operand): StridedArray {
  if (op instanceof Float32Array) return { data: op, offset: 0, strides: [1] };
  if ('scalar' in op) return { data: new Float32Array([op.scalar]), offset: 0, strides: [0] };
  return { data: op.data, offset: op.offset, strides: [1] };
}

/** Runs `expr` over n elements with the wasm path on or off; reports whether wasm ran it. */
function run(expr: Expr, n: number, ops: readonly Operand[], wasm: boolean, outOffset = 0): { out: Float32Array; usedWasm: boolean } {
  setWasmElementwise(wasm);
  const before = wasmElementwiseStats().runs;
  const buf = new Float32Array(n + outOffset + 3).fill(12345);
  runElementwise(expr, [n], { data: buf, offset: outOffset, strides: [1] }, ops.map(strided));
  // nothing outside the output range may be touched
  for (let i = 0; i < outOffset; i++) expect(buf[i]).toBe(12345);
  for (let i = n + outOffset; i < buf.length; i++) expect(buf[i]).toBe(12345);
  return { out: buf.subarray(outOffset, outOffset + n), usedWasm: wasmElementwiseStats().runs > before };
}

const ordered = (v: number): number => {
  const q = new Int32Array(new Float32Array([v]).buffer)[0]!;
  return q < 0 ? -(q & 0x7fffffff) : q;
};
/** Distance in float32 ulps; Infinity when one is NaN and the other is not, or zeros differ in sign. */
function ulps(a: number, b: number): number {
  if (a !== a || b !== b) return a !== a && b !== b ? 0 : Infinity;
  if (a === b) return Object.is(a, b) ? 0 : Infinity;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return Infinity;
  return Math.abs(ordered(a) - ordered(b));
}

/**
 * Compares wasm against JS; returns the largest ulp distance. Fails on a distance over `tol` ulps
 * unless both are finite and |wasm − JS| ≤ absTol · max(1, largest |operand|) (for fused
 * expressions, where cancellation magnifies float32 rounding of intermediates).
 */
function compare(expr: Expr, n: number, ops: readonly Operand[], tol: number, absTol = 0, outOffset = 0): number {
  const w = run(expr, n, ops, true, outOffset);
  expect(w.usedWasm).toBe(true);
  const j = run(expr, n, ops, false, outOffset);
  expect(j.usedWasm).toBe(false);
  let worst = 0;
  const arg = (o: Operand, i: number): number => (o instanceof Float32Array ? o[i]! : 'scalar' in o ? o.scalar : o.data[o.offset + i]!);
  for (let i = 0; i < n; i++) {
    const a = w.out[i]!, b = j.out[i]!;
    let d = ulps(a, b);
    if (d > tol && absTol > 0 && Number.isFinite(a) && Number.isFinite(b)) {
      const scale = Math.max(1, ...ops.map((o) => Math.abs(arg(o, i))).filter(Number.isFinite));
      if (Math.abs(a - b) <= absTol * scale) d = 0;
    }
    if (d > tol) {
      const args = ops.map((o) => arg(o, i));
      expect.fail(`element ${i}: inputs ${args.join(', ')}: wasm ${a}, JS ${b} (${d} ulp > ${tol})`);
    }
    worst = Math.max(worst, d);
  }
  return worst;
}

const x0 = E.input(0, 'float32');
const x1 = E.input(1, 'float32');
const x2 = E.input(2, 'float32');
const x3 = E.input(3, 'float32');
const c = (v: number) => E.const(v, 'float32');
const asF = (e: Expr) => E.cast(e, 'float32');
const N = 20003; // two chunks (16384 + 3619), n % 4 = 3

afterEach(() => {
  setWasmElementwise(true);
  setWasmElementwiseMin(WASM_ELEMENTWISE_MIN);
});

describe.runIf(wasmElementwiseSupported())('wasm elementwise: single ops', () => {
  const a = values(N, 1);
  const b = values(N, 2);

  it('is on by default where WebAssembly SIMD exists', () => {
    expect(wasmElementwiseEnabled()).toBe(true);
  });

  const exactUnary: UnaryExprOp[] = ['neg', 'abs', 'sqrt', 'recip', 'floor', 'ceil', 'trunc', 'round', 'relu', 'sign'];
  for (const op of exactUnary) {
    it(`${op}: bit-exact`, () => {
      expect(compare(E.un(op, x0), N, [a], 0)).toBe(0);
    });
  }

  const transcendental: UnaryExprOp[] = ['exp', 'expm1', 'log', 'log1p', 'sigmoid', 'tanh', 'rsqrt'];
  for (const op of transcendental) {
    it(`${op}: within 2 ulp, special values exact`, () => {
      compare(E.un(op, x0), N, [a], 2);
      compare(E.un(op, x0), N, [values(N, 7, [-30, 30])], 2);
    });
  }

  it('transcendental special cases match Math.* exactly', () => {
    const xs = new Float32Array([NaN, Infinity, -Infinity, 0, -0, 2 ** -149, -(2 ** -149), 89, -104, 1e30, -1e30, -1e-30]);
    const n = xs.length;
    setWasmElementwiseMin(1);
    const get = (op: UnaryExprOp) => Array.from(run(E.un(op, x0), n, [xs], true).out);
    const f32 = (f: (v: number) => number) => Array.from(xs, (v) => Math.fround(f(v)));
    expect(get('exp')).toEqual(f32(Math.exp));
    expect(get('log')).toEqual(f32(Math.log));
    expect(get('expm1')).toEqual(f32(Math.expm1));
    expect(get('log1p')).toEqual(f32(Math.log1p));
    expect(get('tanh')).toEqual(f32(Math.tanh));
    expect(get('sqrt')).toEqual(f32(Math.sqrt));
    expect(get('sigmoid')).toEqual(f32((v) => 1 / (1 + Math.exp(-v))));
    expect(get('relu')).toEqual(f32((v) => (v <= 0 ? 0 : v)));
    // toEqual treats −0 and +0 as different: check the zeros explicitly too
    expect(Object.is(get('tanh')[4], -0)).toBe(true);
    expect(Object.is(get('expm1')[4], -0)).toBe(true);
    expect(Object.is(get('log1p')[4], -0)).toBe(true);
    expect(Object.is(get('relu')[4], 0)).toBe(true);
    expect(get('exp')[5]).toBe(1); // e^(2^-149)
    expect(get('exp')[8]).toBe(0);
    expect(get('exp')[7]).toBe(Infinity);
  });

  for (const op of ['add', 'sub', 'mul', 'div', 'max', 'min'] as const) {
    it(`${op}: bit-exact, NaN propagates`, () => {
      expect(compare(E.bin(op, x0, x1), N, [a, b], 0)).toBe(0);
      expect(compare(E.bin(op, x0, x0), N, [a], 0)).toBe(0);
    });
  }

  it('max/min order −0 < +0 and propagate NaN like Math.max/min', () => {
    const p = new Float32Array([0, -0, NaN, 1, -Infinity, NaN]);
    const q = new Float32Array([-0, 0, 1, NaN, NaN, NaN]);
    setWasmElementwiseMin(1);
    const mx = run(E.bin('max', x0, x1), 6, [p, q], true).out;
    const mn = run(E.bin('min', x0, x1), 6, [p, q], true).out;
    for (let i = 0; i < 6; i++) {
      expect(Object.is(mx[i], Math.fround(Math.max(p[i]!, q[i]!)))).toBe(true);
      expect(Object.is(mn[i], Math.fround(Math.min(p[i]!, q[i]!)))).toBe(true);
    }
  });

  for (const op of ['lt', 'le', 'gt', 'ge', 'eq', 'ne'] as const) {
    it(`${op}: as a float mask and inside where`, () => {
      expect(compare(asF(E.bin(op, x0, x1)), N, [a, b], 0)).toBe(0);
      expect(compare(E.where(E.bin(op, x0, x1), x0, x1), N, [a, b], 0)).toBe(0);
    });
  }

  it('logical ops, not, isnan, casts to and from bool, truthiness of floats', () => {
    const gt0 = E.bin('gt', x0, c(0));
    const lt1 = E.bin('lt', x1, c(1));
    for (const e of [
      asF(E.bin('and', gt0, lt1)), asF(E.bin('or', gt0, lt1)), asF(E.bin('xor', gt0, lt1)), asF(E.un('not', gt0)),
      asF(E.un('isnan', x0)), asF(E.un('not', x0)), asF(E.cast(x0, 'bool')), asF(E.bin('and', x0, x1)),
      asF(E.bin('or', x0, gt0)), asF(E.bin('xor', x0, x1)), E.where(x0, x1, c(-1)), asF(E.bin('lt', gt0, x1)),
      E.where(E.cast(x0, 'bool'), x1, c(2)), asF(E.where(gt0, lt1, E.const(1, 'bool'))),
    ]) {
      expect(compare(e, N, [a, b], 0)).toBe(0);
    }
  });

  it('pow by a small integer constant: bit-exact (evaluated in double like the JS kernel)', () => {
    for (const k of [0, 1, 2, 3, 4, 5, 7, 10, 13, 64, -1, -2, -3, -10]) {
      expect(compare(E.bin('pow', x0, c(k)), N, [a], 0)).toBe(0);
    }
  });
});

describe.runIf(wasmElementwiseSupported())('wasm elementwise: expressions, operands, sizes', () => {
  const a = values(N, 3);
  const b = values(N, 4);
  const m = values(N, 5, [-20, 20], IEEE);
  const p = values(N, 6, [-5, 5], IEEE);

  it('fused expressions', () => {
    const cases: Expr[] = [
      E.bin('add', x0, E.bin('pow', x0, c(10))), // a + a**10
      E.bin('mul', E.un('sigmoid', x0), E.bin('sub', c(1), E.un('sigmoid', x0))), // sigmoid'
      E.where(E.bin('gt', x0, c(0)), x1, c(0)), // relu backward
      E.where(E.bin('gt', x0, c(0)), x0, E.bin('mul', x0, c(0.01))), // leaky relu
      E.bin('mul', x0, E.un('sigmoid', x0)), // silu
      E.bin('sub', x0, E.bin('mul', c(0.1), x1)), // SGD step
      E.un('log', E.bin('add', E.un('exp', x0), c(1))), // softplus
      E.bin('mul', E.bin('mul', c(0.5), x0), E.bin('add', c(1), E.un('tanh', E.bin('mul', c(0.7978845608), E.bin('add', x0, E.bin('mul', c(0.044715), E.bin('pow', x0, c(3)))))))),
      E.bin('max', E.bin('min', x0, c(6)), c(0)), // relu6
      E.un('exp', E.bin('sub', x0, E.bin('mul', x1, c(0.25)))),
    ];
    for (const e of cases) compare(e, N, [p, m], 8, 1e-5);
    const shared = E.un('exp', x0); // a shared subexpression (one DAG node used twice)
    compare(E.bin('div', shared, E.bin('add', shared, c(1))), N, [m], 8, 1e-5);
    compare(E.bin('add', E.un('relu', x0), E.bin('mul', x1, x0)), N, [m, p], 8, 1e-5);
  });

  it('scalar operands (stride 0) are splatted, NaN and ±Inf included', () => {
    for (const s of [0.1, -3, 0, -0, NaN, Infinity, 2 ** -140, 1e30]) {
      compare(E.bin('add', x0, x1), N, [a, { scalar: s }], 0);
      compare(E.bin('mul', x1, x0), N, [a, { scalar: s }], 0);
      compare(E.bin('max', x0, x1), N, [a, { scalar: s }], 0);
      compare(asF(E.bin('lt', x0, x1)), N, [a, { scalar: s }], 0);
      compare(E.bin('sub', x0, E.bin('mul', x1, x2)), N, [m, { scalar: s }, p], 2, 1e-5);
    }
    compare(E.un('sigmoid', x0), N, [{ scalar: 1.5 }], 2); // every operand a scalar
  });

  it('operands at offsets, repeated and overlapping operands, output at an offset', () => {
    compare(E.bin('mul', x0, x1), N - 7, [{ data: a, offset: 5 }, { data: a, offset: 5 }], 0);
    compare(E.bin('sub', x0, x1), N - 7, [{ data: a, offset: 7 }, { data: a, offset: 0 }], 0);
    compare(E.bin('add', x0, x1), N, [a, a], 0, 0, 3);
    compare(E.un('exp', x0), N - 1, [{ data: a, offset: 1 }], 2, 0, 5);
  });

  it('sizes around the threshold, tails with n % 4 != 0, several chunks', () => {
    const big = values(3 * 16384 + 14, 9);
    for (const n of [WASM_ELEMENTWISE_MIN, WASM_ELEMENTWISE_MIN + 1, WASM_ELEMENTWISE_MIN + 2, WASM_ELEMENTWISE_MIN + 3, 16383, 16384, 16385, 2 * 16384 + 6, 3 * 16384 + 11]) {
      compare(E.un('tanh', x0), n, [big], 2);
      compare(E.bin('add', x0, x1), n, [big, { data: big, offset: 3 }], 0);
    }
    // below the threshold the JS kernel runs
    expect(run(E.un('exp', x0), WASM_ELEMENTWISE_MIN - 1, [big], true).usedWasm).toBe(false);
    // tiny sizes, when forced
    setWasmElementwiseMin(1);
    for (let n = 2; n <= 9; n++) compare(E.un('sigmoid', x0), n, [big], 2); // (n = 1 collapses to rank 0: JS)
  });

  it('falls back to the JS kernel for what it does not render', () => {
    setWasmElementwiseMin(1);
    const i0 = E.input(0, 'int32');
    const f0 = E.input(0, 'float64');
    const cases: [Expr, StridedArray[]][] = [
      [E.un('erf', x0), [strided(a)]],
      [E.un('sin', x0), [strided(a)]],
      [E.bin('mod', x0, c(3)), [strided(a)]],
      [E.bin('pow', x0, x1), [strided(a), strided(b)]], // general pow
      [E.bin('pow', x0, c(0.5)), [strided(a)]],
      [E.bin('add', x0, E.rand(7)), [strided(a)]],
      [E.bin('add', x0, E.cast(E.index(), 'float32')), [strided(a)]],
      [E.cast(i0, 'float32'), [{ data: new Int32Array(N).fill(3), offset: 0, strides: [1] }]],
      [E.cast(f0, 'float32'), [{ data: new Float64Array(N).fill(0.1), offset: 0, strides: [1] }]],
      [E.cast(E.cast(x0, 'int32'), 'float32'), [strided(a)]],
      // an int32 constant float32 cannot hold (the JS kernel compares in double)
      [asF(E.bin('lt', x0, E.const(16777217, 'int32'))), [strided(a)]],
    ];
    for (const [e, ins] of cases) {
      const outs = [true, false].map((on) => {
        setWasmElementwise(on);
        const before = wasmElementwiseStats().runs;
        const out = new Float32Array(N);
        runElementwise(e, [N], { data: out, offset: 0, strides: [1] }, ins);
        expect(wasmElementwiseStats().runs).toBe(before);
        return out;
      });
      expect(outs[0]).toEqual(outs[1]);
    }
    // outputs other than float32 and bool, and non-unit strides, stay in JS too
    expect(compileWasmElementwise(E.cast(x0, 'int32'), [false])).toBeNull();
    expect(compileWasmElementwise(E.bin('lt', x0, x1), [false, false])).not.toBeNull();
    setWasmElementwise(true);
    const before = wasmElementwiseStats().runs;
    const out = new Float32Array(N >> 1);
    runElementwise(E.un('exp', x0), [N >> 1], { data: out, offset: 0, strides: [1] }, [{ data: a, offset: 0, strides: [2] }]);
    expect(wasmElementwiseStats().runs).toBe(before);
    expect(Array.from(out.subarray(0, 50))).toEqual(Array.from({ length: 50 }, (_, i) => Math.fround(Math.exp(a[2 * i]!))));
  });

  it('rank > 1 views that collapse to one unit-stride run use the wasm path', () => {
    setWasmElementwise(true);
    const before = wasmElementwiseStats().runs;
    const out = new Float32Array(100 * 60);
    runElementwise(E.un('sigmoid', x0), [100, 60], { data: out, offset: 0, strides: [60, 1] }, [{ data: a, offset: 0, strides: [60, 1] }]);
    expect(wasmElementwiseStats().runs).toBe(before + 1);
  });

  it('keeps linear memory small (chunked) and compiles one module per expression', () => {
    const big = values(200_000, 11, [-50, 50], IEEE);
    const e = E.bin('add', E.un('exp', x0), E.bin('mul', x1, x2));
    compare(e, big.length - 2, [big, { data: big, offset: 1 }, { data: big, offset: 2 }], 8, 1e-5);
    const { kernels, memoryBytes, failed } = wasmElementwiseStats();
    expect(failed).toBe(0);
    // a chunk per slot (4 at most here); split across threads, a round per slot and the result's
    expect(memoryBytes).toBeLessThanOrEqual(getNumThreads() > 1 ? 2 * 5 * WASM_ELEMENTWISE_HELPER_ROUND * 4 : 4 * 65536);
    compare(e, big.length - 5, [big, { data: big, offset: 1 }, { data: big, offset: 2 }], 8, 1e-5);
    expect(wasmElementwiseStats().kernels).toBe(kernels);
  });

  it('setWasmElementwise(false) switches the path off', () => {
    expect(setWasmElementwise(false)).toBe(true);
    expect(wasmElementwiseEnabled()).toBe(false);
    expect(run(E.un('exp', x0), N, [a], false).usedWasm).toBe(false);
  });

  it('tensor ops use it end to end (x.sigmoid(), x + x**10, relu, SGD-style update)', () => {
    const xs = values(10_000, 12, [-8, 8]);
    const t = tensor(xs);
    const g = tensor(values(10_000, 13, [-1, 1]));
    const results = [true, false].map((on) => {
      setWasmElementwise(on);
      const before = wasmElementwiseStats().runs;
      const r = [t.sigmoid(), t.add(t.pow(10)), t.relu().mul(g), t.sub(g.mul(0.1))].map((y) => y.dataSync() as Float32Array);
      expect(wasmElementwiseStats().runs - before).toBe(on ? 7 : 0);
      return r;
    });
    for (let i = 0; i < xs.length; i++) expect(ulps(results[0]![0]![i]!, results[1]![0]![i]!)).toBeLessThanOrEqual(2);
    for (let k = 1; k < 4; k++) expect(results[0]![k]).toEqual(results[1]![k]);
  });
});

/** A strided float32 view (an operand, or the output) over a loop of some shape. */
interface View { data: Float32Array; offset: number; strides: number[] }

/** The view's elements in row-major order of `shape`. */
function gather(v: View, shape: readonly number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let rem = i, at = v.offset;
    for (let d = shape.length - 1; d >= 0; d--) {
      at += (rem % shape[d]!) * v.strides[d]!;
      rem = Math.floor(rem / shape[d]!);
    }
    out[i] = v.data[at]!;
  }
  return out;
}
const bits = (x: Float32Array): Uint32Array => new Uint32Array(x.buffer, x.byteOffset, x.length);
/** Fails at the first element whose bits differ (toEqual on large typed arrays is slow to diff). */
function expectSameBits(a: Float32Array, b: Float32Array, what: string): void {
  expect(a.length).toBe(b.length);
  const p = bits(a), q = bits(b);
  for (let i = 0; i < p.length; i++) if (p[i] !== q[i]) expect.fail(`${what}: element ${i}: ${a[i]} vs ${b[i]}`);
}

/**
 * Runs `expr` over `shape` into a fresh output laid out as `outStrides` at `outOffset` (other
 * elements of the buffer must stay untouched), with the wasm path on; checks whether the wasm path
 * ran, that the result is bit for bit what the 1-D wasm path gives for the same elements (operands
 * materialized contiguously), and within `tol` ulps of the JS kernel evaluating the expression
 * with every op rounded to float32 (`roundAll`, as the jit renders it: the reference the wasm path
 * documents; tol 0 for exact ops, 2 for a transcendental one).
 */
function compareRows(expr: Expr, shape: number[], ins: View[], opts: { wasm?: boolean; tol?: number; outStrides?: number[]; outOffset?: number } = {}): void {
  const { wasm = true, tol = 0 } = opts;
  const outStrides = opts.outStrides ?? shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
  const outOffset = opts.outOffset ?? 0;
  const size = outOffset + shape.reduce((a, d, i) => a + (d - 1) * outStrides[i]!, 1) + 3;
  const exec = (on: boolean): { out: Float32Array; used: boolean } => {
    setWasmElementwise(on);
    const buf = new Float32Array(size).fill(12345);
    const before = wasmElementwiseStats().runs;
    runElementwise(on ? expr : roundAll(expr), shape, { data: buf, offset: outOffset, strides: outStrides }, ins);
    const used = wasmElementwiseStats().runs > before;
    const out = gather({ data: buf, offset: outOffset, strides: outStrides }, shape);
    // every element outside the output view keeps its sentinel
    const touched = new Uint8Array(size);
    const idx = gather({ data: new Float32Array(size).map((_, i) => i), offset: outOffset, strides: outStrides }, shape);
    for (const i of idx) touched[i] = 1;
    for (let i = 0; i < size; i++) if (!touched[i]) expect(buf[i]).toBe(12345);
    return { out, used };
  };
  const w = exec(true);
  expect(w.used).toBe(wasm);
  const j = exec(false);
  expect(j.used).toBe(false);
  if (!wasm) {
    expectSameBits(w.out, j.out, 'JS kernel');
    return;
  }
  // the 1-D wasm path over the same elements, operands materialized
  const n = w.out.length;
  const flat = ins.map((v) => gather(v, shape));
  const prevMin = setWasmElementwiseMin(1);
  setWasmElementwise(true);
  const ref = new Float32Array(n);
  const before = wasmElementwiseStats().runs;
  runElementwise(expr, [n], { data: ref, offset: 0, strides: [1] }, flat.map((f) => ({ data: f, offset: 0, strides: [1] })));
  expect(wasmElementwiseStats().runs).toBe(before + 1);
  setWasmElementwiseMin(prevMin);
  expectSameBits(w.out, ref, '1-D wasm path');
  for (let i = 0; i < n; i++) {
    const a = w.out[i]!, b = j.out[i]!;
    const d = ulps(a, b);
    if (d > tol) expect.fail(`element ${i}: inputs ${flat.map((f) => f[i]).join(', ')}: wasm ${a}, JS ${b} (${d} ulp > ${tol})`);
  }
}

describe.runIf(wasmElementwiseSupported())('wasm elementwise: rows with per-row scalars', () => {
  const big = values(64 * 6 * 784 + 16, 21); // the largest loop below, plus offsets
  const mid = values(64 * 6 * 784 + 16, 22, [-20, 20], IEEE);
  const bias = values(64, 23);
  const contiguous = (shape: number[], offset = 0, data = big): View => {
    expect(offset + shape.reduce((a, b) => a * b, 1)).toBeLessThanOrEqual(data.length);
    return { data, offset, strides: shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1)) };
  };
  const reluAdd = E.un('relu', E.bin('add', x0, x1));

  it('which collapsed loops qualify', () => {
    expect(wasmElementwiseShaped([64, 6, 784], [[4704, 784, 1], [4704, 784, 1], [0, 1, 0]])).toBe(true);
    expect(wasmElementwiseShaped([64, 6, 784], [[4704, 784, 1], [4704, 784, 2], [0, 1, 0]])).toBe(false); // strided operand
    expect(wasmElementwiseShaped([64, 6, 784], [[4704, 1, 6], [4704, 784, 1]])).toBe(false); // strided output
    expect(wasmElementwiseShaped([400, WASM_ELEMENTWISE_ROW_MIN - 1], [[WASM_ELEMENTWISE_ROW_MIN - 1, 1], [0, 1]])).toBe(false); // short rows
    expect(wasmElementwiseShaped([400, WASM_ELEMENTWISE_ROW_MIN], [[WASM_ELEMENTWISE_ROW_MIN, 1], [1, 0]])).toBe(true);
    expect(wasmElementwiseShaped([4, 200], [[200, 1], [1, 0]])).toBe(false); // under WASM_ELEMENTWISE_MIN in all
    expect(wasmElementwiseShaped([WASM_ELEMENTWISE_MIN], [[1], [0]])).toBe(true);
  });

  it('conv-style bias on dim 1 ([N, C, H·W]): relu(add(x, b)), bias add, backward mask', () => {
    for (const [N, C, L] of [[64, 6, 784], [64, 16, 100], [8, 5, 37], [12, 7, WASM_ELEMENTWISE_ROW_MIN], [2, 3, 20000]] as const) {
      const shape = [N, C, L];
      const b: View = { data: bias, offset: 1, strides: [0, 1, 0] };
      compareRows(reluAdd, shape, [contiguous(shape), b]);
      compareRows(E.bin('add', x0, x1), shape, [contiguous(shape, 3), b]);
      // the mask multiply, recomputing the pre-activation (not collapsible because of the bias)
      compareRows(E.bin('mul', x2, asF(E.bin('gt', E.bin('add', x0, x1), c(0)))), shape, [contiguous(shape), b, contiguous(shape, 5, mid)]);
    }
  });

  it('per-row scalar on dim 0 (softmax-style exp(x − m)), transcendental and fused chains', () => {
    const shape = [300, 53];
    const m = values(300, 24, [-5, 5]);
    const rowScalar: View = { data: m, offset: 0, strides: [1, 0] };
    compareRows(E.un('exp', E.bin('sub', x0, x1)), shape, [contiguous(shape, 0, mid), rowScalar], { tol: 2 });
    compareRows(E.un('sigmoid', E.bin('mul', x0, x1)), shape, [contiguous(shape, 0, mid), rowScalar], { tol: 2 });
    compareRows(E.where(E.bin('gt', x1, c(0)), E.un('tanh', x0), E.bin('mul', x0, x1)), shape, [contiguous(shape, 0, mid), rowScalar], { tol: 2 });
  });

  it('rank 4: permuted outer dims, two per-row scalars, a whole-loop scalar, padded output rows at an offset', () => {
    const [A, B, C, L] = [3, 4, 5, 41]; // rows of 41: tails (41 % 4 = 1)
    const shape = [A, B, C, L];
    // x stored as [B, A, C, L]: unit stride along rows, outer dims out of order
    const x: View = { data: big, offset: 2, strides: [C * L, A * C * L, L, 1] };
    const perB: View = { data: bias, offset: 0, strides: [0, 1, 0, 0] };
    const perAC: View = { data: bias, offset: 7, strides: [C, 0, 1, 0] };
    const s: View = { data: new Float32Array([0.25]), offset: 0, strides: [0, 0, 0, 0] };
    const e = E.bin('add', E.bin('mul', x0, x1), E.bin('sub', x2, x3));
    compareRows(e, shape, [x, perB, perAC, s]);
    compareRows(e, shape, [x, perB, perAC, s], { outStrides: [B * C * 48, C * 48, 48, 1], outOffset: 9 });
  });

  it('same array and offset with different strides gets distinct slots; offsets; repeated operands', () => {
    const shape = [40, 64];
    const rows: View = contiguous(shape, 11);
    const first: View = { data: big, offset: 11, strides: [0, 1] }; // row 0 broadcast: same data and offset
    const col: View = { data: big, offset: 11, strides: [1, 0] }; // per-row scalar, same data and offset again
    compareRows(E.bin('sub', E.bin('mul', x0, x1), x2), shape, [rows, first, col]);
    compareRows(E.bin('mul', x0, x1), shape, [rows, { ...rows }]);
  });

  it('rows longer than a chunk, and chunks ending mid-row', () => {
    compareRows(reluAdd, [3, 16384 + 5], [contiguous([3, 16384 + 5]), { data: bias, offset: 0, strides: [1, 0] }]);
    compareRows(E.un('exp', E.bin('add', x0, x1)), [7, 7000], [contiguous([7, 7000], 0, mid), { data: bias, offset: 0, strides: [1, 0] }], { tol: 2 });
    // output rows padded (not adjacent), rows of 999 spread over chunk boundaries
    compareRows(reluAdd, [40, 999], [contiguous([40, 999]), { data: bias, offset: 0, strides: [1, 0] }], { outStrides: [1003, 1], outOffset: 2 });
  });

  it('short rows stay in JS; in place over the output (the jit epilogue) matches', () => {
    compareRows(reluAdd, [64, 16, WASM_ELEMENTWISE_ROW_MIN - 1], [contiguous([64, 16, WASM_ELEMENTWISE_ROW_MIN - 1]), { data: bias, offset: 0, strides: [0, 1, 0] }], { wasm: false });
    const shape = [20, 6, 300];
    const n = 20 * 6 * 300;
    const x = big.slice(0, n);
    const expected = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const v = Math.fround(x[i]! + bias[Math.floor(i / 300) % 6]!);
      expected[i] = v <= 0 ? 0 : v;
    }
    setWasmElementwise(true);
    const before = wasmElementwiseStats().runs;
    const v = contiguous(shape, 0, x);
    runElementwise(reluAdd, shape, v, [v, { data: bias, offset: 0, strides: [0, 1, 0] }]);
    expect(wasmElementwiseStats().runs).toBe(before + 1);
    expectSameBits(x, expected, 'in place');
  });

  it('conv2d + bias + relu through the tensor API (eager) uses it', () => {
    const xs = tensor(values(2 * 3 * 16 * 16, 25, [-1, 1])).reshape([2, 3, 16, 16]);
    const b = tensor(values(4, 26, [-1, 1])).reshape([1, 4, 1, 1]);
    const y = tensor(values(2 * 4 * 16 * 16, 27, [-1, 1])).reshape([2, 4, 16, 16]);
    const results = [true, false].map((on) => {
      setWasmElementwise(on);
      const before = wasmElementwiseStats().runs;
      const r = y.add(b).relu().dataSync() as Float32Array;
      expect(wasmElementwiseStats().runs - before).toBe(on ? 2 : 0);
      return r;
    });
    expectSameBits(results[0]!, results[1]!, 'eager');
    xs.dispose();
  });
});

describe.runIf(wasmElementwiseSupported())('wasm elementwise: bool operands and outputs (Uint8Array 0/1)', () => {
  type AnyView = { data: Float32Array | Uint8Array; offset: number; strides: number[] };
  const b0 = E.input(0, 'bool');
  const b1 = E.input(1, 'bool');
  const b2 = E.input(2, 'bool');
  const f = (i: number) => E.input(i, 'float32');
  /** n values drawn from SPECIALS only, so pairs are often equal (eq/ne/le/ge edge cases). */
  const pick = (n: number, seed: number): Float32Array => {
    const r = rng(seed);
    return Float32Array.from({ length: n }, () => SPECIALS[r.int(0, SPECIALS.length - 1)]!);
  };
  const bools = (n: number, seed: number): Uint8Array => {
    const r = rng(seed);
    return Uint8Array.from({ length: n }, () => (r.next() < 0.5 ? 1 : 0));
  };
  const flat = (data: Float32Array | Uint8Array, offset = 0, rank = 1): AnyView => ({ data, offset, strides: [...Array(rank - 1).fill(0), 1] });
  const scalarOf = (v: number, bool = false, rank = 1): AnyView => ({ data: bool ? new Uint8Array([v]) : new Float32Array([v]), offset: 0, strides: Array(rank).fill(0) });
  const M = 4099; // n % 4 = 3
  const fa = pick(M + 8, 41), fb = pick(M + 8, 42), fc = values(M + 8, 43);
  const ba = bools(M + 8, 44), bb = bools(M + 8, 45);

  /**
   * Runs `expr` with the wasm path on and off into an output of its dtype (padded on both sides
   * with a sentinel) and requires the two buffers to be equal byte for byte, sentinel included
   * (float32 NaNs: any payload).
   */
  function same(expr: Expr, shape: number[], ins: AnyView[], opts: { outOffset?: number; outStrides?: number[]; wasm?: boolean } = {}): void {
    const outOffset = opts.outOffset ?? 0;
    const outStrides = opts.outStrides ?? shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
    const extent = 1 + shape.reduce((a, d, i) => a + (d - 1) * outStrides[i]!, 0);
    const bufs = [true, false].map((on) => {
      setWasmElementwise(on);
      const before = wasmElementwiseStats().runs;
      const len = outOffset + extent + 5;
      const out = expr.dtype === 'bool' ? new Uint8Array(len).fill(0xab) : new Float32Array(len).fill(12345);
      runElementwise(expr, shape, { data: out, offset: outOffset, strides: outStrides }, ins);
      expect(wasmElementwiseStats().runs - before, `wasm ${on}`).toBe(on && (opts.wasm ?? true) ? 1 : 0);
      return out;
    });
    const [w, j] = bufs as [Float32Array | Uint8Array, Float32Array | Uint8Array];
    if (w instanceof Uint8Array) {
      for (let i = 0; i < j.length; i++) if (w[i] !== j[i]) expect.fail(`byte ${i}: wasm ${w[i]}, JS ${j[i]}`);
    } else {
      // float32: the same bits, except that any NaN matches any NaN (JS quiets signaling NaNs
      // it copies through a double; v128.bitselect keeps the payload)
      const wb = new Uint32Array(w.buffer), jb = new Uint32Array(j.buffer);
      for (let i = 0; i < j.length; i++) {
        if (wb[i] !== jb[i] && !(w[i] !== w[i] && j[i] !== j[i])) expect.fail(`element ${i}: wasm ${w[i]}, JS ${j[i]}`);
      }
    }
  }

  it('comparisons float32 → bool: NaN, ±0, ±Inf, equal pairs; scalars and constants', () => {
    for (const op of ['lt', 'le', 'gt', 'ge', 'eq', 'ne'] as const) {
      same(E.bin(op, x0, x1), [M], [flat(fa), flat(fb)]);
      same(E.bin(op, x0, c(0)), [M], [flat(fa)]);
      same(E.bin(op, x0, x0), [M], [flat(fa)]);
      for (const v of [NaN, 0, -0, Infinity, -Infinity, 1.5]) same(E.bin(op, x0, x1), [M], [flat(fa), scalarOf(v)]);
    }
  });

  it('casts bool → float32 and float32 → bool (NaN true), not / isnan, bool → bool', () => {
    same(E.cast(b0, 'float32'), [M], [flat(ba)]);
    same(E.cast(x0, 'bool'), [M], [flat(fa)]);
    same(E.un('not', x0), [M], [flat(fa)]);
    same(E.un('not', b0), [M], [flat(ba)]);
    same(E.un('isnan', x0), [M], [flat(fa)]);
    same(E.cast(E.un('not', b0), 'float32'), [M], [flat(ba)]);
  });

  it('where on a bool mask: streamed, scalar and constant branches; bool-valued where', () => {
    same(E.where(b0, f(1), f(2)), [M], [flat(ba), flat(fa), flat(fc)]);
    same(E.where(b0, f(1), c(0)), [M], [flat(ba), flat(fc)]);
    for (const v of [NaN, -0, 2.5]) same(E.where(b0, f(1), f(2)), [M], [flat(ba), flat(fc), scalarOf(v)]);
    for (const v of [0, 1]) same(E.where(b0, f(1), f(2)), [M], [scalarOf(v, true), flat(fa), flat(fc)]);
    same(E.where(b0, b1, E.bin('gt', f(2), c(0))), [M], [flat(ba), flat(bb), flat(fa)]);
    // a float condition: NaN counts as false
    same(E.where(x0, f(1), c(-1)), [M], [flat(fa), flat(fc)]);
  });

  it('logical and / or / xor / not on bools, and with float operands (truthiness)', () => {
    for (const op of ['and', 'or', 'xor'] as const) {
      same(E.bin(op, b0, b1), [M], [flat(ba), flat(bb)]);
      same(E.bin(op, b0, f(1)), [M], [flat(ba), flat(fa)]);
      same(E.bin(op, x0, x1), [M], [flat(fa), flat(fb)]);
      for (const v of [0, 1]) same(E.bin(op, b0, b1), [M], [flat(ba), scalarOf(v, true)]);
    }
  });

  it('mixed bool and float operands: the ReLU / dropout backward masks, masks of masks', () => {
    same(E.bin('mul', x1, E.cast(E.bin('gt', x0, c(0)), 'float32')), [M], [flat(fa), flat(fc)]);
    same(E.bin('mul', f(1), E.cast(b0, 'float32')), [M], [flat(ba), flat(fc)]); // bool slot 0, float output
    same(E.bin('mul', E.bin('mul', f(1), E.cast(b0, 'float32')), c(2)), [M], [flat(ba), flat(fc)]);
    same(E.bin('gt', E.bin('mul', x1, E.cast(b0, 'float32')), c(0)), [M], [flat(ba), flat(fc)]);
    same(E.bin('and', b0, E.bin('le', f(1), f(2))), [M], [flat(ba), flat(fa), flat(fb)]);
    same(E.where(E.bin('or', b0, b2), E.cast(b1, 'float32'), f(3)), [M], [flat(ba), flat(bb), flat(ba, 1), flat(fc)]);
  });

  it('rank 1: tails of 1–3, operands and output at unaligned offsets, several chunks', () => {
    setWasmElementwiseMin(1);
    const big = 2 * 16384 + 7;
    const fl = values(big + 8, 46), bo = bools(big + 8, 47);
    for (const n of [2, 3, 5, 6, 7, 1025, 1026, 1027, 1028, 16384 + 1, big]) { // (n = 1 collapses to rank 0: JS)
      for (const [io, oo] of [[0, 0], [1, 3], [3, 1], [2, 2]] as const) {
        same(E.bin('gt', x0, c(0)), [n], [flat(fl, io)], { outOffset: oo });
        same(E.cast(b0, 'float32'), [n], [flat(bo, io)], { outOffset: oo });
        same(E.where(b0, f(1), c(0)), [n], [flat(bo, io), flat(fl, 3 - io)], { outOffset: oo });
        same(E.bin('and', b0, b1), [n], [flat(bo, io), flat(bo, 5)], { outOffset: oo });
      }
    }
  });

  it('rows: a per-row bool scalar, bool rows broadcast over rows, bool output rows at an offset', () => {
    for (const [N, C, L] of [[64, 6, 784], [8, 5, 37], [2, 3, 20000]] as const) {
      const shape = [N, C, L];
      const n = N * C * L;
      const xs = values(n + 8, 48), ms = bools(n + 8, 49), perC = bools(C, 50);
      const x: AnyView = { data: xs, offset: 1, strides: [C * L, L, 1] };
      const m: AnyView = { data: ms, offset: 3, strides: [C * L, L, 1] };
      const rowMask: AnyView = { data: perC, offset: 0, strides: [0, 1, 0] };
      const colMask: AnyView = { data: ms, offset: 2, strides: [0, 0, 1] }; // one bool row broadcast over rows
      same(E.where(b1, x0, c(0)), shape, [x, rowMask]);
      same(E.bin('and', E.bin('gt', x0, c(0)), b1), shape, [x, rowMask]);
      same(E.bin('mul', x0, E.cast(E.bin('and', b1, b2), 'float32')), shape, [x, m, rowMask]);
      same(E.bin('or', b0, b1), shape, [m, colMask], { outOffset: 3, outStrides: [C * (L + 2), L + 2, 1] });
    }
  });

  it('tensor API: relu-style masks and where use it end to end and match JS', () => {
    const y = tensor(values(64 * 6 * 28, 51, [-1, 1])).reshape([64, 6, 28]);
    const g = tensor(values(64 * 6 * 28, 52, [-1, 1])).reshape([64, 6, 28]);
    for (const fn of [() => y.gt(0), () => y.gt(0).to('float32'), () => g.mul(y.gt(0).to('float32')), () => g.where(y.gt(0), 0)]) {
      const [w, j] = [true, false].map((on) => {
        setWasmElementwise(on);
        const before = wasmElementwiseStats().runs;
        const r = fn().dataSync();
        expect(wasmElementwiseStats().runs > before).toBe(on);
        return new Uint8Array(r.buffer, r.byteOffset, r.byteLength).slice();
      });
      expect(w).toEqual(j);
    }
  });
});

describe('runElementwise: copies and fills of one run', () => {
  it('copy (memmove, overlapping included) and broadcast fill for every dtype; constants', () => {
    for (const [dtype, Ctor] of [['float32', Float32Array], ['float64', Float64Array], ['int32', Int32Array], ['bool', Uint8Array]] as const) {
      const src = new Ctor(40).map((_, i) => (dtype === 'bool' ? i % 2 : i * 3 - 7));
      const out = new Ctor(45);
      runElementwise(E.input(0, dtype), [4, 9], { data: out, offset: 2, strides: [9, 1] }, [{ data: src, offset: 3, strides: [9, 1] }]);
      expect(Array.from(out.subarray(2, 38))).toEqual(Array.from(src.subarray(3, 39)));
      expect(out[0]).toBe(0);
      expect(out[38]).toBe(0);
      // overlapping source and destination (shift right by one within the same array)
      const buf = new Ctor(20).map((_, i) => (dtype === 'bool' ? i % 2 : i));
      const expected = Array.from(buf);
      for (let i = 19; i >= 1; i--) expected[i] = expected[i - 1]!;
      runElementwise(E.input(0, dtype), [19], { data: buf, offset: 1, strides: [1] }, [{ data: buf, offset: 0, strides: [1] }]);
      expect(Array.from(buf)).toEqual(expected);
      // a stride-0 operand fills
      runElementwise(E.input(0, dtype), [10], { data: out, offset: 0, strides: [1] }, [{ data: src, offset: 5, strides: [0] }]);
      expect(Array.from(out.subarray(0, 10))).toEqual(new Array(10).fill(src[5]));
    }
    const f = new Float32Array(8);
    runElementwise(E.const(0.1, 'float32'), [8], { data: f, offset: 0, strides: [1] }, []);
    expect(Array.from(f)).toEqual(new Array(8).fill(Math.fround(0.1)));
    const b = new Uint8Array(8);
    runElementwise(E.const(2, 'bool'), [8], { data: b, offset: 0, strides: [1] }, []);
    expect(Array.from(b)).toEqual(new Array(8).fill(1));
    const i32 = new Int32Array(8);
    runElementwise(E.const(-2.7, 'int32'), [8], { data: i32, offset: 0, strides: [1] }, []);
    expect(Array.from(i32)).toEqual(new Array(8).fill(-2));
  });
});

describe.runIf(wasmElementwiseSupported())('wasm elementwise: random expressions leave no cache entry', () => {
  it('rand, randn and dropout on 1,024+ elements add nothing to the kernel cache (a null per seed was cached: the map grew every call)', async () => {
    const { rand, randn, nn, ones } = await import('tapegrad');
    const x = ones([2048]);
    rand([2048]).dispose(); // warm: the ops' other kernels compiled
    randn([2048]).dispose();
    nn.functional.dropout(x, 0.5, true).dispose();
    const before = wasmElementwiseStats();
    for (let i = 0; i < 20; i++) {
      rand([2048]).dispose();
      randn([2048]).dispose();
      nn.functional.dropout(x, 0.5, true).dispose();
    }
    const after = wasmElementwiseStats();
    expect(after.unsupported - before.unsupported).toBe(0);
    expect(after.kernels - before.kernels).toBe(0);
  });
});
