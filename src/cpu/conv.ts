/**
 * @file im2col (unfold) and col2im (fold) kernels for NCHW images.
 *
 * Both walk the columns in storage order, one (channel, kernel tap) row of `oh·ow` entries at a
 * time. For each tap the output columns whose input pixel lies inside the image form one
 * contiguous range [ox0, ox1) (and likewise the rows [oy0, oy1)), computed once per tap, so the
 * inner loops carry no bounds tests: unfold copies a run of pixels (a plain element copy when the
 * stride is 1) and writes the padding value around it; fold adds a run of column entries onto an
 * image row. Measured at LeNet's shapes this is 3–6× faster than testing every pixel.
 *
 * float32 with unit pixel stride and stride 1 along x goes to the WebAssembly SIMD version of
 * the same walk (./wasm/unfold.ts, ~5× faster again); these loops take everything else.
 */
import type { TypedArray } from '../dtype.ts';
import type { FoldAttrs, UnfoldAttrs } from '../ops/registry.ts';
import type { StridedArray } from './elementwise.ts';
import { foldWasm, unfoldWasm } from './wasm/unfold.ts';

/** First output position o in [0, out] with o·s + off ≥ 0. */
const rangeLo = (off: number, s: number, out: number) => Math.min(out, Math.max(0, Math.ceil(-off / s)));
/** End of the output positions o ≥ lo with o·s + off < size (lo when none). */
const rangeHi = (lo: number, off: number, s: number, size: number, out: number) => Math.max(lo, Math.min(out, Math.floor((size - 1 - off) / s) + 1));

/** cols[n, (c·kh + i)·kw + j, oy·ow + ox] = x[n, c, oy·sh − ph + i·dh, ox·sw − pw + j·dw] (padValue outside). */
export function runUnfold(x: StridedArray, shape: readonly number[], a: UnfoldAttrs, out: TypedArray): void {
  const st = x.strides;
  if (x.data instanceof Float32Array && out instanceof Float32Array && unfoldWasm(
    x.data, x.offset, st[0]!, st[1]!, st[2]!, st[3]!, shape[0]!, shape[1]!, shape[2]!, shape[3]!,
    a.kernel[0], a.kernel[1], a.stride[0], a.stride[1], a.padding[0], a.padding[1], a.dilation[0], a.dilation[1], a.padValue, out,
  )) return;
  unfoldKernel(
    x.data, x.offset, st[0]!, st[1]!, st[2]!, st[3]!, shape[0]!, shape[1]!, shape[2]!, shape[3]!,
    a.kernel[0], a.kernel[1], a.stride[0], a.stride[1], a.padding[0], a.padding[1], a.dilation[0], a.dilation[1], a.padValue, out,
  );
}

// NOTE on structure: the loop nests below take only numbers and arrays. Unfold and fold run once
// or twice per training step, so V8 optimises them with on-stack replacement mid-loop; when the
// same function also read attribute objects (named property accesses, array destructuring),
// the optimised code kept bailing out ("insufficient type feedback") and most calls ran in the
// interpreter — 10–25 ms instead of 1.5 ms per fold at LeNet's shapes.
function unfoldKernel(
  d: TypedArray, off: number, s0: number, s1: number, s2: number, s3: number, N: number, C: number, Hh: number, W: number,
  kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, dh: number, dw: number, pv: number, out: TypedArray,
): void {
  const oh = Math.floor((Hh + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((W + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  const L = oh * ow;
  const xs = sw * s3; // input step between neighbouring output columns
  let o = 0;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const base = off + n * s0 + c * s1;
      for (let i = 0; i < kh; i++) {
        const yOff = i * dh - ph;
        const oy0 = rangeLo(yOff, sh, oh), oy1 = rangeHi(oy0, yOff, sh, Hh, oh);
        for (let j = 0; j < kw; j++) {
          const xOff = j * dw - pw;
          const ox0 = rangeLo(xOff, sw, ow), ox1 = rangeHi(ox0, xOff, sw, W, ow);
          const rowEnd = o + L;
          // rows above and below the image
          for (let q = o, e = o + oy0 * ow; q < e; q++) out[q] = pv;
          for (let q = o + oy1 * ow; q < rowEnd; q++) out[q] = pv;
          if (ox1 > ox0) {
            const edge = ox0 > 0 || ox1 < ow;
            for (let oy = oy0; oy < oy1; oy++) {
              const r = o + oy * ow;
              if (edge) {
                for (let q = r, e = r + ox0; q < e; q++) out[q] = pv;
                for (let q = r + ox1, e = r + ow; q < e; q++) out[q] = pv;
              }
              let src = base + (oy * sh + yOff) * s2 + (ox0 * sw + xOff) * s3;
              let q = r + ox0;
              const e = r + ox1;
              if (xs === 1) {
                // unrolled by 4: the runs are short (ow), so loop overhead dominates a 1-wide copy
                for (const e4 = e - 3; q < e4; q += 4, src += 4) {
                  out[q] = d[src]!; out[q + 1] = d[src + 1]!; out[q + 2] = d[src + 2]!; out[q + 3] = d[src + 3]!;
                }
                for (; q < e; q++) out[q] = d[src++]!;
              } else {
                for (; q < e; q++, src += xs) out[q] = d[src]!;
              }
            }
          } else {
            for (let q = o + oy0 * ow, e = o + oy1 * ow; q < e; q++) out[q] = pv;
          }
          o = rowEnd;
        }
      }
    }
  }
}

/**
 * The adjoint of unfold: adds each column entry onto its pixel of `out` (which the caller zeroes;
 * entries in the padding are dropped). Every pixel receives its contributions in increasing
 * (i, j) tap order, one rounded addition each, independent of strides and layout.
 */
export function runFold(cols: StridedArray, colShape: readonly number[], a: FoldAttrs, out: TypedArray): void {
  const st = cols.strides;
  if (cols.data instanceof Float32Array && out instanceof Float32Array && foldWasm(
    cols.data, cols.offset, st[0]!, st[1]!, st[2]!, colShape[0]!, colShape[1]!, a.inputSize[0], a.inputSize[1],
    a.kernel[0], a.kernel[1], a.stride[0], a.stride[1], a.padding[0], a.padding[1], a.dilation[0], a.dilation[1], out,
  )) return;
  foldKernel(
    cols.data, cols.offset, st[0]!, st[1]!, st[2]!, colShape[0]!, colShape[1]!, a.inputSize[0], a.inputSize[1],
    a.kernel[0], a.kernel[1], a.stride[0], a.stride[1], a.padding[0], a.padding[1], a.dilation[0], a.dilation[1], out,
  );
}

function foldKernel(
  d: TypedArray, off: number, t0: number, t1: number, t2: number, N: number, CK: number, Hh: number, W: number,
  kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, dh: number, dw: number, out: TypedArray,
): void {
  const C = CK / (kh * kw);
  const oh = Math.floor((Hh + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((W + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  const rowStep = ow * t2; // column-entry step between output rows
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const obase = (n * C + c) * Hh * W;
      for (let i = 0; i < kh; i++) {
        const yOff = i * dh - ph;
        const oy0 = rangeLo(yOff, sh, oh), oy1 = rangeHi(oy0, yOff, sh, Hh, oh);
        for (let j = 0; j < kw; j++) {
          const xOff = j * dw - pw;
          const ox0 = rangeLo(xOff, sw, ow), ox1 = rangeHi(ox0, xOff, sw, W, ow);
          if (ox1 <= ox0) continue;
          const r = off + n * t0 + ((c * kh + i) * kw + j) * t1 + ox0 * t2;
          for (let oy = oy0; oy < oy1; oy++) {
            let q = obase + (oy * sh + yOff) * W + ox0 * sw + xOff;
            const qe = q + (ox1 - ox0) * sw;
            let src = r + oy * rowStep;
            if (sw === 1 && t2 === 1) {
              // unrolled by 4 (loads before stores; the four pixels are distinct, so the order of
              // additions onto each pixel is unchanged)
              for (const q4 = qe - 3; q < q4; q += 4, src += 4) {
                const v0 = out[q]! + d[src]!, v1 = out[q + 1]! + d[src + 1]!, v2 = out[q + 2]! + d[src + 2]!, v3 = out[q + 3]! + d[src + 3]!;
                out[q] = v0; out[q + 1] = v1; out[q + 2] = v2; out[q + 3] = v3;
              }
              for (; q < qe; q++) out[q] = out[q]! + d[src++]!;
            } else {
              for (; q < qe; q += sw, src += t2) out[q] = out[q]! + d[src]!;
            }
          }
        }
      }
    }
  }
}
