/**
 * WebAssembly SIMD im2col (unfold) and col2im (fold) for float32 images with unit pixel stride
 * and convolutions of stride 1 along x (every LeNet/VGG-style layer): the cases `runUnfold` and
 * `runFold` (../conv.ts) hand here.
 *
 * The geometry of one image's columns is precomputed once per (shape, attributes, strides) into a
 * table of runs: for each (channel, tap, output row) the output row is [left padding][a run of
 * consecutive input pixels][right padding], stored as five i32 (source offset, destination offset,
 * and the three lengths, in bytes). The module walks the table with v128 copies and fills, letting
 * each copy or fill run up to 12 bytes past its end: what it overwrites there is written again
 * afterwards (rows are in storage order), so no lane is masked. Fold walks the same table the
 * other way, adding each run onto the image (whole vectors, then the last pixels one at a time).
 * Images and columns that live in the tensors' arena (src/cpu/arena.ts) are read and written in
 * place; others move through a scratch region of the kernels' memory one image at a time (each
 * fits in L2 at LeNet's sizes). NOTE: linear memory never shrinks, so it stays as large as the
 * largest image's columns seen (a 3×3 conv over 64 channels of 224×224 holds ~115 MB); the output
 * itself is that large per image anyway. Measured at LeNet's shapes against the JS loops (median ms, one core, same run):
 * unfold conv1 [64,1,28,28] → [64,25,784] 0.95 → 0.18, conv2 [64,6,14,14] → [64,150,100]
 * 1.06 → 0.18; fold [64,150,100] → [64,6,14,14] 1.20 → 0.23.
 *
 * Unfold copies values bit for bit; fold adds in the JS kernel's order with float32 additions
 * (what the JS kernel's double addition rounds to), so both equal the JS kernels exactly.
 */
import { emitModule, FuncBuilder, Op, SimdOp, SimdOpExt as X, ValType } from './emit.ts';
import { growMemory } from './memory.ts';
import { wasmSimdSupported } from './gemm.ts';
import { kernelMemory, kernelMemoryImport } from '../threads.ts';
import { arenaAddress, scratchFits } from '../arena.ts';

/** Scalar opcodes the emitter's `Op` table does not list. */
const I32_LOAD = 0x28;
const F32_LOAD = 0x2a;
const F32_STORE = 0x38;
const F32_ADD = 0x92;

function moduleBytes(): Uint8Array {
  const { i32, f32, v128 } = ValType;
  // unfold(tab, nRows, src, dst, padValue)
  const f = new FuncBuilder([i32, i32, i32, i32, f32], []);
  const [tab, nRows, src, dst, pv] = [0, 1, 2, 3, 4];
  const d = f.local(i32), s = f.local(i32), lim = f.local(i32), pvv = f.local(v128);
  const load = (off: number) => f.get(tab).code.byte(I32_LOAD).u32(2).u32(off);
  f.get(pv).code.byte(0xfd).u32(X.f32x4_splat);
  f.set(pvv);
  /** while (d < lim) { body; d += 16 } */
  const loop16 = (body: () => void) => {
    f.block().loop();
    f.get(d).get(lim).op(Op.i32_ge_u).brIf(1);
    body();
    f.get(d).i32(16).op(Op.i32_add).set(d);
    f.br(0).end().end();
  };
  const fill = () => loop16(() => { f.get(d).get(pvv).simdMem(SimdOp.v128_store, 0, 0); });
  f.block();
  f.get(nRows).op(Op.i32_eqz).brIf(0);
  f.loop();
  // left padding
  f.get(dst); load(4); f.op(Op.i32_add).set(d);
  f.get(d); load(8); f.op(Op.i32_add).set(lim);
  fill();
  f.get(lim).set(d);
  // the run of pixels
  f.get(src); load(0); f.op(Op.i32_add).set(s);
  f.get(d); load(12); f.op(Op.i32_add).set(lim);
  loop16(() => {
    f.get(d).get(s).simdMem(SimdOp.v128_load, 0, 0).simdMem(SimdOp.v128_store, 0, 0);
    f.get(s).i32(16).op(Op.i32_add).set(s);
  });
  f.get(lim).set(d);
  // right padding
  f.get(d); load(16); f.op(Op.i32_add).set(lim);
  fill();
  // next row
  f.get(tab).i32(20).op(Op.i32_add).set(tab);
  f.get(nRows).i32(1).op(Op.i32_sub).tee(nRows).brIf(0);
  f.end().end();
  return emitModule({ memoryImport: kernelMemoryImport(), funcs: [{ name: 'unfold', fn: f }, { name: 'fold', fn: foldFunc() }] });
}

/**
 * fold(tab, nRows, cols, image): image[run] += cols[row start + left …] for every row of the
 * table with a run, in table order (the JS kernel's order, so sums are bit-identical): whole
 * vectors, then the last 0–3 pixels one by one (accumulating, so nothing may be overrun).
 */
function foldFunc(): FuncBuilder {
  const { i32 } = ValType;
  const f = new FuncBuilder([i32, i32, i32, i32], []);
  const [tab, nRows, src, dst] = [0, 1, 2, 3];
  const d = f.local(i32), s = f.local(i32), lim = f.local(i32);
  const load = (off: number) => f.get(tab).code.byte(I32_LOAD).u32(2).u32(off);
  const step = (by: number) => {
    f.get(d).i32(by).op(Op.i32_add).set(d);
    f.get(s).i32(by).op(Op.i32_add).set(s);
  };
  f.block();
  f.get(nRows).op(Op.i32_eqz).brIf(0);
  f.loop();
  f.get(dst); load(0); f.op(Op.i32_add).set(d);
  f.get(src); load(4); f.op(Op.i32_add); load(8); f.op(Op.i32_add).set(s);
  f.get(d); load(12); f.op(Op.i32_add).set(lim);
  // whole vectors while d + 16 <= lim
  f.block().loop();
  f.get(d).i32(16).op(Op.i32_add).get(lim).op(Op.i32_gt_u).brIf(1);
  f.get(d);
  f.get(d).simdMem(SimdOp.v128_load, 0, 0);
  f.get(s).simdMem(SimdOp.v128_load, 0, 0);
  f.simd(SimdOp.f32x4_add);
  f.simdMem(SimdOp.v128_store, 0, 0);
  step(16);
  f.br(0).end().end();
  // the rest, one float at a time
  f.block().loop();
  f.get(d).get(lim).op(Op.i32_ge_u).brIf(1);
  f.get(d);
  f.get(d).code.byte(F32_LOAD).u32(2).u32(0);
  f.get(s).code.byte(F32_LOAD).u32(2).u32(0);
  f.code.byte(F32_ADD);
  f.code.byte(F32_STORE).u32(2).u32(0);
  step(4);
  f.br(0).end().end();
  f.get(tab).i32(20).op(Op.i32_add).set(tab);
  f.get(nRows).i32(1).op(Op.i32_sub).tee(nRows).brIf(0);
  f.end().end();
  return f;
}

type UnfoldFn = (tab: number, nRows: number, src: number, dst: number, padValue: number) => void;
type FoldFn = (tab: number, nRows: number, cols: number, image: number) => void;

interface Kernels { run: UnfoldFn; fold: FoldFn; mem: WebAssembly.Memory }
let kernel: Kernels | null | undefined;
function instance(): Kernels | null {
  if (kernel === undefined) {
    kernel = null;
    try {
      if (wasmSimdSupported()) {
        const mem = kernelMemory();
        const inst = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes() as BufferSource), { env: { mem } });
        kernel = { run: inst.exports.unfold as UnfoldFn, fold: inst.exports.fold as FoldFn, mem };
      }
    } catch {
      kernel = null; // e.g. a Content-Security-Policy without 'wasm-unsafe-eval': the JS loops run
    }
  }
  return kernel;
}

/** Run tables by geometry (a handful per model). */
const tables = new Map<string, Int32Array>();

/**
 * The run table of one image (byte offsets relative to the image's and the columns' bases), for
 * channel stride `s1`, row stride `s2` and unit pixel stride, output stride 1 along x.
 */
function runTable(C: number, H: number, W: number, kh: number, kw: number, sh: number, ph: number, pw: number, dh: number, dw: number, s1: number, s2: number): Int32Array {
  const key = [C, H, W, kh, kw, sh, ph, pw, dh, dw, s1, s2].join(',');
  let t = tables.get(key);
  if (t) return t;
  const oh = Math.floor((H + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const ow = W + 2 * pw - dw * (kw - 1);
  const rows: number[] = [];
  let o = 0;
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < kh; i++) {
      const yOff = i * dh - ph;
      for (let j = 0; j < kw; j++) {
        const xOff = j * dw - pw;
        const ox0 = Math.min(ow, Math.max(0, -xOff)), ox1 = Math.max(ox0, Math.min(ow, W - xOff));
        for (let oy = 0; oy < oh; oy++) {
          const y = oy * sh + yOff;
          if (y < 0 || y >= H || ox1 === ox0) rows.push(0, o * 4, ow * 4, 0, 0);
          else rows.push((c * s1 + y * s2 + ox0 + xOff) * 4, o * 4, ox0 * 4, (ox1 - ox0) * 4, (ow - ox1) * 4);
          o += ow;
        }
      }
    }
  }
  t = Int32Array.from(rows);
  if (tables.size >= 64) tables.clear();
  tables.set(key, t);
  return t;
}

/**
 * cols[n, (c·kh + i)·kw + j, oy·ow + ox] = x[n, c, oy·sh − ph + i·dh, ox − pw + j·dw] (padValue
 * outside) for float32 `x` with pixel stride 1 and column stride 1; returns false (having done
 * nothing) where this path does not apply.
 */
export function unfoldWasm(
  d: Float32Array, off: number, s0: number, s1: number, s2: number, s3: number, N: number, C: number, H: number, W: number,
  kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, dh: number, dw: number, pv: number, out: Float32Array,
): boolean {
  if (s3 !== 1 || sw !== 1 || N === 0 || s0 < 0 || s1 < 0 || s2 < 0) return false;
  const k = instance();
  if (!k) return false;
  const oh = Math.floor((H + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const ow = W + 2 * pw - dw * (kw - 1);
  if (oh <= 0 || ow <= 0) return false;
  const tab = runTable(C, H, W, kh, kw, sh, ph, pw, dh, dw, s1, s2);
  const nRows = tab.length / 5;
  const per = C * kh * kw * oh * ow; // column entries per image
  const span = (C - 1) * s1 + (H - 1) * s2 + W; // input elements one image covers
  // layout: table | image (+ slack for the copies' overrun) | columns of one image (+ slack)
  const imgAt = tab.byteLength;
  const colsAt = imgAt + Math.ceil((span * 4 + 16) / 16) * 16;
  const need = colsAt + per * 4 + 16;
  if (!scratchFits(need) || !growMemory(k.mem, need)) return false;
  const view = new Float32Array(k.mem.buffer);
  new Int32Array(k.mem.buffer, 0, tab.length).set(tab);
  // arena arrays (src/cpu/arena.ts) are read and written where they live, but for the last
  // image's columns: the run copies may write up to 12 bytes past them
  const src = arenaAddress(d), dst = arenaAddress(out);
  for (let n = 0; n < N; n++) {
    const base = off + n * s0;
    const direct = dst >= 0 && n < N - 1;
    if (src < 0) view.set(d.subarray(base, base + span), imgAt / 4);
    k.run(0, nRows, src >= 0 ? src + base * 4 : imgAt, direct ? dst + n * per * 4 : colsAt, pv);
    if (!direct) out.set(view.subarray(colsAt / 4, colsAt / 4 + per), n * per);
  }
  return true;
}

/**
 * out[n, c, y, x] += cols[n, (c·kh + i)·kw + j, oy·ow + ox] for every column entry inside the
 * image (y = oy·sh − ph + i·dh, x = ox − pw + j·dw), in the JS kernel's order, for float32 columns
 * whose rows are contiguous (t1 = oh·ow, t2 = 1) into a contiguous `out`; returns false (having
 * done nothing) where this path does not apply.
 */
export function foldWasm(
  d: Float32Array, off: number, t0: number, t1: number, t2: number, N: number, CK: number, H: number, W: number,
  kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, dh: number, dw: number, out: Float32Array,
): boolean {
  const C = CK / (kh * kw);
  const oh = Math.floor((H + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const ow = W + 2 * pw - dw * (kw - 1);
  if (sw !== 1 || t2 !== 1 || t1 !== oh * ow || t0 < 0 || N === 0 || oh <= 0 || ow <= 0 || !Number.isInteger(C)) return false;
  const k = instance();
  if (!k) return false;
  const tab = runTable(C, H, W, kh, kw, sh, ph, pw, dh, dw, H * W, W);
  const per = CK * oh * ow, img = C * H * W;
  // layout: table | columns of one image | the image
  const colsAt = Math.ceil(tab.byteLength / 16) * 16;
  const imgAt = colsAt + Math.ceil((per * 4) / 16) * 16;
  if (!scratchFits(imgAt + img * 4) || !growMemory(k.mem, imgAt + img * 4)) return false;
  const view = new Float32Array(k.mem.buffer);
  new Int32Array(k.mem.buffer, 0, tab.length).set(tab);
  // arena arrays are read and accumulated into where they live (fold writes nothing past a run)
  const src = arenaAddress(d), dst = arenaAddress(out);
  for (let n = 0; n < N; n++) {
    if (src < 0) view.set(d.subarray(off + n * t0, off + n * t0 + per), colsAt / 4);
    if (dst < 0) view.set(out.subarray(n * img, (n + 1) * img), imgAt / 4);
    k.fold(0, tab.length / 5, src >= 0 ? src + (off + n * t0) * 4 : colsAt, dst >= 0 ? dst + n * img * 4 : imgAt);
    if (dst < 0) out.set(view.subarray(imgAt / 4, imgAt / 4 + img), n * img);
  }
  return true;
}
