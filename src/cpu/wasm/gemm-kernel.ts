/**
 * Generator of the WebAssembly SIMD GEMM module (f32x4, f64x2 or i32x4 lanes).
 *
 * The module imports its memory (`env.mem`) and exports (all parameters i32, addresses in bytes):
 *
 *   gemmC(aBase, aPanel, aKs, mPanels, bBase, nPanels, kc, cBase, ldc, accumulate)
 *   gemmR(aBase, aPanel, lda, mPanels, bBase, nPanels, kc, cBase, ldc, accumulate)
 *     C (+)= A·Bp over mPanels×nPanels register tiles of MR×NR, where
 *       - gemmC reads A "i-contiguous": A(i, k) of row panel p at aBase + p*aPanel + i*es + k*aKs
 *         (a packed panel: aKs = MR*es; a column-major matrix used in place: aKs = its pitch);
 *       - gemmR reads A row-major in place: A(i, k) at aBase + p*aPanel + i*lda + k*es;
 *       - Bp is packed: panel q at bBase + q*kc*NR*es, element (k, j) at + (k*NR + j)*es;
 *       - C tile (p, q) at cBase + p*MR*ldc + q*NR*es, rows `ldc` bytes apart; `accumulate`
 *         selects C += A·B (later K blocks) over C = A·B (first block).
 *     kc must be ≥ 1. Edge tiles are computed in full: rows/columns past the matrix edge read
 *     whatever lies there (the caller leaves slack after each region) and produce values in the
 *     padding rows/columns of C, which the caller never copies out. Lanes never mix, so such
 *     garbage (even NaN) cannot leak into valid results.
 *
 *   packB(src, ldb, dst, kc, nPanels)
 *     Packs a row-major kc×(nPanels*NR) block (rows `ldb` bytes apart) into Bp layout with v128
 *     copies.
 *   packBT(src, ldb, dst, kc, kcMain, nPanels)
 *     Same from a column-major block (columns `ldb` bytes apart), steps k < kcMain only, by
 *     lane×lane register transposes (i8x16.shuffle).
 *
 * The register tile is MR × NR with NR a multiple of the lane count; accumulators are v128 locals
 * (V8 keeps them in xmm registers when MR*NR/lanes + NR/lanes + 2 ≤ 15). Loop nest: B panels
 * outer (one kc×NR B micro-panel stays in L1), A panels inner (from L2), k innermost.
 */
import { emitModule, FuncBuilder, Op, SimdOp, ValType, type ModuleSpec } from './emit.ts';

export type WasmDtype = 'f32' | 'f64' | 'i32';

export interface KernelShape {
  /** Rows of the register tile. */
  MR: number;
  /** Columns of the register tile; a multiple of the number of lanes (4 for f32/i32, 2 for f64). */
  NR: number;
}

export const ELEM_BYTES: Record<WasmDtype, number> = { f32: 4, f64: 8, i32: 4 };

const OPS: Record<WasmDtype, { add: SimdOp; mul: SimdOp; splat: SimdOp; splatAlign: number }> = {
  f32: { add: SimdOp.f32x4_add, mul: SimdOp.f32x4_mul, splat: SimdOp.v128_load32_splat, splatAlign: 2 },
  f64: { add: SimdOp.f64x2_add, mul: SimdOp.f64x2_mul, splat: SimdOp.v128_load64_splat, splatAlign: 3 },
  i32: { add: SimdOp.i32x4_add, mul: SimdOp.i32x4_mul, splat: SimdOp.v128_load32_splat, splatAlign: 2 },
};

const { i32, v128 } = ValType;

function gemmFunc(dtype: WasmDtype, { MR, NR }: KernelShape, rowMajorA: boolean): FuncBuilder {
  const es = ELEM_BYTES[dtype];
  const lanes = 16 / es;
  const NV = NR / lanes;
  const ops = OPS[dtype];

  const f = new FuncBuilder([i32, i32, i32, i32, i32, i32, i32, i32, i32, i32], []);
  const [aBase, aPanel, aStride, mPanels, bBase, nPanels, kc, cBase, ldc, accumulate] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] as const;
  const bPanel = f.local(i32); // bytes per B panel
  const ldcMR = f.local(i32);
  const bEnd = f.local(i32);
  const bp = f.local(i32);
  const cj = f.local(i32);
  const ap = f.local(i32);
  const mi = f.local(i32);
  const ci = f.local(i32);
  const pb = f.local(i32);
  const kend = f.local(i32);
  const r = f.local(i32);
  // A pointers: one per row in row-major mode, else a single one.
  const pa: number[] = [];
  for (let i = 0; i < (rowMajorA ? MR : 1); i++) pa.push(f.local(i32));
  const acc: number[] = [];
  for (let i = 0; i < MR * NV; i++) acc.push(f.local(v128));
  const vb: number[] = [];
  for (let j = 0; j < NV; j++) vb.push(f.local(v128));
  const va = f.local(v128);

  f.get(kc).i32(NR * es).op(Op.i32_mul).set(bPanel);
  f.get(ldc).i32(MR).op(Op.i32_mul).set(ldcMR);
  f.get(bBase).get(nPanels).get(bPanel).op(Op.i32_mul).op(Op.i32_add).set(bEnd);
  f.get(bBase).set(bp);
  f.get(cBase).set(cj);

  f.loop(); // over B panels
  {
    f.get(aBase).set(ap);
    f.get(mPanels).set(mi);
    f.get(cj).set(ci);
    f.loop(); // over A panels
    {
      f.get(ap).set(pa[0]!);
      for (let i = 1; i < pa.length; i++) f.get(pa[i - 1]!).get(aStride).op(Op.i32_add).set(pa[i]!);
      f.get(bp).set(pb);
      f.get(bp).get(bPanel).op(Op.i32_add).set(kend);
      for (const x of acc) f.v128Zero().set(x);

      f.loop(); // over k
      for (let j = 0; j < NV; j++) f.get(pb).simdMem(SimdOp.v128_load, 4, j * 16).set(vb[j]!);
      for (let i = 0; i < MR; i++) {
        if (rowMajorA) f.get(pa[i]!).simdMem(ops.splat, ops.splatAlign, 0).set(va);
        else f.get(pa[0]!).simdMem(ops.splat, ops.splatAlign, i * es).set(va);
        for (let j = 0; j < NV; j++) {
          const x = acc[i * NV + j]!;
          f.get(x).get(va).get(vb[j]!).simd(ops.mul).simd(ops.add).set(x);
        }
      }
      if (rowMajorA) for (const p of pa) f.get(p).i32(es).op(Op.i32_add).set(p);
      else f.get(pa[0]!).get(aStride).op(Op.i32_add).set(pa[0]!);
      f.get(pb).i32(NR * es).op(Op.i32_add).tee(pb);
      f.get(kend).op(Op.i32_lt_u).brIf(0); // pb <u kend
      f.end();

      // Store the tile: C (+)= acc
      f.get(ci).set(r);
      f.get(accumulate).if();
      for (let i = 0; i < MR; i++) {
        for (let j = 0; j < NV; j++) {
          f.get(r).get(r).simdMem(SimdOp.v128_load, 4, j * 16).get(acc[i * NV + j]!).simd(ops.add);
          f.simdMem(SimdOp.v128_store, 4, j * 16);
        }
        if (i + 1 < MR) f.get(r).get(ldc).op(Op.i32_add).set(r);
      }
      f.else();
      for (let i = 0; i < MR; i++) {
        for (let j = 0; j < NV; j++) f.get(r).get(acc[i * NV + j]!).simdMem(SimdOp.v128_store, 4, j * 16);
        if (i + 1 < MR) f.get(r).get(ldc).op(Op.i32_add).set(r);
      }
      f.end();

      f.get(ci).get(ldcMR).op(Op.i32_add).set(ci);
      f.get(ap).get(aPanel).op(Op.i32_add).set(ap);
      f.get(mi).i32(1).op(Op.i32_sub).tee(mi).brIf(0); // counted: aPanel may be 0 (broadcast rows)
    }
    f.end();
    f.get(cj).i32(NR * es).op(Op.i32_add).set(cj);
    f.get(bp).get(bPanel).op(Op.i32_add).tee(bp);
    f.get(bEnd).op(Op.i32_lt_u).brIf(0); // bp <u bEnd
  }
  f.end();
  return f;
}

function packBFunc(dtype: WasmDtype, { NR }: KernelShape): FuncBuilder {
  const es = ELEM_BYTES[dtype];
  const NV = (NR * es) / 16;
  const f = new FuncBuilder([i32, i32, i32, i32, i32], []);
  const [src, ldb, dst, kc, nPanels] = [0, 1, 2, 3, 4] as const;
  const s = f.local(i32);
  const sp = f.local(i32);
  const end = f.local(i32);
  const q = f.local(i32);
  f.get(src).set(sp);
  f.loop(); // over panels
  {
    f.get(sp).set(s);
    f.get(dst).get(kc).i32(NR * es).op(Op.i32_mul).op(Op.i32_add).set(end);
    f.loop(); // over k
    for (let j = 0; j < NV; j++) f.get(dst).get(s).simdMem(SimdOp.v128_load, 0, j * 16).simdMem(SimdOp.v128_store, 4, j * 16);
    f.get(s).get(ldb).op(Op.i32_add).set(s);
    f.get(dst).i32(NR * es).op(Op.i32_add).tee(dst);
    f.get(end).op(Op.i32_lt_u).brIf(0);
    f.end();
    f.get(sp).i32(NR * es).op(Op.i32_add).set(sp);
    f.get(q).i32(1).op(Op.i32_add).tee(q);
    f.get(nPanels).op(Op.i32_lt_u).brIf(0);
  }
  f.end();
  return f;
}

/** Byte lane indices for an i8x16.shuffle that picks elements `idx` (of `es` bytes each). */
function elemLanes(idx: readonly number[], es: number): number[] {
  const out: number[] = [];
  for (const e of idx) for (let b = 0; b < es; b++) out.push(e * es + b);
  return out;
}

/**
 * packBT(src, ldb, dst, kc, kcMain, nPanels): packs a column-major block (column j at src + j*ldb,
 * k contiguous) into Bp layout (panel stride kc*NR*es), for k < kcMain (a multiple of the lane
 * count L), by L×L register transposes. The caller fills steps kcMain..kc-1.
 */
function packBTFunc(dtype: WasmDtype, { NR }: KernelShape): FuncBuilder {
  const es = ELEM_BYTES[dtype];
  const L = 16 / es;
  const NV = NR / L;
  const f = new FuncBuilder([i32, i32, i32, i32, i32, i32], []);
  const [src, ldb, dst, kc, kcMain, nPanels] = [0, 1, 2, 3, 4, 5] as const;
  const sPanel = f.local(i32);
  const dPanel = f.local(i32);
  const q = f.local(i32);
  const s = f.local(i32);
  const d = f.local(i32);
  const dEnd = f.local(i32);
  const col: number[] = [];
  for (let t = 0; t < L; t++) col.push(f.local(i32));
  const r: number[] = [];
  for (let t = 0; t < L; t++) r.push(f.local(v128));
  const tmp: number[] = [];
  for (let t = 0; t < L; t++) tmp.push(f.local(v128));
  const rowBytes = NR * es;

  f.get(kcMain).op(Op.i32_eqz).if().op(Op.return).end();
  f.get(src).set(sPanel);
  f.get(dst).set(dPanel);
  f.loop(); // over panels
  for (let g = 0; g < NV; g++) {
    // columns g*L .. g*L+L-1 of this panel
    f.get(sPanel).i32(g * L).get(ldb).op(Op.i32_mul).op(Op.i32_add).set(col[0]!);
    for (let t = 1; t < L; t++) f.get(col[t - 1]!).get(ldb).op(Op.i32_add).set(col[t]!);
    f.get(dPanel).i32(g * 16).op(Op.i32_add).set(d);
    f.get(d).get(kcMain).i32(rowBytes).op(Op.i32_mul).op(Op.i32_add).set(dEnd);
    f.i32(0).set(s);
    f.loop(); // over k, L at a time
    for (let t = 0; t < L; t++) f.get(col[t]!).get(s).op(Op.i32_add).simdMem(SimdOp.v128_load, 0, 0).set(r[t]!);
    if (L === 4) {
      const lo = elemLanes([0, 4, 1, 5], 4), hi = elemLanes([2, 6, 3, 7], 4);
      const lo64 = elemLanes([0, 1, 4, 5], 4), hi64 = elemLanes([2, 3, 6, 7], 4);
      f.get(r[0]!).get(r[1]!).shuffle(lo).set(tmp[0]!);
      f.get(r[0]!).get(r[1]!).shuffle(hi).set(tmp[1]!);
      f.get(r[2]!).get(r[3]!).shuffle(lo).set(tmp[2]!);
      f.get(r[2]!).get(r[3]!).shuffle(hi).set(tmp[3]!);
      const rows = [
        [tmp[0]!, tmp[2]!, lo64],
        [tmp[0]!, tmp[2]!, hi64],
        [tmp[1]!, tmp[3]!, lo64],
        [tmp[1]!, tmp[3]!, hi64],
      ] as const;
      rows.forEach(([x, y, lanes], t) => f.get(d).get(x).get(y).shuffle(lanes).simdMem(SimdOp.v128_store, 4, t * rowBytes));
    } else {
      f.get(d).get(r[0]!).get(r[1]!).shuffle(elemLanes([0, 2], 8)).simdMem(SimdOp.v128_store, 4, 0);
      f.get(d).get(r[0]!).get(r[1]!).shuffle(elemLanes([1, 3], 8)).simdMem(SimdOp.v128_store, 4, rowBytes);
    }
    f.get(s).i32(16).op(Op.i32_add).set(s);
    f.get(d).i32(L * rowBytes).op(Op.i32_add).tee(d);
    f.get(dEnd).op(Op.i32_lt_u).brIf(0);
    f.end();
  }
  f.get(sPanel).i32(NR).get(ldb).op(Op.i32_mul).op(Op.i32_add).set(sPanel);
  f.get(dPanel).get(kc).i32(rowBytes).op(Op.i32_mul).op(Op.i32_add).set(dPanel);
  f.get(q).i32(1).op(Op.i32_add).tee(q);
  f.get(nPanels).op(Op.i32_lt_u).brIf(0);
  f.end();
  return f;
}

/** The module's bytes, importing its memory as `memoryImport` says (shared for helper threads). */
export function gemmModuleBytes(
  dtype: WasmDtype, shape: KernelShape, memoryImport: ModuleSpec['memoryImport'] = { module: 'env', name: 'mem', minPages: 1 },
): Uint8Array {
  const lanes = 16 / ELEM_BYTES[dtype];
  if (shape.NR % lanes !== 0) throw new Error(`NR=${shape.NR} must be a multiple of ${lanes} for ${dtype}`);
  return emitModule({
    memoryImport,
    funcs: [
      { name: 'gemmC', fn: gemmFunc(dtype, shape, false) },
      { name: 'gemmR', fn: gemmFunc(dtype, shape, true) },
      { name: 'packB', fn: packBFunc(dtype, shape) },
      { name: 'packBT', fn: packBTFunc(dtype, shape) },
    ],
  });
}
