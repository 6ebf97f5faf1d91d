/** @file gather and its adjoint scatterAdd, along one dim (PyTorch semantics). */
import { DTypeError, ShapeError } from '../errors.ts';
import { fmtShape } from '../shape.ts';
import type { AxisAttrs, TemplateOp } from './registry.ts';
import * as F from './functional.ts';

export const gather: TemplateOp<'gather', AxisAttrs> = {
  kind: 'gather',
  name: 'gather',
  nondiff: [1],
  infer: ([x, idx], { dim }) => {
    if (idx!.dtype !== 'int32') throw new DTypeError(`gather: index must be int32, got ${idx!.dtype}`);
    const xs = x!.shape, is = idx!.shape;
    if (xs.length !== is.length || is.some((d, i) => i !== dim && d > xs[i]!)) {
      throw new ShapeError(`gather: index of shape ${fmtShape(is)} does not fit input of shape ${fmtShape(xs)} along dim ${dim} (same number of dims, index no larger outside dim)`);
    }
    return { shape: is, dtype: x!.dtype };
  },
  save: { inputs: [1] },
  // out[..i..] = x[..idx[..i..]..] ⇒ x̄ = scatterAdd(0, idx, g)
  vjp: (g, { inputs: [, idx], attrs: { dim }, inAvals }) => [
    F.scatterAdd(F.zeros(inAvals[0]!.shape, { dtype: g.dtype, device: g.device }), dim, idx!, g),
    null,
  ],
};

export const scatterAdd: TemplateOp<'scatterAdd', AxisAttrs> = {
  kind: 'scatterAdd',
  name: 'scatterAdd',
  nondiff: [1],
  infer: ([base, idx, src], { dim }) => {
    if (idx!.dtype !== 'int32') throw new DTypeError(`scatterAdd: index must be int32, got ${idx!.dtype}`);
    if (base!.dtype !== src!.dtype) throw new DTypeError(`scatterAdd: src is ${src!.dtype} but the tensor it is added into is ${base!.dtype}; the dtypes must match (as in PyTorch): cast src first, e.g. src.to('${base!.dtype}')`);
    const bs = base!.shape, is = idx!.shape, ss = src!.shape;
    if (bs.length !== is.length || ss.length !== is.length || is.some((d, i) => d > ss[i]! || (i !== dim && d > bs[i]!))) {
      throw new ShapeError(`scatterAdd: index ${fmtShape(is)}, src ${fmtShape(ss)} and base ${fmtShape(bs)} do not fit along dim ${dim}`);
    }
    return { shape: bs, dtype: base!.dtype };
  },
  save: { inputs: [1] },
  // out = base + scatter(src) ⇒ basē = g, src̄ = gather(g, idx)
  // src may be larger than the index; its entries beyond the index's extent are never read (zero gradient)
  vjp: (g, { inputs: [, idx], attrs: { dim }, inAvals }) => {
    const gs = F.gather(g, dim, idx!), ss = inAvals[2]!.shape;
    return [g, null, F.padStrided(gs, ss.map((d, i) => [0, d - gs.shape[i]!] as const), ss.map(() => 1), 0)];
  },
};
