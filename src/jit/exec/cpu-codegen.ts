/**
 * @file JavaScript code generation for fused CPU kernels. Sizes, strides and offsets are baked in
 * as literals (a compiled plan is specialised to its shapes); buffers and their base offsets are
 * arguments. The scalar expression is rendered by the CPU backend's own renderer (src/cpu/render.ts),
 * the one eager mode uses; loops follow src/cpu/elementwise.ts (dims contiguous for every operand
 * are merged, operands constant over the loop are loaded once).
 */
import { H, renderJs } from '../../cpu/render.ts';
import { collapseDims } from '../../cpu/elementwise.ts';
import { REDUCE_LANES } from '../../cpu/reduce.ts';
import { exprKey, type Expr } from '../../ops/expr.ts';
import type { ReduceKind } from '../../ops/registry.ts';
import { contiguousStrides } from '../../shape.ts';
import type { Load } from '../lower.ts';

/** A generated kernel: `(out, outBase, ...[array, base] per load, seeds) => void`. */
export type CpuKernelFn = (...args: unknown[]) => void;

export interface Generated {
  readonly source: string;
  readonly fn: CpuKernelFn;
}

const cache = new Map<string, Generated>();

/** Helpers the generated code calls (the renderer's, plus fast paths). */
export const JH = { ...H };

function compile(key: string, params: string[], body: string): Generated {
  const hit = cache.get(key);
  if (hit) return hit;
  const source = `(${params.join(', ')}) => {\n${body}\n}`;
  let fn: CpuKernelFn;
  try {
    fn = new Function('H', `"use strict";\nreturn ${source};`)(JH) as CpuKernelFn;
  } catch (e) {
    throw new Error(`internal: jit generated invalid JavaScript (${(e as Error).message}):\n${source}`);
  }
  const g = { source, fn };
  cache.set(key, g);
  return g;
}

/** Renders `expr`, replacing trace-time seeds of random sources with per-call seeds `S[j]`. */
function render(expr: Expr, load: (i: number) => string, index: string, seeds: readonly number[]) {
  const r = renderJs(expr, load, index);
  if (!seeds.length) return r;
  const fix = (s: string) => seeds.reduce((acc, seed, j) => acc.split(`H.rand(${seed}, `).join(`H.rand(S[${j}], `), s);
  return { stmts: r.stmts.map(fix), value: fix(r.value) };
}

/** Seeds of the random sources an expression contains. */
export function exprSeeds(e: Expr, out: number[] = [], seen = new Set<Expr>()): number[] {
  if (seen.has(e)) return out;
  seen.add(e);
  switch (e.k) {
    case 'rand': if (!out.includes(e.seed)) out.push(e.seed); break;
    case 'un': case 'cast': exprSeeds(e.a, out, seen); break;
    case 'bin': exprSeeds(e.a, out, seen); exprSeeds(e.b, out, seen); break;
    case 'where': exprSeeds(e.c, out, seen); exprSeeds(e.a, out, seen); exprSeeds(e.b, out, seen); break;
    default: break;
  }
  return out;
}

const lit = (n: number) => String(n);

/**
 * Nested loops over `shape`: level d keeps cursors `${c}_d` (one per name), starting from the
 * level above (or from `init` at level 0) and advancing by that level's strides.
 */
function loops(shape: readonly number[], names: readonly string[], strides: readonly (readonly number[])[], init: readonly string[], tag: string, body: (cur: (name: number) => string) => string[]): string[] {
  const rank = shape.length;
  const cur = (d: number) => (k: number) => `${names[k]}_${tag}${d}`;
  if (rank === 0) {
    return [`{`, ...names.map((_, k) => `let ${cur(0)(k)} = ${init[k]};`), ...body(cur(0)), `}`];
  }
  const level = (d: number): string[] => {
    const c = cur(d);
    const decl = names.map((_, k) => `${c(k)} = ${d === 0 ? init[k] : cur(d - 1)(k)}`).join(', ');
    const steps = names.map((_, k) => (strides[k]![d] ? `${c(k)} += ${strides[k]![d]};` : '')).filter(Boolean);
    return [
      ...(names.length ? [`let ${decl};`] : []),
      `for (let i_${tag}${d} = 0; i_${tag}${d} < ${shape[d]}; i_${tag}${d}++) {`,
      ...(d === rank - 1 ? body(c) : level(d + 1)),
      ...steps,
      '}',
    ];
  };
  return ['{', ...level(0), '}'];
}

/**
 * out[i] = expr(loads at i) over `shape`, out contiguous. Loads constant over the whole loop
 * (all strides 0) are read once.
 */
export function genElementwise(expr: Expr, shape: readonly number[], loads: readonly Load[], seeds: readonly number[] = []): Generated {
  const { shape: cs, strides } = collapseDims(shape, [contiguousStrides(shape), ...loads.map((l) => l.view.strides)]);
  const nIn = loads.length;
  const hoisted = loads.map((_, i) => strides[i + 1]!.every((s) => s === 0));
  const usesIndex = /index|rand/.test(exprKey(expr));
  const key = `ew|${exprKey(expr)}|${cs}|${strides.map((s) => s.join(',')).join(';')}|${loads.map((l) => l.view.offset)}|${seeds}`;
  const params = ['o', 'ob', ...loads.flatMap((_, i) => [`A${i}`, `b${i}`]), 'S'];
  const L: string[] = [];
  for (let i = 0; i < nIn; i++) if (hoisted[i]) L.push(`const v${i} = A${i}[b${i} + ${lit(loads[i]!.view.offset)}];`);
  const streamed = [...Array(nIn).keys()].filter((i) => !hoisted[i]);
  const names = ['qo', ...streamed.map((i) => `q${i}`)];
  const init = ['ob', ...streamed.map((i) => `b${i} + ${lit(loads[i]!.view.offset)}`)];
  const st = [strides[0]!, ...streamed.map((i) => strides[i + 1]!)];
  L.push(...loops(cs, names, st, init, 'e', (c) => {
    const { stmts, value } = render(expr, (i) => (hoisted[i] ? `v${i}` : `A${i}[${c(streamed.indexOf(i) + 1)}]`), usesIndex ? `(${c(0)} - ob)` : '0', seeds);
    return [...stmts, `o[${c(0)}] = ${value};`];
  }));
  return compile(key, params, L.join('\n'));
}

/**
 * out[kept] = reduce over `dims` of expr(loads) on `inShape` (out contiguous in kept-dim order);
 * NaN propagates through max/min as in the eager kernel.
 */
export function genReduce(kind: ReduceKind, expr: Expr, inShape: readonly number[], dims: readonly number[], loads: readonly Load[]): Generated {
  const kept = inShape.map((_, i) => i).filter((i) => !dims.includes(i));
  const outer = collapseDims(kept.map((i) => inShape[i]!), loads.map((l) => kept.map((i) => l.view.strides[i]!)));
  const inner = collapseDims(dims.map((i) => inShape[i]!), loads.map((l) => dims.map((i) => l.view.strides[i]!)));
  const key = `red|${kind}|${exprKey(expr)}|${outer.shape}|${outer.strides.map((s) => s.join(','))}|${inner.shape}|${inner.strides.map((s) => s.join(','))}|${loads.map((l) => l.view.offset)}`;
  const params = ['o', 'ob', ...loads.flatMap((_, i) => [`A${i}`, `b${i}`]), 'S'];
  const n = loads.length;
  const arg = kind === 'argmax' || kind === 'argmin';
  const init = kind === 'sum' ? '0' : kind === 'prod' ? '1' : kind === 'max' || kind === 'argmax' ? '-Infinity' : 'Infinity';
  // arg reductions: the first NaN, else the first extreme (as the eager kernel)
  const cmp = kind === 'argmax' ? '>' : '<';
  const combine = arg
    ? `if (!nan) { if (v !== v) { nan = true; best = cnt; } else if (v ${cmp} acc || cnt === 0) { acc = v; best = cnt; } } cnt++;`
    : kind === 'sum' ? 'acc += v;' : kind === 'prod' ? (expr.dtype === 'int32' ? 'acc = Math.imul(acc, v);' : 'acc *= v;')
      : kind === 'max' ? 'if (v > acc || v !== v) acc = v;' : 'if (v < acc || v !== v) acc = v;';
  const names = [...Array(n).keys()].map((i) => `p${i}`);
  const L: string[] = ['let oi = ob;'];
  const starts = names.map((_, i) => `b${i} + ${lit(loads[i]!.view.offset)}`);
  const r = outer.shape.length;
  if (arg || r === 0 || outer.shape[r - 1]! < 2) {
    L.push(...loops(outer.shape, names, outer.strides, starts, 'k', (ck) => [
      `let acc = ${init};`,
      ...(arg ? ['let best = 0, cnt = 0, nan = false;'] : []),
      ...loops(inner.shape, names, inner.strides, names.map((_, i) => ck(i)), 'r', (cr) => {
        const { stmts, value } = renderJs(expr, (i) => `A${i}[${cr(i)}]`, '0');
        return [...stmts, `const v = ${value};`, combine];
      }),
      arg ? 'o[oi++] = best;' : 'o[oi++] = acc;',
    ]));
    return compile(key, params, L.join('\n'));
  }
  // Plain reductions: neighbouring outputs along the innermost kept dim 4 (then 2) at a time, each
  // with its own accumulator over the same reduced offsets — every output adds in the same order
  // as one at a time (and as the eager kernel), but the additions of different outputs overlap
  // (see src/cpu/reduce.ts)
  const last = outer.shape[r - 1]!;
  const step = outer.strides.map((st) => st[r - 1]!);
  const g = (i: number) => `${names[i]}_g`;
  L.push(...loops(outer.shape.slice(0, -1), names, outer.strides.map((st) => st.slice(0, -1)), starts, 'k', (ck) => {
    const lines = [`let ${[...names.map((_, i) => `${g(i)} = ${ck(i)}`), 'kk = 0'].join(', ')};`];
    for (const lanes of [...REDUCE_LANES, 1]) {
      if (lanes > last) continue;
      const accs = [...Array(lanes).keys()].map((l) => `a${l}`);
      lines.push(lanes === 1 ? `for (; kk < ${last}; kk++) {` : `for (; kk + ${lanes} <= ${last}; kk += ${lanes}) {`);
      lines.push(`let ${accs.map((a) => `${a} = ${init}`).join(', ')};`);
      lines.push(...loops(inner.shape, names, inner.strides, names.map((_, i) => g(i)), 'r', (cr) => accs.map((a, l) => {
        const { stmts, value } = renderJs(expr, (i) => `A${i}[${cr(i)}${l && step[i] ? ` + ${l * step[i]!}` : ''}]`, '0');
        return `{ ${[...stmts, `const v = ${value};`, combine.replaceAll('acc', a)].join(' ')} }`;
      })));
      lines.push(accs.map((a) => `o[oi++] = ${a};`).join(' '));
      lines.push(...names.map((_, i) => (step[i] ? `${g(i)} += ${lanes * step[i]!};` : '')).filter(Boolean));
      lines.push('}');
    }
    return lines;
  }));
  return compile(key, params, L.join('\n'));
}

/** Number of distinct generated kernels (for stats and tests). */
export function generatedKernelCount(): number {
  return cache.size;
}
