/**
 * @file Plain-JS n-d array arithmetic used as the reference in tests: row-major index math,
 * broadcasting, reductions. Deliberately naive (no strides tricks) so it is easy to trust.
 */

export type Shape = readonly number[];

export function numel(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
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

/** Multi-index of the row-major linear index `i` in `shape`. */
export function unravel(i: number, shape: Shape): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d]!;
    idx[d] = i % n;
    i = Math.floor(i / n);
  }
  return idx;
}

export function ravel(idx: readonly number[], shape: Shape): number {
  let i = 0;
  for (let d = 0; d < shape.length; d++) i = i * shape[d]! + idx[d]!;
  return i;
}

/** NumPy broadcasting of shapes; throws on mismatch. */
export function broadcastShape(...shapes: Shape[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    s.forEach((d, i) => {
      const o = rank - s.length + i;
      if (d === out[o] || d === 1) return;
      if (out[o] === 1) out[o] = d;
      else throw new Error(`broadcastShape: [${shapes.map((x) => `[${x}]`).join(', ')}] do not broadcast`);
    });
  }
  return out;
}

/** Row-major linear index into an operand of shape `shape` for output multi-index `outIdx` (broadcast). */
export function broadcastIndex(outIdx: readonly number[], shape: Shape): number {
  const lead = outIdx.length - shape.length;
  let i = 0;
  for (let d = 0; d < shape.length; d++) i = i * shape[d]! + (shape[d] === 1 ? 0 : outIdx[d + lead]!);
  return i;
}

/** Elementwise map over broadcast operands. */
export function mapBroadcast(
  operands: readonly { values: readonly number[]; shape: Shape }[],
  fn: (...xs: number[]) => number,
): { values: number[]; shape: number[] } {
  const shape = broadcastShape(...operands.map((o) => o.shape));
  const n = numel(shape);
  const values = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, shape);
    values[i] = fn(...operands.map((o) => o.values[broadcastIndex(idx, o.shape)]!));
  }
  return { values, shape };
}

/** Reduces over sorted `dims` with `fn(acc, x, positionInGroup)`; the kept shape follows `keepdim`. */
export function reduceDims(
  values: readonly number[],
  shape: Shape,
  dims: readonly number[],
  keepdim: boolean,
  init: number,
  fn: (acc: number, x: number, k: number) => number,
): { values: number[]; shape: number[] } {
  const kept = shape.map((d, i) => (dims.includes(i) ? 1 : d));
  const out = new Array<number>(numel(kept)).fill(init);
  const counts = new Array<number>(out.length).fill(0);
  for (let i = 0; i < values.length; i++) {
    const idx = unravel(i, shape).map((v, d) => (dims.includes(d) ? 0 : v));
    const o = ravel(idx, kept);
    out[o] = fn(out[o]!, values[i]!, counts[o]!++);
  }
  return { values: out, shape: keepdim ? kept : shape.filter((_, i) => !dims.includes(i)) };
}

/** Values of a permuted view: out[i...] = x[perm-indexed]. */
export function permuteValues(values: readonly number[], shape: Shape, perm: readonly number[]): number[] {
  const outShape = perm.map((p) => shape[p]!);
  const n = numel(outShape);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const oi = unravel(i, outShape);
    const src = new Array<number>(shape.length);
    perm.forEach((p, d) => { src[p] = oi[d]!; });
    out[i] = values[ravel(src, shape)]!;
  }
  return out;
}

/** Values of a strided slice view. */
export function sliceValues(
  values: readonly number[], shape: Shape, starts: readonly number[], sizes: readonly number[], steps: readonly number[],
): number[] {
  const n = numel(sizes);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const oi = unravel(i, sizes);
    out[i] = values[ravel(oi.map((v, d) => starts[d]! + v * steps[d]!), shape)]!;
  }
  return out;
}

/** Values of `x` broadcast to `shape`. */
export function expandValues(values: readonly number[], from: Shape, to: Shape): number[] {
  const n = numel(to);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = values[broadcastIndex(unravel(i, to), from)]!;
  return out;
}

/** Flattens nested arrays (as returned by toArraySync) into numbers (booleans → 0/1). */
export function flat(x: unknown): number[] {
  if (Array.isArray(x)) return x.flatMap(flat);
  if (typeof x === 'boolean') return [x ? 1 : 0];
  return [x as number];
}

/** Short printout of a list of numbers. */
export function fmtValues(values: ArrayLike<number>, max = 24): string {
  const xs = Array.from(values).slice(0, max).map((v) => (Number.isInteger(v) ? String(v) : v.toPrecision(6)));
  return `[${xs.join(', ')}${values.length > max ? `, … (${values.length} values)` : ''}]`;
}
