/**
 * WebAssembly SIMD kernels for max-pooling's pairs: argmax/argmin over a dim of exactly two
 * elements (storing the picked values too), gather from such a dim, and scatterAdd into it (the
 * backward), over
 * contiguous float32 arrays in the tensors' arena (src/cpu/arena.ts), where they run in place.
 *
 * Max-pooling is argmax + gather forward and scatterAdd backward, one window dim at a time
 * (src/nn/functional.ts), so its kernels see [rows, 2, inner] arrays: inner = 1 for the pair
 * along x (the two elements interleaved), inner = the output width for the pair along y. The
 * JavaScript kernels (../reduce.ts, ../indexing.ts) take 0.3–0.45 ms each at LeNet's first
 * pooling layer ([150528, 2]); these take a vector of four outputs per step.
 *
 * Same results as the JavaScript kernels, bit for bit: the picked index is 1 when the second
 * element is strictly greater (less, for argmin) or is the first NaN; the value is the picked
 * element itself (−0 stays −0); scatterAdd adds only at the picked position and leaves the other
 * element untouched. An index other than 0 or 1 stops the scatter and reports its position.
 */
import { emitModule, FuncBuilder, Op, SimdOp, SimdOpExt as X, ValType } from './emit.ts';
import { kernelMemory, kernelMemoryImport, kernelMemoryShared } from '../threads.ts';
import { wasmSimdSupported } from './gemm.ts';
import { arenaAddress } from '../arena.ts';

// scalar opcodes the emitter's `Op` table does not list
const I32_LOAD = 0x28, F32_LOAD = 0x2a, I32_STORE = 0x36, F32_STORE = 0x38;
const F32_EQ = 0x5b, F32_NE = 0x5c, F32_LT = 0x5d, F32_GT = 0x5e, F32_ADD = 0x92;
const I32_AND = 0x71, I32_OR = 0x72, SELECT = 0x1b;
const V128_ANY_TRUE = 0x53;

const { i32, v128 } = ValType;

/** Scalar load/store helpers with natural alignment (2^2) and no constant offset. */
const ld = (f: FuncBuilder, op: number) => f.code.byte(op).u32(2).u32(0);
const st = ld;

/** nB = count·4 and vecB = (count rounded down to a multiple of 4)·4: the byte bounds of the scalar and vector loops. */
function bounds(f: FuncBuilder, count: number, nB: number, vecB: number): void {
  f.get(count).i32(4).op(Op.i32_mul).set(nB);
  f.get(count).i32(-4).code.byte(I32_AND);
  f.i32(4).op(Op.i32_mul).set(vecB);
}

/**
 * Loads four indices at `idx + at` into `ids`, sets m0/m1 to the lanes equal to 0/1, and leaves
 * the enclosing vector loop (br 1) when a lane is neither: the scalar loop after it then stops at
 * that element and reports it.
 */
function indexMasks(f: FuncBuilder, idx: number, at: number, ids: number, m0: number, m1: number): void {
  f.get(idx).get(at).op(Op.i32_add).simdMem(SimdOp.v128_load, 0, 0).set(ids);
  f.get(ids).v128Zero().simd(X.i32x4_eq).set(m0);
  f.get(ids).i32(1).simd(X.i32x4_splat).simd(X.i32x4_eq).set(m1);
  f.get(m0).get(m1).simd(X.v128_or).simd(X.v128_not).code.byte(0xfd).u32(V128_ANY_TRUE);
  f.brIf(1);
}

/** Loads the index at `idx + at` into `id`; when it is neither 0 nor 1, returns `pos()` from the function. */
function scalarIndex(f: FuncBuilder, idx: number, at: number, id: number, pos: () => void): void {
  f.get(idx).get(at).op(Op.i32_add); ld(f, I32_LOAD); f.set(id);
  f.get(id).i32(-2).code.byte(I32_AND);
  f.if();
  pos();
  f.op(Op.return);
  f.end();
}

/**
 * The pick mask/bit: (a1 OP a0) | ((a1 ≠ a1) & (a0 = a0)), a vector mask (v128) or an i32 bit,
 * with a0 and a1 in the given locals.
 */
function pickVec(f: FuncBuilder, a0: number, a1: number, less: boolean): void {
  f.get(a1).get(a0).simd(less ? X.f32x4_lt : X.f32x4_gt);
  f.get(a1).get(a1).simd(X.f32x4_ne);
  f.get(a0).get(a0).simd(X.f32x4_eq);
  f.simd(X.v128_and);
  f.simd(X.v128_or);
}
function pickScalar(f: FuncBuilder, a0: number, a1: number, less: boolean): void {
  f.get(a1).get(a0).code.byte(less ? F32_LT : F32_GT);
  f.get(a1).get(a1).code.byte(F32_NE);
  f.get(a0).get(a0).code.byte(F32_EQ);
  f.code.byte(I32_AND);
  f.code.byte(I32_OR);
}

/**
 * A loop over one run of elements: `at` (bytes) over whole vectors while below `vecB` (vecBody,
 * 16 bytes a step), then element by element while below `nB` (scalarBody, 4 bytes a step).
 */
function run(f: FuncBuilder, at: number, vecB: number, nB: number, vecBody: () => void, scalarBody: () => void): void {
  f.i32(0).set(at);
  f.block().loop();
  f.get(at).get(vecB).op(Op.i32_ge_u).brIf(1);
  vecBody();
  f.get(at).i32(16).op(Op.i32_add).set(at);
  f.br(0).end().end();
  f.block().loop();
  f.get(at).get(nB).op(Op.i32_ge_u).brIf(1);
  scalarBody();
  f.get(at).i32(4).op(Op.i32_add).set(at);
  f.br(0).end().end();
}

/** `run` once per row (`rows` counts down to 0), then `next()` moves the pointers to the next row. */
function eachRow(f: FuncBuilder, rows: number, at: number, vecB: number, nB: number, vecBody: () => void, scalarBody: () => void, next: () => void): void {
  f.block();
  f.get(rows).op(Op.i32_eqz).brIf(0);
  f.loop();
  run(f, at, vecB, nB, vecBody, scalarBody);
  next();
  f.get(rows).i32(1).op(Op.i32_sub).tee(rows).brIf(0);
  f.end().end();
}

/** Adds `by` (a local) to each local of `ptrs`. */
function advance(f: FuncBuilder, by: number, ...ptrs: number[]): void {
  for (const p of ptrs) f.get(p).get(by).op(Op.i32_add).set(p);
}

/**
 * Stores the pick of a vector pair (a0, a1 in locals) at `idx + at` (0/1 as i32) and, when
 * withVals ≠ 0, the picked elements at `vals + at`.
 */
function argStoreVec(f: FuncBuilder, a0: number, a1: number, m: number, one: number, idx: number, vals: number, at: number, withVals: number, less: boolean): void {
  pickVec(f, a0, a1, less);
  f.set(m);
  f.get(idx).get(at).op(Op.i32_add).get(m).get(one).simd(X.v128_and).simdMem(SimdOp.v128_store, 0, 0);
  f.get(withVals).if();
  f.get(vals).get(at).op(Op.i32_add).get(a1).get(a0).get(m).simd(X.v128_bitselect).simdMem(SimdOp.v128_store, 0, 0);
  f.end();
}
/** The scalar counterpart of argStoreVec (s0, s1 f32 locals, b an i32 local). */
function argStoreScalar(f: FuncBuilder, s0: number, s1: number, b: number, idx: number, vals: number, at: number, withVals: number, less: boolean): void {
  pickScalar(f, s0, s1, less);
  f.set(b);
  f.get(idx).get(at).op(Op.i32_add).get(b); st(f, I32_STORE);
  f.get(withVals).if();
  f.get(vals).get(at).op(Op.i32_add).get(s1).get(s0).get(b).code.byte(SELECT); st(f, F32_STORE);
  f.end();
}

/**
 * argRows(src, rowStride, pairStride, inner, rows, idx, vals, withVals): for each row r and
 * j < inner, a0 = src[r·rowStride + j], a1 = src[r·rowStride + pairStride + j] (byte strides),
 * idx[r·inner + j] = pick, vals[…] = the picked element when withVals ≠ 0.
 */
function argRows(less: boolean): FuncBuilder {
  const f = new FuncBuilder([i32, i32, i32, i32, i32, i32, i32, i32], []);
  const [src, rowStride, pairStride, inner, rows, idx, vals, withVals] = [0, 1, 2, 3, 4, 5, 6, 7];
  const j = f.local(i32), innerB = f.local(i32), vecB = f.local(i32), b = f.local(i32), s0 = f.local(ValType.f32), s1 = f.local(ValType.f32);
  const a0 = f.local(v128), a1 = f.local(v128), m = f.local(v128), one = f.local(v128);
  f.i32(1).simd(X.i32x4_splat).set(one);
  bounds(f, inner, innerB, vecB);
  eachRow(f, rows, j, vecB, innerB, () => {
    f.get(src).get(j).op(Op.i32_add).simdMem(SimdOp.v128_load, 0, 0).set(a0);
    f.get(src).get(pairStride).op(Op.i32_add).get(j).op(Op.i32_add).simdMem(SimdOp.v128_load, 0, 0).set(a1);
    argStoreVec(f, a0, a1, m, one, idx, vals, j, withVals, less);
  }, () => {
    f.get(src).get(j).op(Op.i32_add); ld(f, F32_LOAD); f.set(s0);
    f.get(src).get(pairStride).op(Op.i32_add).get(j).op(Op.i32_add); ld(f, F32_LOAD); f.set(s1);
    argStoreScalar(f, s0, s1, b, idx, vals, j, withVals, less);
  }, () => {
    advance(f, rowStride, src);
    advance(f, innerB, idx, vals);
  });
  return f;
}

/** Bytes of lanes a, b, c, d of the concatenation of two vectors (lane k: bytes 4k…4k+3). */
const lanes = (...ls: number[]): number[] => ls.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]);

/**
 * argPairs(src, n, idx, vals, withVals): the interleaved case (inner = 1): a0 = src[2i],
 * a1 = src[2i + 1] for i < n, four outputs a step (the pairs split by shuffles).
 */
function argPairs(less: boolean): FuncBuilder {
  const f = new FuncBuilder([i32, i32, i32, i32, i32], []);
  const [src, n, idx, vals, withVals] = [0, 1, 2, 3, 4];
  const i = f.local(i32), nB = f.local(i32), vecB = f.local(i32), b = f.local(i32), s0 = f.local(ValType.f32), s1 = f.local(ValType.f32);
  const v0 = f.local(v128), v1 = f.local(v128), a0 = f.local(v128), a1 = f.local(v128), m = f.local(v128), one = f.local(v128);
  f.i32(1).simd(X.i32x4_splat).set(one);
  bounds(f, n, nB, vecB);
  run(f, i, vecB, nB, () => {
    f.get(src).get(i).op(Op.i32_add).get(i).op(Op.i32_add).simdMem(SimdOp.v128_load, 0, 0).set(v0); // src + 2i (bytes)
    f.get(src).get(i).op(Op.i32_add).get(i).op(Op.i32_add).simdMem(SimdOp.v128_load, 0, 16).set(v1);
    f.get(v0).get(v1).shuffle(lanes(0, 2, 4, 6)).set(a0);
    f.get(v0).get(v1).shuffle(lanes(1, 3, 5, 7)).set(a1);
    argStoreVec(f, a0, a1, m, one, idx, vals, i, withVals, less);
  }, () => {
    f.get(src).get(i).op(Op.i32_add).get(i).op(Op.i32_add); ld(f, F32_LOAD); f.set(s0);
    f.get(src).get(i).op(Op.i32_add).get(i).op(Op.i32_add).i32(4).op(Op.i32_add); ld(f, F32_LOAD); f.set(s1);
    argStoreScalar(f, s0, s1, b, idx, vals, i, withVals, less);
  });
  return f;
}

/** The scalar step of both scatters: out[o + id·pairStride] += s (id ∈ {0, 1}, checked before). */
function scatterScalar(f: FuncBuilder, o: number, pairStride: number | null, id: number, sv: number): void {
  const at = () => {
    f.get(o).get(id);
    if (pairStride === null) f.i32(4);
    else f.get(pairStride);
    f.op(Op.i32_mul).op(Op.i32_add);
  };
  at();
  at();
  ld(f, F32_LOAD);
  f.get(sv).code.byte(F32_ADD);
  st(f, F32_STORE);
}

/** The position r·inner + j/4 of the current element of a row loop (for an index error). */
const rowPos = (f: FuncBuilder, r: number, inner: number, j: number) => () => {
  f.get(r).get(inner).op(Op.i32_mul).get(j).i32(2).op(Op.i32_shr_u).op(Op.i32_add);
};

/**
 * scatterRows(out, rowStride, pairStride, inner, rows, idx, src) → −1, or the position r·inner + j
 * of the first index outside {0, 1}: out[r·rowStride + idx[r·inner + j]·pairStride + j] += src[…].
 */
function scatterRows(): FuncBuilder {
  const f = new FuncBuilder([i32, i32, i32, i32, i32, i32, i32], [i32]);
  const [out, rowStride, pairStride, inner, rows, idx, src] = [0, 1, 2, 3, 4, 5, 6];
  const j = f.local(i32), innerB = f.local(i32), vecB = f.local(i32), r = f.local(i32), id = f.local(i32), o = f.local(i32), one = f.local(i32);
  const sv = f.local(ValType.f32);
  const ids = f.local(v128), s = f.local(v128), o0 = f.local(v128), o1 = f.local(v128), m0 = f.local(v128), m1 = f.local(v128);
  bounds(f, inner, innerB, vecB);
  f.i32(0).set(r);
  f.i32(1).set(one);
  eachRow(f, rows, j, vecB, innerB, () => {
    indexMasks(f, idx, j, ids, m0, m1);
    f.get(src).get(j).op(Op.i32_add).simdMem(SimdOp.v128_load, 0, 0).set(s);
    f.get(out).get(j).op(Op.i32_add).set(o);
    f.get(o).simdMem(SimdOp.v128_load, 0, 0).set(o0);
    f.get(o).get(pairStride).op(Op.i32_add).simdMem(SimdOp.v128_load, 0, 0).set(o1);
    f.get(o).get(o0).get(s).simd(SimdOp.f32x4_add).get(o0).get(m0).simd(X.v128_bitselect).simdMem(SimdOp.v128_store, 0, 0);
    f.get(o).get(pairStride).op(Op.i32_add).get(o1).get(s).simd(SimdOp.f32x4_add).get(o1).get(m1).simd(X.v128_bitselect).simdMem(SimdOp.v128_store, 0, 0);
  }, () => {
    // the rest of the row (and a vector with a bad index, element by element)
    scalarIndex(f, idx, j, id, rowPos(f, r, inner, j));
    f.get(src).get(j).op(Op.i32_add); ld(f, F32_LOAD); f.set(sv);
    f.get(out).get(j).op(Op.i32_add).set(o);
    scatterScalar(f, o, pairStride, id, sv);
  }, () => {
    advance(f, rowStride, out);
    advance(f, innerB, idx, src);
    advance(f, one, r);
  });
  f.i32(-1);
  return f;
}

/** scatterPairs(out, n, idx, src) → −1 or the position: out[2i + idx[i]] += src[i] (inner = 1). */
function scatterPairs(): FuncBuilder {
  const f = new FuncBuilder([i32, i32, i32, i32], [i32]);
  const [out, n, idx, src] = [0, 1, 2, 3];
  const i = f.local(i32), nB = f.local(i32), vecB = f.local(i32), id = f.local(i32), o = f.local(i32);
  const sv = f.local(ValType.f32);
  const ids = f.local(v128), s = f.local(v128), lo = f.local(v128), hi = f.local(v128), m0 = f.local(v128), m1 = f.local(v128), m = f.local(v128), sp = f.local(v128);
  bounds(f, n, nB, vecB);
  run(f, i, vecB, nB, () => {
    indexMasks(f, idx, i, ids, m0, m1);
    f.get(src).get(i).op(Op.i32_add).simdMem(SimdOp.v128_load, 0, 0).set(s);
    f.get(out).get(i).op(Op.i32_add).get(i).op(Op.i32_add).set(o); // out + 2i (bytes)
    f.get(o).simdMem(SimdOp.v128_load, 0, 0).set(lo);
    f.get(o).simdMem(SimdOp.v128_load, 0, 16).set(hi);
    // pairs 0, 1: [s0, s0, s1, s1] where lanes [m0₀, m1₀, m0₁, m1₁]
    f.get(s).get(s).shuffle(lanes(0, 0, 1, 1)).set(sp);
    f.get(m0).get(m1).shuffle(lanes(0, 4, 1, 5)).set(m);
    f.get(o).get(lo).get(sp).simd(SimdOp.f32x4_add).get(lo).get(m).simd(X.v128_bitselect).simdMem(SimdOp.v128_store, 0, 0);
    // pairs 2, 3
    f.get(s).get(s).shuffle(lanes(2, 2, 3, 3)).set(sp);
    f.get(m0).get(m1).shuffle(lanes(2, 6, 3, 7)).set(m);
    f.get(o).get(hi).get(sp).simd(SimdOp.f32x4_add).get(hi).get(m).simd(X.v128_bitselect).simdMem(SimdOp.v128_store, 0, 16);
  }, () => {
    scalarIndex(f, idx, i, id, () => { f.get(i).i32(2).op(Op.i32_shr_u); });
    f.get(src).get(i).op(Op.i32_add); ld(f, F32_LOAD); f.set(sv);
    f.get(out).get(i).op(Op.i32_add).get(i).op(Op.i32_add).set(o);
    scatterScalar(f, o, null, id, sv);
  });
  f.i32(-1);
  return f;
}

/**
 * gatherRows(x, rowStride, pairStride, inner, rows, idx, out) → −1 or the position of the first
 * index outside {0, 1}: out[r·inner + j] = x[r·rowStride + idx[r·inner + j]·pairStride + j].
 */
function gatherRows(): FuncBuilder {
  const f = new FuncBuilder([i32, i32, i32, i32, i32, i32, i32], [i32]);
  const [x, rowStride, pairStride, inner, rows, idx, out] = [0, 1, 2, 3, 4, 5, 6];
  const j = f.local(i32), innerB = f.local(i32), vecB = f.local(i32), r = f.local(i32), id = f.local(i32), one = f.local(i32);
  const ids = f.local(v128), m0 = f.local(v128), m1 = f.local(v128);
  bounds(f, inner, innerB, vecB);
  f.i32(0).set(r);
  f.i32(1).set(one);
  eachRow(f, rows, j, vecB, innerB, () => {
    indexMasks(f, idx, j, ids, m0, m1);
    f.get(out).get(j).op(Op.i32_add);
    f.get(x).get(pairStride).op(Op.i32_add).get(j).op(Op.i32_add).simdMem(SimdOp.v128_load, 0, 0);
    f.get(x).get(j).op(Op.i32_add).simdMem(SimdOp.v128_load, 0, 0);
    f.get(m1).simd(X.v128_bitselect).simdMem(SimdOp.v128_store, 0, 0);
  }, () => {
    scalarIndex(f, idx, j, id, rowPos(f, r, inner, j));
    f.get(out).get(j).op(Op.i32_add);
    f.get(x).get(j).op(Op.i32_add).get(id).get(pairStride).op(Op.i32_mul).op(Op.i32_add); ld(f, F32_LOAD);
    st(f, F32_STORE);
  }, () => {
    advance(f, rowStride, x);
    advance(f, innerB, idx, out);
    advance(f, one, r);
  });
  f.i32(-1);
  return f;
}

/** gatherPairs(x, n, idx, out) → −1 or the position: out[i] = x[2i + idx[i]] (inner = 1). */
function gatherPairs(): FuncBuilder {
  const f = new FuncBuilder([i32, i32, i32, i32], [i32]);
  const [x, n, idx, out] = [0, 1, 2, 3];
  const i = f.local(i32), nB = f.local(i32), vecB = f.local(i32), id = f.local(i32), o = f.local(i32);
  const ids = f.local(v128), v0 = f.local(v128), v1 = f.local(v128), m0 = f.local(v128), m1 = f.local(v128);
  bounds(f, n, nB, vecB);
  run(f, i, vecB, nB, () => {
    indexMasks(f, idx, i, ids, m0, m1);
    f.get(x).get(i).op(Op.i32_add).get(i).op(Op.i32_add).set(o); // x + 2i (bytes)
    f.get(o).simdMem(SimdOp.v128_load, 0, 0).set(v0);
    f.get(o).simdMem(SimdOp.v128_load, 0, 16).set(v1);
    f.get(out).get(i).op(Op.i32_add);
    f.get(v0).get(v1).shuffle(lanes(1, 3, 5, 7));
    f.get(v0).get(v1).shuffle(lanes(0, 2, 4, 6));
    f.get(m1).simd(X.v128_bitselect).simdMem(SimdOp.v128_store, 0, 0);
  }, () => {
    scalarIndex(f, idx, i, id, () => { f.get(i).i32(2).op(Op.i32_shr_u); });
    f.get(out).get(i).op(Op.i32_add);
    f.get(x).get(i).op(Op.i32_add).get(i).op(Op.i32_add).get(id).i32(4).op(Op.i32_mul).op(Op.i32_add); ld(f, F32_LOAD);
    st(f, F32_STORE);
  });
  f.i32(-1);
  return f;
}

type ArgRowsFn = (src: number, rowStride: number, pairStride: number, inner: number, rows: number, idx: number, vals: number, withVals: number) => void;
type ArgPairsFn = (src: number, n: number, idx: number, vals: number, withVals: number) => void;
type ScatterRowsFn = (out: number, rowStride: number, pairStride: number, inner: number, rows: number, idx: number, src: number) => number;
type ScatterPairsFn = (out: number, n: number, idx: number, src: number) => number;
type GatherRowsFn = (x: number, rowStride: number, pairStride: number, inner: number, rows: number, idx: number, out: number) => number;
type GatherPairsFn = (x: number, n: number, idx: number, out: number) => number;
interface Kernels {
  argmaxRows: ArgRowsFn; argminRows: ArgRowsFn; argmaxPairs: ArgPairsFn; argminPairs: ArgPairsFn;
  scatterRows: ScatterRowsFn; scatterPairs: ScatterPairsFn; gatherRows: GatherRowsFn; gatherPairs: GatherPairsFn;
}

let kernels: Kernels | null | undefined;
function instance(): Kernels | null {
  if (kernels === undefined) {
    kernels = null;
    try {
      // only over the arena, which only a shared kernel memory hosts
      if (wasmSimdSupported() && kernelMemoryShared()) {
        const bytes = emitModule({
          memoryImport: kernelMemoryImport(),
          funcs: [
            { name: 'argmaxRows', fn: argRows(false) }, { name: 'argminRows', fn: argRows(true) },
            { name: 'argmaxPairs', fn: argPairs(false) }, { name: 'argminPairs', fn: argPairs(true) },
            { name: 'scatterRows', fn: scatterRows() }, { name: 'scatterPairs', fn: scatterPairs() },
            { name: 'gatherRows', fn: gatherRows() }, { name: 'gatherPairs', fn: gatherPairs() },
          ],
        });
        const e = new WebAssembly.Instance(new WebAssembly.Module(bytes as BufferSource), { env: { mem: kernelMemory() } }).exports;
        kernels = e as unknown as Kernels;
      }
    } catch {
      kernels = null; // the JavaScript kernels run
    }
  }
  return kernels;
}

/**
 * argmax/argmin over the middle dim (of size 2) of a contiguous float32 [rows, 2, inner] array
 * starting at element `off` of `data`, into int32 `idx` (and the picked elements into `vals`,
 * when given) from their starts; every array in the arena. False, having done nothing, otherwise.
 */
export function argPairsWasm(kind: 'argmax' | 'argmin', data: Float32Array, off: number, rows: number, inner: number, idx: Int32Array, vals: Float32Array | null): boolean {
  const k = instance();
  if (!k) return false;
  const src = arenaAddress(data), io = arenaAddress(idx), vo = vals ? arenaAddress(vals) : 0;
  if (src < 0 || io < 0 || vo < 0) return false;
  const s = src + off * 4;
  if (inner === 1) (kind === 'argmax' ? k.argmaxPairs : k.argminPairs)(s, rows, io, vo, vals ? 1 : 0);
  else (kind === 'argmax' ? k.argmaxRows : k.argminRows)(s, 8 * inner, 4 * inner, inner, rows, io, vo, vals ? 1 : 0);
  return true;
}

/**
 * out[r, idx[r, 0, j], j] += src[r, 0, j] over a contiguous float32 [rows, 2, inner] `out` (from
 * its start) and contiguous [rows, 1, inner] `idx` and `src` from elements `idxOff` and `srcOff`;
 * every array in the arena. Returns null when this path does not apply (nothing done), −1 when
 * done, else the position (r·inner + j) of the first index outside {0, 1}, where it stopped.
 */
export function scatterPairsWasm(out: Float32Array, rows: number, inner: number, idx: Int32Array, idxOff: number, src: Float32Array, srcOff: number): number | null {
  const k = instance();
  if (!k) return null;
  const o = arenaAddress(out), io = arenaAddress(idx), so = arenaAddress(src);
  if (o < 0 || io < 0 || so < 0) return null;
  const i = io + idxOff * 4, s = so + srcOff * 4;
  return inner === 1 ? k.scatterPairs(o, rows, i, s) : k.scatterRows(o, 8 * inner, 4 * inner, inner, rows, i, s);
}

/**
 * out[r, 0, j] = x[r, idx[r, 0, j], j] from a contiguous float32 [rows, 2, inner] `x` (from element
 * `xOff`) with a contiguous [rows, 1, inner] `idx` (from `idxOff`) into `out` (from its start);
 * every array in the arena. null when this path does not apply (nothing done), −1 when done, else
 * the position of the first index outside {0, 1}, where it stopped.
 */
export function gatherPairsWasm(x: Float32Array, xOff: number, rows: number, inner: number, idx: Int32Array, idxOff: number, out: Float32Array): number | null {
  const k = instance();
  if (!k) return null;
  const xo = arenaAddress(x), io = arenaAddress(idx), o = arenaAddress(out);
  if (xo < 0 || io < 0 || o < 0) return null;
  const xs = xo + xOff * 4, i = io + idxOff * 4;
  return inner === 1 ? k.gatherPairs(xs, rows, i, o) : k.gatherRows(xs, 8 * inner, 4 * inner, inner, rows, i, o);
}
