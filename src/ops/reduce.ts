/** @file Reduction primitives over a sorted list of dims, with keepdim. */
import type { Aval } from '../backend.ts';
import { DTypeError, ShapeError } from '../errors.ts';
import { fmtShape } from '../shape.ts';
import type { ReduceAttrs, ReduceKind, ReduceOp, Vjp } from './registry.ts';
import * as F from './functional.ts';

/** The kept-dims shape: reduced dims become 1. */
export function keptShape(shape: readonly number[], dims: readonly number[]): number[] {
  return shape.map((d, i) => (dims.includes(i) ? 1 : d));
}

function reduceRule(name: string, kind: ReduceKind) {
  return ([x]: readonly Aval[], { dims, keepdim }: ReduceAttrs): Aval => {
    const isArg = kind === 'argmax' || kind === 'argmin';
    if (x!.dtype === 'bool' && kind !== 'sum') throw new DTypeError(`${name}: expected a numeric tensor, got bool`);
    if ((kind === 'max' || kind === 'min' || isArg) && dims.some((d) => x!.shape[d] === 0)) {
      throw new ShapeError(`${name}: cannot reduce over an empty dim of a tensor of shape ${fmtShape(x!.shape)} (the operation has no identity)`);
    }
    const shape = keepdim ? keptShape(x!.shape, dims) : x!.shape.filter((_, i) => !dims.includes(i));
    const dtype = isArg ? 'int32' : (kind === 'sum' || kind === 'prod') && x!.dtype === 'bool' ? 'int32' : x!.dtype;
    return { shape, dtype };
  };
}

/** Gradient of a reduction output, reshaped to keepdim form and broadcast back over the input. */
function expandBack(g: import('../tensor.ts').Tensor, inShape: readonly number[], dims: readonly number[]) {
  return F.expand(F.reshape(g, keptShape(inShape, dims)), inShape);
}

const sumVjp: Vjp<ReduceAttrs> = (g, { inAvals, attrs }) => [expandBack(g, inAvals[0]!.shape, attrs.dims)]; // d Σx = Σ dx
// NOTE: ties share the gradient evenly (PyTorch's full max/amax rule).
const extremumVjp: Vjp<ReduceAttrs> = (g, { inputs: [x], out, attrs, inAvals }) => {
  const shape = inAvals[0]!.shape;
  const mask = F.eq(x!, expandBack(out!, shape, attrs.dims)).to(g.dtype);
  const count = F.sum(mask, attrs.dims, true);
  return [F.mul(expandBack(g, shape, attrs.dims), F.div(mask, count))];
};
/**
 * d Πx / dx_i = Π_{j≠i} x_j: Πx / x_i where the reduced slice has no zero; where it has one zero,
 * the product of the others at that zero and 0 elsewhere; where it has two or more, 0 (PyTorch's
 * prod_backward; Πx / x_i alone is NaN at a zero).
 */
const prodVjp: Vjp<ReduceAttrs> = (g, { inputs: [x], out, attrs, inAvals }) => {
  const shape = inAvals[0]!.shape;
  const { dims } = attrs;
  const isZero = F.eq(x!, 0);
  const zeros = F.sum(isZero.to('int32'), dims, true);
  const safeX = F.where(isZero, 1, x!);
  const others = F.prod(safeX, dims, true);
  const noZero = F.div(expandBack(out!, shape, dims), safeX);
  const oneZero = F.where(F.logicalAnd(isZero, F.eq(zeros, 1)), F.expand(others, shape), 0);
  return [F.mul(expandBack(g, shape, dims), F.where(F.eq(zeros, 0), noZero, oneZero))];
};

const def = (name: string, reduce: ReduceKind, rest: Partial<ReduceOp> = {}): ReduceOp => ({
  kind: 'reduce', name, reduce, infer: reduceRule(name, reduce), ...rest,
});

export const sum = def('sum', 'sum', { vjp: sumVjp });
export const amax = def('amax', 'max', { save: { inputs: [0], out: true }, vjp: extremumVjp });
export const amin = def('amin', 'min', { save: { inputs: [0], out: true }, vjp: extremumVjp });
export const prod = def('prod', 'prod', { save: { inputs: [0], out: true }, vjp: prodVjp });
export const argmax = def('argmax', 'argmax');
export const argmin = def('argmin', 'argmin');
