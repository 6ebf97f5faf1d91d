/**
 * @file In-place writes to views while tracing. Eagerly, `w.narrow(0, 0, 1).fill_(0)` writes into
 * w's storage; a traced graph has no storage, so the write is re-expressed as a new value of the
 * view's parent built from existing primitives, one view op at a time back to the base tensor:
 *
 * - reshape (of a layout eager could view): the written value reshaped back;
 * - permute: the written value permuted back;
 * - slice: a dense block along one dim (narrow, integer index) is `cat(parent before, value,
 *   parent after)`; any other slice (strided, or cut in several dims) is
 *   `where(mask, pad(value), parent)`, the mask being the slice's positions (pad of a constant true);
 * - expand: only when it adds no element (size-1 dims); writing through a broadcast is an error,
 *   as in PyTorch (several elements of the view are one memory location).
 *
 * The base's new value then becomes the state update (or the argument's, or the intermediate's new
 * value), and every view of that base is re-read from it.
 */
import type { Device } from '../backend.ts';
import { AutogradError } from '../errors.ts';
import { prims } from '../ops/prims.ts';
import type { OpDef } from '../ops/registry.ts';
import type { PermuteAttrs, SliceAttrs } from '../ops/movement.ts';
import { fmtShape, numel, sameShape } from '../shape.ts';
import type { GNode, Graph } from './graph.ts';

/**
 * The new value of `parent` after `value` was written into its view `op(parent; attrs)`.
 * Throws an AutogradError naming the view when the write has no meaning (a broadcast view).
 */
export function writeThroughView(b: Graph, parent: GNode, op: OpDef, attrs: unknown, value: GNode, device: Device, what: string): GNode {
  switch (op) {
    case prims.reshape:
      return b.add(prims.reshape, [value], { shape: [...parent.shape] }, device);
    case prims.permute: {
      const { perm } = attrs as PermuteAttrs;
      const inv = new Array<number>(perm.length);
      perm.forEach((d, i) => { inv[d] = i; });
      return b.add(prims.permute, [value], { perm: inv }, device);
    }
    case prims.expand:
      // adding size-1 dims (or leading dims of size 1) aliases nothing: a reshape back
      if (numel(value.shape) === numel(parent.shape)) return b.add(prims.reshape, [value], { shape: [...parent.shape] }, device);
      throw new AutogradError(
        `jit: ${what} writes in place to a broadcast view (expand of ${fmtShape(parent.shape)} to ${fmtShape(value.shape)}): several of its elements are one memory location, ` +
          'so the write has no single meaning (PyTorch refuses it too); clone() the expanded tensor first',
      );
    case prims.slice: {
      const { starts, sizes, steps } = attrs as SliceAttrs;
      if (sameShape(sizes, parent.shape) && steps.every((s) => s === 1)) return value;
      if (numel(sizes) === 0) return parent;
      const cut = parent.shape.flatMap((d, i) => (sizes[i] === d && steps[i] === 1 ? [] : [i]));
      if (cut.length === 1 && steps[cut[0]!] === 1) {
        // a dense block along one dim (narrow, integer index): the parent's two sides around the
        // value, concatenated — one copy, no mask
        const d = cut[0]!, lo = starts[d]!, hi = lo + sizes[d]!;
        const side = (from: number, to: number) =>
          b.add(prims.slice, [parent], { starts: parent.shape.map((_, i) => (i === d ? from : 0)), sizes: parent.shape.map((n, i) => (i === d ? to - from : n)), steps: parent.shape.map(() => 1) }, device);
        const pieces = [...(lo > 0 ? [side(0, lo)] : []), value, ...(hi < parent.shape[d]! ? [side(hi, parent.shape[d]!)] : [])];
        return b.add(prims.cat, pieces, { dim: d }, device);
      }
      const pads = parent.shape.map((d, i) => {
        const end = starts[i]! + (sizes[i]! - 1) * steps[i]! + 1;
        return [starts[i]!, d - end] as [number, number];
      });
      const padAttrs = { pads, steps: [...steps], value: 0 };
      const placed = b.add(prims.pad, [value], padAttrs, device);
      // NOTE: the mask, not the padding value, decides which elements are the view's: a written
      // NaN or Inf lands as it is, and the parent's other elements are kept bit for bit
      const ones = b.constant(1, 'bool', device, sizes);
      const mask = b.add(prims.pad, [ones], padAttrs, device);
      return b.add(prims.where, [mask, placed, parent], {}, device);
    }
    default:
      throw new AutogradError(`jit: ${what} writes in place to a view made by '${op.name}', which the compiler cannot write through; write to a clone() or to the base tensor`);
  }
}
