/**
 * WebAssembly SIMD renderer for float32 elementwise expressions (f32x4 lanes, 128-bit SIMD only:
 * no relaxed SIMD, so no fused multiply-add).
 *
 * `runElementwise` (../elementwise.ts) hands an expression here when, after dim collapsing, the
 * loop is one dimension with unit strides for the output and every streamed operand (or rows of
 * such runs, below), the output and every operand the expression reads are float32 or bool
 * (`wasmElementwiseDtype`), and there are at least `WASM_ELEMENTWISE_MIN` elements. Operands that
 * are constant over the loop (scalars, stride 0) are passed as f32 parameters and splatted.
 *
 * Bools (Uint8Array, 0/1) are lane masks in registers (all ones = true). A streamed bool operand
 * is read 4 bytes per vector (v128.load32_zero, nonzero → true, widened to i32 lanes) and a bool
 * result stored as 4 bytes 0/1 (v128.store32_lane), so masks such as ReLU's backward
 * `g·(y > 0)`, `(y > 0)` itself and `where(mask, g, 0)` no longer leave the path. Measured over
 * [64, 6, 28, 28] (Node 20, shared core, median ms, JS kernel → wasm): y.gt(0) 2.1 → 0.32,
 * mask.to(float32) 0.54 → 0.16, g.mul(y.gt(0).to(float32)) 2.66 → 0.46 (the mul was already
 * wasm), where(y.gt(0), g, 0) 3.9 → 0.35; the CPU LeNet eager step ~21.6 → ~19.5 ms. Anything this renderer does not support makes
 * `compileWasmElementwise` return null and the JS kernel runs instead.
 *
 * Loops of several dims (after collapsing) take the same path when the innermost dim is unit-stride
 * for the output and every operand that varies along it, rows are at least
 * `WASM_ELEMENTWISE_ROW_MIN` long, and operands constant along a row (stride 0 there, e.g. a
 * per-channel bias over [N, C, H·W]) are per-row scalars; see `runWasmElementwise`.
 *
 * Driver: operands live in JS typed arrays, so each chunk of `CHUNK` elements is copied into the
 * module's linear memory (`TypedArray.prototype.set`, a memcpy), the kernel runs over it, and the
 * result is copied back out. One slot of CHUNK floats per distinct streamed operand (a bool
 * operand uses the first CHUNK bytes of its slot); the result overwrites the first slot (each
 * vector is read before it is written; a float32 result over a bool first slot gets its own). One `WebAssembly.Memory`
 * is shared by all elementwise modules; it grows to the largest number of slots used and is
 * reused. Tails (n % 8 ≠ 0) compute whole vector pairs over stale slot contents and copy only the
 * valid lanes back.
 *
 * Kernels: one module per (expression, which operands are scalars), compiled synchronously
 * (`new WebAssembly.Module`: modules are ~0.5–3 KiB, well under the 4 KiB browsers allow on the
 * main thread; ~0.2–0.4 ms each) and cached. Every intermediate value lives in a v128 local (V8
 * turns locals into SSA values, so this costs nothing once optimized); constants are materialized
 * once before the loop. V8 first runs a new module with its baseline compiler and tiers up to
 * the optimizing one in the background after a few calls (about 2× faster for exp-like ops).
 *
 * Numerics. Each operation rounds to float32 (as PyTorch's float32 kernels and the WGSL backend
 * do), whereas the JS kernel evaluates the whole expression in double and rounds once at the end;
 * so fused chains can differ by a few ulps, and intermediate overflow/underflow follows float32.
 * Per operation, against the JS kernel (Math.* in double, rounded to float32):
 *  - exact (bit for bit): neg abs sqrt recip floor ceil trunc round relu sign add sub mul div
 *    max min comparisons where cast and/or/xor/not isnan, pow by a small integer constant
 *    (evaluated in f64x2 like the JS kernel, then rounded once). Truthiness follows the JS
 *    renderer: where/and/or treat NaN as false, not and cast-to-bool treat it as true;
 *  - max ulp distance over 16.7 M float32 bit patterns spread over the whole range (every 257th):
 *    exp 1, expm1 1, log 1, rsqrt 1, log1p 2, sigmoid 2, tanh 2 (denormal results included);
 *  - IEEE special cases as Math.*: NaN propagates, exp(±Inf) = Inf/0, log(0) = −Inf,
 *    log(x<0) = NaN, sigmoid(±Inf) = 1/0, tanh(±Inf) = ±1, tanh/expm1/log1p/sqrt keep −0,
 *    relu(NaN) = NaN, relu(−0) = +0, max/min propagate NaN and order −0 < +0 (WebAssembly's
 *    f32x4.max/min are IEEE 754-2019 maximum/minimum, which is exactly Math.max/min).
 * Math: exp(x) = 2^k·e^r with k = round(x·log2 e) (by the 1.5·2^23 trick, which also yields k as
 * an integer), r = x − k·ln2 in two parts (ln2_hi has trailing zero bits so k·ln2_hi is exact),
 * e^r = 1 + (r + r²·q(r)) with q of degree 4 interpolating (e^r − 1 − r)/r² at Chebyshev nodes of
 * |r| ≤ 0.35 (coefficients computed at load by `chebyshevFit`), evaluated by Estrin's scheme (the
 * loop is otherwise one long chain of dependent multiply-adds: sigmoid 1.06 → 0.87 ns per element
 * in cache, same accuracy), 2^k built in the exponent field as two factors 2^(k>>1)·2^(k−(k>>1))
 * read off the rounding constant's low bits, so results from 2^-149 (denormal) up to overflow
 * (+Inf) come out right after clamping x to [−104, 89]; for x ≤ 0 (sigmoid) one factor 2^(k+64),
 * the 2^64 cancelled in the quotient. expm1 uses the same reduction, expm1(r) = r + r²·q(r) (q of
 * degree 5, fitted the same way) and s·expm1(r) + (s − 1), or e^r·2^k once k > 25. sigmoid = n/(1 + e) with
 * e = exp(−|x|) and n = e for x < 0, 1 otherwise (never overflows; exact at ±Inf). tanh|x| =
 * −t/(2 + t) with t = expm1(−2|x|), sign copied from x. log: x = m·2^e with m in [√½, √2),
 * f = m − 1, s = f/(2 + f), log(1+f) = f − (f²/2 − s·(f²/2 + R(s²))) with R the atanh series;
 * denormals are pre-scaled by 2^23. log1p(x) = log(u)·x/(u − 1), u = 1 + x (exact when u = 1).
 */
import type { StridedArray } from '../elementwise.ts';
import type { DType } from '../../dtype.ts';
import { exprKey, type Expr } from '../../ops/expr.ts';
import { growMemory } from './memory.ts';
import { arenaAddress, scratchFits } from '../arena.ts';
import {
  finishSplit, helpersFor, MAX_PIECES, splitAcrossThreads, holdCpuHelpers, kernelMemory, kernelMemoryImport, kernelMemoryShared, sharedKernel, startSplit,
  type SharedKernel, type SplitCall, type StartedSplit,
} from '../threads.ts';
import { ByteWriter, emitModule, FuncBuilder, Op, SimdOp, SimdOpExt as X, ValType } from './emit.ts';

/** Default fewest elements worth the copies and the call (measured: see bench/elementwise-kernel.ts). */
export const WASM_ELEMENTWISE_MIN = 1024;
let minElements = WASM_ELEMENTWISE_MIN;
/** Fewest elements per thread for a 1-D loop to be split across helper threads (src/cpu/threads.ts). */
export const WASM_ELEMENTWISE_THREAD_MIN = 32768;
let threadMin = WASM_ELEMENTWISE_THREAD_MIN;
/** Sets the fewest elements per thread for splitting a loop across threads (tests); returns the previous value. */
export function setWasmElementwiseThreadMin(n: number): number {
  const prev = threadMin;
  threadMin = n;
  return prev;
}
/** Sets the fewest elements for which the wasm path is taken (tests, benchmarks); returns the previous value. */
export function setWasmElementwiseMin(n: number): number {
  const prev = minElements;
  minElements = n;
  return prev;
}
/**
 * Vectors per loop iteration: the body is emitted twice over neighbouring vectors, so cheap
 * kernels pay half the loop steps: measured on 16K-element chunks in cache (ns per
 * element, one vector → two per iteration): neg 0.12 → 0.07, x + 1 0.12 → 0.05; 1M-element runs
 * with the copies in and out 0.25 → 0.18–0.21 ms.
 */
const UNROLL = 2;
/** Elements per chunk (each operand slot is CHUNK*4 bytes of linear memory). */
const CHUNK = 16384;
/**
 * Elements per slot in a loop split across threads (a round; see threaded1d). 1M-element
 * sigmoid on 2 threads (ms, two runs): 64K 0.65–0.68, 128K 0.62, 256K 0.65.
 */
export const WASM_ELEMENTWISE_HELPER_ROUND = 131072;
const HELPER_ROUND = WASM_ELEMENTWISE_HELPER_ROUND;

// ---------------------------------------------------------------------------------------------
// Feature detection and switch

let simd: boolean | undefined;
/** True when this engine compiles WebAssembly SIMD (v128) code; checked once. */
export function wasmElementwiseSupported(): boolean {
  if (simd === undefined) {
    try {
      const f = new FuncBuilder([ValType.i32], []);
      const g = new Gen(f);
      const a = g.splatF(1.5);
      g.store(0, g.bin(X.f32x4_pmax, g.un(X.f32x4_nearest, a), a));
      simd = typeof WebAssembly === 'object' && WebAssembly.validate(g.finish() as BufferSource);
    } catch {
      simd = false;
    }
  }
  return simd;
}

let enabled: boolean | undefined;
/** Turns the WebAssembly elementwise path on or off (off: every kernel runs as JS); returns the previous state. */
export function setWasmElementwise(on: boolean): boolean {
  const prev = wasmElementwiseEnabled();
  enabled = on && wasmElementwiseSupported();
  return prev;
}
/** Whether `runElementwise` may use the WebAssembly path. */
export function wasmElementwiseEnabled(): boolean {
  enabled ??= wasmElementwiseSupported();
  return enabled;
}

const stats = { runs: 0, threaded: 0, inPlace: 0, kernels: 0, unsupported: 0, failed: 0 };
/**
 * Counters: wasm elementwise runs (split across threads; run in place on arena arrays), compiled
 * modules, expressions left to JS as unsupported, modules the engine failed to compile (should
 * stay 0), and the bytes of linear memory held.
 */
export function wasmElementwiseStats(): { runs: number; threaded: number; inPlace: number; kernels: number; unsupported: number; failed: number; memoryBytes: number } {
  return { ...stats, memoryBytes: kernelMemory().buffer.byteLength };
}

// ---------------------------------------------------------------------------------------------
// Code generation

type V = number; // a v128 local
const { i32, f32, v128 } = ValType;

class Unsupported extends Error {}
const unsupported = (why: string): never => {
  throw new Unsupported(why);
};

const f32Bits = (x: number): number => {
  const b = new Float32Array([x]);
  return new Int32Array(b.buffer)[0]!;
};

/**
 * Emits one kernel function `(nBytes, base0…, outBase, scalar0…)`: a loop over byte offsets
 * 0, 16, …, < nBytes. Values are v128 locals; `pro` is the code before the loop (constants and
 * splats), `body` the loop body.
 */
class Gen {
  readonly pro = new ByteWriter();
  readonly body = new ByteWriter();
  readonly i: number;
  /** byte offset of the vector being emitted from the loop position (the body is emitted UNROLL times) */
  off = 0;
  private readonly consts = new Map<string, V>();

  constructor(readonly f: FuncBuilder) {
    this.i = f.local(i32);
  }

  private simd(w: ByteWriter, o: number): void {
    w.byte(0xfd).u32(o);
  }
  private get(i: number): void {
    this.body.byte(Op.local_get).u32(i);
  }
  private set(w: ByteWriter, i: number): void {
    w.byte(Op.local_set).u32(i);
  }

  /** A v128 constant from 4 i32 lanes (hoisted before the loop, deduplicated). */
  constI(lanes: readonly number[]): V {
    const key = lanes.join(',');
    let l = this.consts.get(key);
    if (l === undefined) {
      l = this.f.local(v128);
      this.simd(this.pro, SimdOp.v128_const);
      for (const x of lanes) for (let b = 0; b < 4; b++) this.pro.byte((x >>> (8 * b)) & 0xff);
      this.set(this.pro, l);
      this.consts.set(key, l);
    }
    return l;
  }
  splatF(x: number): V {
    const b = f32Bits(x);
    return this.constI([b, b, b, b]);
  }
  splatI(x: number): V {
    return this.constI([x, x, x, x]);
  }
  /** A function parameter (f32) splatted once before the loop. */
  splatParam(p: number): V {
    const l = this.f.local(v128);
    this.pro.byte(Op.local_get).u32(p);
    this.simd(this.pro, X.f32x4_splat);
    this.set(this.pro, l);
    return l;
  }

  private fresh(): V {
    const l = this.f.local(v128);
    this.set(this.body, l);
    return l;
  }
  un(o: number, a: V): V {
    this.get(a);
    this.simd(this.body, o);
    return this.fresh();
  }
  bin(o: number, a: V, b: V): V {
    this.get(a);
    this.get(b);
    this.simd(this.body, o);
    return this.fresh();
  }
  /** v128.bitselect: lanes of `a` where `mask` bits are set, else `b`. */
  sel(a: V, b: V, mask: V): V {
    this.get(a);
    this.get(b);
    this.get(mask);
    this.simd(this.body, X.v128_bitselect);
    return this.fresh();
  }
  /** i32x4 shift by a constant. */
  shift(o: number, a: V, by: number): V {
    this.get(a);
    this.body.byte(Op.i32_const).s32(by);
    this.simd(this.body, o);
    return this.fresh();
  }
  i8shuffle(a: V, b: V, lanes: readonly number[]): V {
    this.get(a);
    this.get(b);
    this.simd(this.body, SimdOp.i8x16_shuffle);
    this.body.bytes(lanes);
    return this.fresh();
  }
  /** v128.load from `base` (an i32 parameter) + i. */
  load(base: number): V {
    this.get(base);
    this.get(this.i);
    this.body.byte(Op.i32_add);
    this.simd(this.body, SimdOp.v128_load);
    this.body.u32(4).u32(this.off);
    return this.fresh();
  }
  store(base: number, v: V): void {
    this.get(base);
    this.get(this.i);
    this.body.byte(Op.i32_add);
    this.get(v);
    this.simd(this.body, SimdOp.v128_store);
    this.body.u32(4).u32(this.off);
  }
  /** Address of this vector's 4 bytes in a bool (u8) slot: `base` + i/4 (i counts f32 bytes). */
  private addrU8(base: number): void {
    this.get(base);
    this.get(this.i);
    this.body.byte(Op.i32_const).s32(2).byte(Op.i32_shr_u).byte(Op.i32_add);
  }
  /** 4 bools (bytes) from a u8 slot as a lane mask: nonzero → all ones (JS truthiness of the byte). */
  loadU8(base: number): V {
    this.addrU8(base);
    this.simd(this.body, X.v128_load32_zero);
    this.body.u32(2).u32(this.off / 4);
    const nz = this.bin(X.i8x16_ne, this.fresh(), this.splatI(0));
    return this.un(X.i32x4_extend_low_i16x8_s, this.un(X.i16x8_extend_low_i8x16_s, nz));
  }
  /** Stores a lane mask as 4 bytes 0/1 into a u8 slot (v128.store32_lane: exactly 4 bytes). */
  storeU8(base: number, mask: V): void {
    const m1 = this.and(mask, this.splatI(1));
    const packed = this.i8shuffle(m1, m1, [0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12]);
    this.addrU8(base);
    this.get(packed);
    this.simd(this.body, X.v128_store32_lane);
    this.body.u32(2).u32(this.off / 4).byte(0);
  }

  // float helpers
  add(a: V, b: V): V { return this.bin(SimdOp.f32x4_add, a, b); }
  sub(a: V, b: V): V { return this.bin(X.f32x4_sub, a, b); }
  mul(a: V, b: V): V { return this.bin(SimdOp.f32x4_mul, a, b); }
  div(a: V, b: V): V { return this.bin(X.f32x4_div, a, b); }
  and(a: V, b: V): V { return this.bin(X.v128_and, a, b); }
  or(a: V, b: V): V { return this.bin(X.v128_or, a, b); }
  /**
   * p(r) = c[0]·r^(n−1) + … + c[n−1] by Estrin's scheme: pairs c_j + c_{j+1}·r combined with r², r⁴…
   * A couple of operations more than Horner, but a dependency chain of ~log2(n) multiply-adds
   * instead of n: the transcendental loops were latency-bound.
   */
  estrin(r: V, c: readonly number[], r2?: V): V {
    // lowest degree first
    let terms: V[] = [];
    const lo = [...c].reverse();
    for (let j = 0; j < lo.length; j += 2) {
      terms.push(j + 1 < lo.length ? this.add(this.mul(this.splatF(lo[j + 1]!), r), this.splatF(lo[j]!)) : this.splatF(lo[j]!));
    }
    let pw = r;
    while (terms.length > 1) {
      pw = pw === r && r2 !== undefined ? r2 : this.mul(pw, pw);
      const next: V[] = [];
      for (let j = 0; j < terms.length; j += 2) next.push(j + 1 < terms.length ? this.add(this.mul(terms[j + 1]!, pw), terms[j]!) : terms[j]!);
      terms = next;
    }
    return terms[0]!;
  }
  /** p(r) = c[0]·r^(n−1) + … + c[n−1] by Horner. */
  horner(r: V, c: readonly number[]): V {
    let p = this.splatF(c[0]!);
    for (let j = 1; j < c.length; j++) p = this.add(this.mul(p, r), this.splatF(c[j]!));
    return p;
  }

  /** Wraps the body in the loop (parameter 0 is the byte count, a multiple of 16·`step` vectors) and assembles the module. */
  finish(step = 1): Uint8Array {
    const c = this.f.code;
    c.bytes(this.pro.toBytes());
    c.byte(Op.loop).byte(0x40);
    c.bytes(this.body.toBytes());
    // i += 16·step; continue while i < nBytes (parameter 0)
    c.byte(Op.local_get).u32(this.i).byte(Op.i32_const).s32(16 * step).byte(Op.i32_add).byte(Op.local_tee).u32(this.i);
    c.byte(Op.local_get).u32(0).byte(Op.i32_lt_u).byte(Op.br_if).u32(0);
    c.byte(Op.end);
    return emitModule({ memoryImport: kernelMemoryImport(), funcs: [{ name: 'run', fn: this.f }] });
  }
}

// ---------------------------------------------------------------------------------------------
// Vector math

const LOG2E = Math.LOG2E;
/** ln 2 split: LN2_HI has 15 significant bits, so k·LN2_HI is exact for |k| < 512. */
const LN2_HI = 0.693145751953125;
const LN2_LO = Math.fround(Math.LN2 - LN2_HI);
/** 1.5·2^23: adding it rounds to an integer (ties to even) and leaves it in the low mantissa bits. */
const MAGIC = 12582912;
const MAGIC_BITS = 0x4b400000;
const SIGN = 0x80000000 | 0;
const INF_BITS = 0x7f800000;
const QNAN_BITS = 0x7fc00000;
/**
 * Coefficients (highest degree first, for Horner) of the polynomial of degree `deg` that
 * interpolates f at the Chebyshev nodes of [−h, h]: within a small factor of the minimax
 * polynomial. Solved here in double (Vandermonde system, Gaussian elimination with pivoting).
 */
function chebyshevFit(f: (x: number) => number, h: number, deg: number): number[] {
  const m = deg + 1;
  const A: number[][] = [];
  for (let j = 0; j < m; j++) {
    const x = h * Math.cos(((2 * j + 1) * Math.PI) / (2 * m));
    A.push([...Array.from({ length: m }, (_, p) => x ** p), f(x)]);
  }
  for (let col = 0; col < m; col++) {
    let piv = col;
    for (let r = col + 1; r < m; r++) if (Math.abs(A[r]![col]!) > Math.abs(A[piv]![col]!)) piv = r;
    [A[col], A[piv]] = [A[piv]!, A[col]!];
    for (let r = 0; r < m; r++) {
      if (r === col) continue;
      const q = A[r]![col]! / A[col]![col]!;
      for (let k = col; k <= m; k++) A[r]![k]! -= q * A[col]![k]!;
    }
  }
  return Array.from({ length: m }, (_, p) => A[p]![m]! / A[p]![p]!).reverse();
}
/** |r| ≤ ln2/2 after reduction, plus slack for k rounded from float32 x·log2 e. */
const R_MAX = 0.35;
/** (e^r − 1 − r)/r², degree 5, so expm1(r) = r + r²·q(r). */
const EXPM1_POLY = chebyshevFit((r) => (Math.expm1(r) - r) / (r * r), R_MAX, 5);
/**
 * The same function, degree 4, for exp and sigmoid: e^r = 1 + r + r²·q(r) to < 1e-8 (an odd node
 * count puts a node at ~0, where the quotient cancels: Taylor there).
 */
const EXP_Q_POLY = chebyshevFit((r) => (Math.abs(r) < 1e-4 ? 0.5 + r / 6 + (r * r) / 24 : (Math.expm1(r) - r) / (r * r)), R_MAX, 4);
const LOG_POLY = [2 / 9, 2 / 7, 2 / 5, 2 / 3]; // next term 2z⁵/11: < 2e-9 relative

/**
 * e^r for |r| ≤ R_MAX as 1 + (r + r²·q(r)), q (degree 4: the coefficients of r²…r⁶) by Estrin's
 * scheme: a short dependency chain, and its rounding errors are scaled by r² ≤ 0.12 before the
 * two final additions (Estrin over the whole polynomial measured 3 ulp on sigmoid).
 */
function expPoly(g: Gen, r: V): V {
  const r2 = g.mul(r, r);
  const q = g.estrin(r, EXP_Q_POLY, r2);
  return g.add(g.add(g.mul(r2, q), r), g.splatF(1));
}

/**
 * Range reduction x = k·ln2 + r (x already clamped): `t` = x·log2 e + `magic` (k + magic − MAGIC
 * in its low mantissa bits), k as float lanes, r.
 */
function reduce(g: Gen, x: V, magic = MAGIC): { t: V; kf: V; r: V } {
  const t = g.add(g.mul(x, g.splatF(LOG2E)), g.splatF(magic));
  const kf = g.sub(t, g.splatF(magic));
  const r = g.sub(g.sub(x, g.mul(kf, g.splatF(LN2_HI))), g.mul(kf, g.splatF(LN2_LO)));
  return { t, kf, r };
}
/** k as i32 lanes from `reduce`'s t (with the plain MAGIC). */
function intK(g: Gen, t: V): V {
  return g.bin(X.i32x4_sub, t, g.splatI(MAGIC_BITS));
}
/** 2^k for i32 lanes k in [−126, 127]. */
function pow2(g: Gen, k: V): V {
  return g.shift(X.i32x4_shl, g.bin(SimdOp.i32x4_add, k, g.splatI(127)), 23);
}
/** v·2^k for k in [−150, 128] as two exactly representable factors (one final rounding). */
function scale(g: Gen, v: V, k: V): V {
  const k1 = g.shift(X.i32x4_shr_s, k, 1);
  const k2 = g.bin(X.i32x4_sub, k, k1);
  return g.mul(g.mul(v, pow2(g, k1)), pow2(g, k2));
}
/** Clamps to [lo, hi]; NaN passes through (pmin/pmax return the first operand when unordered). */
function clamp(g: Gen, x: V, lo: number, hi: number): V {
  return g.bin(X.f32x4_pmax, g.bin(X.f32x4_pmin, x, g.splatF(hi)), g.splatF(lo));
}

/** 1.5·2^23 + 2·127: see vexp. */
const MAGIC_2BIAS = MAGIC + 254;
/**
 * e^x. The scale 2^k (k in [−150, 128]) as two factors read off the rounding constant's bits:
 * with 1.5·2^23 + 254 added, the low 9 mantissa bits hold u = k + 254, and u >> 1 and u − (u >> 1)
 * are the biased exponents of 2^(k>>1) and 2^(k−(k>>1)), both normal (one final rounding).
 */
function vexp(g: Gen, x: V): V {
  const { t, r } = reduce(g, clamp(g, x, -104, 89), MAGIC_2BIAS);
  const u = g.and(t, g.splatI(0x1ff));
  const e1 = g.shift(X.i32x4_shr_u, u, 1);
  const e2 = g.bin(X.i32x4_sub, u, e1);
  return g.mul(g.mul(expPoly(g, r), g.shift(X.i32x4_shl, e1, 23)), g.shift(X.i32x4_shl, e2, 23));
}

/**
 * 1.5·2^23 + 191: rounding x·log2 e by adding it leaves k + 191 in the low mantissa bits, so a
 * left shift by 23 makes the float 2^(k+64) directly (exponent field k + 191) for k in [−190, 63].
 */
const MAGIC_SCALED = MAGIC + 191;
const TWO_P64 = 2 ** 64;

/**
 * 2^64·e^x for x ≤ 0 or NaN: the scale as one factor 2^(k+64) read off the rounding constant's
 * bits, so the result is normal (≥ 2^−86) and exact up to the polynomial's rounding.
 */
function vexpNonPositiveScaled(g: Gen, x: V): V {
  const { t, r } = reduce(g, g.bin(X.f32x4_pmax, x, g.splatF(-104)), MAGIC_SCALED); // k ≥ −150
  const s = g.shift(X.i32x4_shl, t, 23);
  return g.mul(expPoly(g, r), s);
}

/** expm1 of r (|r| ≤ ~ln2/2): r + r²·q(r). */
function expm1Poly(g: Gen, r: V): V {
  return g.add(r, g.mul(g.mul(r, r), g.horner(r, EXPM1_POLY)));
}

/** expm1(x) for x ≤ 0 clamped to ≥ −40 (k in [−58, 0]): s·expm1(r) + (s − 1). */
function expm1Small(g: Gen, xc: V): V {
  const { t, r } = reduce(g, xc);
  const k = intK(g, t);
  const em = expm1Poly(g, r);
  const s = pow2(g, k);
  return g.add(g.mul(s, em), g.sub(s, g.splatF(1)));
}

function vexpm1(g: Gen, x: V): V {
  const xc = clamp(g, x, -40, 89);
  const { t, r } = reduce(g, xc);
  const k = intK(g, t);
  const em = expm1Poly(g, r);
  // k ≤ 25: s − 1 is exact (or off by 1 at 2^25, < ½ ulp of the result); lanes with larger k
  // compute garbage here (s may be Inf) and take `big` below
  const s = pow2(g, k);
  const small = g.add(g.mul(s, em), g.sub(s, g.splatF(1)));
  // k > 25: the −1 is below ½ ulp; e^r·2^k with the two-factor scale (overflows to +Inf)
  const big = scale(g, g.add(em, g.splatF(1)), k);
  const res = g.sel(big, small, g.bin(X.i32x4_gt_s, k, g.splatI(25)));
  return g.sel(x, res, g.bin(X.f32x4_eq, x, g.splatF(0))); // expm1(±0) = ±0
}

function vsigmoid(g: Gen, x: V): V {
  // with E = 2^64·e^−|x|: e/(1 + e) = E/(2^64 + E) for x < 0, 1/(1 + e) = 2^64/(2^64 + E) else
  // (scaling by 2^64 is exact, so the sum rounds as 1 + e would; a denormal result is rounded
  // once, by the division)
  const e = vexpNonPositiveScaled(g, g.or(x, g.splatI(SIGN)));
  const num = g.sel(e, g.splatF(TWO_P64), g.bin(X.f32x4_lt, x, g.splatF(0)));
  return g.div(num, g.add(e, g.splatF(TWO_P64)));
}

function vtanh(g: Gen, x: V): V {
  const z = g.bin(X.f32x4_pmax, g.mul(g.un(X.f32x4_abs, x), g.splatF(-2)), g.splatF(-40));
  const t = expm1Small(g, z); // in [−1, 0]
  const th = g.un(X.f32x4_abs, g.div(t, g.add(t, g.splatF(2)))); // |tanh x|; abs turns −0 into +0
  return g.or(th, g.and(x, g.splatI(SIGN)));
}

function vlog(g: Gen, x: V): V {
  // denormals: scale by 2^23 and subtract 23 from the exponent
  const den = g.bin(X.f32x4_lt, x, g.splatF(2 ** -126));
  const xs = g.sel(g.mul(x, g.splatF(2 ** 23)), x, den);
  const eAdj = g.and(den, g.splatI(23));
  const SQRT_HALF_BITS = 0x3f3504f3;
  const ix = g.bin(X.i32x4_sub, xs, g.splatI(SQRT_HALF_BITS));
  const e = g.bin(X.i32x4_sub, g.shift(X.i32x4_shr_s, ix, 23), eAdj);
  const m = g.bin(SimdOp.i32x4_add, g.and(ix, g.splatI(0x007fffff)), g.splatI(SQRT_HALF_BITS));
  const f = g.sub(m, g.splatF(1));
  const s = g.div(f, g.add(f, g.splatF(2)));
  const z = g.mul(s, s);
  const R = g.mul(z, g.horner(z, LOG_POLY));
  const hfsq = g.mul(g.mul(f, f), g.splatF(0.5));
  const ef = g.un(X.f32x4_convert_i32x4_s, e);
  // e·ln2_hi − ((hfsq − (s·(hfsq + R) + e·ln2_lo)) − f)
  const inner = g.add(g.mul(s, g.add(hfsq, R)), g.mul(ef, g.splatF(LN2_LO)));
  const res = g.sub(g.mul(ef, g.splatF(LN2_HI)), g.sub(g.sub(hfsq, inner), f));
  // x outside (0, Inf): log(±0) = −Inf, log(Inf) = Inf, log(x < 0) = NaN, NaN stays NaN
  const ok = g.and(g.bin(X.f32x4_gt, x, g.splatF(0)), g.bin(X.f32x4_lt, x, g.splatI(INF_BITS)));
  const negNan = g.or(x, g.and(g.bin(X.f32x4_lt, x, g.splatF(0)), g.splatI(QNAN_BITS)));
  const special = g.sel(g.splatF(-Infinity), negNan, g.bin(X.f32x4_eq, x, g.splatF(0)));
  return g.sel(res, special, ok);
}

function vlog1p(g: Gen, x: V): V {
  const u = g.add(x, g.splatF(1));
  const um1 = g.sub(u, g.splatF(1));
  const res = g.mul(vlog(g, u), g.div(x, um1));
  const keep = g.or(g.bin(X.f32x4_eq, um1, g.splatF(0)), g.bin(X.f32x4_eq, x, g.splatI(INF_BITS)));
  return g.sel(x, res, keep);
}

/** x^k for an integer k, |k| ≤ 64, in f64x2 (as the JS kernel does), rounded once to float32. */
function vpowi(g: Gen, x: V, k: number): V {
  if (k === 0) return g.splatF(1);
  const half = (v: V): V => {
    let result: V | undefined;
    let sq = v;
    for (let n = Math.abs(k); n > 0; n >>= 1) {
      if (n & 1) result = result === undefined ? sq : g.bin(SimdOp.f64x2_mul, result, sq);
      if (n > 1) sq = g.bin(SimdOp.f64x2_mul, sq, sq);
    }
    if (k < 0) result = g.bin(X.f64x2_div, g.constI([0, 0x3ff00000, 0, 0x3ff00000]), result!);
    return g.un(X.f32x4_demote_f64x2_zero, result!);
  };
  const lo = half(g.un(X.f64x2_promote_low_f32x4, x));
  const hiLanes = g.i8shuffle(x, x, [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15]);
  const hi = half(g.un(X.f64x2_promote_low_f32x4, hiLanes));
  return g.i8shuffle(lo, hi, [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]);
}

// ---------------------------------------------------------------------------------------------
// Expressions

const UNARY: Partial<Record<string, (g: Gen, x: V) => V>> = {
  neg: (g, x) => g.un(X.f32x4_neg, x),
  abs: (g, x) => g.un(X.f32x4_abs, x),
  sqrt: (g, x) => g.un(X.f32x4_sqrt, x),
  rsqrt: (g, x) => g.div(g.splatF(1), g.un(X.f32x4_sqrt, x)),
  recip: (g, x) => g.div(g.splatF(1), x),
  floor: (g, x) => g.un(X.f32x4_floor, x),
  ceil: (g, x) => g.un(X.f32x4_ceil, x),
  trunc: (g, x) => g.un(X.f32x4_trunc, x),
  round: (g, x) => g.un(X.f32x4_nearest, x), // ties to even, like H.rint
  // x <= 0 ? 0 : x  (NaN stays NaN, −0 becomes +0)
  relu: (g, x) => g.bin(X.v128_andnot, x, g.bin(X.f32x4_le, x, g.splatF(0))),
  // ±1, NaN kept, and x + 0 for ±0 (sign(−0) is +0, as PyTorch's and WGSL's)
  sign: (g, x) => g.sel(g.or(g.splatF(1), g.and(x, g.splatI(SIGN))), g.add(x, g.splatF(0)), g.bin(X.f32x4_gt, g.un(X.f32x4_abs, x), g.splatF(0))),
  exp: vexp,
  expm1: vexpm1,
  log: vlog,
  log1p: vlog1p,
  sigmoid: vsigmoid,
  tanh: vtanh,
};

const ARITH: Partial<Record<string, number>> = {
  add: SimdOp.f32x4_add, sub: X.f32x4_sub, mul: SimdOp.f32x4_mul, div: X.f32x4_div,
  max: X.f32x4_max, min: X.f32x4_min,
};
const COMPARE: Partial<Record<string, number>> = {
  lt: X.f32x4_lt, le: X.f32x4_le, gt: X.f32x4_gt, ge: X.f32x4_ge, eq: X.f32x4_eq, ne: X.f32x4_ne,
};

interface Compiled {
  bytes: Uint8Array;
  /** Input indices read per element (in parameter order), and those passed as f32 scalars. */
  streamed: number[];
  scalars: number[];
  /** Inputs stored as bool (Uint8Array, one byte per element), and whether the output is. */
  boolIn: number[];
  boolOut: boolean;
}

/** Dtypes the wasm path reads and writes: float32 (f32 slots) and bool (Uint8Array 0/1, u8 slots). */
export function wasmElementwiseDtype(d: DType): boolean {
  return d === 'float32' || d === 'bool';
}

/** Renders `expr` (output float32 or bool) as a kernel module, or throws Unsupported. */
function compile(expr: Expr, hoisted: readonly boolean[]): Compiled {
  if (!wasmElementwiseDtype(expr.dtype)) unsupported('output dtype');
  const refs = new Set<number>();
  const boolIn = new Set<number>();
  const visit = (e: Expr): void => {
    switch (e.k) {
      case 'in':
        if (!wasmElementwiseDtype(e.dtype)) unsupported('input dtype');
        refs.add(e.i);
        if (e.dtype === 'bool') boolIn.add(e.i);
        break;
      case 'un': case 'cast': visit(e.a); break;
      case 'bin': visit(e.a); visit(e.b); break;
      case 'where': visit(e.c); visit(e.a); visit(e.b); break;
      default: break;
    }
  };
  visit(expr);
  const sorted = [...refs].sort((a, b) => a - b);
  const streamed = sorted.filter((i) => !hoisted[i]);
  const scalars = sorted.filter((i) => hoisted[i]);
  const params = [i32, ...streamed.map(() => i32), i32, ...scalars.map(() => f32)];
  const f = new FuncBuilder(params, []);
  const g = new Gen(f);
  const outParam = 1 + streamed.length;
  const inputs = new Map<number, V>();
  // a bool scalar arrives as 0/1 (any nonzero byte is true, as in the JS kernel): as a mask
  scalars.forEach((i, j) => {
    const p = g.splatParam(outParam + 1 + j);
    inputs.set(i, boolIn.has(i) ? g.bin(X.f32x4_ne, p, g.splatF(0)) : p);
  });

  const memo = new Map<Expr, V>();
  /**
   * A constant as float32 lanes. The JS kernel renders float32 constants rounded to float32 but
   * int32 ones as v|0 and float64 ones unrounded: those only when float32 holds them exactly.
   */
  const constF = (e: Expr & { k: 'const' }): V => {
    const v = e.dtype === 'bool' ? (e.v ? 1 : 0) : e.v;
    if (e.dtype === 'int32' && (v | 0) !== v) unsupported('const');
    if (e.dtype !== 'float32' && v === v && Math.fround(v) !== v) unsupported('const');
    return g.splatF(Math.fround(v));
  };
  const isBool = (d: DType) => d === 'bool';
  /** The node's value: float32 lanes, or an all-ones/all-zeros mask for bool. */
  const val = (e: Expr): V => {
    let v = memo.get(e);
    if (v === undefined) {
      v = build(e);
      memo.set(e, v);
    }
    return v;
  };
  /** As a number (bool → 1.0 / 0.0). */
  const num = (e: Expr): V => {
    if (e.k === 'const') return constF(e);
    if (isBool(e.dtype)) return g.and(val(e), g.splatF(1));
    if (e.dtype !== 'float32') unsupported(e.dtype);
    return val(e);
  };
  /** JS truthiness as a mask (floats: nonzero and not NaN). */
  const truthy = (e: Expr): V => {
    if (e.k === 'const') return g.splatI(e.v && e.v === e.v ? -1 : 0);
    if (isBool(e.dtype)) return val(e);
    if (e.dtype !== 'float32') unsupported(e.dtype);
    return g.bin(X.f32x4_gt, g.un(X.f32x4_abs, val(e)), g.splatF(0));
  };
  const floatOperand = (e: Expr): V => {
    if (e.k !== 'const' && e.dtype !== 'float32') unsupported(`${e.dtype} operand`);
    return num(e);
  };
  const build = (e: Expr): V => {
    switch (e.k) {
      case 'in': {
        let v = inputs.get(e.i);
        if (v === undefined) {
          const p = 1 + streamed.indexOf(e.i);
          v = boolIn.has(e.i) ? g.loadU8(p) : g.load(p);
          inputs.set(e.i, v);
        }
        return v;
      }
      case 'const':
        return e.dtype === 'bool' ? truthy(e) : constF(e);
      case 'cast':
        if (e.dtype === 'float32') return num(e.a.k === 'const' ? e.a : e.a.dtype === 'bool' ? e.a : unsupported('cast'));
        if (e.dtype === 'bool') {
          // JS: a !== 0 (NaN → true)
          if (e.a.k === 'const') return g.splatI(e.a.v !== 0 ? -1 : 0);
          if (e.a.dtype !== 'float32') unsupported('cast');
          return g.bin(X.f32x4_ne, val(e.a), g.splatF(0));
        }
        return unsupported('cast');
      case 'where': {
        const c = truthy(e.c);
        if (e.dtype === 'bool') return g.sel(truthy(e.a), truthy(e.b), c);
        if (e.dtype !== 'float32') unsupported('where dtype');
        return g.sel(num(e.a), num(e.b), c);
      }
      case 'un': {
        if (e.op === 'not') {
          // JS: a !== 0 ? 0 : 1 (NaN counts as true, as bool(nan) in PyTorch)
          if (e.a.k === 'const') return g.splatI(e.a.v !== 0 ? 0 : -1);
          if (isBool(e.a.dtype)) return g.un(X.v128_not, val(e.a));
          return g.bin(X.f32x4_eq, floatOperand(e.a), g.splatF(0));
        }
        if (e.op === 'isnan') {
          if (isBool(e.a.dtype)) return g.splatI(0);
          const a = floatOperand(e.a);
          return g.bin(X.f32x4_ne, a, a);
        }
        const fn = UNARY[e.op];
        if (!fn || e.dtype !== 'float32' || e.a.dtype !== 'float32') return unsupported(e.op);
        return fn(g, floatOperand(e.a));
      }
      case 'bin': {
        const op = e.op;
        const cmp = COMPARE[op];
        if (cmp !== undefined) return g.bin(cmp, num(e.a), num(e.b));
        if (op === 'and' || op === 'or') return g.bin(op === 'and' ? X.v128_and : X.v128_or, truthy(e.a), truthy(e.b));
        if (op === 'xor') {
          // JS: a !== b
          if (isBool(e.a.dtype) && isBool(e.b.dtype)) return g.bin(X.v128_xor, truthy(e.a), truthy(e.b));
          return g.bin(X.f32x4_ne, num(e.a), num(e.b));
        }
        if (e.dtype !== 'float32' || e.a.dtype !== 'float32') return unsupported(op);
        if (op === 'pow') {
          const k = e.b.k === 'const' ? e.b.v : NaN;
          if (Number.isInteger(k) && Math.abs(k) <= 64) return vpowi(g, floatOperand(e.a), k);
          return unsupported('pow');
        }
        const o = ARITH[op];
        if (o === undefined) return unsupported(op);
        return g.bin(o, floatOperand(e.a), floatOperand(e.b));
      }
      default:
        return unsupported(e.k);
    }
  };
  const scalarInputs = new Map(inputs);
  for (let u = 0; u < UNROLL; u++) {
    // each copy of the body computes its own vector: values are per copy, splats shared
    g.off = 16 * u;
    memo.clear();
    inputs.clear();
    for (const [i, v] of scalarInputs) inputs.set(i, v);
    if (expr.dtype === 'bool') g.storeU8(outParam, val(expr));
    else g.store(outParam, num(expr));
  }
  return { bytes: g.finish(UNROLL), streamed, scalars, boolIn: [...boolIn], boolOut: expr.dtype === 'bool' };
}

// ---------------------------------------------------------------------------------------------
// Driver

interface Kernel {
  run: (...args: number[]) => void;
  /** whether the expression has an op costly enough (a transcendental) for helper threads to pay */
  heavy: boolean;
  /** the module for helper threads (when the memory is shared) */
  shared: SharedKernel | undefined;
  streamed: number[];
  scalars: number[];
  boolIn: ReadonlySet<number>;
  boolOut: boolean;
}

const kernels = new Map<string, Kernel | null>();
let view = new Float32Array(0);
let byteView = new Uint8Array(0);

/** Makes linear memory at least `bytes` long; false when it cannot grow. */
function ensure(bytes: number): boolean {
  const m = kernelMemory();
  if (!scratchFits(bytes) || !growMemory(m, bytes)) return false;
  if (view.buffer !== m.buffer) {
    view = new Float32Array(m.buffer);
    byteView = new Uint8Array(m.buffer);
  }
  return true;
}

/**
 * Ops that make a loop compute-bound enough to split across threads: the transcendentals (a
 * polynomial each). Measured over 1M elements (ms, one thread → two): sigmoid 1.06 → 0.61, log
 * 1.43 → 0.80, tanh 1.47 → 0.83. Loops of cheaper ops run at the speed of the copies in and out
 * of linear memory, which stay on the calling thread, and two threads gained little or lost:
 * neg 0.33 → 0.30–0.34, add 0.38 → 0.33–0.37, div 0.57 → 0.52 (1.04 with the copies overlapped,
 * see threaded1d), reciprocal 0.41 → 0.38 (0.59), sqrt 0.53 → 0.44 (0.62).
 */
const HEAVY: ReadonlySet<string> = new Set(['exp', 'expm1', 'log', 'log1p', 'sigmoid', 'tanh']);
function isHeavy(e: Expr): boolean {
  switch (e.k) {
    case 'un': return HEAVY.has(e.op) || isHeavy(e.a);
    case 'bin': return HEAVY.has(e.op) || isHeavy(e.a) || isHeavy(e.b);
    case 'where': return isHeavy(e.c) || isHeavy(e.a) || isHeavy(e.b);
    case 'cast': return isHeavy(e.a);
    case 'in': case 'const': case 'rand': case 'index': return false;
    default: return e satisfies never;
  }
}

/**
 * The cache key of `expr`'s kernel: its exprKey without random seeds (this renderer has no random
 * numbers, so one entry, a null, stands for every seed; keyed by seed, rand/randn/dropout on
 * 1,024+ elements added an entry every call).
 */
export function wasmKernelKey(expr: Expr): string {
  return exprKey(expr, (e) => (e.k === 'rand' ? 'rand' : null));
}

/** The kernel module for `expr` with these scalar operands, or null when it cannot be rendered. */
export function compileWasmElementwise(expr: Expr, hoisted: readonly boolean[], key = wasmKernelKey(expr)): Kernel | null {
  const cacheKey = `${key}|${hoisted.map((h) => (h ? 1 : 0)).join('')}`;
  let k = kernels.get(cacheKey);
  if (k !== undefined) return k;
  k = null;
  try {
    const c = compile(expr, hoisted);
    const module = new WebAssembly.Module(c.bytes as BufferSource);
    const instance = new WebAssembly.Instance(module, { env: { mem: kernelMemory() } });
    const shared = kernelMemoryShared() ? sharedKernel(module, 'run') : undefined;
    k = { run: instance.exports.run as Kernel['run'], heavy: isHeavy(expr), shared, streamed: c.streamed, scalars: c.scalars, boolIn: new Set(c.boolIn), boolOut: c.boolOut };
    stats.kernels++;
  } catch (e) {
    // Unsupported: an op or dtype this renderer leaves to JS; anything else (an engine that
    // rejects the module) also falls back, and is counted apart
    if (e instanceof Unsupported) stats.unsupported++;
    else stats.failed++;
  }
  kernels.set(cacheKey, k);
  return k;
}

/**
 * A 1-D run split across threads (src/cpu/threads.ts), in rounds of at most HELPER_ROUND
 * elements over two buffers: while the threads take pieces (CHUNK elements) of round r in one
 * buffer, this thread copies round r + 1's operands into the other (one `set` per operand), then
 * joins in, then copies round r's result out while the helpers start on round r + 1. (Copying
 * all in, computing, then copying out, the copies — serial on this thread — left a 1M-element
 * sigmoid at 0.70 ms on 2 threads against 1.06 on one.) The result always gets a slot of its own:
 * a bool result written over a float slot 0 lands (a byte per element) on floats of earlier
 * pieces, which another thread may not have read yet. False, having done nothing, when memory
 * cannot grow that far.
 */
function threaded1d(
  k: Kernel, n: number, slotStride: number, slotSrc: readonly (Float32Array | Uint8Array)[], slotOff: readonly number[],
  slotBool: readonly boolean[], args: readonly number[], out: StridedArray,
): boolean {
  const ns = slotSrc.length;
  const round = Math.min(HELPER_ROUND, Math.ceil(n / 16) * 16); // elements per slot
  const outSlot = ns;
  const bufElems = (ns + 1) * round; // one buffer: the operand slots and the result's
  if (!ensure(2 * bufElems * 4)) return false;
  const tgt = slotBool.map((b) => (b ? byteView : view));
  const ov: Float32Array | Uint8Array = k.boolOut ? byteView : view;
  // operand j's slot in buffer q: floats from element q·bufElems + j·round, bools from that ×4 in bytes
  const at = (j: number, q: number): number => (slotBool[j] ? (q * bufElems + j * round) * 4 : q * bufElems + j * round);
  const outSlotAt = (q: number): number => (k.boolOut ? (q * bufElems + outSlot * round) * 4 : q * bufElems + outSlot * round);
  // arguments: nBytes, each streamed operand's slot base, the output's, the scalars
  const nBases = 1 + k.streamed.length;
  const step = args.map(() => 0);
  const slotOf: number[] = [];
  for (let i = 1; i <= nBases; i++) {
    const slot = i === nBases ? outSlot : args[i]! / (slotStride * 4);
    slotOf.push(slot);
    step[i] = (i === nBases ? k.boolOut : slotBool[slot]!) ? CHUNK : CHUNK * 4; // bools take a byte per element
  }
  // operands in the arena are read where they live; so is the result written, unless the loop
  // ends inside a step (the last piece writes whole steps)
  const slotAt = slotSrc.map((d, j) => (slotBool[j] ? -1 : arenaAddress(d)));
  const outAt = k.boolOut || n % STEP !== 0 ? -1 : arenaAddress(out.data);
  const callFor = (s: number, q: number): SplitCall => {
    const len = Math.min(round, n - s);
    const base = args.slice();
    base[0] = CHUNK * 4;
    for (let i = 1; i < nBases; i++) {
      const j = slotOf[i - 1]!;
      base[i] = slotAt[j]! >= 0 ? slotAt[j]! + (slotOff[j]! + s) * 4 : (q * bufElems + j * round) * 4;
    }
    base[nBases] = outAt >= 0 ? outAt + (out.offset + s) * 4 : (q * bufElems + outSlot * round) * 4;
    const pieces = Math.ceil(len / CHUNK);
    const lastLen = len - (pieces - 1) * CHUNK;
    return { kernel: k.shared!, fn: k.run, args: base, step, pieces, last: { index: 0, value: Math.ceil(lastLen / (4 * UNROLL)) * 16 * UNROLL } };
  };
  const copyIn = (s: number, q: number): void => {
    const len = Math.min(round, n - s);
    for (let j = 0; j < ns; j++) if (slotAt[j]! < 0) tgt[j]!.set(slotSrc[j]!.subarray(slotOff[j]! + s, slotOff[j]! + s + len) as never, at(j, q));
  };
  copyIn(0, 0);
  let running: StartedSplit | undefined = startSplit(callFor(0, 0));
  try {
    for (let s = 0, q = 0; s < n; s += round, q ^= 1) {
      const next = s + round;
      if (next < n) copyIn(next, q ^ 1);
      const current = running!;
      running = undefined;
      finishSplit(current);
      if (next < n) running = startSplit(callFor(next, q ^ 1));
      const len = Math.min(round, n - s);
      if (outAt < 0) out.data.set(ov.subarray(outSlotAt(q), outSlotAt(q) + len) as never, out.offset + s);
    }
  } finally {
    if (running) finishSplit(running);
  }
  return true;
}

/** Elements per kernel iteration (UNROLL vectors of 4 floats): an in-place call covers a multiple. */
const STEP = 4 * UNROLL;
/** Fewest elements per row for rows to run in place, one kernel call each (shorter rows: the copy path batches them). */
const IN_PLACE_ROW_MIN = 64;
/**
 * Fewest elements per thread for an in-place loop of cheap ops to be split (no copies: the loop is
 * bound by memory traffic; 200K-element add, addcdiv on 2 threads: the same as on one).
 */
const IN_PLACE_CHEAP_THREAD_MIN = 262144;

/**
 * Runs a float32 kernel where its operands and result live, when every streamed operand and the
 * output are arena arrays (src/cpu/arena.ts) and each is unit-stride along rows: no copies in or
 * out of scratch slots. A 1-D loop is one call (split across threads when large enough), rows
 * whose length is a multiple of STEP one call per row; the last partial step of a 1-D loop goes
 * through a scratch slot (an in-place call would write past the result's end). The same kernel
 * as the copy path, so the same bits. False, having done nothing, when it does not apply.
 */
function runInArena(
  k: Kernel, shape: readonly number[], strides: readonly (readonly number[])[], out: StridedArray, inputs: readonly StridedArray[],
): boolean {
  if (k.boolOut || k.boolIn.size > 0 || !(out.data instanceof Float32Array)) return false;
  const outAt = arenaAddress(out.data);
  if (outAt < 0) return false;
  const r = shape.length;
  const inner = shape[r - 1]!;
  if (r > 1 && (inner < IN_PLACE_ROW_MIN || inner % STEP !== 0)) return false;
  const bases: number[] = [];
  for (const i of k.streamed) {
    const x = inputs[i]!;
    const at = x.data instanceof Float32Array ? arenaAddress(x.data) : -1;
    if (at < 0 || strides[i + 1]![r - 1] !== 1) return false;
    bases.push(at + x.offset * 4);
  }
  const ob = outAt + out.offset * 4;
  const scalars = k.scalars.map((i) => inputs[i]!.data[inputs[i]!.offset]!);
  const nb = bases.length;
  const args = [0, ...bases, ob, ...scalars];
  if (r === 1) {
    const n = inner;
    const main = n - (n % STEP);
    if (main > 0) {
      const perThread = k.heavy ? threadMin : IN_PLACE_CHEAP_THREAD_MIN;
      if (k.shared && main >= 2 * perThread && helpersFor(Math.floor(main / perThread)) > 0) {
        // pieces of whole steps, twice as many as the threads the loop can feed, so a late helper takes fewer
        const pieces = Math.min(MAX_PIECES, Math.max(2, Math.floor(main / perThread)) * 2);
        const per = Math.ceil(main / pieces / STEP) * STEP;
        const count = Math.ceil(main / per);
        const step = args.map((_, j) => (j >= 1 && j <= nb + 1 ? per * 4 : 0));
        args[0] = per * 4;
        holdCpuHelpers(true);
        try {
          splitAcrossThreads({ kernel: k.shared, fn: k.run, args, step, pieces: count, last: { index: 0, value: (main - (count - 1) * per) * 4 } });
        } finally {
          holdCpuHelpers(false);
        }
        stats.threaded++;
      } else {
        args[0] = main * 4;
        k.run.apply(null, args);
      }
    }
    if (main < n) {
      // the partial step: operands into scratch slots of STEP floats each, the result out
      const len = n - main;
      if (!ensure((nb + 1) * STEP * 4)) return false;
      for (let j = 0; j < nb; j++) {
        const x = inputs[k.streamed[j]!]!;
        view.set(x.data.subarray(x.offset + main, x.offset + n) as Float32Array, j * STEP);
        args[1 + j] = j * STEP * 4;
      }
      args[1 + nb] = nb * STEP * 4;
      args[0] = STEP * 4;
      k.run.apply(null, args);
      out.data.set(view.subarray(nb * STEP, nb * STEP + len), out.offset + main);
    }
    return true;
  }
  // rows: an odometer over the outer dims, one call per row
  args[0] = inner * 4;
  const idx = new Array<number>(r - 1).fill(0);
  const rows = shape.reduce((a, b) => a * b, 1) / inner;
  const streamedStrides = k.streamed.map((i) => strides[i + 1]!);
  const outStrides = strides[0]!;
  for (let row = 0; row < rows; row++) {
    k.run.apply(null, args);
    let d = r - 2;
    for (;;) {
      for (let j = 0; j < nb; j++) args[1 + j]! += streamedStrides[j]![d]! * 4;
      args[1 + nb]! += outStrides[d]! * 4;
      if (++idx[d]! < shape[d]! || d === 0) break;
      for (let j = 0; j < nb; j++) args[1 + j]! -= shape[d]! * streamedStrides[j]![d]! * 4;
      args[1 + nb]! -= shape[d]! * outStrides[d]! * 4;
      idx[d] = 0;
      d--;
    }
  }
  return true;
}

/** Fewest elements per row for the multi-dimensional path (see `wasmElementwiseShaped`). */
export const WASM_ELEMENTWISE_ROW_MIN = 32;

/**
 * Whether a collapsed loop (`shape`, `strides` with the output's first) has the shape the wasm
 * path takes, before dtypes and the expression are checked: the innermost dim is unit-stride for
 * the output and stride 1 or 0 for every operand (0: constant along a row, a per-row scalar such
 * as a conv bias broadcast over [N, C, H·W]), there are at least `WASM_ELEMENTWISE_MIN` elements,
 * and, with more than one dim, rows of at least `WASM_ELEMENTWISE_ROW_MIN` (setWasmElementwiseMin
 * lowers both). The jit (src/jit/exec/cpu.ts) asks this to choose its expression's rounding.
 */
export function wasmElementwiseShaped(shape: readonly number[], strides: readonly (readonly number[])[]): boolean {
  const r = shape.length;
  if (r === 0 || !wasmElementwiseEnabled()) return false;
  const inner = shape[r - 1]!;
  let n = 1;
  for (const d of shape) n *= d;
  if (n < minElements || (r > 1 && inner < Math.min(WASM_ELEMENTWISE_ROW_MIN, minElements)) || strides[0]![r - 1] !== 1) return false;
  for (let j = 1; j < strides.length; j++) {
    const s = strides[j]![r - 1]!;
    if (s !== 1 && s !== 0) return false;
  }
  return true;
}

/** Whether `d` is stored as a kernel reads it (float32: Float32Array, bool: Uint8Array). */
function stored(d: unknown, bool: boolean): boolean {
  return bool ? d instanceof Uint8Array : d instanceof Float32Array;
}

/**
 * out[view] = expr(inputs) over the collapsed loop `shape` (`strides` lists the output's collapsed
 * strides first), when `wasmElementwiseShaped` holds for it; `hoisted` inputs are constant over
 * the whole loop and passed as f32 parameters (bools as 0/1). Returns false, having done nothing, when the wasm
 * path does not apply (disabled, unsupported expression or dtype, other strides, too small).
 *
 * Rows (runs along the innermost dim) are packed back to back into the chunk slots, split across
 * chunks where they straddle one, and the 1-D kernel runs over the packed chunk; the result is
 * copied back row by row. A per-row scalar (stride 0 along the row, not along the outer dims) gets
 * a slot too, filled with its value over the row (`fill`, a memset: cheaper than a JS call per row
 * into the module, and the kernel stays the 1-D one, so every element gets exactly the operations
 * the 1-D path would give it). Consecutive rows that are adjacent in an operand's (or the
 * output's) array are copied as one run, so an operand that is contiguous across rows costs one
 * `set` per chunk, not per row. Measured on relu(add(x, b)) with b a per-row bias (Node 20, one
 * core, median µs): LeNet's conv1 [64, 6, 784] 1754 (JS) → 107 and conv2 [64, 16, 100] 532 → 68;
 * at 32 768 elements in rows of L: L = 4: 101 → 331, 8: 94 → 168, 12: 94 → 122, 16: 92 → 89,
 * 24: 91 → 63, 32: 89 → 48, 48: 89 → 36 (about 38 ns per row on top of ~0.6 ns per element, against
 * ~2.8 ns per element in JS). An operand broadcast over rows (strides [0, 1], a bias over [B, F])
 * is copied per row, which costs more: add(x, b) over [128, L]: L = 16: 6.4 → 9.8, 24: 9.1 → 10.0,
 * 32: 11.7 → 10.4, 100: 34 → 12.5; [64, 120] 16 → 8.3. Hence WASM_ELEMENTWISE_ROW_MIN = 32, where
 * both kinds win. (Copying short runs with a JS loop instead of `set`/`fill` measured slower.)
 * NOTE: such loops ran as JS before, so there eager fused expressions now round every op to
 * float32 and transcendentals come from the vector math above (≤ 2 ulp from Math.*), as on 1-D runs.
 */
export function runWasmElementwise(
  expr: Expr,
  key: string,
  shape: readonly number[],
  strides: readonly (readonly number[])[],
  out: StridedArray,
  inputs: readonly StridedArray[],
  hoisted: readonly boolean[],
): boolean {
  if (!(out.data instanceof Float32Array || out.data instanceof Uint8Array) || !wasmElementwiseShaped(shape, strides)) return false;
  const k = compileWasmElementwise(expr, hoisted, key);
  if (!k) return false;
  // every array must be stored as the kernel reads it (float32: Float32Array, bool: Uint8Array)
  if (!stored(out.data, k.boolOut)) return false;
  for (const i of k.streamed) if (!stored(inputs[i]!.data, k.boolIn.has(i))) return false;
  for (const i of k.scalars) if (!stored(inputs[i]!.data, k.boolIn.has(i))) return false;

  if (runInArena(k, shape, strides, out, inputs)) {
    stats.runs++;
    stats.inPlace++;
    return true;
  }

  const r = shape.length;
  const inner = shape[r - 1]!;
  const n = shape.reduce((a, b) => a * b, 1);
  // One slot per distinct streamed operand (same array, offset and strides → same slot), each
  // slotStride*4 bytes whatever its type: a bool slot holds its bytes at the start of its region
  // (the kernel reads them at base + i/4), so no slot overlaps another.
  const slotStride = Math.min(CHUNK, Math.ceil(n / 16) * 16); // elements, 64-byte aligned
  const slotSrc: (Float32Array | Uint8Array)[] = [];
  const slotOff: number[] = [];
  const slotStrides: (readonly number[])[] = [];
  const slotBool: boolean[] = [];
  const args: number[] = [0];
  const argSlot: number[] = []; // the slot of each streamed operand's argument
  for (const i of k.streamed) {
    const x = inputs[i]!;
    const st = strides[i + 1]!;
    let s = slotSrc.findIndex((d, j) => d === x.data && slotOff[j] === x.offset && slotStrides[j]!.every((v, q) => v === st[q]));
    if (s < 0) {
      s = slotSrc.length;
      slotSrc.push(x.data as Float32Array | Uint8Array);
      slotOff.push(x.offset);
      slotStrides.push(st);
      slotBool.push(k.boolIn.has(i));
    }
    args.push(s * slotStride * 4);
    argSlot.push(s);
  }
  const ns = slotSrc.length;
  // The result overwrites slot 0: vector i of the output (16 bytes at i, or 4 bool bytes at i/4)
  // lies at or below what the kernel has read of slot 0 by then, except for a float32 result over
  // a bool slot 0 (it would overwrite bytes i/4 … not yet read), which gets a slot of its own.
  const outSlot = ns > 0 && slotBool[0] && !k.boolOut ? ns : 0;
  args.push(outSlot * slotStride * 4);
  for (const i of k.scalars) args.push(inputs[i]!.data[inputs[i]!.offset]!);
  if (!ensure(Math.max(1, ns, outSlot + 1) * slotStride * 4)) return false;

  const o = out.data;
  const run = k.run;
  // where each slot's elements start in the typed array view matching its type
  const tgt = slotBool.map((b) => (b ? byteView : view));
  const tb = slotBool.map((b, j) => (b ? j * slotStride * 4 : j * slotStride));
  const ov: Float32Array | Uint8Array = k.boolOut ? byteView : view;
  const ob = k.boolOut ? outSlot * slotStride * 4 : outSlot * slotStride;
  if (r === 1) {
    if (k.shared && k.heavy && n >= 2 * threadMin && helpersFor(Math.floor(n / threadMin)) > 0) {
      holdCpuHelpers(true);
      let done: boolean;
      try {
        done = threaded1d(k, n, slotStride, slotSrc, slotOff, slotBool, args, out);
      } finally {
        holdCpuHelpers(false);
      }
      if (done) {
        stats.runs++;
        stats.threaded++;
        return true;
      }
    }
    // operands in the arena (float32) are read where they live, and the result written where it
    // lives (but for a last chunk that ends inside a step: the kernel writes whole steps)
    const slotAt = slotSrc.map((d, j) => (slotBool[j] ? -1 : arenaAddress(d)));
    const outAt = k.boolOut ? -1 : arenaAddress(o);
    const nb = argSlot.length;
    for (let s = 0; s < n; s += CHUNK) {
      const len = Math.min(CHUNK, n - s);
      for (let j = 0; j < ns; j++) {
        if (slotAt[j]! < 0) tgt[j]!.set(slotSrc[j]!.subarray(slotOff[j]! + s, slotOff[j]! + s + len) as never, tb[j]!);
      }
      for (let q = 0; q < nb; q++) {
        const j = argSlot[q]!;
        args[1 + q] = slotAt[j]! >= 0 ? slotAt[j]! + (slotOff[j]! + s) * 4 : j * slotStride * 4;
      }
      const direct = outAt >= 0 && len % STEP === 0;
      args[1 + nb] = direct ? outAt + (out.offset + s) * 4 : outSlot * slotStride * 4;
      args[0] = Math.ceil(len / (4 * UNROLL)) * 16 * UNROLL;
      run.apply(null, args);
      if (!direct) o.set(ov.subarray(ob, ob + len) as never, out.offset + s);
    }
    stats.runs++;
    return true;
  }

  // rows: an odometer over the outer dims keeps each slot's and the output's row start
  const outStrides = strides[0]!;
  const fill = slotStrides.map((st) => st[r - 1] === 0);
  const pos = slotOff.slice(); // row starts in each slot's source array
  let opos = out.offset;
  const idx = new Array<number>(r - 1).fill(0);
  // pending runs (merged while adjacent): source start, chunk position, length
  const pSrc = new Array<number>(ns).fill(0), pDst = new Array<number>(ns).fill(0), pLen = new Array<number>(ns).fill(0);
  const flushIn = (j: number): void => {
    const len = pLen[j]!;
    if (len === 0) return;
    const src = slotSrc[j]!, a = pSrc[j]!, d = tb[j]! + pDst[j]!, t = tgt[j]!;
    if (fill[j]) t.fill(src[a]!, d, d + len);
    else t.set(src.subarray(a, a + len) as never, d);
    pLen[j] = 0;
  };
  // output runs of the current chunk: [array start, chunk position, length] triples
  const outRuns: number[] = [];
  let at = 0; // filled floats of the current chunk
  const runChunk = (): void => {
    for (let j = 0; j < ns; j++) flushIn(j);
    args[0] = Math.ceil(at / (4 * UNROLL)) * 16 * UNROLL;
    run.apply(null, args);
    for (let q = 0; q < outRuns.length; q += 3) o.set(ov.subarray(ob + outRuns[q + 1]!, ob + outRuns[q + 1]! + outRuns[q + 2]!) as never, outRuns[q]!);
    outRuns.length = 0;
    at = 0;
  };
  const rows = n / inner;
  for (let row = 0; row < rows; row++) {
    for (let col = 0; col < inner;) {
      const len = Math.min(inner - col, CHUNK - at);
      for (let j = 0; j < ns; j++) {
        // a fill run extends while it reads the same element; a copy while source and chunk are adjacent
        const src = fill[j] ? pos[j]! : pos[j]! + col;
        if (pLen[j]! > 0 && (fill[j] ? pSrc[j] === src : pSrc[j]! + pLen[j]! === src) && pDst[j]! + pLen[j]! === at) {
          pLen[j]! += len;
        } else {
          flushIn(j);
          pSrc[j] = src;
          pDst[j] = at;
          pLen[j] = len;
        }
      }
      const q = outRuns.length - 3;
      if (q >= 0 && outRuns[q]! + outRuns[q + 2]! === opos + col) outRuns[q + 2]! += len;
      else outRuns.push(opos + col, at, len);
      at += len;
      col += len;
      if (at === CHUNK) runChunk();
    }
    // next row
    let d = r - 2;
    for (;;) {
      opos += outStrides[d]!;
      for (let j = 0; j < ns; j++) pos[j]! += slotStrides[j]![d]!;
      if (++idx[d]! < shape[d]! || d === 0) break;
      opos -= shape[d]! * outStrides[d]!;
      for (let j = 0; j < ns; j++) pos[j]! -= shape[d]! * slotStrides[j]![d]!;
      idx[d] = 0;
      d--;
    }
  }
  if (at > 0) runChunk();
  stats.runs++;
  return true;
}
