/**
 * @file Reductions (sum, prod, max, min, argmax, argmin) over any set of dims of a strided view.
 * Kept and reduced dims are each collapsed where contiguous. Three shapes of kernel:
 * - serial: one invocation per output, nested loops over the reduced dims (many outputs; also
 *   the cheapest on CPU adapters, where barriers are expensive);
 * - tree: one workgroup per output, invocations stride over the reduced elements, then a
 *   workgroup tree reduction;
 * - split: few outputs over very many elements — the tree kernel on chunks, then a second
 *   reduction over the partial results (not for argmax/argmin).
 * NaN propagates through max/min; argmax/argmin return the first NaN, else the first extremum,
 * as on the CPU (ties between invocations are resolved towards the smaller index).
 */
import { collapseDims } from '../../cpu/elementwise.ts';
import { internal } from '../../errors.ts';
import type { DType } from '../../dtype.ts';
import { E, type Expr } from '../../ops/expr.ts';
import type { ReduceKind } from '../../ops/registry.ts';
import type { BindingKind, GpuBuf, Runtime } from '../runtime.ts';
import { constBits, constExpr, constNodes, helperSource, loadAs, renderWgsl, storageType, storeAs, structureKey, uslot, valueType } from '../wgsl.ts';
import { bindReads, checkAlias, declarations, dot, elementGrid, entry, ENTRY_CLOSE, entryLoop, fastDiv, pushShape, Uniforms, unravel } from './common.ts';

/**
 * A fused elementwise prologue: the reduced value of each input element is `expr` over `loads`,
 * strided views over the reduction's input shape (the jit fuses e.g. (x − y)² into its sum).
 */
export interface ReducePrologue {
  readonly expr: Expr;
  readonly loads: readonly BufOperand[];
}

/**
 * A fused elementwise epilogue applied where each result is stored (the jit writes a bias
 * gradient and the bias update computed from it in one kernel): `expr` reads operand i as the
 * result where `operands[i]` is 'result', else from a strided view over the reduction's output
 * shape `shape`. The output `out` then holds the epilogue's value (of its dtype); `result`, when
 * given, receives the reduction's own value (of dtype `dtype`) too. An operand may be the output
 * buffer itself (read, then overwritten, element for element).
 */
export interface ReduceEpilogue {
  readonly expr: Expr;
  readonly operands: readonly (BufOperand | 'result')[];
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly result?: BufOperand;
}
import { runElementwise, type BufOperand } from './elementwise.ts';

type Strategy = 'serial' | 'tree';

const isArg = (k: ReduceKind) => k === 'argmax' || k === 'argmin';

function identity(kind: ReduceKind, t: 'f32' | 'i32'): string {
  switch (kind) {
    case 'sum': return t === 'f32' ? '0.0' : '0';
    case 'prod': return t === 'f32' ? '1.0' : '1';
    case 'max': case 'argmax': return t === 'f32' ? '-tg_inf()' : 'i32(-2147483647 - 1)';
    case 'min': case 'argmin': return t === 'f32' ? 'tg_inf()' : '2147483647';
    default: return kind satisfies never;
  }
}

function combine(kind: ReduceKind, t: 'f32' | 'i32', a: string, b: string): string {
  switch (kind) {
    case 'sum': return `${a} + ${b}`;
    case 'prod': return `${a} * ${b}`;
    case 'max': return t === 'f32' ? `tg_fmax(${a}, ${b})` : `max(${a}, ${b})`;
    case 'min': return t === 'f32' ? `tg_fmin(${a}, ${b})` : `min(${a}, ${b})`;
    case 'argmax': case 'argmin': throw new Error('internal: arg reductions combine pairs');
    default: return kind satisfies never;
  }
}

/** Pair rule of argmax/argmin: should (bv, bi) replace (av, ai)? (first NaN, else extremum, ties → smaller index) */
function argBetter(kind: 'argmax' | 'argmin', t: 'f32' | 'i32'): string {
  const cmp = kind === 'argmax' ? '>' : '<';
  const nan = t === 'f32'
    ? `let an = tg_isnan(av); let bn = tg_isnan(bv);
  if (an && bn) { return bi < ai; }
  if (an) { return false; }
  if (bn) { return true; }`
    : '';
  return `fn tg_better(av: ${t}, ai: i32, bv: ${t}, bi: i32) -> bool {
  if (bi < 0) { return false; }
  if (ai < 0) { return true; }
  ${nan}
  if (bv ${cmp} av) { return true; }
  return bv == av && bi < ai;
}`;
}

/**
 * Reduces `x` (shape `shape`) over `dims` into the contiguous `out` (kept dims in order). `P`
 * splits the reduced elements into that many chunks (output [outN, P]; tree kernel only).
 */
function reduceKernel(
  rt: Runtime, kind: ReduceKind, pro: ReducePrologue, shape: readonly number[], dims: readonly number[], out: BufOperand,
  strategy: Strategy, P = 1, epi?: ReduceEpilogue, values?: BufOperand,
): void {
  const xs = pro.loads;
  // the plain reduction of one operand keeps its own (shorter) kernel key
  const plain = xs.length === 1 && pro.expr.k === 'in' && pro.expr.dtype === xs[0]!.dtype;
  const kept = shape.map((_, i) => i).filter((i) => !dims.includes(i));
  const outer = collapseDims(kept.map((i) => shape[i]!), xs.map((x) => kept.map((i) => x.strides[i]!)));
  const inner = collapseDims(dims.map((i) => shape[i]!), xs.map((x) => dims.map((i) => x.strides[i]!)));
  const outN = outer.shape.reduce((a, b) => a * b, 1);
  const innerN = inner.shape.reduce((a, b) => a * b, 1);
  const ro = outer.shape.length, ri = inner.shape.length;
  const arg = isArg(kind);
  const inDtype = pro.expr.dtype;
  // accumulator type: arg ops compare input values; sum/prod accumulate in the output's type
  const inT = inDtype === 'bool' ? 'i32' : storageType(inDtype) as 'f32' | 'i32';
  const resDtype = epi?.dtype ?? out.dtype;
  const accT: 'f32' | 'i32' = arg ? inT : (storageType(resDtype) as 'f32' | 'i32');
  const toAcc = (v: string) => (valueType(inDtype) === accT ? v : `${accT}(${v})`);
  const bind = bindReads(out.buf, xs.map((x) => x.buf), rt.ctx.limits.maxStorageBuffersPerShaderStage - 1);
  if (bind.of.includes(-1)) internal('reduce: an operand aliases the output');
  const chunk = Math.ceil(innerN / P);
  const lim = rt.ctx.limits;
  const grid = elementGrid(lim, rt.ctx.adapter.isSoftware, outN);
  const per = strategy === 'tree' ? 1 : Math.min(grid.per, 4);
  const wg = strategy === 'tree' ? Math.min(64, lim.maxComputeInvocationsPerWorkgroup, lim.maxComputeWorkgroupSizeX) : grid.wg;

  const u = new Uniforms();
  u.push(outN * P, innerN, P, chunk, per);
  const fastO = ro >= 2 && fastDiv(outN * P), fastI = strategy === 'tree' && ri >= 2 && fastDiv(innerN);
  const oShape = pushShape(u, outer.shape, fastO);
  const oStrs = xs.map((x, j) => u.push(x.offset, ...outer.strides[j]!));
  const iShape = pushShape(u, inner.shape, fastI);
  const iStrs = xs.map((_, j) => u.push(...inner.strides[j]!));
  const consts = constNodes(pro.expr);
  const constSlot = u.push(...consts.map(constBits));

  const proKey = plain ? `${xs[0]!.dtype}` : `p[${structureKey(pro.expr)}:${xs.map((x) => x.dtype[0]).join('')}${bind.key}]`;
  const ep = epi ? planEpilogue(epi, out, u, arg) : null;
  if (values && (!arg || ep || values.buf === out.buf || bind.bufs.includes(values.buf))) internal('reduce: a values output needs an arg reduction and a buffer of its own');
  const valT = values ? storageType(values.dtype) : '';
  const key = `reduce:${kind}:${proKey}>${out.dtype}${values ? `:v${values.dtype}` : ''}:${strategy}:o${ro}${fastO ? 'f' : ''}:i${ri}${fastI ? 'f' : ''}:wg${wg}${ep?.key ?? ''}`;
  const kernel = rt.kernel(key, () => {
    const S = (k: number) => uslot(k);
    const helpers = new Set<string>(['tg_inf', 'tg_isnan', 'tg_fmax', 'tg_fmin', ...(fastO || fastI ? ['tg_divmod'] : [])]);
    const slotOfConst = new Map(consts.map((c, i) => [c, constSlot + i] as const));
    /** statements and the accumulator-typed value of one input element, operand j at position `pos(j)` */
    const element = (pos: (j: number) => string, index: string): string[] => {
      const { stmts, value } = renderWgsl(pro.expr, {
        load: (j) => loadAs(xs[j]!.dtype, `X${bind.of[j]}[${pos(j)}]`),
        constant: (e) => constExpr(e, slotOfConst.get(e)!),
        index,
        helpers,
        op: kind,
      });
      return [...stmts, `let v = ${toAcc(value)};`];
    };
    const outT = storageType(resDtype);
    const lines: string[] = [];
    const step = (v: string, j: string) => arg
      ? `if (tg_better(acc, ai, ${v}, i32(${j}))) { acc = ${v}; ai = i32(${j}); }`
      : `acc = ${combine(kind, accT, 'acc', v)};`;
    const storeOut = (idx: string, val: string, ai: string) => {
      const v = arg ? ai : outT === accT ? val : `${outT}(${val})`;
      // the picked element beside its index (max(…).values in the same pass)
      const vs = values ? `V[${idx}] = ${valT === accT ? val : `${valT}(${val})`}; ` : '';
      return vs + (ep ? ep.store(v, idx) : `O[${idx}] = ${v};`);
    };
    for (const h of ep?.helpers ?? []) helpers.add(h);
    if (strategy === 'serial') {
      lines.push(`if (gid >= ${S(0)}) { return; }`);
      lines.push(...unravel('gid', ro, oShape, 'o', S, fastO));
      xs.forEach((_, j) => {
        let base = S(oStrs[j]!);
        for (let d = 0; d < ro; d++) base += ` + o${d} * ${S(oStrs[j]! + 1 + d)}`;
        lines.push(`let base${j} = ${base};`);
      });
      lines.push(`var acc: ${accT} = ${identity(kind, accT)};`, 'var ai: i32 = -1;');
      if (ri === 0) {
        lines.push(`{ ${element((j) => `base${j}`, 'gid').join(' ')} ${step('v', '0u')} }`);
      } else {
        // nested loops, innermost dim last; j counts elements in order
        lines.push('var j = 0u;');
        for (let d = 0; d < ri; d++) {
          lines.push(`for (var k${d} = 0u; k${d} < ${S(iShape + d)}; k${d}++) {`);
          xs.forEach((_, jj) => lines.push(`let q${jj}_${d} = ${d === 0 ? `base${jj}` : `q${jj}_${d - 1}`} + k${d} * ${S(iStrs[jj]! + d)};`));
        }
        lines.push(...element((jj) => `q${jj}_${ri - 1}`, 'j'), step('v', 'j'), 'j++;');
        for (let d = 0; d < ri; d++) lines.push('}');
      }
      lines.push(storeOut('gid', 'acc', 'ai'));
    } else {
      lines.push(`if (wlin >= ${S(0)}) { return; }`);
      lines.push(`let o = wlin / ${S(2)};`, `let c = wlin % ${S(2)};`);
      lines.push(...unravel('o', ro, oShape, 'o', S, fastO));
      xs.forEach((_, j) => {
        let base = S(oStrs[j]!);
        for (let d = 0; d < ro; d++) base += ` + o${d} * ${S(oStrs[j]! + 1 + d)}`;
        lines.push(`let base${j} = ${base};`);
      });
      lines.push(`let j0 = c * ${S(3)};`, `let j1 = min(j0 + ${S(3)}, ${S(1)});`);
      lines.push(`var acc: ${accT} = ${identity(kind, accT)};`, 'var ai: i32 = -1;');
      lines.push(`for (var j = j0 + lix; j < j1; j += ${wg}u) {`);
      lines.push(...unravel('j', ri, iShape, 'k', S, fastI).map((l) => '  ' + l));
      const off = (jj: number) => {
        let e = `base${jj}`;
        for (let d = 0; d < ri; d++) e += ` + k${d} * ${S(iStrs[jj]! + d)}`;
        return e;
      };
      lines.push(...element(off, 'j').map((l) => '  ' + l), `  ${step('v', 'j')}`, '}');
      lines.push('sv[lix] = acc;', 'si[lix] = ai;', 'workgroupBarrier();');
      lines.push(`for (var s = ${wg / 2}u; s > 0u; s = s >> 1u) {`);
      lines.push('  if (lix < s) {');
      lines.push(arg
        ? '    if (tg_better(sv[lix], si[lix], sv[lix + s], si[lix + s])) { sv[lix] = sv[lix + s]; si[lix] = si[lix + s]; }'
        : `    sv[lix] = ${combine(kind, accT, 'sv[lix]', 'sv[lix + s]')};`);
      lines.push('  }', '  workgroupBarrier();', '}');
      lines.push(`if (lix == 0u) { ${storeOut('wlin', 'sv[0]', 'si[0]')} }`);
    }
    const code = [
      declarations(u.length, [
        { name: 'O', kind: 'rw', type: storageType(out.dtype) },
        ...(values ? [{ name: 'V', kind: 'rw' as const, type: valT }] : []),
        ...(ep?.decls ?? []),
        ...bind.bufs.map((_, b) => ({ name: `X${b}`, kind: 'read' as const, type: storageType(xs[bind.of.indexOf(b)]!.dtype) })),
      ]),
      helperSource(helpers),
      arg ? argBetter(kind, accT) : '',
      strategy === 'tree' ? `var<workgroup> sv: array<${accT}, ${wg}>;\nvar<workgroup> si: array<i32, ${wg}>;` : '',
      strategy === 'tree' ? entry(wg) : entryLoop(wg, S(4)),
      ...lines.map((l) => '  ' + l),
      strategy === 'tree' ? '}' : ENTRY_CLOSE,
    ].join('\n');
    return { code, bindings: ['rw', ...(values ? ['rw' as const] : []), ...(ep?.decls.map((d) => d.kind) ?? []), ...bind.bufs.map(() => 'read' as const)], uniformSlots: u.length };
  });
  const count = strategy === 'serial' ? Math.ceil(outN / (wg * per)) : outN * P;
  rt.dispatch(kernel, [out.buf, ...(values ? [values.buf] : []), ...(ep?.bufs ?? []), ...bind.bufs], u.toArray(), count);
}

/**
 * Reduces `x` over `dims` into the contiguous `out` (see the file comment); `x` may be a fused
 * prologue over several strided operands of shape `shape`.
 */
export function runReduce(
  rt: Runtime, kind: ReduceKind, x: BufOperand | ReducePrologue, shape: readonly number[], dims: readonly number[], out: BufOperand,
  epi?: ReduceEpilogue, values?: BufOperand,
): void {
  const pro: ReducePrologue = 'expr' in x ? x : { expr: E.input(0, x.dtype), loads: [x] };
  const outN = shape.reduce((a, d, i) => (dims.includes(i) ? a : a * d), 1);
  const innerN = dims.reduce((a, d) => a * shape[d]!, 1);
  if (outN === 0) return;
  if (innerN === 0 && !epi) {
    // only sum and prod accept empty reductions (with an epilogue the kernel below runs: its loop
    // is empty, and the epilogue applies to the identity)
    runElementwise(rt, kind, E.const(kind === 'prod' ? 1 : 0, out.dtype), [outN], { ...out, strides: [1] }, []);
    return;
  }
  if (!isArg(kind) && outN < 16 && innerN >= 32768) {
    const P = Math.min(1024, Math.ceil(innerN / 8192));
    // partials in the reduction's own dtype (an epilogue may store another: a cast, a comparison)
    const partT: DType = epi?.dtype ?? out.dtype;
    const part = rt.acquire(outN * P * 4);
    reduceKernel(rt, kind, pro, shape, dims, { buf: part, offset: 0, strides: [], dtype: partT }, 'tree', P);
    // the partials are [outN, P], contiguous; combining them is the same reduction
    const combineKind = kind;
    const parts: BufOperand = { buf: part, offset: 0, strides: [P, 1], dtype: partT };
    reduceKernel(rt, combineKind, { expr: E.input(0, partT), loads: [parts] }, [outN, P], [1], out,
      P >= 64 ? 'tree' : 'serial', 1, epi);
    rt.release(part);
    return;
  }
  // CPU adapters (lavapipe, SwiftShader) pay for barriers and gain little from a workgroup per
  // output: loop serially unless there are too few outputs to keep the cores busy. GPUs: a
  // workgroup per output unless the outputs fill the GPU or the loop is trivial. NOTE: the
  // thresholds stay clear of common batch sizes (≥ 32), so a new batch size compiles no new kernel.
  const strategy: Strategy = rt.ctx.adapter.isSoftware
    ? (outN >= 16 || innerN <= 512 ? 'serial' : 'tree')
    : (innerN <= 16 || outN >= 4096 ? 'serial' : 'tree');
  reduceKernel(rt, kind, pro, shape, dims, out, strategy, 1, epi, values);
}

/**
 * The epilogue's part of a reduction kernel: uniforms (the output shape collapsed with every
 * operand's strides, per operand its offset and strides, the constants), bindings and WGSL.
 */
function planEpilogue(epi: ReduceEpilogue, out: BufOperand, u: Uniforms, arg: boolean): {
  key: string; bufs: GpuBuf[]; helpers: Set<string>; decls: { name: string; kind: BindingKind; type: string }[];
  store(value: string, idx: string): string;
} {
  if (arg) internal('reduce: an epilogue on an arg reduction');
  const bufOps = epi.operands.filter((o): o is BufOperand => o !== 'result');
  const bind = bindReads(out.buf, bufOps.map((o) => o.buf), 0);
  const keep = epi.result;
  if (keep && (keep.buf === out.buf || bind.bufs.includes(keep.buf))) internal('reduce: the kept result aliases another binding');
  const n = epi.shape.reduce((a, b) => a * b, 1);
  const c = collapseDims(epi.shape, bufOps.map((o) => o.strides));
  const rank = c.shape.length;
  const fast = rank >= 2 && fastDiv(n);
  const shapeSlot = pushShape(u, c.shape, fast);
  const opSlots = bufOps.map((o, j) => u.push(o.offset, ...c.strides[j]!));
  const consts = constNodes(epi.expr);
  const constSlot = u.push(...consts.map(constBits));
  const slotOfConst = new Map(consts.map((e, i) => [e, constSlot + i] as const));
  const S = (k: number) => uslot(k);
  const helpers = new Set<string>(fast ? ['tg_divmod'] : []);
  const outType = storageType(out.dtype, 'reduce');
  const opIndex = new Map<number, number>();
  let j = 0;
  epi.operands.forEach((o, i) => { if (o !== 'result') opIndex.set(i, j++); });
  const { stmts, value } = renderWgsl(epi.expr, {
    load: (i) => {
      const jj = opIndex.get(i);
      if (jj === undefined) return 'pv';
      const b = bind.of[jj]!;
      if (b < 0) checkAlias(outType, storageType(bufOps[jj]!.dtype, 'reduce'), 'reduce epilogue');
      return loadAs(bufOps[jj]!.dtype, `${b < 0 ? 'O' : `E${b}`}[${dot(S(opSlots[jj]!), rank, 'e', opSlots[jj]! + 1, S)}]`);
    },
    constant: (e) => constExpr(e, slotOfConst.get(e)!),
    index: 'oi',
    helpers,
    op: 'reduce',
  });
  const typeOf = (b: number) => storageType(bufOps[bind.of.indexOf(b)]!.dtype, 'reduce');
  return {
    key: `:e${keep ? 'P' : ''}[${structureKey(epi.expr)}>${out.dtype}:${bufOps.map((o) => o.dtype[0]).join('')}:${bind.of.join('.')}:r${rank}${fast ? 'f' : ''}]`,
    bufs: keep ? [keep.buf, ...bind.bufs] : bind.bufs,
    helpers,
    decls: [
      ...(keep ? [{ name: 'P', kind: 'rw' as const, type: storageType(epi.dtype, 'reduce') }] : []),
      ...bind.bufs.map((_, b) => ({ name: `E${b}`, kind: 'read' as const, type: typeOf(b) })),
    ],
    store: (v, idx) => [
      `{ let oi = ${idx}; let pv = ${v};`,
      keep ? 'P[oi] = pv;' : '',
      ...unravel('oi', rank, shapeSlot, 'e', S, fast),
      ...stmts,
      `O[oi] = ${storeAs(out.dtype, value)}; }`,
    ].join(' '),
  };
}
