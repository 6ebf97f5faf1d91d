/**
 * @file Scalar expressions: the one definition of every elementwise kernel. The CPU renderer turns
 * them into JavaScript, the WGSL renderer into shader code, and the jit fuses them into larger ones.
 */
import type { DType } from '../dtype.ts';

export const UNARY_EXPR_OPS = [
  'neg', 'exp', 'log', 'sin', 'cos', 'sqrt', 'rsqrt', 'recip', 'abs', 'sign', 'tanh', 'sigmoid',
  'relu', 'log1p', 'expm1', 'erf', 'floor', 'ceil', 'trunc', 'round', 'not', 'isnan',
] as const;
export type UnaryExprOp = (typeof UNARY_EXPR_OPS)[number];

export const BINARY_EXPR_OPS = [
  'add', 'sub', 'mul', 'div', 'pow', 'max', 'min', 'mod',
  'lt', 'le', 'gt', 'ge', 'eq', 'ne', 'and', 'or', 'xor',
] as const;
export type BinaryExprOp = (typeof BINARY_EXPR_OPS)[number];

/** A node of a scalar expression DAG. Every node knows its dtype; shared subtrees are shared objects. */
export type Expr =
  | { readonly k: 'in'; readonly i: number; readonly dtype: DType }
  | { readonly k: 'const'; readonly v: number; readonly dtype: DType }
  | { readonly k: 'un'; readonly op: UnaryExprOp; readonly a: Expr; readonly dtype: DType }
  | { readonly k: 'bin'; readonly op: BinaryExprOp; readonly a: Expr; readonly b: Expr; readonly dtype: DType }
  | { readonly k: 'where'; readonly c: Expr; readonly a: Expr; readonly b: Expr; readonly dtype: DType }
  | { readonly k: 'cast'; readonly a: Expr; readonly dtype: DType }
  /** Uniform float in [0, 1) from a counter-based hash of (seed, linear output index). */
  | { readonly k: 'rand'; readonly seed: number; readonly dtype: DType }
  /** The linear index of the output element (for iota-style sources). */
  | { readonly k: 'index'; readonly dtype: DType };

const BOOL_RESULT: ReadonlySet<string> = new Set(['lt', 'le', 'gt', 'ge', 'eq', 'ne', 'and', 'or', 'xor', 'not', 'isnan']);

/** Builders for expressions. */
export const E = {
  input: (i: number, dtype: DType): Expr => ({ k: 'in', i, dtype }),
  const: (v: number, dtype: DType): Expr => ({ k: 'const', v, dtype }),
  un: (op: UnaryExprOp, a: Expr): Expr => ({ k: 'un', op, a, dtype: BOOL_RESULT.has(op) ? 'bool' : a.dtype }),
  bin: (op: BinaryExprOp, a: Expr, b: Expr): Expr => ({ k: 'bin', op, a, b, dtype: BOOL_RESULT.has(op) ? 'bool' : a.dtype }),
  where: (c: Expr, a: Expr, b: Expr): Expr => ({ k: 'where', c, a, b, dtype: a.dtype }),
  cast: (a: Expr, dtype: DType): Expr => (a.dtype === dtype ? a : { k: 'cast', a, dtype }),
  rand: (seed: number): Expr => ({ k: 'rand', seed: seed >>> 0, dtype: 'float32' }),
  index: (): Expr => ({ k: 'index', dtype: 'int32' }),
};

/**
 * A canonical string for an expression (cache key for rendered kernels); shared nodes are numbered.
 * `leaf`, when given, may replace a constant's or a rand node's token (a key that leaves their
 * values out: src/cpu/elementwise.ts); it is called once per distinct node, in key order.
 */
// NOTE: not memoised per expression object: eager ops build a fresh expression for every call,
// and a WeakMap entry per op cost the eager MNIST example ~6 % (self time and collections)
export function exprKey(root: Expr, leaf?: (e: Expr) => string | null): string {
  return keyOf(root, new Map(), leaf);
}

// NOTE: a module-level recursion rather than a closure made per call: exprKey runs for every
// eager elementwise op, and under tsx (esbuild's keepNames) each named closure costs a
// defineProperty when it is created
function keyOf(e: Expr, ids: Map<Expr, number>, leaf: ((e: Expr) => string | null) | undefined): string {
  const seen = ids.get(e);
  if (seen !== undefined) return `#${seen}`;
  let s: string;
  switch (e.k) {
    case 'in': s = `in${e.i}:${e.dtype}`; break;
    case 'const': s = leaf?.(e) ?? `c(${Object.is(e.v, -0) ? '-0' : String(e.v)}):${e.dtype}`; break;
    case 'un': s = `${e.op}(${keyOf(e.a, ids, leaf)})`; break;
    case 'bin': s = `${e.op}(${keyOf(e.a, ids, leaf)},${keyOf(e.b, ids, leaf)})`; break;
    case 'where': s = `where(${keyOf(e.c, ids, leaf)},${keyOf(e.a, ids, leaf)},${keyOf(e.b, ids, leaf)})`; break;
    case 'cast': s = `cast<${e.dtype}>(${keyOf(e.a, ids, leaf)})`; break;
    case 'rand': s = leaf?.(e) ?? `rand(${e.seed})`; break;
    case 'index': s = 'index'; break;
    default: return e satisfies never;
  }
  ids.set(e, ids.size);
  return s;
}

/** Number of times each node is referenced from its parents (renderers bind shared nodes to temporaries). */
export function exprUses(root: Expr): Map<Expr, number> {
  const uses = new Map<Expr, number>();
  const stack: Expr[] = [root];
  while (stack.length) {
    const e = stack.pop()!;
    const n = (uses.get(e) ?? 0) + 1;
    uses.set(e, n);
    if (n > 1) continue;
    switch (e.k) {
      case 'un': case 'cast': stack.push(e.a); break;
      case 'bin': stack.push(e.a, e.b); break;
      case 'where': stack.push(e.c, e.a, e.b); break;
      case 'in': case 'const': case 'rand': case 'index': break;
      default: e satisfies never;
    }
  }
  return uses;
}
