/** @file Shape arithmetic: broadcasting, strides, dim normalisation. */
import { ShapeError } from './errors.ts';

export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function contiguousStrides(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** Whether `strides` lay `shape` out contiguously (row-major; the strides of size-1 dims do not matter). */
export function hasContiguousStrides(shape: Shape, strides: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const d = shape[i]!;
    if (d !== 1 && strides[i] !== expected) return false;
    expected *= d;
  }
  return true;
}

/**
 * Whether several elements of a view share one memory location (a stride-0 dim of size > 1: an
 * expand()ed view). A tensor without elements has none to share (zeros([3, 0]) has strides [0, 1]).
 */
export function hasInternalOverlap(shape: Shape, strides: readonly number[]): boolean {
  return !shape.includes(0) && strides.some((s, i) => s === 0 && shape[i]! > 1);
}

/** The products of the dims before and after `dim`: `shape` seen as [outer, shape[dim], inner]. */
export function aroundDim(shape: Shape, dim: number): { outer: number; inner: number } {
  let outer = 1, inner = 1;
  for (let d = 0; d < dim; d++) outer *= shape[d]!;
  for (let d = dim + 1; d < shape.length; d++) inner *= shape[d]!;
  return { outer, inner };
}

export function fmtShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The most dims a tensor may have (PyTorch's limit too). */
export const MAX_DIMS = 64;
/**
 * The most elements a tensor may hold: int32 indices (argmax, gather, nonzero) must be able to
 * address every element, and it stays under every JS engine's typed-array length limit.
 */
export const MAX_NUMEL = 2 ** 31 - 1;

/** One size for a message: a string stays quoted, so `['2']` does not read as `[2]`. */
export function fmtSize(d: unknown): string {
  if (typeof d === 'string') return JSON.stringify(d.length > 20 ? d.slice(0, 20) + '…' : d);
  if (typeof d === 'number' || typeof d === 'boolean' || typeof d === 'bigint' || d === null || d === undefined) return String(d);
  return Array.isArray(d) ? '[…]' : typeof d === 'object' ? '{…}' : typeof d;
}

/** A user-given shape for a message (module-level: checkShape runs for every fill and lifted number). */
function shownSizes(sizes: readonly unknown[]): string {
  return `[${sizes.map(fmtSize).join(', ')}]`;
}

/** Validates a user-given shape: an array of at most MAX_DIMS integers ≥ 0, holding at most MAX_NUMEL elements. */
export function checkShape(op: string, shape: Shape): number[] {
  const given: unknown = shape;
  if (!Array.isArray(given)) {
    const what = typeof given === 'string' ? `the string ${fmtSize(given)}` : ArrayBuffer.isView(given) ? `a ${given.constructor.name}` : typeof given === 'object' && given !== null ? 'an object' : String(given);
    throw new ShapeError(`${op}: expected a shape (an array of sizes), got ${what}`);
  }
  const sizes: readonly unknown[] = given;
  if (sizes.length > MAX_DIMS) throw new ShapeError(`${op}: shape has ${sizes.length} dims; at most ${MAX_DIMS} are supported`);
  let n = 1;
  for (let i = 0; i < sizes.length; i++) {
    const d = sizes[i];
    if (typeof d !== 'number') {
      throw new ShapeError(`${op}: size ${fmtSize(d)} at index ${i} of shape ${shownSizes(sizes)} is ${typeof d === 'string' ? 'a string' : d === null ? 'null' : `a ${typeof d}`}; sizes must be non-negative integers (numbers)`);
    }
    if (!Number.isInteger(d) || d < 0) {
      throw new ShapeError(`${op}: invalid size ${d} at index ${i} of shape ${shownSizes(sizes)}; sizes must be non-negative integers`);
    }
    // checked per size too: with a 0 elsewhere the product is 0 and would let 1e300 through
    if (d > MAX_NUMEL) throw new ShapeError(`${op}: size ${d} at index ${i} of shape ${shownSizes(sizes)} exceeds the limit of ${MAX_NUMEL} (2**31 - 1) elements`);
    n *= d;
  }
  if (n > MAX_NUMEL) {
    throw new ShapeError(`${op}: shape ${shownSizes(sizes)} has ${n} elements; at most ${MAX_NUMEL} (2**31 - 1) are supported`);
  }
  return [...sizes as number[]];
}

/** NumPy/PyTorch broadcasting of two shapes; throws naming the op and both shapes. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const oi = rank - s.length + i;
      const d = s[i]!, o = out[oi]!;
      if (d === o || d === 1) continue;
      if (o === 1) out[oi] = d;
      else {
        throw new ShapeError(
          `${op}: shapes ${shapes.map(fmtShape).join(' and ')} cannot be broadcast together ` +
            `(dim ${oi - rank} is ${o} vs ${d}; sizes must match or be 1)`,
        );
      }
    }
  }
  return out;
}

/** Maps a possibly negative dim into [0, ndim); throws for out-of-range. */
export function normDim(op: string, dim: number, ndim: number): number {
  if (!Number.isInteger(dim)) throw new ShapeError(`${op}: dim must be an integer, got ${typeof dim === 'string' ? `the string ${JSON.stringify(dim)}` : typeof dim === 'number' ? dim : `${typeof dim} ${String(dim)}`}`);
  const lo = ndim === 0 ? -1 : -ndim, hi = ndim === 0 ? 0 : ndim - 1;
  if (dim < lo || dim > hi) {
    throw new ShapeError(`${op}: dim ${dim} is out of range for a tensor of ${ndim} dims (expected ${lo}..${hi})`);
  }
  return dim < 0 ? dim + Math.max(ndim, 1) : dim;
}

/** Normalises a list of dims (undefined → all), rejecting duplicates; returns them sorted. */
export function normDims(op: string, dims: number | readonly number[] | undefined | null, ndim: number): number[] {
  if (dims === undefined || dims === null) return [...Array(ndim).keys()];
  const list = typeof dims === 'number' ? [dims] : dims;
  if (!Array.isArray(list)) throw new ShapeError(`${op}: dims must be an integer or a list of integers, got ${typeof list === 'string' ? `the string ${JSON.stringify(list)}` : `${typeof list} ${String(list)}`}`);
  const out = list.map((d) => normDim(op, d, ndim));
  const seen = new Set<number>();
  for (let i = 0; i < out.length; i++) {
    if (seen.has(out[i]!)) throw new ShapeError(`${op}: dim ${list[i]} appears more than once in [${list.join(', ')}]`);
    seen.add(out[i]!);
  }
  // a 0-d tensor reduced over dim 0/-1 has nothing to reduce
  return out.filter((d) => d < ndim).sort((a, b) => a - b);
}
