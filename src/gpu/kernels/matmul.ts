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
 */
import { collapseDims } from '../../cpu/elementwise.ts';
import type { Runtime } from '../runtime.ts';
import { helperSource, storageType, uslot } from '../wgsl.ts';
import { declarations, divmod, entry, fastDiv, invBits, pushShape, Uniforms, unravel } from './common.ts';
import type { BufOperand } from './elementwise.ts';

type AMode = 'k' | 'm' | 's';
type BMode = 'n' | 'k' | 's';

export interface MatmulConfig { wx: number; wy: number; tm: 4 | 8; tn: 4 | 8 | 16 }

/**
 * Picks the tile. CPU adapters: 8×16 outputs per invocation and 4×4 invocations. Lavapipe
 * vectorises across invocations (8 lanes), so every operand load is a gather and a wider block
 * per invocation amortises them over more FMAs; more, smaller workgroups balance better over a few
 * cores. Measured on lavapipe, same run each: 4×8 → 8×16 took 1024² from 11.7 to 18.9–21 GFLOP/s
 * (256²: 11.3 → 16.6); 4×16 alone 10–16, 8×8 alone 9.5–13.6, 8×32 and 16×16 no better than 8×16;
 * 2×2 or 2×4 invocations per workgroup worse, 8×4 the same; unrolling k by 2 or 4 halved it (register spills).
 * Elsewhere 4×8 per invocation, 8×8 invocations. Narrower for short or thin matrices.
 */
function config(M: number, N: number, maxInv: number, software: boolean): MatmulConfig {
  const tn = N <= 16 ? 4 : software && N > 32 ? 16 : 8;
  const tm = software && M > 16 ? 8 : 4;
  const full = software ? 4 : 8;
  const wy = M <= 4 ? 1 : M <= 8 ? 2 : M <= 16 || software ? 4 : 8;
  const wx = Math.min(full, Math.ceil(N / tn));
  return wx * wy <= maxInv ? { wx, wy, tm, tn } : { wx: 4, wy: 4, tm, tn };
}

export function runMatmul(
  rt: Runtime, a: BufOperand, aShape: readonly number[], b: BufOperand, bShape: readonly number[],
  out: BufOperand, outShape: readonly number[],
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
  const cb = collapseDims(batch, [outBatchStrides, bstr(a, aShape), bstr(b, bShape)]);
  const rb = cb.shape.length;
  // strides of the matrix dims; a size-1 dim's stride is irrelevant, so it is normalised to 0
  let sam = M === 1 ? 0 : a.strides[ar - 2]!, sak = K === 1 ? 0 : a.strides[ar - 1]!;
  let sbk = K === 1 ? 0 : b.strides[br - 2]!, sbn = N === 1 ? 0 : b.strides[br - 1]!;
  const aligned4 = (...xs: number[]) => xs.every((x) => x % 4 === 0);
  const aB = cb.strides[1]!, bB = cb.strides[2]!;
  const variant = rt.matmulVariant === 'auto' ? (rt.ctx.adapter.isSoftware || M * N < 64 * 64 ? 'register' : 'workgroup') : rt.matmulVariant;
  if (variant === 'workgroup' && Math.min(rt.ctx.limits.maxComputeInvocationsPerWorkgroup, rt.ctx.limits.maxComputeWorkgroupSizeX) >= 256) {
    workgroupTiled(rt, a, b, out, M, K, N, nb, cb.shape, aB, bB, [sam, sak, sbk, sbn]);
    return;
  }
  let aMode: AMode = 's', bMode: BMode = 's';
  if ((sak === 1 || K === 1) && K % 4 === 0 && aligned4(sam, a.offset, ...aB)) { aMode = 'k'; sak = 1; }
  else if ((sam === 1 || M === 1) && M % 4 === 0 && aligned4(sak, a.offset, ...aB)) { aMode = 'm'; sam = 1; }
  if ((sbn === 1 || N === 1) && N % 4 === 0 && aligned4(sbk, b.offset, ...bB)) { bMode = 'n'; sbn = 1; }
  else if ((sbk === 1 || K === 1) && K % 4 === 0 && aligned4(sbn, b.offset, ...bB)) { bMode = 'k'; sbk = 1; }
  // with b read along n (outer-product form), scalar a loads measured as fast or faster than vec4
  // loads along k on lavapipe (13.9 vs 13.0 GFLOP/s at 1024², same run)
  if (bMode === 'n' && aMode === 'k') { aMode = 's'; sak = 1; }
  const KS = aMode === 'k' || bMode === 'k' ? 4 : 1;
  const lim = rt.ctx.limits;
  const { wx, wy, tn: TN, tm: TM } = config(M, N, Math.min(lim.maxComputeInvocationsPerWorkgroup, lim.maxComputeWorkgroupSizeX), rt.ctx.adapter.isSoftware);
  const tilesM = Math.ceil(M / (wy * TM)), tilesN = Math.ceil(N / (wx * TN));
  const total = nb * tilesM * tilesN;

  const u = new Uniforms();
  u.push(M, K, N, total, tilesM, tilesN, a.offset, b.offset, sam, sak, sbk, sbn, invBits(tilesM), invBits(tilesN));
  const fast = fastDiv(total);
  const bShapeSlot = pushShape(u, cb.shape, fast);
  const aBSlot = u.push(...aB);
  const bBSlot = u.push(...bB);

  const T = storageType(out.dtype, 'matmul') as 'f32' | 'i32';
  const key = `matmul:${T}:a${aMode}:b${bMode}:r${rb}${fast ? 'f' : ''}:${wx}x${wy}:tm${TM}:tn${TN}`;
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
    L.push(`let sam = ${S(8)}; let sak = ${S(9)}; let sbk = ${S(10)}; let sbn = ${S(11)};`);
    L.push(`let lx = lix % ${wx}u; let ly = lix / ${wx}u;`);
    L.push(`let row0 = tm * ${wy * TM}u + ly * ${TM}u;`, `let col0 = tn * ${wx * TN}u + lx * ${TN}u;`);
    if (aMode === 'm') for (let p = 0; p < TM / 4; p++) L.push(`let ra${p} = min(row0 + ${4 * p}u, M - 4u);`);
    else for (let i = 0; i < TM; i++) L.push(`let rr${i} = min(row0 + ${i}u, M - 1u) * sam;`);
    if (bMode === 'n') for (let q = 0; q < TN / 4; q++) L.push(`let cq${q} = min(col0 / 4u + ${q}u, N / 4u - 1u);`);
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
      for (let c = 0; c < TN; c++) L.push(`  if (col0 + ${c}u < N) { O[orow + col0 + ${c}u] = acc${i}_${c >> 2}[${c & 3}]; }`);
      L.push('}');
    }
    const code = [
      declarations(u.length, [
        { name: 'O', kind: 'rw', type: T },
        { name: 'A', kind: 'read', type: aMode === 's' ? T : `vec4<${T}>` },
        { name: 'A_B', kind: 'read', type: bMode === 's' ? T : `vec4<${T}>` },
      ]),
      fast ? helperSource(['tg_divmod']) : '',
      entry(wx * wy),
      ...L.map((l) => '  ' + l),
      '}',
    ].join('\n');
    return { code, bindings: ['rw', 'read', 'read'], uniformSlots: u.length };
  });
  rt.dispatch(kernel, [out.buf, a.buf, b.buf], u.toArray(), total);
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
  const T = storageType(out.dtype, 'matmul') as 'f32' | 'i32';
  const kernel = rt.kernel(`matmul-wg:${T}:r${rb}${fast ? 'f' : ''}`, () => {
    const S = (k: number) => uslot(k);
    let ab = S(6), bb = S(7);
    for (let d = 0; d < rb; d++) { ab += ` + q${d} * ${S(aBSlot + d)}`; bb += ` + q${d} * ${S(bBSlot + d)}`; }
    const acc = [0, 1, 2, 3].map((i) => `var acc${i} = vec4<${T}>(0);`).join('\n  ');
    const fmaLine = (i: number) => T === 'f32'
      ? `acc${i} = fma(vec4<${T}>(As[kk][ty * 4u + ${i}u]), bv, acc${i});`
      : `acc${i} = acc${i} + vec4<${T}>(As[kk][ty * 4u + ${i}u]) * bv;`;
    const stores = [0, 1, 2, 3].map((i) => `  if (row0 + ${i}u < M) {
    for (var j = 0u; j < 4u; j++) { if (col0 + j < N) { O[ob + (row0 + ${i}u) * N + col0 + j] = acc${i}[j]; } }
  }`).join('\n');
    const code = `${declarations(u.length, [
      { name: 'O', kind: 'rw', type: T }, { name: 'A', kind: 'read', type: T }, { name: 'Bm', kind: 'read', type: T },
    ])}
${fast ? helperSource(['tg_divmod']) : ''}
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
    return { code, bindings: ['rw', 'read', 'read'], uniformSlots: u.length };
  });
  rt.dispatch(kernel, [out.buf, a.buf, b.buf], u.toArray(), total);
}
