/**
 * @file Constant folding: an elementwise op whose operands are all constants becomes a constant
 * (evaluated with the CPU renderer's own code for the op's expression, so the value is exactly
 * what the kernel would compute); views of a constant, and max/min (and integer sums) over one,
 * are constants of the new shape.
 */
import { renderJs, H } from '../../cpu/render.ts';
import { arrayFor, type DType } from '../../dtype.ts';
import { E } from '../../ops/expr.ts';
import type { ReduceOp } from '../../ops/registry.ts';
import { constValue, rebuild, type GNode, type Graph } from '../graph.ts';

/** Rounds a JS number to what a tensor of `dtype` stores. */
export function storeAs(v: number, dtype: DType): number {
  const a = arrayFor(dtype, 1);
  a[0] = dtype === 'bool' ? (v ? 1 : 0) : v;
  return a[0]!;
}

/** Evaluates an elementwise op on constant operands. */
export function evalElementwise(n: GNode, values: readonly number[]): number {
  if (n.op?.kind !== 'elementwise') throw new Error('internal: evalElementwise on a non-elementwise node');
  const expr = n.op.expr(values.map((v, i) => E.const(v, n.inputs[i]!.dtype)), n.attrs as never, n.aval);
  const { stmts, value } = renderJs(expr, () => 'NaN', '0');
  const f = new Function('H', `${stmts.join('\n')}\nreturn ${value};`) as (h: typeof H) => number;
  return storeAs(f(H), n.dtype);
}

/** One node folded, or null. */
export function foldNode(n: GNode, ins: readonly GNode[], b: Graph): GNode | null {
  const op = n.op!;
  if (ins.length === 0) return null;
  const vals = ins.map(constValue);
  if (vals.some((v) => v === undefined)) return null;
  const v0 = vals[0]!;
  switch (op.kind) {
    case 'elementwise': {
      const v = evalElementwise(n, vals as number[]);
      return b.constant(v, n.dtype, n.device, n.shape);
    }
    case 'view':
      return b.constant(v0, n.dtype, n.device, n.shape);
    case 'copy':
      return b.constant(v0, n.dtype, n.device, n.shape);
    case 'reduce': {
      const r = (op as ReduceOp).reduce;
      const count = ins[0]!.numel / Math.max(1, n.numel);
      if (ins[0]!.numel === 0) return null;
      if (r === 'max' || r === 'min') return b.constant(v0, n.dtype, n.device, n.shape);
      // NOTE: integer sums only: v·n is then exactly what the sequential sum gives
      if (r === 'sum' && Number.isInteger(v0) && Math.abs(v0 * count) < 2 ** 24) return b.constant(storeAs(v0 * count, n.dtype), n.dtype, n.device, n.shape);
      return null;
    }
    default:
      return null;
  }
}

/** The constant-folding pass. */
export function fold(g: Graph): Graph {
  return rebuild(g, (n, ins, b) => foldNode(n, ins, b)).graph;
}
