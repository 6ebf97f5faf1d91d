/**
 * CPU matrix multiplication kernels on typed arrays (no Tensor class).
 *
 * `matmulInto` picks the fastest available implementation:
 *  - the WebAssembly SIMD kernel (`./wasm/gemm.ts`: a ~2 KiB module generated at run time by the
 *    tiny emitter in `./wasm/emit.ts`, 4×8 f32x4 register tile, ~60 GFLOP/s on one core of the
 *    project machine) when the engine supports WebAssembly SIMD (every current browser, Node ≥ 16);
 *  - otherwise the plain-JS kernel `matmulIntoJs`: cache-blocked, operands packed into reused
 *    scratch panels, 4×4 register tile held in local variables (~5–6 GFLOP/s);
 *  - direct strided loops for tiny products and row/column vectors, where packing and tile
 *    padding cost more than they save.
 *
 * Numerics (documented contract):
 *  - Float64Array: all arithmetic in double precision (JS kernel: double accumulators; wasm:
 *    f64x2 lanes). Results may differ from a naive loop by summation order only.
 *  - Float32Array: the JS kernel accumulates in double within each KC-deep block (256) and rounds
 *    to float32 when storing a block's partial sum; the wasm kernel multiplies and accumulates in
 *    float32 (IEEE single, no fused multiply-add). Either way the error is a few float32 ulps of
 *    sum_k |A||B| for the K sizes used in practice (tested against a float64 reference to 1e-4
 *    relative for K up to 4096).
 *  - Int32Array: exact two's-complement int32 arithmetic with wraparound (Math.imul / i32x4.mul,
 *    additions mod 2^32), i.e. the same result as C int32 code, independent of summation order.
 *
 * Operands are strided views; see `matmulInto`. Both kernels copy operands into contiguous
 * scratch (packed panels, or wasm linear memory) first, so transposed and broadcast (stride 0)
 * operands cost about the same as row-major ones. Scratch buffers are module-level, grown on
 * demand and reused across calls; the wasm linear memory never shrinks, so it stays at the size
 * the largest product needed (about 4·(M·K + K·N + M·N) bytes for float32). The functions are not
 * reentrant, which is fine in single-threaded JS.
 */
import { WasmGemm, wasmSimdSupported } from './wasm/gemm.ts';
import type { WasmDtype } from './wasm/gemm-kernel.ts';
import { packA, packB } from './wasm/pack.ts';

export type NumArray = Float32Array | Float64Array | Int32Array;

/** Which implementation `matmulInto` uses for non-tiny products. */
export type MatmulImpl = 'wasm' | 'js';

// ---------------------------------------------------------------------------------------------
// Plain-JS kernel

/** Register tile of the JS micro-kernel (hand-unrolled below: changing these needs new code). */
const MR = 4;
const NR = 4;
/** Cache blocking of the JS kernel. Measured here: 4×4 with any MC in 64..256, KC in 128..1024 is within noise. */
const MC = 128;
const KC = 256;
const NC = 2048;
/**
 * Up to this many multiply-adds (M*N*K) the direct triple loop beats the packed JS kernel
 * (measured: 4³ 0.12 µs direct vs 0.5 µs packed; 8³ 0.6 vs 0.3; 16³ 4.5 vs 1.8).
 */
const SMALL_MNK = 256;
/** Below this many multiply-adds the wasm kernel's fixed cost (~0.3 µs) exceeds the direct loop's. */
const WASM_MIN_MNK = 512;

// Packed-panel scratch, grown on demand and reused across calls.
let fA = new Float64Array(0);
let fB = new Float64Array(0);
let iA = new Int32Array(0);
let iB = new Int32Array(0);
const edge = new Float64Array(MR * NR);

/**
 * C tile (+)= Ap-panel · Bp-panel over kc steps, double accumulators. Writes the top-left mr×nr
 * of the 4×4 tile to c[ci + i*ldc + j]; `acc` selects += (later K blocks) or = (first block).
 */
function microF(
  kc: number,
  ap: Float64Array,
  pa: number,
  bp: Float64Array,
  pb: number,
  c: NumArray,
  ci: number,
  ldc: number,
  mr: number,
  nr: number,
  acc: boolean,
): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  for (let k = 0; k < kc; k++) {
    const a0 = ap[pa]!, a1 = ap[pa + 1]!, a2 = ap[pa + 2]!, a3 = ap[pa + 3]!;
    const b0 = bp[pb]!, b1 = bp[pb + 1]!, b2 = bp[pb + 2]!, b3 = bp[pb + 3]!;
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
    pa += 4;
    pb += 4;
  }
  if (mr === 4 && nr === 4) {
    const r0 = ci, r1 = ci + ldc, r2 = r1 + ldc, r3 = r2 + ldc;
    if (acc) {
      c[r0] = c[r0]! + c00; c[r0 + 1] = c[r0 + 1]! + c01; c[r0 + 2] = c[r0 + 2]! + c02; c[r0 + 3] = c[r0 + 3]! + c03;
      c[r1] = c[r1]! + c10; c[r1 + 1] = c[r1 + 1]! + c11; c[r1 + 2] = c[r1 + 2]! + c12; c[r1 + 3] = c[r1 + 3]! + c13;
      c[r2] = c[r2]! + c20; c[r2 + 1] = c[r2 + 1]! + c21; c[r2 + 2] = c[r2 + 2]! + c22; c[r2 + 3] = c[r2 + 3]! + c23;
      c[r3] = c[r3]! + c30; c[r3 + 1] = c[r3 + 1]! + c31; c[r3 + 2] = c[r3 + 2]! + c32; c[r3 + 3] = c[r3 + 3]! + c33;
    } else {
      c[r0] = c00; c[r0 + 1] = c01; c[r0 + 2] = c02; c[r0 + 3] = c03;
      c[r1] = c10; c[r1 + 1] = c11; c[r1 + 2] = c12; c[r1 + 3] = c13;
      c[r2] = c20; c[r2 + 1] = c21; c[r2 + 2] = c22; c[r2 + 3] = c23;
      c[r3] = c30; c[r3 + 1] = c31; c[r3 + 2] = c32; c[r3 + 3] = c33;
    }
    return;
  }
  const t = edge;
  t[0] = c00; t[1] = c01; t[2] = c02; t[3] = c03;
  t[4] = c10; t[5] = c11; t[6] = c12; t[7] = c13;
  t[8] = c20; t[9] = c21; t[10] = c22; t[11] = c23;
  t[12] = c30; t[13] = c31; t[14] = c32; t[15] = c33;
  for (let i = 0; i < mr; i++) {
    const r = ci + i * ldc;
    for (let j = 0; j < nr; j++) {
      if (acc) c[r + j] = c[r + j]! + t[i * 4 + j]!;
      else c[r + j] = t[i * 4 + j]!;
    }
  }
}

/** Integer variant of `microF`: exact int32 wraparound arithmetic. */
function microI(
  kc: number,
  ap: Int32Array,
  pa: number,
  bp: Int32Array,
  pb: number,
  c: Int32Array,
  ci: number,
  ldc: number,
  mr: number,
  nr: number,
  acc: boolean,
): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  const imul = Math.imul;
  for (let k = 0; k < kc; k++) {
    const a0 = ap[pa]!, a1 = ap[pa + 1]!, a2 = ap[pa + 2]!, a3 = ap[pa + 3]!;
    const b0 = bp[pb]!, b1 = bp[pb + 1]!, b2 = bp[pb + 2]!, b3 = bp[pb + 3]!;
    c00 = (c00 + imul(a0, b0)) | 0; c01 = (c01 + imul(a0, b1)) | 0; c02 = (c02 + imul(a0, b2)) | 0; c03 = (c03 + imul(a0, b3)) | 0;
    c10 = (c10 + imul(a1, b0)) | 0; c11 = (c11 + imul(a1, b1)) | 0; c12 = (c12 + imul(a1, b2)) | 0; c13 = (c13 + imul(a1, b3)) | 0;
    c20 = (c20 + imul(a2, b0)) | 0; c21 = (c21 + imul(a2, b1)) | 0; c22 = (c22 + imul(a2, b2)) | 0; c23 = (c23 + imul(a2, b3)) | 0;
    c30 = (c30 + imul(a3, b0)) | 0; c31 = (c31 + imul(a3, b1)) | 0; c32 = (c32 + imul(a3, b2)) | 0; c33 = (c33 + imul(a3, b3)) | 0;
    pa += 4;
    pb += 4;
  }
  const t = [c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33];
  for (let i = 0; i < mr; i++) {
    const r = ci + i * ldc;
    for (let j = 0; j < nr; j++) c[r + j] = acc ? (c[r + j]! + t[i * 4 + j]!) | 0 : t[i * 4 + j]!;
  }
}

let rowF = new Float64Array(0);
let rowI = new Int32Array(0);

/**
 * Direct strided loops without packing, for tiny and skinny products: dot products over k when
 * N is 1 or the product is tiny, else (a row vector times a matrix, typically) row updates
 * out[m, :] += A[m, k] * B[k, :] into a double (or int32) scratch row, which reads B along rows.
 */
function matmulDirect(
  out: NumArray,
  a: NumArray,
  aOffsets: ArrayLike<number>,
  ars: number,
  acs: number,
  b: NumArray,
  bOffsets: ArrayLike<number>,
  brs: number,
  bcs: number,
  batch: number,
  M: number,
  K: number,
  N: number,
): void {
  const isInt = out instanceof Int32Array;
  const dot = N === 1 || M * N * K <= SMALL_MNK;
  if (!dot && isInt && rowI.length < N) rowI = new Int32Array(N);
  if (!dot && !isInt && rowF.length < N) rowF = new Float64Array(N);
  let o = 0;
  for (let bi = 0; bi < batch; bi++) {
    const aOff = aOffsets[bi]!, bOff = bOffsets[bi]!;
    for (let m = 0; m < M; m++) {
      const ar = aOff + m * ars;
      if (dot) {
        for (let n = 0; n < N; n++) {
          let s = 0;
          let ai = ar, bj = bOff + n * bcs;
          if (isInt) for (let k = 0; k < K; k++, ai += acs, bj += brs) s = (s + Math.imul(a[ai]!, b[bj]!)) | 0;
          else for (let k = 0; k < K; k++, ai += acs, bj += brs) s += a[ai]! * b[bj]!;
          out[o++] = s;
        }
      } else if (isInt) {
        const row = rowI;
        row.fill(0, 0, N);
        for (let k = 0; k < K; k++) {
          const av = a[ar + k * acs]!;
          for (let n = 0, bj = bOff + k * brs; n < N; n++, bj += bcs) row[n] = (row[n]! + Math.imul(av, b[bj]!)) | 0;
        }
        for (let n = 0; n < N; n++) out[o++] = row[n]!;
      } else {
        const row = rowF;
        row.fill(0, 0, N);
        for (let k = 0; k < K; k++) {
          const av = a[ar + k * acs]!;
          for (let n = 0, bj = bOff + k * brs; n < N; n++, bj += bcs) row[n] = row[n]! + av * b[bj]!;
        }
        for (let n = 0; n < N; n++) out[o++] = row[n]!;
      }
    }
  }
}

/** Handles the empty cases (no output; K = 0 gives zeros); true when nothing is left to do. */
function isTrivialProduct(out: NumArray, batch: number, M: number, K: number, N: number): boolean {
  const total = batch * M * N;
  if (total !== 0 && K === 0) out.fill(0, 0, total);
  return total === 0 || K === 0;
}

/**
 * Plain-JS implementation of `matmulInto` (same contract): cache-blocked, operands packed into
 * reused scratch panels, 4×4 register-blocked micro-kernel. Exported for tests and as the
 * fallback where WebAssembly SIMD is unavailable.
 */
export function matmulIntoJs(
  out: NumArray,
  a: NumArray,
  aOffsets: ArrayLike<number>,
  aRowStride: number,
  aColStride: number,
  b: NumArray,
  bOffsets: ArrayLike<number>,
  bRowStride: number,
  bColStride: number,
  batch: number,
  M: number,
  K: number,
  N: number,
): void {
  if (isTrivialProduct(out, batch, M, K, N)) return;
  // Skinny products (a row or column vector) waste 3/4 of the 4×4 tile: the direct loop is faster.
  if (M * N * K <= SMALL_MNK || M === 1 || N === 1) {
    matmulDirect(out, a, aOffsets, aRowStride, aColStride, b, bOffsets, bRowStride, bColStride, batch, M, K, N);
    return;
  }
  const isInt = out instanceof Int32Array;
  const aNeed = Math.ceil(Math.min(MC, M) / MR) * MR * Math.min(KC, K);
  const bNeed = Math.ceil(Math.min(NC, N) / NR) * NR * Math.min(KC, K);
  if (isInt) {
    if (iA.length < aNeed) iA = new Int32Array(aNeed);
    if (iB.length < bNeed) iB = new Int32Array(bNeed);
  } else {
    if (fA.length < aNeed) fA = new Float64Array(aNeed);
    if (fB.length < bNeed) fB = new Float64Array(bNeed);
  }
  const pA = isInt ? iA : fA;
  const pB = isInt ? iB : fB;

  for (let bi = 0; bi < batch; bi++) {
    const aOff = aOffsets[bi]!, bOff = bOffsets[bi]!;
    const outBase = bi * M * N;
    for (let jc = 0; jc < N; jc += NC) {
      const nc = Math.min(NC, N - jc);
      for (let pc = 0; pc < K; pc += KC) {
        const kc = Math.min(KC, K - pc);
        const acc = pc > 0;
        packB(pB, 0, b, bOff + pc * bRowStride + jc * bColStride, bRowStride, bColStride, kc, kc, nc, NR);
        for (let ic = 0; ic < M; ic += MC) {
          const mc = Math.min(MC, M - ic);
          packA(pA, 0, a, aOff + ic * aRowStride + pc * aColStride, aRowStride, aColStride, mc, kc, kc, MR);
          for (let jr = 0; jr < nc; jr += NR) {
            const nr = Math.min(NR, nc - jr);
            const pb = jr * kc;
            let ci = outBase + ic * N + jc + jr;
            for (let ir = 0; ir < mc; ir += MR) {
              const mr = Math.min(MR, mc - ir);
              if (isInt) microI(kc, pA as Int32Array, ir * kc, pB as Int32Array, pb, out as Int32Array, ci, N, mr, nr, acc);
              else microF(kc, pA as Float64Array, ir * kc, pB as Float64Array, pb, out, ci, N, mr, nr, acc);
              ci += MR * N;
            }
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// WebAssembly SIMD kernel and dispatch

let wasmAvailable = wasmSimdSupported();
let impl: MatmulImpl = wasmAvailable ? 'wasm' : 'js';
const wasmKernels: Partial<Record<WasmDtype, WasmGemm>> = {};

/**
 * The wasm kernel for `dtype`, compiled on first use; null (and wasm disabled from then on) if
 * compiling fails, e.g. under a Content-Security-Policy without 'wasm-unsafe-eval'.
 */
function wasmKernel(dtype: WasmDtype): WasmGemm | null {
  let k = wasmKernels[dtype];
  if (!k && wasmAvailable) {
    try {
      k = wasmKernels[dtype] = new WasmGemm(dtype);
    } catch {
      wasmAvailable = false;
      impl = 'js';
    }
  }
  return k ?? null;
}

/** The implementation `matmulInto` uses for non-tiny products. */
export function matmulImpl(): MatmulImpl {
  return impl;
}

/**
 * Forces an implementation ('js' always works; 'wasm' throws where WebAssembly SIMD is missing).
 * Returns the previous choice. Meant for tests and benchmarks.
 */
export function setMatmulImpl(choice: MatmulImpl): MatmulImpl {
  if (choice === 'wasm' && !wasmAvailable) throw new Error('WebAssembly SIMD is not available in this engine');
  const prev = impl;
  impl = choice;
  return prev;
}

/**
 * WebAssembly implementation of `matmulInto` (same contract). Falls back to `matmulIntoJs` when
 * WebAssembly SIMD is unavailable or linear memory cannot grow to hold the operands.
 */
export function matmulIntoWasm(
  out: NumArray,
  a: NumArray,
  aOffsets: ArrayLike<number>,
  aRowStride: number,
  aColStride: number,
  b: NumArray,
  bOffsets: ArrayLike<number>,
  bRowStride: number,
  bColStride: number,
  batch: number,
  M: number,
  K: number,
  N: number,
): void {
  if (isTrivialProduct(out, batch, M, K, N)) return;
  const dtype: WasmDtype = out instanceof Float32Array ? 'f32' : out instanceof Float64Array ? 'f64' : 'i32';
  const kernel = wasmKernel(dtype);
  if (!kernel?.run(out, a, aOffsets, aRowStride, aColStride, b, bOffsets, bRowStride, bColStride, batch, M, K, N)) {
    matmulIntoJs(out, a, aOffsets, aRowStride, aColStride, b, bOffsets, bRowStride, bColStride, batch, M, K, N);
  }
}

/**
 * out[b, m, n] = sum_k A[b, m, k] * B[b, k, n] for b < batch, written contiguously (row-major)
 * into `out` (length >= batch*M*N, same array type as the inputs). Operands are strided views:
 * A[b, m, k] = a[aOffsets[b] + m*aRowStride + k*aColStride], likewise B with
 * bOffsets/bRowStride/bColStride. Strides may be any non-negative integers (0 for broadcast;
 * transposed operands have aRowStride = 1). K = 0 writes zeros. `out` must not overlap `a` or
 * `b`. See the module comment for the numerics of each array type.
 */
export function matmulInto(
  out: NumArray,
  a: NumArray,
  aOffsets: ArrayLike<number>,
  aRowStride: number,
  aColStride: number,
  b: NumArray,
  bOffsets: ArrayLike<number>,
  bRowStride: number,
  bColStride: number,
  batch: number,
  M: number,
  K: number,
  N: number,
): void {
  if (impl === 'wasm' && M * N * K > WASM_MIN_MNK && M * N > 1) {
    matmulIntoWasm(out, a, aOffsets, aRowStride, aColStride, b, bOffsets, bRowStride, bColStride, batch, M, K, N);
  } else {
    matmulIntoJs(out, a, aOffsets, aRowStride, aColStride, b, bOffsets, bRowStride, bColStride, batch, M, K, N);
  }
}
