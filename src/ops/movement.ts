/**
 * @file Movement primitives. Views (reshape, permute, expand, slice) share storage and run no
 * kernel; contiguous, cat and pad copy.
 */
import type { Aval } from '../backend.ts';
import { DTypeError, ShapeError } from '../errors.ts';
import { contiguousStrides, fmtShape, numel } from '../shape.ts';
import { viewOp, type AxisAttrs, type PadAttrs, type TemplateOp, type ViewMeta } from './registry.ts';
import * as F from './functional.ts';

export interface ReshapeAttrs { readonly shape: readonly number[] }
export interface PermuteAttrs { readonly perm: readonly number[] }
export interface ExpandAttrs { readonly shape: readonly number[] }
export interface SliceAttrs {
  /** per dim: first index, number of elements, step (≥ 1) */
  readonly starts: readonly number[];
  readonly sizes: readonly number[];
  readonly steps: readonly number[];
}

/**
 * Strides for viewing `src` as `shape` without a copy, or null when impossible (PyTorch's rule:
 * each group of merged/split dims must be contiguous within itself).
 */
export function viewStrides(src: ViewMeta, shape: readonly number[]): number[] | null {
  const n = numel(shape);
  if (n === 0 || numel(src.shape) <= 1) return contiguousStrides(shape);
  // drop size-1 dims of the source: they constrain nothing
  const oldShape: number[] = [], oldStrides: number[] = [];
  src.shape.forEach((d, i) => { if (d !== 1) { oldShape.push(d); oldStrides.push(src.strides[i]!); } });
  const out = new Array<number>(shape.length);
  let oi = 0, ni = 0;
  while (ni < shape.length || oi < oldShape.length) {
    // size-1 target dims take any stride
    if (ni < shape.length && shape[ni] === 1) { out[ni] = 1; ni++; continue; }
    if (oi >= oldShape.length) return null;
    // grow a chunk of old dims and new dims with equal element counts
    let oldCount = oldShape[oi]!, newCount = shape[ni]!;
    const oStart = oi, nStart = ni;
    oi++; ni++;
    while (oldCount !== newCount) {
      if (oldCount < newCount) { if (oi >= oldShape.length) return null; oldCount *= oldShape[oi++]!; }
      else { if (ni >= shape.length) return null; while (shape[ni] === 1) { out[ni] = 1; ni++; } newCount *= shape[ni++]!; }
    }
    // the old dims of the chunk must be contiguous with each other
    for (let k = oStart; k < oi - 1; k++) if (oldStrides[k] !== oldStrides[k + 1]! * oldShape[k + 1]!) return null;
    let stride = oldStrides[oi - 1]!;
    for (let k = ni - 1; k >= nStart; k--) { out[k] = stride; stride *= shape[k]!; }
  }
  return out;
}

export const reshape = viewOp<ReshapeAttrs>({
  name: 'reshape',
  infer: ([x], { shape }) => {
    if (numel(shape) !== numel(x!.shape)) {
      throw new ShapeError(`reshape: cannot reshape a tensor of shape ${fmtShape(x!.shape)} (${numel(x!.shape)} elements) to ${fmtShape(shape)} (${numel(shape)} elements)`);
    }
    return { shape, dtype: x!.dtype };
  },
  view: (src, { shape }) => {
    const strides = viewStrides(src, shape);
    return strides ? { shape, strides, offset: src.offset } : null;
  },
  vjp: (g, { inAvals }) => [F.reshape(g, inAvals[0]!.shape)],
});

export const permute = viewOp<PermuteAttrs>({
  name: 'permute',
  infer: ([x], { perm }) => {
    const n = x!.shape.length;
    const ok = perm.length === n && [...perm].sort((a, b) => a - b).every((d, i) => d === i);
    if (!ok) throw new ShapeError(`permute: [${perm.join(', ')}] is not a permutation of the ${n} dims of a tensor of shape ${fmtShape(x!.shape)}`);
    return { shape: perm.map((d) => x!.shape[d]!), dtype: x!.dtype };
  },
  view: (src, { perm }) => ({ shape: perm.map((d) => src.shape[d]!), strides: perm.map((d) => src.strides[d]!), offset: src.offset }),
  vjp: (g, { attrs: { perm } }) => {
    const inv = new Array<number>(perm.length);
    perm.forEach((d, i) => { inv[d] = i; });
    return [F.permute(g, inv)];
  },
});

export const expand = viewOp<ExpandAttrs>({
  name: 'expand',
  infer: ([x], { shape }) => {
    const xs = x!.shape;
    const bad = () => new ShapeError(`expand: cannot expand a tensor of shape ${fmtShape(xs)} to ${fmtShape(shape)} (only size-1 dims can grow, and new dims go in front)`);
    const size = shape.findIndex((d) => !Number.isInteger(d) || d < 0);
    if (size >= 0) throw new ShapeError(`expand: invalid size ${shape[size]} at index ${size} of ${fmtShape(shape)} (expanding shape ${fmtShape(xs)}); sizes must be non-negative integers`);
    if (shape.length < xs.length) throw bad();
    for (let i = 0; i < xs.length; i++) {
      const d = xs[i]!, t = shape[shape.length - xs.length + i]!;
      if (d !== t && d !== 1) throw bad();
    }
    return { shape, dtype: x!.dtype };
  },
  view: (src, { shape }) => {
    const lead = shape.length - src.shape.length;
    const strides = shape.map((d, i) => (i < lead ? 0 : src.shape[i - lead] === d ? src.strides[i - lead]! : 0));
    return { shape, strides, offset: src.offset };
  },
  vjp: (g) => [g], // the engine sums the gradient back to the operand's shape
});

export const slice = viewOp<SliceAttrs>({
  name: 'slice',
  infer: ([x], { starts, sizes, steps }) => {
    const xs = x!.shape;
    xs.forEach((d, i) => {
      const s = starts[i]!, n = sizes[i]!, st = steps[i]!;
      if (!(st >= 1) || s < 0 || n < 0 || (n > 0 && s + (n - 1) * st >= d)) {
        throw new ShapeError(`slice: start ${s}, size ${n}, step ${st} is out of range for dim ${i} of size ${d} (shape ${fmtShape(xs)})`);
      }
    });
    return { shape: [...sizes], dtype: x!.dtype };
  },
  view: (src, { starts, sizes, steps }) => ({
    shape: [...sizes],
    strides: src.strides.map((s, i) => s * steps[i]!),
    offset: src.offset + src.strides.reduce((acc, s, i) => acc + s * starts[i]!, 0),
  }),
  // the slice's gradient is placed back into zeros at its positions
  vjp: (g, { attrs: { starts, sizes, steps }, inAvals }) => {
    const shape = inAvals[0]!.shape;
    const pads = shape.map((d, i) => {
      const end = sizes[i]! === 0 ? starts[i]! : starts[i]! + (sizes[i]! - 1) * steps[i]! + 1;
      return [starts[i]!, d - end] as const;
    });
    return [F.padStrided(g, pads, steps, 0)];
  },
});

export const contiguous: TemplateOp<'copy', Record<string, never>> = {
  kind: 'copy',
  name: 'contiguous',
  infer: ([x]) => ({ shape: x!.shape, dtype: x!.dtype }),
  vjp: (g) => [g],
};

export const cat: TemplateOp<'cat', AxisAttrs> = {
  kind: 'cat',
  name: 'cat',
  infer: (xs, { dim }) => {
    const first = xs[0]!;
    for (const [i, x] of xs.entries()) {
      if (x.dtype !== first.dtype) throw new DTypeError(`cat: tensor ${i} has dtype ${x.dtype}, tensor 0 has ${first.dtype} (internal promotion missing)`);
      if (x.shape.length !== first.shape.length || x.shape.some((d, k) => k !== dim && d !== first.shape[k])) {
        throw new ShapeError(`cat: tensor ${i} has shape ${fmtShape(x.shape)}, tensor 0 has ${fmtShape(first.shape)}; all dims except dim ${dim} must match`);
      }
    }
    const shape = [...first.shape];
    shape[dim] = xs.reduce((acc, x) => acc + x.shape[dim]!, 0);
    return { shape, dtype: first.dtype };
  },
  // the gradient of each piece is its slice of g
  vjp: (g, { attrs: { dim }, inAvals }) => {
    let at = 0;
    return inAvals.map((x) => {
      const piece = F.narrow(g, dim, at, x.shape[dim]!);
      at += x.shape[dim]!;
      return piece;
    });
  },
};

export const pad: TemplateOp<'pad', PadAttrs> = {
  kind: 'pad',
  name: 'pad',
  infer: ([x], { pads, steps }) => {
    const xs = x!.shape;
    if (pads.length !== xs.length || steps.length !== xs.length) {
      throw new ShapeError(`pad: got ${pads.length} pad pairs for a tensor of ${xs.length} dims`);
    }
    const shape = xs.map((d, i) => {
      const [lo, hi] = pads[i]!;
      if (lo < 0 || hi < 0 || !Number.isInteger(lo) || !Number.isInteger(hi)) throw new ShapeError(`pad: pads must be non-negative integers, got [${lo}, ${hi}] for dim ${i}`);
      return lo + hi + (d === 0 ? 0 : (d - 1) * steps[i]! + 1);
    });
    return { shape, dtype: x!.dtype };
  },
  // d pad(x) = the slice of g where x was placed
  vjp: (g, { attrs: { pads, steps }, inAvals }) => [
    F.sliceView(g, pads.map((p) => p[0]), inAvals[0]!.shape, steps),
  ],
};


