/**
 * @file gather and scatterAdd along one dim (PyTorch semantics), gather-style: one invocation per
 * output element, so scatterAdd needs no atomics and adds the contributions of an output element
 * in index order — the CPU's order, hence identical float results.
 *
 * Out-of-range indices cannot throw inside a shader: the kernel clamps (gather) or skips
 * (scatterAdd) them and records the first offender in the runtime's flag buffer, which every
 * readback copies and checks, so the error surfaces as an IndexError at the next readback.
 */
import type { Runtime } from '../runtime.ts';
import { bitsOf, helperSource, storageType, uslot } from '../wgsl.ts';
import { declarations, elementGrid, ENTRY_CLOSE, entryLoop, fastDiv, pushShape, Uniforms, unravel } from './common.ts';
import type { BufOperand, EwOperand } from './elementwise.ts';

/**
 * Op names by flag code (flag value k names flagNames[k − 1]): the primitives, then the ops a
 * gather was made for (crossEntropy's target pick, indexSelect…), whose code the kernel reads
 * from its uniforms, so one pipeline serves every name.
 */
const flagNames: string[] = ['gather', 'scatterAdd'];

function flagCode(name: string): number {
  let i = flagNames.indexOf(name);
  if (i < 0) i = flagNames.push(name) - 1;
  return i + 1;
}

/** The op an index-range flag names. */
export function flagName(code: number): string {
  return flagNames[code - 1] ?? 'gather';
}

function raise(code: string, i: string, size: string, dim: number): string {
  return `atomicStore(&F[1], bitcast<u32>(${i})); atomicStore(&F[2], ${size}); atomicStore(&F[3], ${dim}u); atomicStore(&F[0], ${code});`;
}

/** out[pos] = x[pos with dim ← idx[pos]] over the index's shape. */
export function runGather(
  rt: Runtime, x: BufOperand, xShape: readonly number[], idx: BufOperand, idxShape: readonly number[], dim: number, out: BufOperand,
  what = 'gather',
): void {
  const n = idxShape.reduce((a, b) => a * b, 1);
  if (n === 0) return;
  const r = idxShape.length;
  const u = new Uniforms();
  u.push(n, xShape[dim]!, x.offset, idx.offset);
  const fast = r >= 2 && fastDiv(n);
  const shapeSlot = pushShape(u, idxShape, fast);
  const xs = u.push(...x.strides);
  const is = u.push(...idx.strides);
  const { wg, per } = elementGrid(rt.ctx.limits, rt.ctx.adapter.isSoftware, n);
  const perSlot = u.push(per);
  const codeSlot = u.push(flagCode(what));
  const T = storageType(x.dtype, 'gather');
  const kernel = rt.kernel(`gather:${T}:r${r}${fast ? 'f' : ''}:d${dim}:wg${wg}`, () => {
    const S = (k: number) => uslot(k);
    let ip = S(3), xp = S(2);
    for (let d = 0; d < r; d++) {
      ip += ` + p${d} * ${S(is + d)}`;
      xp += ` + ${d === dim ? 'ic' : `p${d}`} * ${S(xs + d)}`;
    }
    const body = [
      `if (gid >= ${S(0)}) { return; }`,
      ...unravel('gid', r, shapeSlot, 'p', S, fast),
      `let i = Idx[${ip}];`,
      `let size = ${S(1)};`,
      `var ic = u32(max(i, 0));`,
      `if (i < 0 || u32(i) >= size) { ${raise(S(codeSlot), 'i', 'size', dim)} ic = min(ic, size - 1u); }`,
      `O[gid] = X[${xp}];`,
    ];
    const code = [
      declarations(u.length, [
        { name: 'O', kind: 'rw', type: T }, { name: 'X', kind: 'read', type: T },
        { name: 'Idx', kind: 'read', type: 'i32' }, { name: 'F', kind: 'rw', type: 'atomic<u32>' },
      ]),
      fast ? helperSource(['tg_divmod']) : '',
      entryLoop(wg, uslot(perSlot)), ...body.map((l) => '  ' + l), ENTRY_CLOSE,
    ].join('\n');
    return { code, bindings: ['rw', 'read', 'read', 'rw'], uniformSlots: u.length };
  });
  rt.dispatch(kernel, [out.buf, x.buf, idx.buf, rt.flags], u.toArray(), Math.ceil(n / (wg * per)));
}

/** out = base, plus src[q] added at q with dim ← idx[q], for every q of the index's shape. */
export function runScatterAdd(
  rt: Runtime, base: EwOperand, idx: BufOperand, idxShape: readonly number[], src: BufOperand, dim: number,
  out: BufOperand, outShape: readonly number[],
): void {
  const n = outShape.reduce((a, b) => a * b, 1);
  if (n === 0) return;
  const r = outShape.length;
  const constBase = 'value' in base;
  const u = new Uniforms();
  u.push(n, idx.offset, src.offset, constBase ? bitsOf(base.value, base.dtype) : base.offset);
  const fast = r >= 2 && fastDiv(n);
  const oShape = pushShape(u, outShape, fast);
  const iShape = u.push(...idxShape);
  const is = u.push(...idx.strides);
  const ss = u.push(...src.strides);
  const bs = u.push(...(constBase ? [] : base.strides));
  const { wg, per } = elementGrid(rt.ctx.limits, rt.ctx.adapter.isSoftware, n);
  const perSlot = u.push(per);
  const T = storageType(out.dtype, 'scatterAdd');
  const A = T === 'u32' ? 'i32' : T;
  // One index per output position along dim (the gradient of max/min along a dim, of a picked
  // class): no loop, so the body is straight-line code the compiler can vectorise across
  // invocations — on lavapipe the loop form cost about 4× an elementwise kernel of the same size.
  const single = idxShape[dim] === 1;
  const kernel = rt.kernel(`scatterAdd:${T}:r${r}${fast ? 'f' : ''}:d${dim}:${constBase ? 'c' : 'b'}${single ? ':q1' : ''}:wg${wg}`, () => {
    const S = (k: number) => uslot(k);
    let ip = S(1), sp = S(2), bp = S(3), inRange = 'true';
    for (let d = 0; d < r; d++) {
      if (!constBase) bp += ` + p${d} * ${S(bs + d)}`;
      if (d === dim && single) continue; // q = 0
      const c = d === dim ? 'q' : `p${d}`;
      ip += ` + ${c} * ${S(is + d)}`;
      sp += ` + ${c} * ${S(ss + d)}`;
      if (d !== dim) inRange += ` && p${d} < ${S(iShape + d)}`;
    }
    // the source is read unconditionally (its address does not depend on the index) and picked
    // with select: a data-dependent branch around the load vectorises badly
    const pick = [
      `let i = Idx[${ip}];`,
      `if (i < 0 || u32(i) >= size) { ${raise(`${flagCode('scatterAdd')}u`, 'i', 'size', dim)} }`,
      `acc = acc + select(${A}(0), ${A}(Src[${sp}]), u32(i) == p${dim});`,
    ];
    const body = [
      `if (gid >= ${S(0)}) { return; }`,
      ...unravel('gid', r, oShape, 'p', S, fast),
      `var acc: ${A} = ${constBase ? `${A}(bitcast<${T}>(${S(3)}))` : `${A}(B[${bp}])`};`,
      `let size = ${S(oShape + dim)};`,
      `if (${inRange}) {`,
      ...(single ? pick.map((l) => '  ' + l) : [`  for (var q = 0u; q < ${S(iShape + dim)}; q++) {`, ...pick.map((l) => '    ' + l), '  }']),
      '}',
      `O[gid] = ${T}(acc);`,
    ];
    const code = [
      declarations(u.length, [
        { name: 'O', kind: 'rw', type: T },
        ...(constBase ? [] : [{ name: 'B', kind: 'read' as const, type: T }]),
        { name: 'Idx', kind: 'read', type: 'i32' }, { name: 'Src', kind: 'read', type: T },
        { name: 'F', kind: 'rw', type: 'atomic<u32>' },
      ]),
      fast ? helperSource(['tg_divmod']) : '',
      entryLoop(wg, uslot(perSlot)), ...body.map((l) => '  ' + l), ENTRY_CLOSE,
    ].join('\n');
    return { code, bindings: constBase ? ['rw', 'read', 'read', 'rw'] : ['rw', 'read', 'read', 'read', 'rw'], uniformSlots: u.length };
  });
  const bufs = constBase ? [out.buf, idx.buf, src.buf, rt.flags] : [out.buf, base.buf, idx.buf, src.buf, rt.flags];
  rt.dispatch(kernel, bufs, u.toArray(), Math.ceil(n / (wg * per)));
}
