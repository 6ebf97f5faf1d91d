/**
 * Packing of strided matmul operands into contiguous, zero-padded panels — shared by the
 * WebAssembly kernel (panels in linear memory) and the plain-JS kernel (panels in a scratch
 * Float64Array / Int32Array). Packing makes every stride pattern (transposed, broadcast with
 * stride 0, arbitrary views) cost the same to the micro-kernel.
 */
export type Num = Float32Array | Float64Array | Int32Array;
export type View = Float32Array | Float64Array | Int32Array;

/**
 * Packs the mc×kc block of A starting at `src` (row stride `rs`, column stride `cs`) into MR-row
 * panels, k-major: panel p, step k, row i at dst[base + p*kcPad*MR + k*MR + i]. Zero-pads rows to
 * a multiple of MR and steps to kcPad.
 */
export function packA(dst: View, base: number, a: Num, src: number, rs: number, cs: number, mc: number, kc: number, kcPad: number, MR: number): void {
  let o = base;
  for (let ir = 0; ir < mc; ir += MR) {
    const mr = Math.min(MR, mc - ir);
    const s0 = src + ir * rs;
    if (mr === 4 && MR === 4) {
      const s1 = s0 + rs, s2 = s1 + rs, s3 = s2 + rs;
      for (let k = 0, kk = 0; k < kc; k++, kk += cs) {
        dst[o] = a[s0 + kk]!;
        dst[o + 1] = a[s1 + kk]!;
        dst[o + 2] = a[s2 + kk]!;
        dst[o + 3] = a[s3 + kk]!;
        o += 4;
      }
    } else {
      for (let k = 0, kk = 0; k < kc; k++, kk += cs) {
        let i = 0;
        for (let s = s0 + kk; i < mr; i++, s += rs) dst[o + i] = a[s]!;
        for (; i < MR; i++) dst[o + i] = 0;
        o += MR;
      }
    }
    if (kcPad > kc) {
      dst.fill(0, o, o + (kcPad - kc) * MR);
      o += (kcPad - kc) * MR;
    }
  }
}

/**
 * Packs the kc×nc block of B starting at `src` (row stride `rs`, column stride `cs`) into NR-column
 * panels: panel q, step k, column j at dst[base + q*kcPad*NR + k*NR + j]. Zero-pads.
 */
export function packB(dst: View, base: number, b: Num, src: number, rs: number, cs: number, kc: number, kcPad: number, nc: number, NR: number): void {
  let o = base;
  for (let jr = 0; jr < nc; jr += NR) {
    const nr = Math.min(NR, nc - jr);
    const s0 = src + jr * cs;
    if (nr === 8 && NR === 8) {
      const c2 = 2 * cs, c3 = 3 * cs, c4 = 4 * cs, c5 = 5 * cs, c6 = 6 * cs, c7 = 7 * cs;
      for (let k = 0, s = s0; k < kc; k++, s += rs) {
        dst[o] = b[s]!;
        dst[o + 1] = b[s + cs]!;
        dst[o + 2] = b[s + c2]!;
        dst[o + 3] = b[s + c3]!;
        dst[o + 4] = b[s + c4]!;
        dst[o + 5] = b[s + c5]!;
        dst[o + 6] = b[s + c6]!;
        dst[o + 7] = b[s + c7]!;
        o += 8;
      }
    } else if (nr === 4 && NR === 4) {
      const c2 = 2 * cs, c3 = 3 * cs;
      for (let k = 0, s = s0; k < kc; k++, s += rs) {
        dst[o] = b[s]!;
        dst[o + 1] = b[s + cs]!;
        dst[o + 2] = b[s + c2]!;
        dst[o + 3] = b[s + c3]!;
        o += 4;
      }
    } else {
      for (let k = 0, s0k = s0; k < kc; k++, s0k += rs) {
        let j = 0;
        for (let s = s0k; j < nr; j++, s += cs) dst[o + j] = b[s]!;
        for (; j < NR; j++) dst[o + j] = 0;
        o += NR;
      }
    }
    if (kcPad > kc) {
      dst.fill(0, o, o + (kcPad - kc) * NR);
      o += (kcPad - kc) * NR;
    }
  }
}
