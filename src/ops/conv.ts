/**
 * @file im2col and its adjoint: unfold gathers every kernel window of an NCHW image into a column;
 * fold scatters columns back, summing overlaps. Convolution and pooling are built on them.
 */
import type { Aval } from '../backend.ts';
import { ShapeError } from '../errors.ts';
import { fmtShape } from '../shape.ts';
import type { FoldAttrs, TemplateOp, UnfoldAttrs } from './registry.ts';
import * as F from './functional.ts';

/** Output spatial size of a window sweep; throws when the window does not fit. */
export function windowOutSize(op: string, size: number, k: number, s: number, p: number, d: number): number {
  const span = d * (k - 1) + 1;
  const out = Math.floor((size + 2 * p - span) / s) + 1;
  if (out < 1) throw new ShapeError(`${op}: kernel of extent ${span} (size ${k}, dilation ${d}) does not fit input size ${size} with padding ${p}`);
  return out;
}

function checkWindow(op: string, a: UnfoldAttrs) {
  const all = [...a.kernel, ...a.stride, ...a.dilation];
  if (all.some((v) => !Number.isInteger(v) || v < 1) || a.padding.some((p) => !Number.isInteger(p) || p < 0)) {
    throw new ShapeError(`${op}: kernel ${fmtShape(a.kernel)}, stride ${fmtShape(a.stride)} and dilation ${fmtShape(a.dilation)} must be positive integers and padding ${fmtShape(a.padding)} non-negative`);
  }
}

export const unfold: TemplateOp<'unfold', UnfoldAttrs> = {
  kind: 'unfold',
  name: 'unfold',
  infer: ([x], a): Aval => {
    const s = x!.shape;
    if (s.length !== 4) throw new ShapeError(`unfold: expected an input of shape [N, C, H, W], got ${fmtShape(s)}`);
    checkWindow('unfold', a);
    const oh = windowOutSize('unfold', s[2]!, a.kernel[0], a.stride[0], a.padding[0], a.dilation[0]);
    const ow = windowOutSize('unfold', s[3]!, a.kernel[1], a.stride[1], a.padding[1], a.dilation[1]);
    return { shape: [s[0]!, s[1]! * a.kernel[0] * a.kernel[1], oh * ow], dtype: x!.dtype };
  },
  // unfold is linear; its adjoint is fold (sum each column entry back into its pixel)
  vjp: (g, { attrs, inAvals }) => {
    const s = inAvals[0]!.shape;
    return [F.fold(g, { ...attrs, padValue: 0, inputSize: [s[2]!, s[3]!] })];
  },
};

export const fold: TemplateOp<'fold', FoldAttrs> = {
  kind: 'fold',
  name: 'fold',
  infer: ([x], a): Aval => {
    const s = x!.shape;
    checkWindow('fold', a);
    const kk = a.kernel[0] * a.kernel[1];
    const oh = windowOutSize('fold', a.inputSize[0], a.kernel[0], a.stride[0], a.padding[0], a.dilation[0]);
    const ow = windowOutSize('fold', a.inputSize[1], a.kernel[1], a.stride[1], a.padding[1], a.dilation[1]);
    if (s.length !== 3 || s[1]! % kk !== 0 || s[2] !== oh * ow) {
      throw new ShapeError(`fold: expected columns of shape [N, C·${kk}, ${oh * ow}], got ${fmtShape(s)}`);
    }
    return { shape: [s[0]!, s[1]! / kk, a.inputSize[0], a.inputSize[1]], dtype: x!.dtype };
  },
  // fold is the adjoint of unfold, so its adjoint is unfold
  vjp: (g, { attrs }) => [F.unfold(g, { ...attrs, padValue: 0 })],
};
