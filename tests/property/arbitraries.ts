/**
 * @file fast-check arbitraries for the property suites: shapes (0-d, size-1, broadcast pairs and
 * triples), non-contiguous layouts (a view of a larger leaf: permuted, strided-sliced, expanded),
 * and value domains that keep each op away from its kinks, poles and ties.
 *
 * Everything an arbitrary produces is plain data (shapes and number arrays), so a failing case
 * prints readably and replays exactly; tensors are built from it in the test.
 */
import fc from 'fast-check';
import { tensor, type Tensor } from '../../src/index.ts';
import * as F from '../../src/ops/functional.ts';
import { expandValues, numel, permuteValues, sliceValues, type Shape } from '../helpers/ndarray.ts';

// ------------------------------------------------------------------ value domains

/**
 * Where values are drawn from. Every domain keeps a margin of at least ~0.05 from the points where
 * the ops that use it are not differentiable, far above the finite-difference step (1e-6).
 */
export type Domain =
  /** [-2, 2]: smooth ops */
  | 'real'
  /** [0.25, 2.5]: log, sqrt, rsqrt, reciprocal, the base of pow */
  | 'positive'
  /** ±[0.25, 2]: abs, sign, relu, leakyRelu, divisors */
  | 'nonzero'
  /** ±[0.5, 1.5]: prod (products stay O(1), no zero factor) */
  | 'unitish'
  /** (-0.7, 2]: log1p */
  | 'aboveMinusOne'
  /** [0.05, 0.95]: binaryCrossEntropy's probabilities and targets */
  | 'probability'
  /** k + f with f ∈ [0.1, 0.4] ∪ [0.6, 0.9]: floor/ceil/trunc/round (away from integers and halves) */
  | 'offInteger'
  /** all values of the tensor pairwise ≥ 0.1 apart: max/min reductions, argmax, sort-like ops */
  | 'distinct'
  /** 0.2k ± 0.03: with 'lattice1', two operands that never tie (maximum, minimum, clamp bounds) */
  | 'lattice0'
  /** 0.2k + 0.1 ± 0.03 */
  | 'lattice1'
  /** small integers −2..2 as floats: comparisons, with many exact ties */
  | 'smallInt'
  /** 'smallInt' with NaN and ±Infinity mixed in: comparisons, isnan */
  | 'special';

const dbl = (min: number, max: number) => fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
const signed = (lo: number, hi: number) => fc.tuple(fc.boolean(), dbl(lo, hi)).map(([s, v]) => (s ? -v : v));

function scalarArb(domain: Exclude<Domain, 'distinct'>): fc.Arbitrary<number> {
  switch (domain) {
    case 'real': return dbl(-2, 2);
    case 'positive': return dbl(0.25, 2.5);
    case 'nonzero': return signed(0.25, 2);
    case 'unitish': return signed(0.5, 1.5);
    case 'aboveMinusOne': return dbl(-0.7, 2);
    case 'probability': return dbl(0.05, 0.95);
    case 'offInteger':
      return fc.tuple(fc.integer({ min: -3, max: 2 }), fc.boolean(), dbl(0.1, 0.4)).map(([k, hi, f]) => k + (hi ? f + 0.5 : f));
    case 'lattice0': return fc.tuple(fc.integer({ min: -10, max: 10 }), dbl(-0.03, 0.03)).map(([k, e]) => 0.2 * k + e);
    case 'lattice1': return fc.tuple(fc.integer({ min: -10, max: 10 }), dbl(-0.03, 0.03)).map(([k, e]) => 0.2 * k + 0.1 + e);
    case 'smallInt': return fc.integer({ min: -2, max: 2 });
    case 'special':
      return fc.oneof(
        { weight: 6, arbitrary: fc.integer({ min: -2, max: 2 }) },
        { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, -0) },
      );
    default: return domain satisfies never;
  }
}

/** `n` values from a domain. */
export function valuesArb(domain: Domain, n: number): fc.Arbitrary<number[]> {
  if (domain === 'distinct') {
    // a random permutation of an evenly spaced grid, jittered by less than a quarter of the spacing
    const grid = [...Array(n).keys()];
    return fc
      .tuple(fc.shuffledSubarray(grid, { minLength: n, maxLength: n }), fc.array(dbl(-0.02, 0.02), { minLength: n, maxLength: n }))
      .map(([perm, jitter]) => perm.map((p, i) => (p - (n - 1) / 2) * 0.15 + jitter[i]!));
  }
  return fc.array(scalarArb(domain), { minLength: n, maxLength: n });
}

// ------------------------------------------------------------------ shapes

export interface ShapeOpts {
  minRank?: number;
  maxRank?: number;
  /** largest size of one dim */
  maxDim?: number;
  /** smallest size of one dim (0 allows empty tensors) */
  minDim?: number;
  /** draw a size-0 dim now and then (about one dim in eight) */
  allowEmpty?: boolean;
}

/** A shape; size-1 dims are drawn often, since they are where broadcasting and view bugs live. */
export function shapeArb(opts: ShapeOpts = {}): fc.Arbitrary<number[]> {
  const { minRank = 0, maxRank = 4, maxDim = 4, minDim = 1, allowEmpty = false } = opts;
  const dim = fc.oneof(
    { weight: 2, arbitrary: fc.constant(Math.max(1, minDim)) },
    { weight: 5, arbitrary: fc.integer({ min: minDim, max: maxDim }) },
    { weight: allowEmpty ? 1 : 0, arbitrary: fc.constant(0) },
  );
  return fc.array(dim, { minLength: minRank, maxLength: maxRank });
}

/** Shapes that all broadcast to a common shape: each is a suffix of it with some dims set to 1. */
export function broadcastShapesArb(count: number, opts: ShapeOpts = {}): fc.Arbitrary<number[][]> {
  return shapeArb(opts).chain((out) => {
    const one = fc
      .tuple(fc.integer({ min: 0, max: out.length }), fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }))
      .map(([drop, ones]) => out.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d)));
    // keep at least one operand at the full shape half of the time, so outputs are not all tiny
    return fc.tuple(fc.array(one, { minLength: count, maxLength: count }), fc.boolean()).map(([shapes, full]) => {
      if (full) shapes[0] = [...out];
      return shapes;
    });
  });
}

// ------------------------------------------------------------------ layouts

/** How an operand's logical tensor is made from its leaf: one view op, or none. */
export type ViewStep =
  | { readonly kind: 'permute'; readonly perm: readonly number[] }
  | { readonly kind: 'slice'; readonly starts: readonly number[]; readonly sizes: readonly number[]; readonly steps: readonly number[] }
  | { readonly kind: 'expand'; readonly shape: readonly number[] };

export type LayoutKind = 'contiguous' | 'permute' | 'slice' | 'expand';
export const ALL_LAYOUTS: readonly LayoutKind[] = ['contiguous', 'permute', 'slice', 'expand'];
/** Layouts that never repeat an element (expand does). */
export const NO_EXPAND: readonly LayoutKind[] = ['contiguous', 'permute', 'slice'];

/**
 * A differentiable operand: a contiguous float leaf of `baseShape` holding `base`, seen through
 * `view` as a (usually non-contiguous) tensor of `shape`. Gradients are checked with respect to
 * the leaf, so the view's own backward is exercised too.
 */
export interface TensorSpec {
  readonly shape: readonly number[];
  readonly baseShape: readonly number[];
  readonly base: readonly number[];
  readonly view: ViewStep | null;
}

interface Layout { readonly baseShape: number[]; readonly view: ViewStep | null }

function layoutArb(shape: Shape, allowed: readonly LayoutKind[]): fc.Arbitrary<Layout> {
  const s = [...shape];
  const options: fc.Arbitrary<Layout>[] = [];
  if (allowed.includes('contiguous')) options.push(fc.constant({ baseShape: s, view: null }));
  if (allowed.includes('permute') && s.length >= 2) {
    const ids = [...s.keys()];
    options.push(
      fc.shuffledSubarray(ids, { minLength: s.length, maxLength: s.length })
        .filter((p) => p.some((d, i) => d !== i))
        .map((perm) => {
          const baseShape = new Array<number>(s.length);
          perm.forEach((p, i) => { baseShape[p] = s[i]!; });
          return { baseShape, view: { kind: 'permute', perm } };
        }),
    );
  }
  if (allowed.includes('slice') && s.length >= 1) {
    const per = fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 0, max: 1 }));
    options.push(
      fc.array(per, { minLength: s.length, maxLength: s.length })
        .filter((ps) => ps.some(([st, step, extra]) => st > 0 || step > 1 || extra > 0))
        .map((ps) => {
          const starts = ps.map((p) => p[0]), steps = ps.map((p) => p[1]);
          const baseShape = s.map((d, i) => (d === 0 ? starts[i]! : starts[i]! + (d - 1) * steps[i]! + 1) + ps[i]![2]);
          return { baseShape, view: { kind: 'slice', starts, sizes: s, steps } };
        }),
    );
  }
  if (allowed.includes('expand') && s.some((d) => d > 1) && numel(s) > 0) {
    options.push(
      fc.tuple(fc.integer({ min: 0, max: s.length }), fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length }))
        .map(([drop, ones]) => s.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d)))
        .filter((b) => numel(b) < numel(s))
        .map((baseShape) => ({ baseShape, view: { kind: 'expand', shape: s } })),
    );
  }
  if (options.length === 0) return fc.constant({ baseShape: s, view: null });
  // contiguous operands stay common: they are what most code paths see
  return fc.oneof(...options);
}

export interface SpecOpts {
  domain?: Domain;
  layouts?: readonly LayoutKind[];
  /**
   * with 'distinct': still allow expanded layouts, whose repeats of one leaf element are exact
   * ties that move together (max/min must then share the gradient so the shares add up to 1)
   */
  expandTies?: boolean;
}

/** An operand of exactly `shape`, with values from a domain and a random layout. */
export function specArb(shape: Shape, opts: SpecOpts = {}): fc.Arbitrary<TensorSpec> {
  const { domain = 'real', layouts = ALL_LAYOUTS } = opts;
  // 'distinct' must hold for the logical values: repeats from expand would be ties
  const allowed = domain === 'distinct' && !opts.expandTies ? layouts.filter((l) => l !== 'expand') : layouts;
  return layoutArb(shape, allowed).chain((l) =>
    valuesArb(domain, numel(l.baseShape)).map((base): TensorSpec => ({ shape: [...shape], baseShape: l.baseShape, base, view: l.view })),
  );
}

/** An operand of a random shape. */
export function tensorArb(shape: ShapeOpts = {}, opts: SpecOpts = {}): fc.Arbitrary<TensorSpec> {
  return shapeArb(shape).chain((s) => specArb(s, opts));
}

/** Operands with mutually broadcastable shapes, each with its own domain. */
export function broadcastArb(domains: readonly Domain[], shape: ShapeOpts = {}, layouts: readonly LayoutKind[] = ALL_LAYOUTS): fc.Arbitrary<TensorSpec[]> {
  return broadcastShapesArb(domains.length, shape).chain((shapes) =>
    fc.tuple(...shapes.map((s, i) => specArb(s, { domain: domains[i]!, layouts }))),
  );
}

// ------------------------------------------------------------------ building tensors from specs

/** The leaf tensor of a spec (contiguous), in `dtype`. */
export function leafOf(spec: TensorSpec, dtype: 'float64' | 'float32' = 'float64', values: ArrayLike<number> = spec.base): Tensor {
  const arr = dtype === 'float64' ? Float64Array.from(values) : Float32Array.from(values);
  return tensor(arr, { shape: spec.baseShape, dtype });
}

/** The operand itself: the view of `leaf` that the spec describes. */
export function viewOf(spec: TensorSpec, leaf: Tensor): Tensor {
  const v = spec.view;
  if (!v) return leaf;
  switch (v.kind) {
    case 'permute': return F.permute(leaf, v.perm);
    case 'slice': return F.sliceView(leaf, v.starts, v.sizes, v.steps);
    case 'expand': return F.expand(leaf, v.shape);
    default: return v satisfies never;
  }
}

/** The operand as a tensor (no grad). */
export function build(spec: TensorSpec, dtype: 'float64' | 'float32' = 'float64'): Tensor {
  return viewOf(spec, leafOf(spec, dtype));
}

/** The operand's logical values in row-major order (plain JS, for references). */
export function logical(spec: TensorSpec): number[] {
  const v = spec.view;
  if (!v) return [...spec.base];
  switch (v.kind) {
    case 'permute': return permuteValues(spec.base, spec.baseShape, v.perm);
    case 'slice': return sliceValues(spec.base, spec.baseShape, v.starts, v.sizes, v.steps);
    case 'expand': return expandValues(spec.base, spec.baseShape, v.shape);
    default: return v satisfies never;
  }
}

/** A spec whose logical values are exactly `values` (contiguous). */
export function contiguousSpec(shape: Shape, values: readonly number[]): TensorSpec {
  return { shape: [...shape], baseShape: [...shape], base: [...values], view: null };
}

// ------------------------------------------------------------------ constant (non-differentiable) operands

/** An integer index tensor: `shape` with values in [0, bound). */
export function indexArb(shape: Shape, bound: number): fc.Arbitrary<IndexSpec> {
  return fc.array(fc.integer({ min: 0, max: Math.max(0, bound - 1) }), { minLength: numel(shape), maxLength: numel(shape) })
    .map((values) => ({ shape: [...shape], values }));
}
export interface IndexSpec { readonly shape: readonly number[]; readonly values: readonly number[] }
export function buildIndex(spec: IndexSpec): Tensor {
  return tensor(Int32Array.from(spec.values), { shape: spec.shape, dtype: 'int32' });
}
export function buildBool(spec: IndexSpec): Tensor {
  return tensor(Uint8Array.from(spec.values.map((v) => (v ? 1 : 0))), { shape: spec.shape, dtype: 'bool' });
}

// ------------------------------------------------------------------ attributes

/** A sorted subset of dims 0..ndim-1 (possibly empty, possibly all). */
export function dimsSubsetArb(ndim: number, opts: { minCount?: number } = {}): fc.Arbitrary<number[]> {
  return fc.subarray([...Array(ndim).keys()], { minLength: Math.min(opts.minCount ?? 0, ndim) }).map((d) => [...d].sort((a, b) => a - b));
}

/** A dim of an `ndim`-d tensor, as PyTorch accepts it: 0..ndim-1 or negative. */
export function dimArb(ndim: number): fc.Arbitrary<number> {
  const n = Math.max(ndim, 1);
  return fc.integer({ min: -n, max: n - 1 });
}

/** A shape with the same number of elements as `shape` (for reshape), with random size-1 dims. */
export function reshapeTargetArb(shape: Shape): fc.Arbitrary<number[]> {
  const n = numel(shape);
  const factors: number[] = [];
  let m = n;
  for (let p = 2; p * p <= m; p++) while (m % p === 0) { factors.push(p); m /= p; }
  if (m > 1) factors.push(m);
  return fc
    .tuple(
      fc.integer({ min: Math.min(1, factors.length), max: 4 }),
      fc.array(fc.nat(), { minLength: factors.length, maxLength: factors.length }),
      fc.integer({ min: 0, max: 2 }),
      fc.nat(),
    )
    .map(([rank, slots, ones, at]) => {
      const out = new Array<number>(rank).fill(1);
      factors.forEach((f, i) => { out[slots[i]! % rank] = out[slots[i]! % rank]! * f; });
      for (let k = 0; k < ones; k++) out.splice(at % (out.length + 1), 0, 1);
      return out;
    });
}

/** A random permutation of 0..n-1. */
export function permArb(n: number): fc.Arbitrary<number[]> {
  return fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n });
}

/** Printable summary of a spec, for failure messages. */
export function describeSpec(s: TensorSpec): string {
  const v = s.view;
  const layout = !v ? 'contiguous'
    : v.kind === 'permute' ? `permute([${v.perm}]) of leaf [${s.baseShape}]`
      : v.kind === 'slice' ? `slice(starts [${v.starts}], steps [${v.steps}]) of leaf [${s.baseShape}]`
        : `expand of leaf [${s.baseShape}]`;
  return `[${s.shape}] ${layout}`;
}
