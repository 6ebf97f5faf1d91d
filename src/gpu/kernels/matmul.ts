/**
 * @file Batched matmul a[..., M, K] @ b[..., K, N] over strided operands (transposed views are
 * read in place, never copied) with broadcast batch dims.
 *
 * Register tiling: each invocation computes a TM×TN block (TM 4 or 8, TN 4, 8 or 16) of the output held in vec4
 * accumulators; a workgroup of WX×WY invocations covers a (WY·TM)×(WX·TN) tile. No workgroup
 * memory: on CPU adapters (lavapipe, SwiftShader) barriers and shared memory are expensive and
 * register reuse is what pays (FACTS.md: ~12 GFLOP/s at 1024² on lavapipe vs 1.3 naive).
 * Operands are loaded as vec4 along whichever dim has unit stride when sizes and offsets allow:
 * a along k ('k') or m ('m'), b along n ('n') or k ('k'); otherwise scalar loads ('s').
 * When n is a multiple of 4 (and a fused epilogue's operands are vec4-aligned or constant along
 * columns), the register-tiled kernel stores four columns at a time: on lavapipe the MLP's
 * weight gradient with its SGD update fused ([128,128]ᵀ·[128,784], the gradient and the
 * parameter stored, the parameter read) took 1.70 ms storing element by element, 0.98 ms so.
 */
import { collapseDims } from '../../cpu/elementwise.ts';
import { internal } from '../../errors.ts';
import { E, type Expr } from '../../ops/expr.ts';
import { contiguousStrides } from '../../shape.ts';
import type { BindingKind, GpuBuf, Runtime } from '../runtime.ts';
import { constBits, constExpr, constNodes, helperSource, loadAs, renderWgsl, storageType, storeAs, structureKey, uslot } from '../wgsl.ts';
import { bindReads, checkAlias, declarations, divmod, elementGrid, entry, ENTRY_CLOSE, entryLoop, fastDiv, invBits, pushShape, Uniforms, unravel } from './common.ts';
import { runElementwise, type BufOperand } from './elementwise.ts';

type AMode = 'k' | 'm' | 's';

/**
 * When a b read only along k is first copied n-contiguous (software adapters): from 16 rows of a
 * (measured crossover on lavapipe with b = [784,128]ᵀ: M 8 k-mode 0.89 ms vs copy 1.10, M 16
 * 0.99 vs 0.76) and b of 8 Ki elements (same run, k-mode vs copy: [32,64]·[64,64]ᵀ 0.16 vs
 * 0.20 ms, [64,120]·[84,120]ᵀ 0.38 vs 0.26 ms). Neither bound depends on the product's size, so
 * a layer makes the same choice (and asks for the same pipelines) at every batch size from 16 up.
 */
const TRANSPOSE_B_MIN_M = 16;
const TRANSPOSE_B_MIN_NK = 2 ** 13;
type BMode = 'n' | 'k' | 's';

export interface MatmulConfig { wx: number; wy: number; tm: 4 | 8; tn: 4 | 8 | 16 }

/**
 * An elementwise epilogue applied where the product is stored (the jit fuses bias + ReLU, or a
 * whole SGD update, into the matmul that feeds it): `expr` reads operand i as the product where
 * `operands[i]` is 'product', else from a strided view over the output shape. The output's dtype
 * is the epilogue's; an operand may be the output buffer itself (read element for element, then
 * overwritten — an update written straight into its parameter).
 */
export interface MatmulEpilogue {
  readonly expr: Expr;
  readonly operands: readonly (BufOperand | 'product')[];
  /** where the product itself is stored too (contiguous like the output), when it is needed */
  readonly product?: BufOperand;
}

/** The epilogue's part of a matmul kernel: uniforms, bindings and WGSL. */
interface EpiPlan {
  readonly key: string;
  /** storage buffers bound after O, A, B */
  readonly bufs: GpuBuf[];
  readonly helpers: Set<string>;
  /** WGSL computing per-batch bases (after `q0…` are declared) */
  readonly bases: string[];
  /** the WGSL block storing the epilogue of product `pv` at output row `er`, column `ec`, index `oi` */
  store(pv: string, er: string, ec: string, oi: string): string;
  /**
   * With `vec4` planned: the block storing four columns at once — products `pv4` (a vec4) at row
   * `er`, columns `ec`…`ec`+3 (`ec` a multiple of 4), vec4 index `oi4` of the output — every
   * buffer (output, kept product, operands) then bound as an array of vec4.
   */
  store4?(pv4: string, er: string, ec: string, oi4: string): string;
  /** the epilogue's binding declarations */
  readonly decls: { name: string; kind: BindingKind; type: string }[];
}

/**
 * Pushes the epilogue's uniforms (per buffer operand: offset, collapsed batch strides, row and
 * column strides; then its constants) and returns what the templates need to render it.
 */
function planEpilogue(
  rt: Runtime, epi: MatmulEpilogue, out: BufOperand, prodType: 'f32' | 'i32', u: Uniforms, batchStrides: readonly (readonly number[])[],
  M: number, N: number, vec4 = false,
): EpiPlan {
  const bufOps = epi.operands.filter((o): o is BufOperand => o !== 'product');
  const bind = bindReads(out.buf, bufOps.map((o) => o.buf), 0);
  const keep = epi.product;
  if (keep && (keep.buf === out.buf || bind.bufs.includes(keep.buf))) internal('matmul: the kept product aliases another binding');
  const slots = bufOps.map((o, j) => {
    const r = o.strides.length;
    return u.push(o.offset, ...batchStrides[j]!, M === 1 ? 0 : o.strides[r - 2]!, N === 1 ? 0 : o.strides[r - 1]!);
  });
  const consts = constNodes(epi.expr);
  const constSlot = u.push(...consts.map(constBits));
  const rb = batchStrides[0]?.length ?? 0;
  const outType = storageType(out.dtype, 'matmul');
  const S = (k: number) => uslot(k);
  const helpers = new Set<string>();
  const opIndex = new Map<number, number>();
  let j = 0;
  epi.operands.forEach((o, i) => { if (o !== 'product') opIndex.set(i, j++); });
  const slotOfConst = new Map(consts.map((c, i) => [c, constSlot + i] as const));
  const { stmts, value } = renderWgsl(epi.expr, {
    load: (i) => {
      const jj = opIndex.get(i);
      if (jj === undefined) return 'pv';
      const o = bufOps[jj]!, b = bind.of[jj]!, sl = slots[jj]!;
      if (b < 0) checkAlias(outType, storageType(o.dtype, 'matmul'), 'matmul epilogue');
      return loadAs(o.dtype, `${b < 0 ? 'O' : `E${b}`}[eB${jj} + er * ${S(sl + 1 + rb)} + ec * ${S(sl + 2 + rb)}]`);
    },
    constant: (e) => constExpr(e, slotOfConst.get(e)!),
    index: 'oi',
    helpers,
    op: 'matmul',
  });
  const bases = bufOps.map((_, jj) => {
    let e = S(slots[jj]!);
    for (let d = 0; d < rb; d++) e += ` + q${d} * ${S(slots[jj]! + 1 + d)}`;
    return `let eB${jj} = ${e};`;
  });
  const body = stmts.join(' ');
  const typeOf = (b: number) => storageType(bufOps[bind.of.indexOf(b)]!.dtype, 'matmul');
  // vec4: an operand constant along columns (a per-row bias) is read once as a scalar
  const colConst = bufOps.map((o) => N === 1 || o.strides[o.strides.length - 1] === 0);
  const store4 = (pv4: string, er: string, ec: string, oi4: string): string => {
    const L = [`let pv4 = ${pv4}; let er = ${er}; let ec = ${ec}; let oi4 = ${oi4};`];
    if (keep) L.push('P[oi4] = pv4;');
    bufOps.forEach((o, jj) => {
      const b = bind.of[jj]!, sl = slots[jj]!;
      const arr = b < 0 ? 'O' : `E${b}`;
      const at = `eB${jj} + er * ${S(sl + 1 + rb)}`;
      L.push(colConst[jj] ? `let ei${jj} = ${at}; let ev${jj} = ${arr}[ei${jj} >> 2u][ei${jj} & 3u];` : `let ev${jj} = ${arr}[(${at} + ec) >> 2u];`);
    });
    L.push(`var r: vec4<${outType}>;`);
    for (let c = 0; c < 4; c++) {
      const lane = 'xyzw'[c]!;
      const r = renderWgsl(epi.expr, {
        load: (i) => {
          const jj = opIndex.get(i);
          if (jj === undefined) return `pv4.${lane}`;
          return loadAs(bufOps[jj]!.dtype, colConst[jj] ? `ev${jj}` : `ev${jj}.${lane}`);
        },
        constant: (e) => constExpr(e, slotOfConst.get(e)!),
        index: `(oi4 * 4u + ${c}u)`,
        helpers,
        op: 'matmul',
      });
      L.push(`{ ${[...r.stmts, `r.${lane} = ${storeAs(out.dtype, r.value)};`].join(' ')} }`);
    }
    L.push('O[oi4] = r;');
    return `{ ${L.join(' ')} }`;
  };
  const v4 = (t: string) => (vec4 ? `vec4<${t}>` : t);
  return {
    key: `:e${keep ? 'P' : ''}${vec4 ? `4${colConst.map((c) => (c ? 's' : 'v')).join('')}` : ''}[${structureKey(epi.expr)}>${out.dtype}:${bufOps.map((o) => o.dtype[0]).join('')}:${bind.of.join('.')}:${epi.operands.map((o) => (o === 'product' ? 'p' : 'b')).join('')}]`,
    bufs: keep ? [keep.buf, ...bind.bufs] : bind.bufs,
    helpers,
    bases,
    store: (pv, er, ec, oi) =>
      `{ let pv = ${pv}; let er = ${er}; let ec = ${ec}; let oi = ${oi}; ${keep ? 'P[oi] = pv; ' : ''}${body} O[oi] = ${storeAs(out.dtype, value)}; }`,
    ...(vec4 ? { store4 } : {}),
    decls: [
      ...(keep ? [{ name: 'P', kind: 'rw' as const, type: v4(prodType) }] : []),
      ...bind.bufs.map((_, b) => ({ name: `E${b}`, kind: 'read' as const, type: v4(typeOf(b)) })),
    ],
  };
}

/**
 * Whether the register-tiled kernel may store four columns at once: n a multiple of 4, and every
 * epilogue operand either vec4-aligned along columns (unit column stride; offset, row and batch
 * strides multiples of 4) or constant along them. On CPU adapters every storage access costs a
 * per-lane loop, so a fused epilogue's loads and stores (an SGD update: the parameter read, the
 * gradient and the parameter written) cost about as much as the product's k loop when done per
 * element.
 */
function vecStores(epi: MatmulEpilogue | undefined, N: number, batchStrides: readonly (readonly number[])[]): boolean {
  if (N % 4 !== 0) return false;
  const bufOps = epi ? epi.operands.filter((o): o is BufOperand => o !== 'product') : [];
  return bufOps.every((o, j) => {
    const r = o.strides.length;
    const col = o.strides[r - 1]!;
    if (col === 0) return true;
    return col === 1 && o.offset % 4 === 0 && o.strides[r - 2]! % 4 === 0 && (batchStrides[j] ?? []).every((x) => x % 4 === 0);
  });
}

/**
 * Picks the tile. CPU adapters: 8×16 outputs per invocation, 8 invocations in a row along n
 * (every lane on the same rows) when n passes 32 columns and a is not read along m, else 4×4 or
 * fewer invocations.
 * Lavapipe vectorises across invocations (8 lanes) and turns every storage-buffer load inside a
 * loop into a per-lane loop of ~15 instructions (exec-mask test, bounds check, scalar load,
 * insert; read off its x86 output with GALLIVM_DEBUG=asm), against ~5 for an FMA on a spilled
 * accumulator, so what pays is the most FMAs per loaded element (TM + TN loads per TM·TN FMAs).
 * Measured on lavapipe, same run each: 4×8 → 8×16 took 1024² from 11.7 to 18.9–21 GFLOP/s
 * (256²: 11.3 → 16.6); 4×16 alone 10–16, 8×8 alone 9.5–13.6, 8×32 and 16×16 no better than 8×16;
 * 2×2 or 2×4 invocations per workgroup worse, 8×4 the same; unrolling k by 2 or 4 halved it
 * (register spills); vec4 loads of a along k with b read along n (k unrolled by 4) 1.1–2.5×
 * slower. 8×1 invocations against 4×4 (or 4×2), same run: LeNet's conv2 forward
 * [16,150]·[64,150,100] 2.20 → 1.20 ms, conv1 forward [6,25]·[64,25,784] 1.18 → 0.98 ms, conv2
 * weight gradient [64,16,100]·[64,100,150] 2.98 → 2.10 ms (with its copy of b), 1024² 35 → 38
 * GFLOP/s, the MLP's [128,784]·[784,128] and 256² the same within noise; 16×1 invocations 1.5–2.6×
 * slower. With a read as vec4 along m (aᵀ·b, a weight gradient) 4×4 stays ahead: [128,128]ᵀ·
 * [128,784] 1.45 vs 1.61 ms, [64,120]ᵀ·[64,400] 0.45 vs 0.50 ms (same run). 16×16 blocks in 8×1
 * won up to 1.4× more on some shapes but took ~2 s to compile per pipeline (LLVM on 256 spilled
 * accumulators), against ~0.7 s. For n up to 32 the row would leave lanes idle, so thin
 * products keep 4×4 or fewer (LeNet's [6,784]·[784,25]: 8×1 of 8×8 blocks the same or slower).
 * Elsewhere 4×8 per invocation, 8×8 invocations. Narrower for short or thin matrices.
 */
function config(M: number, N: number, maxInv: number, software: boolean, aMode: AMode): MatmulConfig {
  const tn = N <= 16 ? 4 : software && N > 32 ? 16 : 8;
  if (software && tn === 16 && aMode !== 'm' && maxInv >= 8) return { wx: 8, wy: 1, tm: M > 4 ? 8 : 4, tn };
  const tm = software && M > 16 ? 8 : 4;
  const full = software ? 4 : 8;
  const wy = M <= 4 ? 1 : M <= 8 ? 2 : M <= 16 || software ? 4 : 8;
  const wx = Math.min(full, Math.ceil(N / tn));
  return wx * wy <= maxInv ? { wx, wy, tm, tn } : { wx: 4, wy: 4, tm, tn };
}

export function runMatmul(
  rt: Runtime, a: BufOperand, aShape: readonly number[], b: BufOperand, bShape: readonly number[],
  out: BufOperand, outShape: readonly number[], epi?: MatmulEpilogue,
): void {
  matmul(rt, a, aShape, b, bShape, out, outShape, epi, false);
}

/** runMatmul; `bPadded`: b's rows are readable up to a multiple of 4 columns (a padded copy). */
function matmul(
  rt: Runtime, a: BufOperand, aShape: readonly number[], b: BufOperand, bShape: readonly number[],
  out: BufOperand, outShape: readonly number[], epi: MatmulEpilogue | undefined, bPadded: boolean,
): void {
  const ar = aShape.length, br = bShape.length;
  const M = aShape[ar - 2]!, K = aShape[ar - 1]!, N = bShape[br - 1]!;
  const batch = outShape.slice(0, -2);
  const nb = batch.reduce((x, y) => x * y, 1);
  if (nb === 0 || M === 0 || N === 0) return;
  // per-operand batch strides over the output's batch dims (0 where broadcast)
  const bstr = (v: BufOperand, shape: readonly number[]) => {
    const lead = batch.length - (shape.length - 2);
    return batch.map((_, d) => {
      const vd = d - lead;
      return vd >= 0 && shape[vd] !== 1 ? v.strides[vd]! : 0;
    });
  };
  const outBatchStrides = batch.map((_, d) => batch.slice(d + 1).reduce((x, y) => x * y, M * N));
  const epiBufs = epi ? epi.operands.filter((o): o is BufOperand => o !== 'product') : [];
  const written = [out.buf, ...(epi?.product ? [epi.product.buf] : [])];
  if (written.includes(a.buf) || written.includes(b.buf)) internal('matmul: an operand aliases the output');
  const cb = collapseDims(batch, [outBatchStrides, bstr(a, aShape), bstr(b, bShape), ...epiBufs.map((o) => o.strides.slice(0, batch.length))]);
  const rb = cb.shape.length;
  // strides of the matrix dims; a size-1 dim's stride is irrelevant, so it is normalised to 0
  let sam = M === 1 ? 0 : a.strides[ar - 2]!, sak = K === 1 ? 0 : a.strides[ar - 1]!;
  let sbk = K === 1 ? 0 : b.strides[br - 2]!, sbn = N === 1 ? 0 : b.strides[br - 1]!;
  const aligned4 = (...xs: number[]) => xs.every((x) => x % 4 === 0);
  const aB = cb.strides[1]!, bB = cb.strides[2]!;
  const variant = rt.matmulVariant === 'auto' ? (rt.ctx.adapter.isSoftware || M * N < 64 * 64 ? 'register' : 'workgroup') : rt.matmulVariant;
  if (variant === 'workgroup' && Math.min(rt.ctx.limits.maxComputeInvocationsPerWorkgroup, rt.ctx.limits.maxComputeWorkgroupSizeX) >= 256) {
    workgroupTiled(rt, a, b, out, M, K, N, nb, cb.shape, aB, bB, [sam, sak, sbk, sbn], epi, cb.strides.slice(3));
    return;
  }
  // b read only along k (a·bᵀ: every Linear layer's forward x·Wᵀ): on CPU adapters the k-mode
  // kernel transposes 4×4 blocks of b in registers every 4 steps of k, which measured ~2× slower
  // than the n-mode kernel plus a transposing copy into a pooled temporary (lavapipe, same run:
  // [128,784]·[128,784]ᵀ 2.7 ms → 1.3 ms + the copy, see transpose4). Small products keep the k-mode
  // kernel. The n-mode kernel reads b as vec4 rows, so rows of the copy are padded to a multiple
  // of 4 columns (read, never stored): LeNet's conv backward [64,16,100]·[64,150,100]ᵀ measured
  // 7.5 ms in k-mode, 4.8 ms copied and in n-mode over [64,100,152] (same run).
  if (rt.ctx.adapter.isSoftware && N > 1 && K > 1 && sbk === 1 && sbn !== 1 && M >= TRANSPOSE_B_MIN_M && N * K >= TRANSPOSE_B_MIN_NK) {
    const N4 = Math.ceil(N / 4) * 4;
    const padded = [...bShape.slice(0, -2), K, N4];
    const tmp = rt.acquire(padded.reduce((x, y) => x * y, 1) * 4);
    const copy: BufOperand = { buf: tmp, offset: 0, strides: contiguousStrides(padded), dtype: b.dtype };
    if (!transpose4(rt, b, bShape, tmp)) runElementwise(rt, 'matmul', E.input(0, b.dtype), bShape, copy, [b]);
    matmul(rt, a, aShape, copy, bShape, out, outShape, epi, N4 !== N);
    rt.release(tmp);
    return;
  }
  let aMode: AMode = 's', bMode: BMode = 's';
  if ((sak === 1 || K === 1) && K % 4 === 0 && aligned4(sam, a.offset, ...aB)) { aMode = 'k'; sak = 1; }
  else if ((sam === 1 || M === 1) && M % 4 === 0 && aligned4(sak, a.offset, ...aB)) { aMode = 'm'; sam = 1; }
  if ((sbn === 1 || N === 1) && (N % 4 === 0 || bPadded) && aligned4(sbk, b.offset, ...bB)) { bMode = 'n'; sbn = 1; }
  else if ((sbk === 1 || K === 1) && K % 4 === 0 && aligned4(sbn, b.offset, ...bB)) { bMode = 'k'; sbk = 1; }
  // with b read along n (outer-product form), scalar a loads measured as fast or faster than vec4
  // loads along k on lavapipe (13.9 vs 13.0 GFLOP/s at 1024², same run)
  if (bMode === 'n' && aMode === 'k') { aMode = 's'; sak = 1; }
  const KS = aMode === 'k' || bMode === 'k' ? 4 : 1;
  const lim = rt.ctx.limits;
  const { wx, wy, tn: TN, tm: TM } = config(M, N, Math.min(lim.maxComputeInvocationsPerWorkgroup, lim.maxComputeWorkgroupSizeX), rt.ctx.adapter.isSoftware, aMode);
  const tilesM = Math.ceil(M / (wy * TM)), tilesN = Math.ceil(N / (wx * TN));
  const total = nb * tilesM * tilesN;

  const u = new Uniforms();
  u.push(M, K, N, total, tilesM, tilesN, a.offset, b.offset, sam, sak, sbk, sbn, invBits(tilesM), invBits(tilesN));
  const fast = fastDiv(total);
  const bShapeSlot = pushShape(u, cb.shape, fast);
  const aBSlot = u.push(...aB);
  const bBSlot = u.push(...bB);

  // the product's type (the output's, unless an epilogue changes it)
  const T = storageType(a.dtype, 'matmul') as 'f32' | 'i32';
  const o4 = vecStores(epi, N, cb.strides.slice(3));
  const ep = epi ? planEpilogue(rt, epi, out, T, u, cb.strides.slice(3), M, N, o4) : null;
  const key = `matmul:${T}:a${aMode}:b${bMode}:r${rb}${fast ? 'f' : ''}:${wx}x${wy}:tm${TM}:tn${TN}${o4 ? ':o4' : ''}${ep?.key ?? ''}`;
  const kernel = rt.kernel(key, () => {
    const S = (k: number) => uslot(k);
    const V = `vec4<${T}>`;
    const L: string[] = [];
    L.push(`if (wlin >= ${S(3)}) { return; }`);
    L.push(`let M = ${S(0)}; let K = ${S(1)}; let N = ${S(2)};`);
    // tile decode with float reciprocals: CPU adapters scalarise integer division, and for small K
    // this per-invocation set-up costs as much as the k loop
    L.push(`let t1 = ${divmod('wlin', 5, fast ? 13 : null, S)}; let tn = t1.y;`);
    L.push(`let t2 = ${divmod('t1.x', 4, fast ? 12 : null, S)}; let tm = t2.y; let bi = t2.x;`);
    L.push(...unravel('bi', rb, bShapeSlot, 'q', S, fast));
    let ab = S(6), bb = S(7);
    for (let d = 0; d < rb; d++) { ab += ` + q${d} * ${S(aBSlot + d)}`; bb += ` + q${d} * ${S(bBSlot + d)}`; }
    L.push(`let aB = ${ab};`, `let bB = ${bb};`);
    if (ep) L.push(...ep.bases);
    L.push(`let sam = ${S(8)}; let sak = ${S(9)}; let sbk = ${S(10)}; let sbn = ${S(11)};`);
    if (wy === 1) L.push(`let row0 = tm * ${TM}u;`, `let col0 = tn * ${wx * TN}u + lix * ${TN}u;`);
    else {
      L.push(`let lx = lix % ${wx}u; let ly = lix / ${wx}u;`);
      L.push(`let row0 = tm * ${wy * TM}u + ly * ${TM}u;`, `let col0 = tn * ${wx * TN}u + lx * ${TN}u;`);
    }
    if (aMode === 'm') for (let p = 0; p < TM / 4; p++) L.push(`let ra${p} = min(row0 + ${4 * p}u, M - 4u);`);
    else for (let i = 0; i < TM; i++) L.push(`let rr${i} = min(row0 + ${i}u, M - 1u) * sam;`);
    // (N + 3) / 4: a padded b's last vec4 holds its last columns
    if (bMode === 'n') for (let q = 0; q < TN / 4; q++) L.push(`let cq${q} = min(col0 / 4u + ${q}u, (N + 3u) / 4u - 1u);`);
    else for (let c = 0; c < TN; c++) L.push(`let cc${c} = min(col0 + ${c}u, N - 1u) * sbn;`);
    for (let i = 0; i < TM; i++) for (let q = 0; q < TN / 4; q++) L.push(`var acc${i}_${q} = ${V}(0);`);
    L.push(`for (var k = 0u; k < K; k += ${KS}u) {`);
    const B: string[] = [];
    // a values: a{i}_{kk}
    const aval: string[][] = [];
    if (aMode === 'k') {
      for (let i = 0; i < TM; i++) B.push(`let av${i} = A[(aB + rr${i} + k) / 4u];`);
      for (let i = 0; i < TM; i++) aval.push([0, 1, 2, 3].map((kk) => `av${i}[${kk}]`));
    } else if (aMode === 'm') {
      for (let kk = 0; kk < KS; kk++) for (let p = 0; p < TM / 4; p++) B.push(`let am${kk}_${p} = A[(aB + (k + ${kk}u) * sak + ra${p}) / 4u];`);
      for (let i = 0; i < TM; i++) aval.push([...Array(KS).keys()].map((kk) => `am${kk}_${i >> 2}[${i & 3}]`));
    } else {
      for (let i = 0; i < TM; i++) {
        const row: string[] = [];
        for (let kk = 0; kk < KS; kk++) {
          B.push(`let a${i}_${kk} = A[aB + rr${i} + (k + ${kk}u) * sak];`);
          row.push(`a${i}_${kk}`);
        }
        aval.push(row);
      }
    }
    // b values: vec4 over 4 columns, bv{kk}_{q}
    const bval: string[][] = [];
    for (let kk = 0; kk < KS; kk++) bval.push([]);
    if (bMode === 'n') {
      for (let kk = 0; kk < KS; kk++) {
        B.push(`let br${kk} = (bB + (k + ${kk}u) * sbk) / 4u;`);
        for (let q = 0; q < TN / 4; q++) {
          B.push(`let b${kk}_${q} = A_B[br${kk} + cq${q}];`);
          bval[kk]!.push(`b${kk}_${q}`);
        }
      }
    } else if (bMode === 'k') {
      for (let c = 0; c < TN; c++) B.push(`let bc${c} = A_B[(bB + cc${c} + k) / 4u];`);
      for (let kk = 0; kk < KS; kk++) for (let q = 0; q < TN / 4; q++) {
        bval[kk]!.push(`${V}(bc${4 * q}[${kk}], bc${4 * q + 1}[${kk}], bc${4 * q + 2}[${kk}], bc${4 * q + 3}[${kk}])`);
      }
    } else {
      for (let kk = 0; kk < KS; kk++) {
        B.push(`let bk${kk} = bB + (k + ${kk}u) * sbk;`);
        for (let q = 0; q < TN / 4; q++) {
          const e = [0, 1, 2, 3].map((j) => `A_B[bk${kk} + cc${4 * q + j}]`).join(', ');
          B.push(`let b${kk}_${q} = ${V}(${e});`);
          bval[kk]!.push(`b${kk}_${q}`);
        }
      }
    }
    for (let kk = 0; kk < KS; kk++) {
      for (let i = 0; i < TM; i++) for (let q = 0; q < TN / 4; q++) {
        const av = `${V}(${aval[i]![kk]})`, bv = bval[kk]![q]!;
        B.push(T === 'f32' ? `acc${i}_${q} = fma(${av}, ${bv}, acc${i}_${q});` : `acc${i}_${q} = acc${i}_${q} + ${av} * ${bv};`);
      }
    }
    L.push(...B.map((l) => '  ' + l), '}');
    L.push('let ob = bi * M * N;');
    for (let i = 0; i < TM; i++) {
      L.push(`if (row0 + ${i}u < M) {`);
      L.push(`  let orow = ob + (row0 + ${i}u) * N;`);
      if (o4) {
        // four columns per store (n % 4 = 0, col0 % 4 = 0: a vec4 is inside the row or past n)
        for (let q = 0; q < TN / 4; q++) {
          const at = `(orow + col0 + ${4 * q}u) >> 2u`;
          L.push(`  if (col0 + ${4 * q}u < N) { ${ep ? ep.store4!(`acc${i}_${q}`, `row0 + ${i}u`, `col0 + ${4 * q}u`, at) : `O[${at}] = acc${i}_${q};`} }`);
        }
      } else {
        for (let c = 0; c < TN; c++) {
          const acc = `acc${i}_${c >> 2}[${c & 3}]`;
          L.push(`  if (col0 + ${c}u < N) { ${ep ? ep.store(acc, `row0 + ${i}u`, `col0 + ${c}u`, `orow + col0 + ${c}u`) : `O[orow + col0 + ${c}u] = ${acc};`} }`);
        }
      }
      L.push('}');
    }
    const code = [
      declarations(u.length, [
        { name: 'O', kind: 'rw', type: o4 ? `vec4<${storageType(out.dtype, 'matmul')}>` : storageType(out.dtype, 'matmul') },
        { name: 'A', kind: 'read', type: aMode === 's' ? T : `vec4<${T}>` },
        { name: 'A_B', kind: 'read', type: bMode === 's' ? T : `vec4<${T}>` },
        ...(ep?.decls ?? []),
      ]),
      helperSource([...(fast ? ['tg_divmod'] : []), ...(ep?.helpers ?? [])]),
      entry(wx * wy),
      ...L.map((l) => '  ' + l),
      '}',
    ].join('\n');
    return { code, bindings: ['rw', 'read', 'read', ...(ep?.decls.map((d) => d.kind) ?? [])], uniformSlots: u.length };
  });
  rt.dispatch(kernel, [out.buf, a.buf, b.buf, ...(ep?.bufs ?? [])], u.toArray(), total);
}

/**
 * Copies b[..., K, N], read along k (unit stride on k), into `dst` as contiguous [..., K, N4]
 * rows, N4 = N rounded up to a multiple of 4 (the padding repeats column N − 1), one 4×4 block
 * per invocation: four vec4 loads along k, four vec4 stores along n. Measured on lavapipe, same
 * run, [128,784]·[128,784]ᵀ: 1.93 ms with a strided elementwise copy (a scalar gather per
 * element), 1.57 ms with this one, 1.44 ms for the product alone (b already n-contiguous).
 * Needs K a multiple of 4 and vec4-aligned offsets and strides; returns false (nothing recorded)
 * otherwise.
 */
function transpose4(rt: Runtime, b: BufOperand, bShape: readonly number[], dst: GpuBuf): boolean {
  const r = bShape.length;
  const K = bShape[r - 2]!, N = bShape[r - 1]!;
  const sbn = b.strides[r - 1]!;
  const batch = collapseDims(bShape.slice(0, -2), [b.strides.slice(0, -2)]);
  if (K % 4 || b.strides[r - 2] !== 1 || sbn % 4 || b.offset % 4 || batch.strides[0]!.some((x) => x % 4)) return false;
  const nb = batch.shape.reduce((x, y) => x * y, 1);
  const NQ = Math.ceil(N / 4);
  const blocks = nb * (K / 4) * NQ;
  if (blocks === 0) return true;
  const rb = batch.shape.length;
  const { wg, per } = elementGrid(rt.ctx.limits, rt.ctx.adapter.isSoftware, blocks);
  const u = new Uniforms();
  const fast = fastDiv(blocks);
  u.push(blocks, per, K, N, NQ, b.offset, sbn, invBits(NQ), invBits(K / 4), K / 4);
  const bShapeSlot = pushShape(u, batch.shape, fast);
  const bStr = u.push(...batch.strides[0]!);
  const T = storageType(b.dtype, 'matmul');
  const kernel = rt.kernel(`transpose4:${T}:r${rb}${fast ? 'f' : ''}:wg${wg}`, () => {
    const S = (k: number) => uslot(k);
    let base = S(5);
    for (let d = 0; d < rb; d++) base += ` + q${d} * ${S(bStr + d)}`;
    const body = [
      `if (gid >= ${S(0)}) { return; }`,
      // gid = (bi · K/4 + kb) · N/4 + nq
      `let t1 = ${divmod('gid', 4, fast ? 7 : null, S)}; let nq = t1.y;`,
      `let t2 = ${divmod('t1.x', 9, fast ? 8 : null, S)}; let kb = t2.y; let bi = t2.x;`,
      ...unravel('bi', rb, bShapeSlot, 'q', S, fast),
      `let src = (${base} + kb * 4u) / 4u;`,
      `let sq = ${S(6)} / 4u;`,
      `let nl = ${S(3)} - 1u;`,
      ...[0, 1, 2, 3].map((j) => `let c${j} = Bm[src + min(nq * 4u + ${j}u, nl) * sq];`),
      `let on = ${S(4)};`,
      `let o = (bi * ${S(2)} + kb * 4u) * on + nq;`,
      ...[0, 1, 2, 3].map((i) => `O[o + ${i}u * on] = vec4<${T}>(c0[${i}], c1[${i}], c2[${i}], c3[${i}]);`),
    ];
    const code = [
      declarations(u.length, [{ name: 'O', kind: 'rw', type: `vec4<${T}>` }, { name: 'Bm', kind: 'read', type: `vec4<${T}>` }]),
      fast ? helperSource(['tg_divmod']) : '',
      entryLoop(wg, S(1)),
      ...body.map((l) => '  ' + l),
      ENTRY_CLOSE,
    ].join('\n');
    return { code, bindings: ['rw', 'read'], uniformSlots: u.length };
  });
  rt.dispatch(kernel, [dst, b.buf], u.toArray(), Math.ceil(blocks / (wg * per)));
  return true;
}

/**
 * The variant for real GPUs: 64×64 output tiles per workgroup of 16×16 invocations (4×4 outputs
 * each), operand tiles of 16 along k staged through workgroup memory, any strides (loads are
 * bounds-checked, zero-filled). On CPU adapters barriers make it slower than the register-tiled
 * kernel above, so it is chosen only for hardware adapters (or forced, as the tests do).
 */
function workgroupTiled(
  rt: Runtime, a: BufOperand, b: BufOperand, out: BufOperand, M: number, K: number, N: number, nb: number,
  batchShape: readonly number[], aB: readonly number[], bB: readonly number[], [sam, sak, sbk, sbn]: number[],
  epi: MatmulEpilogue | undefined, epiBatchStrides: readonly (readonly number[])[],
): void {
  const tilesM = Math.ceil(M / 64), tilesN = Math.ceil(N / 64);
  const total = nb * tilesM * tilesN;
  const rb = batchShape.length;
  const fast = fastDiv(total);
  const u = new Uniforms();
  u.push(M, K, N, total, tilesM, tilesN, a.offset, b.offset, sam!, sak!, sbk!, sbn!, invBits(tilesM), invBits(tilesN));
  const bShapeSlot = pushShape(u, batchShape, fast);
  const aBSlot = u.push(...aB);
  const bBSlot = u.push(...bB);
  const T = storageType(a.dtype, 'matmul') as 'f32' | 'i32';
  const ep = epi ? planEpilogue(rt, epi, out, T, u, epiBatchStrides, M, N) : null;
  const kernel = rt.kernel(`matmul-wg:${T}:r${rb}${fast ? 'f' : ''}${ep?.key ?? ''}`, () => {
    const S = (k: number) => uslot(k);
    let ab = S(6), bb = S(7);
    for (let d = 0; d < rb; d++) { ab += ` + q${d} * ${S(aBSlot + d)}`; bb += ` + q${d} * ${S(bBSlot + d)}`; }
    const acc = [0, 1, 2, 3].map((i) => `var acc${i} = vec4<${T}>(0);`).join('\n  ');
    const fmaLine = (i: number) => T === 'f32'
      ? `acc${i} = fma(vec4<${T}>(As[kk][ty * 4u + ${i}u]), bv, acc${i});`
      : `acc${i} = acc${i} + vec4<${T}>(As[kk][ty * 4u + ${i}u]) * bv;`;
    const stores = [0, 1, 2, 3].map((i) => `  if (row0 + ${i}u < M) {
    for (var j = 0u; j < 4u; j++) { if (col0 + j < N) { ${ep ? ep.store(`acc${i}[j]`, `row0 + ${i}u`, 'col0 + j', `ob + (row0 + ${i}u) * N + col0 + j`) : `O[ob + (row0 + ${i}u) * N + col0 + j] = acc${i}[j];`} } }
  }`).join('\n');
    const code = `${declarations(u.length, [
      { name: 'O', kind: 'rw', type: storageType(out.dtype, 'matmul') }, { name: 'A', kind: 'read', type: T }, { name: 'Bm', kind: 'read', type: T },
      ...(ep?.decls ?? []),
    ])}
${helperSource([...(fast ? ['tg_divmod'] : []), ...(ep?.helpers ?? [])])}
var<workgroup> As: array<array<${T}, 64>, 16>;
var<workgroup> Bs: array<array<${T}, 64>, 16>;
${entry(256)}
  if (wlin >= ${S(3)}) { return; }
  let M = ${S(0)}; let K = ${S(1)}; let N = ${S(2)};
  let t1 = ${divmod('wlin', 5, fast ? 13 : null, S)}; let tn = t1.y;
  let t2 = ${divmod('t1.x', 4, fast ? 12 : null, S)}; let tm = t2.y; let bi = t2.x;
  ${unravel('bi', rb, bShapeSlot, 'q', S, fast).join('\n  ')}
  let aB = ${ab};
  let bB = ${bb};
  ${ep?.bases.join('\n  ') ?? ''}
  let tx = lix % 16u; let ty = lix / 16u;
  let rowT = tm * 64u; let colT = tn * 64u;
  let row0 = rowT + ty * 4u; let col0 = colT + tx * 4u;
  ${acc}
  for (var k0 = 0u; k0 < K; k0 += 16u) {
    for (var e = 0u; e < 4u; e++) {
      let idx = lix + e * 256u;
      let ra = idx / 16u; let ka = idx % 16u;
      let r = rowT + ra; let k = k0 + ka;
      As[ka][ra] = select(${T}(0), A[aB + min(r, M - 1u) * ${S(8)} + min(k, K - 1u) * ${S(9)}], r < M && k < K);
      let kb = idx / 64u; let cb = idx % 64u;
      let c = colT + cb; let k2 = k0 + kb;
      Bs[kb][cb] = select(${T}(0), Bm[bB + min(k2, K - 1u) * ${S(10)} + min(c, N - 1u) * ${S(11)}], c < N && k2 < K);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
      let bv = vec4<${T}>(Bs[kk][tx * 4u], Bs[kk][tx * 4u + 1u], Bs[kk][tx * 4u + 2u], Bs[kk][tx * 4u + 3u]);
      ${[0, 1, 2, 3].map(fmaLine).join('\n      ')}
    }
    workgroupBarrier();
  }
  let ob = bi * M * N;
${stores}
}`;
    return { code, bindings: ['rw', 'read', 'read', ...(ep?.decls.map((d) => d.kind) ?? [])], uniformSlots: u.length };
  });
  rt.dispatch(kernel, [out.buf, a.buf, b.buf, ...(ep?.bufs ?? [])], u.toArray(), total);
}
