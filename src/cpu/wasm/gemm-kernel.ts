/**
 * Generator of the WebAssembly SIMD GEMM macro-kernel.
 *
 * The module imports its memory (`env.mem`) and exports one function
 *
 *   gemm(aBase, aEnd, bBase, bEnd, cBase, ldc, kcPad, accumulate)   (all i32, byte addresses)
 *
 * which computes C[mcPad × ncPad] (+)= Ap · Bp for packed panels:
 *  - Ap, from aBase to aEnd: consecutive MR-row panels, each `kcPad` steps of MR elements
 *    (element (i, k) of a panel at k*MR + i);
 *  - Bp, from bBase to bEnd: consecutive NR-column panels, each `kcPad` steps of NR elements;
 *  - C: row-major with a row pitch of `ldc` bytes; panel pair (p, q) is the MR×NR tile at
 *    row p*MR, column q*NR.
 * `kcPad` must be a positive multiple of the k-unroll factor U (the packer pads with zeros) and
 * the panels are all full: edges are zero-padded by the packer, so the kernel has no edge cases.
 *
 * The register tile is MR × NR with NR a multiple of the vector width; accumulators live in v128
 * locals (V8 keeps them in xmm registers when there are few enough). Loop nest: B panels outer
 * (so one kc×NR B micro-panel stays in L1), A panels inner (streamed from L2), k innermost.
 */
import { emitModule, FuncBuilder, Op, SimdOp, ValType } from './emit.ts';

export type WasmDtype = 'f32' | 'f64' | 'i32';

export interface KernelShape {
  /** Rows of the register tile. */
  MR: number;
  /** Columns of the register tile; a multiple of the number of lanes (4 for f32/i32, 2 for f64). */
  NR: number;
  /** Unroll factor of the k loop. */
  U: number;
}

export const ELEM_BYTES: Record<WasmDtype, number> = { f32: 4, f64: 8, i32: 4 };

const OPS: Record<WasmDtype, { add: SimdOp; mul: SimdOp; splat: SimdOp; splatAlign: number }> = {
  f32: { add: SimdOp.f32x4_add, mul: SimdOp.f32x4_mul, splat: SimdOp.v128_load32_splat, splatAlign: 2 },
  f64: { add: SimdOp.f64x2_add, mul: SimdOp.f64x2_mul, splat: SimdOp.v128_load64_splat, splatAlign: 3 },
  i32: { add: SimdOp.i32x4_add, mul: SimdOp.i32x4_mul, splat: SimdOp.v128_load32_splat, splatAlign: 2 },
};

export function gemmModuleBytes(dtype: WasmDtype, { MR, NR, U }: KernelShape): Uint8Array {
  const es = ELEM_BYTES[dtype];
  const lanes = 16 / es;
  if (NR % lanes !== 0) throw new Error(`NR=${NR} must be a multiple of ${lanes} for ${dtype}`);
  const NV = NR / lanes;
  const ops = OPS[dtype];
  const { i32, v128 } = ValType;

  const f = new FuncBuilder([i32, i32, i32, i32, i32, i32, i32, i32], []);
  const [aBase, aEnd, bBase, bEnd, cBase, ldc, kcPad, accumulate] = [0, 1, 2, 3, 4, 5, 6, 7] as const;
  const aStep = f.local(i32);
  const bStep = f.local(i32);
  const ldcMR = f.local(i32);
  const bp = f.local(i32);
  const cj = f.local(i32);
  const ap = f.local(i32);
  const ci = f.local(i32);
  const pa = f.local(i32);
  const pb = f.local(i32);
  const kend = f.local(i32);
  const r = f.local(i32);
  const acc: number[] = [];
  for (let i = 0; i < MR * NV; i++) acc.push(f.local(v128));
  const vb: number[] = [];
  for (let j = 0; j < NV; j++) vb.push(f.local(v128));
  const va = f.local(v128);

  // aStep = kcPad*MR*es; bStep = kcPad*NR*es; ldcMR = ldc*MR
  f.get(kcPad).i32(MR * es).op(Op.i32_mul).set(aStep);
  f.get(kcPad).i32(NR * es).op(Op.i32_mul).set(bStep);
  f.get(ldc).i32(MR).op(Op.i32_mul).set(ldcMR);
  f.get(bBase).set(bp);
  f.get(cBase).set(cj);

  f.loop(); // over B panels
  {
    f.get(aBase).set(ap);
    f.get(cj).set(ci);
    f.loop(); // over A panels
    {
      f.get(ap).set(pa);
      f.get(bp).set(pb);
      f.get(ap).get(aStep).op(Op.i32_add).set(kend);
      for (const x of acc) f.v128Zero().set(x);

      f.loop(); // over k
      for (let u = 0; u < U; u++) {
        for (let j = 0; j < NV; j++) f.get(pb).simdMem(SimdOp.v128_load, 4, (u * NR + j * lanes) * es).set(vb[j]!);
        for (let i = 0; i < MR; i++) {
          f.get(pa).simdMem(ops.splat, ops.splatAlign, (u * MR + i) * es).set(va);
          for (let j = 0; j < NV; j++) {
            const x = acc[i * NV + j]!;
            f.get(x).get(va).get(vb[j]!).simd(ops.mul).simd(ops.add).set(x);
          }
        }
      }
      f.get(pa).i32(U * MR * es).op(Op.i32_add).tee(pa);
      f.get(pb).i32(U * NR * es).op(Op.i32_add).set(pb);
      f.get(kend).op(Op.i32_lt_u).brIf(0); // pa <u kend
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
      f.get(ap).get(aStep).op(Op.i32_add).tee(ap);
      f.get(aEnd).op(Op.i32_lt_u).brIf(0); // ap <u aEnd
    }
    f.end();
    f.get(cj).i32(NR * es).op(Op.i32_add).set(cj);
    f.get(bp).get(bStep).op(Op.i32_add).tee(bp);
    f.get(bEnd).op(Op.i32_lt_u).brIf(0); // bp <u bEnd
  }
  f.end();

  return emitModule({ memoryImport: { module: 'env', name: 'mem', minPages: 1 }, funcs: [{ name: 'gemm', fn: f }] });
}
