/**
 * @file Float32 rounding after every operation of an expression, for the JavaScript renderer.
 * The JS renderer evaluates an expression in double and rounds once, at the store; eager kernels
 * of one-operation primitives, and the WebAssembly and WGSL renderers (f32 arithmetic), round
 * after every operation. Expressions rendered in JS where those would round each step (the jit's
 * fused kernels, the fused-update primitives) go through `roundAll` first, so every path gives
 * the same bits.
 */
import type { Expr } from '../ops/expr.ts';

const EXACT_UN: ReadonlySet<string> = new Set(['neg', 'abs', 'relu', 'sign', 'floor', 'ceil', 'trunc', 'round']);
const EXACT_BIN: ReadonlySet<string> = new Set(['max', 'min']);

/** e rounded to float32 as a store to a Float32Array rounds it (renders as Math.fround). */
function round32(e: Expr): Expr {
  return { k: 'cast', dtype: 'float32', a: { k: 'cast', dtype: 'float64', a: e } };
}

/**
 * The expression with every float32 operation rounded to float32, as eager kernels (one op each,
 * stored to a Float32Array) and the WebAssembly and WGSL renderers (f32 arithmetic) compute it;
 * the JS renderer alone would keep intermediates in double. Ops exact in float32 are left alone.
 */
export function roundAll(root: Expr): Expr {
  return rounded(root, new Map());
}

// a module-level recursion, not a closure per call (roundAll runs for ops with `roundSteps`; see exprKey's note)
function rounded(e: Expr, memo: Map<Expr, Expr>): Expr {
  const hit = memo.get(e);
  if (hit) return hit;
  let r: Expr;
  switch (e.k) {
    case 'in': case 'const': case 'index': case 'rand': r = e; break;
    case 'un': r = { ...e, a: rounded(e.a, memo) }; if (e.dtype === 'float32' && !EXACT_UN.has(e.op)) r = round32(r); break;
    case 'bin': r = { ...e, a: rounded(e.a, memo), b: rounded(e.b, memo) }; if (e.dtype === 'float32' && !EXACT_BIN.has(e.op)) r = round32(r); break;
    case 'where': r = { ...e, c: rounded(e.c, memo), a: rounded(e.a, memo), b: rounded(e.b, memo) }; break;
    case 'cast': r = { ...e, a: rounded(e.a, memo) }; if (e.dtype === 'float32' && e.a.dtype === 'int32') r = round32(r); break;
    default: return e satisfies never;
  }
  memo.set(e, r);
  return r;
}
