/**
 * @file im2col (unfold) and its adjoint col2im (fold) for NCHW images. Both are gather-style:
 * one invocation per output element, so fold sums the overlapping window entries of a pixel in
 * a fixed (kernel row, kernel column) order — the CPU's order — with no atomics. Index
 * arithmetic uses float reciprocals (tg_divmod) while the indices stay below 2^23.
 */
import type { FoldAttrs, UnfoldAttrs } from '../../ops/registry.ts';
import type { Runtime } from '../runtime.ts';
import { bitsOf, helperSource, storageType, uslot } from '../wgsl.ts';
import { declarations, divmod, elementGrid, ENTRY_CLOSE, entryLoop, fastDiv, invBits, Uniforms } from './common.ts';
import type { BufOperand } from './elementwise.ts';

function outSize(size: number, k: number, s: number, p: number, d: number): number {
  return Math.floor((size + 2 * p - d * (k - 1) - 1) / s) + 1;
}

/**
 * cols[n, (c·kh + i)·kw + j, oy·ow + ox] = x[n, c, oy·sh − ph + i·dh, ox·sw − pw + j·dw] (padValue
 * outside). One invocation per (n, c, oy, ox) writes its kh·kw column entries: the index
 * arithmetic is paid once per window, and neighbouring invocations read and write neighbours.
 */
export function runUnfold(rt: Runtime, x: BufOperand, shape: readonly number[], a: UnfoldAttrs, out: BufOperand, outShape: readonly number[]): void {
  const [N, C, H, W] = shape as [number, number, number, number];
  const [kh, kw] = a.kernel, [sh, sw] = a.stride, [ph, pw] = a.padding, [dh, dw] = a.dilation;
  const oh = outSize(H, kh, sh, ph, dh), ow = outSize(W, kw, sw, pw, dw);
  const total = outShape.reduce((p, d) => p * d, 1);
  if (total === 0) return;
  const L = oh * ow, windows = N * C * L;
  const fast = fastDiv(windows);
  const u = new Uniforms();
  // 0 windows | 1 ow | 2 oh | 3 C | 4-6 reciprocals | 7 kh | 8 kw | 9 H | 10 W | 11 sh | 12 sw | 13 ph | 14 pw
  // 15 dh | 16 dw | 17 pad bits | 18 offset | 19-22 strides | 23 per
  u.push(windows, ow, oh, C, ...[ow, oh, C].map(invBits), kh, kw, H, W, sh, sw, ph, pw, dh, dw, bitsOf(a.padValue, x.dtype), x.offset, ...x.strides);
  const { wg, per } = elementGrid(rt.ctx.limits, rt.ctx.adapter.isSoftware, windows);
  const perSlot = u.push(per);
  const T = storageType(x.dtype, 'unfold');
  const kernel = rt.kernel(`unfold:${T}:f${fast ? 1 : 0}:wg${wg}`, () => {
    const S = (k: number) => uslot(k);
    const dm = (v: string, k: number) => divmod(v, k, fast ? k + 3 : null, S);
    const body = `
  if (gid >= ${S(0)}) { return; }
  let q1 = ${dm('gid', 1)}; let ox = q1.y;
  let q2 = ${dm('q1.x', 2)}; let oy = q2.y;
  let q3 = ${dm('q2.x', 3)}; let c = q3.y; let n = q3.x;
  let kh = ${S(7)}; let kw = ${S(8)};
  let L = ${S(1)} * ${S(2)};
  let H = i32(${S(9)}); let W = i32(${S(10)});
  let y0 = i32(oy * ${S(11)}) - i32(${S(13)});
  let x0 = i32(ox * ${S(12)}) - i32(${S(14)});
  let xb = ${S(18)} + n * ${S(19)} + c * ${S(20)};
  let pad = bitcast<${T}>(${S(17)});
  var o = ((n * ${S(3)} + c) * kh * kw) * L + oy * ${S(1)} + ox;
  for (var i = 0u; i < kh; i++) {
    let y = y0 + i32(i * ${S(15)});
    let yin = y >= 0 && y < H;
    let yo = xb + u32(clamp(y, 0, H - 1)) * ${S(21)};
    for (var j = 0u; j < kw; j++) {
      let xx = x0 + i32(j * ${S(16)});
      // branch-free: clamp into the image, load, pick the pad value outside
      let v = X[yo + u32(clamp(xx, 0, W - 1)) * ${S(22)}];
      O[o] = select(pad, v, yin && xx >= 0 && xx < W);
      o = o + L;
    }
  }`;
    const code = [
      declarations(u.length, [{ name: 'O', kind: 'rw', type: T }, { name: 'X', kind: 'read', type: T }]),
      fast ? helperSource(['tg_divmod']) : '',
      entryLoop(wg, S(perSlot)), body, ENTRY_CLOSE,
    ].join('\n');
    return { code, bindings: ['rw', 'read'], uniformSlots: u.length };
  });
  rt.dispatch(kernel, [out.buf, x.buf], u.toArray(), Math.ceil(windows / (wg * per)));
}

/** The adjoint of unfold: each pixel sums the column entries of the windows that cover it. */
export function runFold(rt: Runtime, cols: BufOperand, colShape: readonly number[], a: FoldAttrs, out: BufOperand, outShape: readonly number[]): void {
  void colShape;
  const [kh, kw] = a.kernel, [sh, sw] = a.stride, [ph, pw] = a.padding, [dh, dw] = a.dilation;
  const [H, W] = a.inputSize;
  const C = outShape[1]!;
  const oh = outSize(H, kh, sh, ph, dh), ow = outSize(W, kw, sw, pw, dw);
  const total = outShape.reduce((p, d) => p * d, 1);
  if (total === 0) return;
  const fast = fastDiv(total + (H + ph) + (W + pw));
  const unit = sh === 1 && sw === 1;
  const u = new Uniforms();
  // 0 total | 1 W | 2 H | 3 C | 4 sh | 5 sw | 6-10 reciprocals | 11 kh | 12 kw | 13 ph | 14 pw | 15 dh | 16 dw
  // 17 oh | 18 ow | 19 offset | 20-22 strides | 23 per
  u.push(total, W, H, C, sh, sw, ...[W, H, C, sh, sw].map(invBits), kh, kw, ph, pw, dh, dw, oh, ow, cols.offset, ...cols.strides);
  const { wg, per } = elementGrid(rt.ctx.limits, rt.ctx.adapter.isSoftware, total);
  const perSlot = u.push(per);
  const T = storageType(cols.dtype, 'fold');
  const acc = T === 'u32' ? 'i32' : T;
  const kernel = rt.kernel(`fold:${T}:f${fast ? 1 : 0}:s${unit ? 1 : 0}:wg${wg}`, () => {
    const S = (k: number) => uslot(k);
    const dm = (v: string, k: number) => divmod(v, k, fast ? k + 5 : null, S);
    // window position along an axis: t = p + pad − i·d must be a non-negative multiple of the stride
    const axis = (t: string, o: string, k: number, lim: number) => unit
      ? `if (${t} < 0 || ${t} >= i32(${S(lim)})) { continue; }\n      let ${o} = u32(${t});`
      : `if (${t} < 0) { continue; }\n      let ${o}q = ${dm(`u32(${t})`, k)};\n      if (${o}q.y != 0u || ${o}q.x >= ${S(lim)}) { continue; }\n      let ${o} = ${o}q.x;`;
    const body = `
  if (gid >= ${S(0)}) { return; }
  let q1 = ${dm('gid', 1)}; let px = q1.y;
  let q2 = ${dm('q1.x', 2)}; let py = q2.y;
  let q3 = ${dm('q2.x', 3)}; let c = q3.y; let n = q3.x;
  let base = ${S(19)} + n * ${S(20)};
  var acc: ${acc} = ${acc}(0);
  for (var i = 0u; i < ${S(11)}; i++) {
    let ty = i32(py + ${S(13)}) - i32(i * ${S(15)});
    ${axis('ty', 'oy', 4, 17).replace(/\n/g, '\n  ')}
    for (var j = 0u; j < ${S(12)}; j++) {
      let tx = i32(px + ${S(14)}) - i32(j * ${S(16)});
      ${axis('tx', 'ox', 5, 18)}
      acc = acc + ${acc}(X[base + ((c * ${S(11)} + i) * ${S(12)} + j) * ${S(21)} + (oy * ${S(18)} + ox) * ${S(22)}]);
    }
  }
  O[gid] = ${T}(acc);`;
    const code = [
      declarations(u.length, [{ name: 'O', kind: 'rw', type: T }, { name: 'X', kind: 'read', type: T }]),
      fast ? helperSource(['tg_divmod']) : '',
      entryLoop(wg, S(perSlot)), body, ENTRY_CLOSE,
    ].join('\n');
    return { code, bindings: ['rw', 'read'], uniformSlots: u.length };
  });
  rt.dispatch(kernel, [out.buf, cols.buf], u.toArray(), Math.ceil(total / (wg * per)));
}
