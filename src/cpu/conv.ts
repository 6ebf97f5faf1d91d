/** @file im2col (unfold) and col2im (fold) kernels for NCHW images. */
import type { TypedArray } from '../dtype.ts';
import type { FoldAttrs, UnfoldAttrs } from '../ops/registry.ts';
import type { StridedArray } from './elementwise.ts';

/** cols[n, (c·kh + i)·kw + j, oy·ow + ox] = x[n, c, oy·sh − ph + i·dh, ox·sw − pw + j·dw] (padValue outside). */
export function runUnfold(x: StridedArray, shape: readonly number[], a: UnfoldAttrs, out: TypedArray): void {
  const [N, C, Hh, W] = shape as [number, number, number, number];
  const [kh, kw] = a.kernel, [sh, sw] = a.stride, [ph, pw] = a.padding, [dh, dw] = a.dilation;
  const oh = Math.floor((Hh + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((W + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  const [s0, s1, s2, s3] = x.strides as [number, number, number, number];
  const d = x.data, pv = a.padValue;
  let o = 0;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const base = x.offset + n * s0 + c * s1;
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          for (let oy = 0; oy < oh; oy++) {
            const y = oy * sh - ph + i * dh;
            if (y < 0 || y >= Hh) { for (let ox = 0; ox < ow; ox++) out[o++] = pv; continue; }
            const row = base + y * s2;
            for (let ox = 0; ox < ow; ox++) {
              const xx = ox * sw - pw + j * dw;
              out[o++] = xx < 0 || xx >= W ? pv : d[row + xx * s3]!;
            }
          }
        }
      }
    }
  }
}

/** The adjoint of unfold: sums each column entry into its pixel (entries in the padding are dropped). */
export function runFold(cols: StridedArray, colShape: readonly number[], a: FoldAttrs, out: TypedArray): void {
  const [N, CK] = colShape as [number, number, number];
  const [kh, kw] = a.kernel, [sh, sw] = a.stride, [ph, pw] = a.padding, [dh, dw] = a.dilation;
  const [Hh, W] = a.inputSize;
  const C = CK / (kh * kw);
  const oh = Math.floor((Hh + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((W + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  const [t0, t1, t2] = cols.strides as [number, number, number];
  const d = cols.data;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const obase = (n * C + c) * Hh * W;
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          const r = cols.offset + n * t0 + ((c * kh + i) * kw + j) * t1;
          for (let oy = 0; oy < oh; oy++) {
            const y = oy * sh - ph + i * dh;
            if (y < 0 || y >= Hh) continue;
            for (let ox = 0; ox < ow; ox++) {
              const xx = ox * sw - pw + j * dw;
              if (xx < 0 || xx >= W) continue;
              const q = obase + y * W + xx;
              out[q] = out[q]! + d[r + (oy * ow + ox) * t2]!;
            }
          }
        }
      }
    }
  }
}
