/** @file Reduction primitives over a sorted list of dims, with keepdim. */
import type { Aval } from '../backend.ts';
import { DTypeError, ShapeError } from '../errors.ts';
import { fmtShape } from '../shape.ts';
import type { ReduceAttrs, ReduceKind, ReduceOp, Vjp } from './registry.ts';
import * as F from './functional.ts';
import { isGradEnabled } from '../tape.ts';
import type { Tensor } from '../tensor.ts';

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
  // NOTE: under createGraph the gradient must itself be differentiable in every x_j, zeros
  // included: the where()s below make it a constant 0 there (the Hessian of x=[0,2,3] read
  // [0,3,2], not [5,3,2]); PyTorch switches to cumulative products then, and so does this
  if (isGradEnabled()) return [F.mul(expandBack(g, shape, dims), othersProduct(x!, dims))];
  const isZero = F.eq(x!, 0);
  const zeros = F.sum(isZero.to('int32'), dims, true);
  const safeX = F.where(isZero, 1, x!);
  const others = F.prod(safeX, dims, true);
  const noZero = F.div(expandBack(out!, shape, dims), safeX);
  const oneZero = F.where(F.logicalAnd(isZero, F.eq(zeros, 1)), F.expand(others, shape), 0);
  return [F.mul(expandBack(g, shape, dims), F.where(F.eq(zeros, 0), noZero, oneZero))];
};

/**
 * Π_{j≠i} x_j over the reduced `dims`, for every i, as the product of an exclusive prefix and an
 * exclusive suffix product (log₂ n shift-and-multiply steps each): only multiplications, so
 * differentiable to any order with zeros anywhere.
 */
function othersProduct(x: Tensor, dims: readonly number[]): Tensor {
  const kept = x.shape.map((_, i) => i).filter((i) => !dims.includes(i));
  const perm = [...kept, ...dims];
  const permuted = F.permute(x, perm);
  const n = dims.reduce((a, d) => a * x.shape[d]!, 1);
  const flat = F.reshape(permuted, [...kept.map((d) => x.shape[d]!), n]);
  if (n === 0) return F.zerosLike(x);
  // shifted by s along the last dim toward higher (+) or lower (−) indices, filled with 1
  const shift = (t: Tensor, s: number) => (s > 0 ? F.pad(F.narrow(t, -1, 0, n - s), [s, 0], 1) : F.pad(F.narrow(t, -1, -s, n + s), [0, -s], 1));
  let prefix = flat, suffix = flat;
  for (let s = 1; s < n; s *= 2) {
    prefix = F.mul(prefix, shift(prefix, s));
    suffix = F.mul(suffix, shift(suffix, -s));
  }
  const others = F.mul(shift(prefix, 1), shift(suffix, -1));
  const back = perm.map((_, i) => perm.indexOf(i));
  return F.permute(F.reshape(others, permuted.shape), back);
}

const def = (name: string, reduce: ReduceKind, rest: Partial<ReduceOp> = {}): ReduceOp => ({
  kind: 'reduce', name, reduce, infer: reduceRule(name, reduce), ...rest,
});

export const sum = def('sum', 'sum', { vjp: sumVjp });
export const amax = def('amax', 'max', { save: { inputs: [0], out: true }, vjp: extremumVjp });
export const amin = def('amin', 'min', { save: { inputs: [0], out: true }, vjp: extremumVjp });
export const prod = def('prod', 'prod', { save: { inputs: [0], out: true }, vjp: prodVjp });
export const argmax = def('argmax', 'argmax');
export const argmin = def('argmin', 'argmin');
