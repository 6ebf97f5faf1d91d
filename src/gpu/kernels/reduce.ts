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
import type { DType } from '../../dtype.ts';
import { E } from '../../ops/expr.ts';
import type { ReduceKind } from '../../ops/registry.ts';
import type { Runtime } from '../runtime.ts';
import { helperSource, loadAs, storageType, uslot } from '../wgsl.ts';
import { declarations, elementGrid, entry, ENTRY_CLOSE, entryLoop, fastDiv, pushShape, Uniforms, unravel } from './common.ts';
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
  rt: Runtime, kind: ReduceKind, x: BufOperand, shape: readonly number[], dims: readonly number[], out: BufOperand,
  strategy: Strategy, P = 1,
): void {
  const kept = shape.map((_, i) => i).filter((i) => !dims.includes(i));
  const outer = collapseDims(kept.map((i) => shape[i]!), [kept.map((i) => x.strides[i]!)]);
  const inner = collapseDims(dims.map((i) => shape[i]!), [dims.map((i) => x.strides[i]!)]);
  const outN = outer.shape.reduce((a, b) => a * b, 1);
  const innerN = inner.shape.reduce((a, b) => a * b, 1);
  const ro = outer.shape.length, ri = inner.shape.length;
  const arg = isArg(kind);
  // accumulator type: arg ops compare input values; sum/prod accumulate in the output's type
  const inT = x.dtype === 'bool' ? 'i32' : storageType(x.dtype) as 'f32' | 'i32';
  const accT: 'f32' | 'i32' = arg ? inT : (storageType(out.dtype) as 'f32' | 'i32');
  const load = (p: string) => {
    const raw = loadAs(x.dtype, `X[${p}]`);
    return x.dtype === 'bool' ? `${accT}(${raw})` : accT === inT ? raw : `${accT}(${raw})`;
  };
  const chunk = Math.ceil(innerN / P);
  const lim = rt.ctx.limits;
  const grid = elementGrid(lim, rt.ctx.adapter.isSoftware, outN);
  const per = strategy === 'tree' ? 1 : Math.min(grid.per, 4);
  const wg = strategy === 'tree' ? Math.min(64, lim.maxComputeInvocationsPerWorkgroup, lim.maxComputeWorkgroupSizeX) : grid.wg;

  const u = new Uniforms();
  u.push(outN * P, innerN, P, chunk, per);
  const fastO = ro >= 2 && fastDiv(outN * P), fastI = strategy === 'tree' && ri >= 2 && fastDiv(innerN);
  const oShape = pushShape(u, outer.shape, fastO);
  const oStr = u.push(x.offset, ...outer.strides[0]!);
  const iShape = pushShape(u, inner.shape, fastI);
  const iStr = u.push(...inner.strides[0]!);

  const key = `reduce:${kind}:${x.dtype}>${out.dtype}:${strategy}:o${ro}${fastO ? 'f' : ''}:i${ri}${fastI ? 'f' : ''}:wg${wg}`;
  const kernel = rt.kernel(key, () => {
    const S = (k: number) => uslot(k);
    const helpers = new Set<string>(['tg_inf', 'tg_isnan', 'tg_fmax', 'tg_fmin', ...(fastO || fastI ? ['tg_divmod'] : [])]);
    const outT = storageType(out.dtype);
    const lines: string[] = [];
    const step = (v: string, j: string) => arg
      ? `if (tg_better(acc, ai, ${v}, i32(${j}))) { acc = ${v}; ai = i32(${j}); }`
      : `acc = ${combine(kind, accT, 'acc', v)};`;
    const storeOut = (idx: string, val: string, ai: string) => `O[${idx}] = ${arg ? ai : outT === accT ? val : `${outT}(${val})`};`;
    if (strategy === 'serial') {
      lines.push(`if (gid >= ${S(0)}) { return; }`);
      lines.push(...unravel('gid', ro, oShape, 'o', S, fastO));
      let base = S(oStr);
      for (let d = 0; d < ro; d++) base += ` + o${d} * ${S(oStr + 1 + d)}`;
      lines.push(`let base = ${base};`);
      lines.push(`var acc: ${accT} = ${identity(kind, accT)};`, 'var ai: i32 = -1;');
      if (ri === 0) {
        lines.push(`{ let v = ${load('base')}; ${step('v', '0u')} }`);
      } else {
        // nested loops, innermost dim last; j counts elements in order
        lines.push('var j = 0u;');
        let p = 'base';
        for (let d = 0; d < ri; d++) {
          lines.push(`for (var k${d} = 0u; k${d} < ${S(iShape + d)}; k${d}++) {`);
          lines.push(`let q${d} = ${p} + k${d} * ${S(iStr + d)};`);
          p = `q${d}`;
        }
        lines.push(`let v = ${load(p)};`, step('v', 'j'), 'j++;');
        for (let d = 0; d < ri; d++) lines.push('}');
      }
      lines.push(storeOut('gid', 'acc', 'ai'));
    } else {
      lines.push(`if (wlin >= ${S(0)}) { return; }`);
      lines.push(`let o = wlin / ${S(2)};`, `let c = wlin % ${S(2)};`);
      lines.push(...unravel('o', ro, oShape, 'o', S, fastO));
      let base = S(oStr);
      for (let d = 0; d < ro; d++) base += ` + o${d} * ${S(oStr + 1 + d)}`;
      lines.push(`let base = ${base};`);
      lines.push(`let j0 = c * ${S(3)};`, `let j1 = min(j0 + ${S(3)}, ${S(1)});`);
      lines.push(`var acc: ${accT} = ${identity(kind, accT)};`, 'var ai: i32 = -1;');
      lines.push(`for (var j = j0 + lix; j < j1; j += ${wg}u) {`);
      lines.push(...unravel('j', ri, iShape, 'k', S, fastI).map((l) => '  ' + l));
      let off = 'base';
      for (let d = 0; d < ri; d++) off += ` + k${d} * ${S(iStr + d)}`;
      lines.push(`  let v = ${load(off)};`, `  ${step('v', 'j')}`, '}');
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
        { name: 'O', kind: 'rw', type: outT },
        { name: 'X', kind: 'read', type: storageType(x.dtype) },
      ]),
      helperSource(helpers),
      arg ? argBetter(kind, accT) : '',
      strategy === 'tree' ? `var<workgroup> sv: array<${accT}, ${wg}>;\nvar<workgroup> si: array<i32, ${wg}>;` : '',
      strategy === 'tree' ? entry(wg) : entryLoop(wg, S(4)),
      ...lines.map((l) => '  ' + l),
      strategy === 'tree' ? '}' : ENTRY_CLOSE,
    ].join('\n');
    return { code, bindings: ['rw', 'read'], uniformSlots: u.length };
  });
  const count = strategy === 'serial' ? Math.ceil(outN / (wg * per)) : outN * P;
  rt.dispatch(kernel, [out.buf, x.buf], u.toArray(), count);
}

/** Reduces `x` over `dims` into the contiguous `out` (see the file comment). */
export function runReduce(rt: Runtime, kind: ReduceKind, x: BufOperand, shape: readonly number[], dims: readonly number[], out: BufOperand): void {
  const outN = shape.reduce((a, d, i) => (dims.includes(i) ? a : a * d), 1);
  const innerN = dims.reduce((a, d) => a * shape[d]!, 1);
  if (outN === 0) return;
  if (innerN === 0) {
    // only sum and prod accept empty reductions
    runElementwise(rt, kind, E.const(kind === 'prod' ? 1 : 0, out.dtype), [outN], { ...out, strides: [1] }, []);
    return;
  }
  if (!isArg(kind) && outN < 16 && innerN >= 32768) {
    const P = Math.min(1024, Math.ceil(innerN / 8192));
    const partT: DType = out.dtype;
    const part = rt.acquire(outN * P * 4);
    reduceKernel(rt, kind, x, shape, dims, { buf: part, offset: 0, strides: [], dtype: partT }, 'tree', P);
    // the partials are [outN, P], contiguous; combining them is the same reduction
    const combineKind = kind;
    reduceKernel(rt, combineKind, { buf: part, offset: 0, strides: [P, 1], dtype: partT }, [outN, P], [1], out,
      P >= 64 ? 'tree' : 'serial');
    rt.release(part);
    return;
  }
  // CPU adapters (lavapipe, SwiftShader) pay for barriers and gain little from a workgroup per
  // output: loop serially unless there are too few outputs to keep the cores busy
  const strategy: Strategy = rt.ctx.adapter.isSoftware
    ? (outN >= 16 || innerN <= 512 ? 'serial' : 'tree')
    : (innerN <= 64 || outN >= 4096 ? 'serial' : 'tree');
  reduceKernel(rt, kind, x, shape, dims, out, strategy);
}
