/**
 * @file Elementwise kernels: one WGSL shader per expression structure, rendered from the same
 * Expr the CPU renders. Operands are strided views broadcast to the output shape (dims merged
 * where every operand is contiguous across them, as on the CPU); operands known to be constant
 * are read from uniforms instead of buffers; the output may be strided too (in-place writes,
 * cat, pad). The shader depends on the structure of the expression, the collapsed rank, the
 * dtypes and which operands are broadcast scalars — never on sizes, strides or constants.
 */
import { collapseDims } from '../../cpu/elementwise.ts';
import type { DType } from '../../dtype.ts';
import type { Expr } from '../../ops/expr.ts';
import type { GpuBuf, KernelSource, Runtime } from '../runtime.ts';
import { constBits, constExpr, constNodes, helperSource, loadAs, renderWgsl, storageType, storeAs, structureKey, uslot } from '../wgsl.ts';
import { bindReads, checkAlias, declarations, dot, elementGrid, ENTRY_CLOSE, entryLoop, fastDiv, pushShape, Uniforms, unravel } from './common.ts';

/** A strided view of a buffer (element offset and strides over the kernel's output shape). */
export interface BufOperand {
  readonly buf: GpuBuf;
  readonly offset: number;
  readonly strides: readonly number[];
  readonly dtype: DType;
}
/** An operand whose every element equals `value`. */
export interface ConstOperand {
  readonly value: number;
  readonly dtype: DType;
}
export type EwOperand = BufOperand | ConstOperand;

export const isConst = (o: EwOperand): o is ConstOperand => 'value' in o;

/** Replaces constant operands by const nodes and renumbers the buffer operands. */
function substitute(root: Expr, operands: readonly EwOperand[]): { expr: Expr; bufs: BufOperand[] } {
  const renumber = new Map<number, number>();
  const bufs: BufOperand[] = [];
  operands.forEach((o, i) => {
    if (!isConst(o)) {
      renumber.set(i, bufs.length);
      bufs.push(o);
    }
  });
  if (bufs.length === operands.length) return { expr: root, bufs };
  const memo = new Map<Expr, Expr>();
  const go = (e: Expr): Expr => {
    const m = memo.get(e);
    if (m) return m;
    let r: Expr;
    switch (e.k) {
      case 'in': {
        const o = operands[e.i]!;
        r = isConst(o) ? { k: 'const', v: o.value, dtype: e.dtype } : { k: 'in', i: renumber.get(e.i)!, dtype: e.dtype };
        break;
      }
      case 'un': r = { ...e, a: go(e.a) }; break;
      case 'cast': r = { ...e, a: go(e.a) }; break;
      case 'bin': r = { ...e, a: go(e.a), b: go(e.b) }; break;
      case 'where': r = { ...e, c: go(e.c), a: go(e.a), b: go(e.b) }; break;
      case 'const': case 'rand': case 'index': r = e; break;
      default: return e satisfies never;
    }
    memo.set(e, r);
    return r;
  };
  return { expr: go(root), bufs };
}

/** An elementwise shader: output O and reads A0… of the given element types, `body` in the per-element loop. */
function shader(uniformSlots: number, outType: string, readTypes: readonly string[], helpers: Set<string>, wg: number, per: string, body: readonly string[]): KernelSource {
  const code = [
    declarations(uniformSlots, [
      { name: 'O', kind: 'rw', type: outType },
      ...readTypes.map((type, j) => ({ name: `A${j}`, kind: 'read' as const, type })),
    ]),
    helperSource(helpers),
    entryLoop(wg, per),
    ...body.map((l) => '  ' + l),
    ENTRY_CLOSE,
  ].join('\n');
  return { code, bindings: ['rw', ...readTypes.map(() => 'read' as const)], uniformSlots };
}

/**
 * out[view] = expr(operands) over `shape`. `out` is a strided view of a buffer of dtype
 * `outDtype`; `op` names the primitive for error messages.
 */
export function runElementwise(
  rt: Runtime, op: string, root: Expr, shape: readonly number[], out: BufOperand, operands: readonly EwOperand[],
): void {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n === 0) return;
  const { expr, bufs } = substitute(root, operands);
  const { shape: cs, strides } = collapseDims(shape, [out.strides, ...bufs.map((b) => b.strides)]);
  const rank = cs.length;
  const scalar = bufs.map((_, i) => strides[i + 1]!.every((s) => s === 0));
  if (rank === 1 && strides[0]![0] === 1 && out.offset % 4 === 0 &&
    bufs.every((b, i) => scalar[i] || (strides[i + 1]![0] === 1 && b.offset % 4 === 0))) {
    runVec4(rt, op, expr, n, out, bufs, scalar);
    return;
  }
  const consts = constNodes(expr);
  const { wg, per } = elementGrid(rt.ctx.limits, rt.ctx.adapter.isSoftware, n);

  // uniform layout: n | shape[rank] | out off, strides[rank] | per operand: off (+ strides) | constants
  const u = new Uniforms();
  u.push(n, per);
  const fast = rank >= 2 && fastDiv(n);
  const shapeSlot = pushShape(u, cs, fast);
  const outSlot = u.push(out.offset, ...strides[0]!);
  const opSlots = bufs.map((b, i) => (scalar[i] ? u.push(b.offset) : u.push(b.offset, ...strides[i + 1]!)));
  const constSlot = u.push(...consts.map(constBits));

  const bind = bindReads(out.buf, bufs.map((b) => b.buf), rt.ctx.limits.maxStorageBuffersPerShaderStage - 1);
  const key = `ew:${structureKey(expr)}>${out.dtype}:r${rank}${fast ? 'f' : ''}:${scalar.map((s) => (s ? 's' : 'v')).join('')}:wg${wg}${bind.key}`;
  const kernel = rt.kernel(key, () => {
    const S = (k: number) => uslot(k);
    const slotOf = new Map(consts.map((c, i) => [c, constSlot + i] as const));
    const helpers = new Set<string>(fast ? ['tg_divmod'] : []);
    const outType = storageType(out.dtype, op);
    const { stmts, value } = renderWgsl(expr, {
      load: (i) => {
        const j = bind.of[i]!;
        if (j < 0) checkAlias(outType, storageType(bufs[i]!.dtype, op), op);
        return loadAs(bufs[i]!.dtype, `${j < 0 ? 'O' : `A${j}`}[p${i}]`);
      },
      constant: (e) => constExpr(e, slotOf.get(e)!),
      index: 'gid',
      helpers,
      op,
    });
    const body = [
      `if (gid >= ${S(0)}) { return; }`,
      ...unravel('gid', rank, shapeSlot, 'i', S, fast),
      `let po = ${dot(S(outSlot), rank, 'i', outSlot + 1, S)};`,
      ...bufs.map((_, i) => `let p${i} = ${scalar[i] ? S(opSlots[i]!) : dot(S(opSlots[i]!), rank, 'i', opSlots[i]! + 1, S)};`),
      ...stmts,
      `O[po] = ${storeAs(out.dtype, value)};`,
    ];
    return shader(u.length, outType, bind.bufs.map((_, j) => storageType(bufs[bind.of.indexOf(j)]!.dtype, op)), helpers, wg, S(1), body);
  });
  rt.dispatch(kernel, [out.buf, ...bind.bufs], u.toArray(), Math.ceil(n / (wg * per)));
}

/**
 * The contiguous case (one run after collapsing, every operand unit-stride or a broadcast scalar,
 * offsets multiples of 4): every buffer is read and written as vec4 — one 16-byte access per
 * operand for four elements, the expression evaluated per component. The last vec4 of a length
 * that is not a multiple of 4 stores only its elements (component stores); its loads read the
 * whole aligned vec4, which lies inside the buffer (pooled buffers are multiples of 16 bytes).
 * Offsets of contiguous tensors are 0 whatever the batch size, so a layer gets the same
 * pipelines at every batch size. On software
 * adapters a storage access in a loop costs a per-lane loop of its own (lavapipe; see matmul.ts),
 * so this is what pays: a 1M-element neg 1.20 → 0.64 ms, 1/(1+exp(−x)) 1.16 → 0.77 ms in a
 * bare-kernel comparison on lavapipe (same run). Values are computed exactly as in the scalar
 * kernel, one element at a time.
 */
function runVec4(rt: Runtime, op: string, expr: Expr, n: number, out: BufOperand, bufs: readonly BufOperand[], scalar: readonly boolean[]): void {
  const consts = constNodes(expr);
  const nv = Math.ceil(n / 4);
  const { wg, per } = elementGrid(rt.ctx.limits, rt.ctx.adapter.isSoftware, nv);
  // uniform layout: vec4 count | per | output offset in vec4s | element count | per operand: offset (vec4s, or elements for a scalar) | constants
  const u = new Uniforms();
  u.push(nv, per, out.offset / 4, n);
  const opSlots = bufs.map((b, i) => u.push(scalar[i] ? b.offset : b.offset / 4));
  const constSlot = u.push(...consts.map(constBits));
  const bind = bindReads(out.buf, bufs.map((b) => b.buf), rt.ctx.limits.maxStorageBuffersPerShaderStage - 1);
  const key = `ew4:${structureKey(expr)}>${out.dtype}:${scalar.map((x) => (x ? 's' : 'v')).join('')}:wg${wg}${bind.key}`;
  const kernel = rt.kernel(key, () => {
    const S = (k: number) => uslot(k);
    const slotOf = new Map(consts.map((c, i) => [c, constSlot + i] as const));
    const helpers = new Set<string>();
    const outType = storageType(out.dtype, op);
    const arr = (i: number) => {
      const j = bind.of[i]!;
      if (j < 0) checkAlias(outType, storageType(bufs[i]!.dtype, op), op);
      return j < 0 ? 'O' : `A${j}`;
    };
    const body = [`if (gid >= ${S(0)}) { return; }`];
    bufs.forEach((_, i) => {
      // a broadcast scalar: one element of a vec4 array
      body.push(scalar[i]
        ? `let p${i} = ${S(opSlots[i]!)}; let v${i} = ${arr(i)}[p${i} >> 2u][p${i} & 3u];`
        : `let v${i} = ${arr(i)}[${S(opSlots[i]!)} + gid];`);
    });
    body.push(`var r: vec4<${outType}>;`);
    for (let c = 0; c < 4; c++) {
      const lane = 'xyzw'[c]!;
      const { stmts, value } = renderWgsl(expr, {
        load: (i) => loadAs(bufs[i]!.dtype, scalar[i] ? `v${i}` : `v${i}.${lane}`),
        constant: (e) => constExpr(e, slotOf.get(e)!),
        index: `(gid * 4u + ${c}u)`,
        helpers,
        op,
      });
      body.push(`{ ${[...stmts, `r.${lane} = ${storeAs(out.dtype, value)};`].join(' ')} }`);
    }
    body.push(`let q = ${S(2)} + gid;`);
    body.push(`if (gid * 4u + 4u <= ${S(3)}) { O[q] = r; } else {`);
    for (let c = 0; c < 3; c++) body.push(`  if (gid * 4u + ${c}u < ${S(3)}) { O[q].${'xyzw'[c]} = r.${'xyzw'[c]}; }`);
    body.push('}');
    const v4 = (t: string) => `vec4<${t}>`;
    return shader(u.length, v4(outType), bind.bufs.map((_, j) => v4(storageType(bufs[bind.of.indexOf(j)]!.dtype, op))), helpers, wg, S(1), body);
  });
  rt.dispatch(kernel, [out.buf, ...bind.bufs], u.toArray(), Math.ceil(nv / (wg * per)));
}
