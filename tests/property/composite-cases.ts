/**
 * @file Property cases of the public composite ops (src/ops/functional.ts), run by
 * composites.prop.test.ts: each is gradient-checked in float64 against central differences and,
 * where a plain-JS formula is short, its forward values are checked too.
 */
import fc from 'fast-check';
import * as T from '../../src/index.ts';
import { grad, tensor, type Tensor } from '../../src/index.ts';
import * as F from '../../src/ops/functional.ts';
import { broadcastIndex, broadcastShape, mapBroadcast, numel, permuteValues, ravel, reduceDims, sliceValues, unravel } from '../helpers/ndarray.ts';
import {
  broadcastArb, buildIndex, dimArb, NO_EXPAND, dimsSubsetArb, indexArb, shapeArb, specArb, tensorArb, type Domain, type TensorSpec,
} from './arbitraries.ts';
import { composite, type Composite, type CompositeSample } from './composite.ts';
import type { Expected } from './check.ts';

type S<A> = CompositeSample<A>;
const none = {};
const norm = (d: number, n: number) => (d < 0 ? d + Math.max(n, 1) : d);
const one = (domain: Domain = 'real', shape = {}) => tensorArb(shape, { domain }).map((x): S<object> => ({ xs: [x], a: none }));
const map1 = (fn: (x: number) => number) => ([x]: readonly number[][], s: S<unknown>): Expected => ({ values: x!.map(fn), shape: s.xs[0]!.shape });
const sigmoidJs = (x: number) => 1 / (1 + Math.exp(-x));

/** A tensor of rank ≥ 1 with one of its dims (possibly negative). */
const withDim = (domain: Domain = 'real') =>
  tensorArb({ minRank: 1 }, { domain }).chain((x) => dimArb(x.shape.length).map((dim): S<{ dim: number }> => ({ xs: [x], a: { dim } })));

/** Reduction along `dims` (sorted, non-negative) of logical values, PyTorch keepdim semantics. */
const along = (x: readonly number[], spec: TensorSpec, dims: readonly number[], keepdim: boolean, init: number, fn: (acc: number, v: number) => number) =>
  reduceDims(x, spec.shape, dims, keepdim, init, (acc, v) => fn(acc, v));

/** Applies fn to each group along `dim` (values in order), writing one output per input element. */
function perGroup(x: readonly number[], shape: readonly number[], dim: number, fn: (group: number[]) => number[]): number[] {
  const out = new Array<number>(x.length);
  const groups = new Map<number, number[]>();
  x.forEach((_, i) => {
    const idx = unravel(i, shape);
    idx[dim] = 0;
    const key = ravel(idx, shape);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(i);
  });
  for (const members of groups.values()) {
    const ys = fn(members.map((i) => x[i]!));
    members.forEach((i, k) => { out[i] = ys[k]!; });
  }
  return out;
}
const lse = (g: number[]) => { const m = Math.max(...g); return m + Math.log(g.reduce((a, v) => a + Math.exp(v - m), 0)); };

// ------------------------------------------------------------------ elementwise composites

const binaryOperands = (db: Domain) => fc.tuple(broadcastArb(['real', db]), fc.constantFrom('tt', 'tn', 'nt')).chain(([xs, form]) =>
  fc.double({ min: 0.5, max: 2, noNaN: true }).map((c): S<{ form: string; c: number }> => ({ xs: form === 'tt' ? xs : [xs[form === 'tn' ? 0 : 1]!], a: { form, c } })));
/** a ∘ b with tensors on both sides, a tensor and a JS number, or a JS number and a tensor. */
const withForms = (fn: (a: T.TensorLike, b: T.TensorLike) => Tensor) => ([...xs]: readonly Tensor[], a: { form: string; c: number }) =>
  a.form === 'tt' ? fn(xs[0]!, xs[1]!) : a.form === 'tn' ? fn(xs[0]!, a.c) : fn(a.c, xs[0]!);
const formsRef = (fn: (a: number, b: number) => number) => (vals: readonly number[][], s: S<{ form: string; c: number }>): Expected => {
  const { form, c } = s.a;
  if (form === 'tt') return mapBroadcast([{ values: vals[0]!, shape: s.xs[0]!.shape }, { values: vals[1]!, shape: s.xs[1]!.shape }], fn);
  return { values: vals[0]!.map((v) => (form === 'tn' ? fn(v, c) : fn(c, v))), shape: s.xs[0]!.shape };
};

const elementwise = [
  composite({ name: 'sub', gen: binaryOperands('real'), f: withForms(T.sub), ref: formsRef((a, b) => a - b) }),
  composite({ name: 'div', gen: binaryOperands('nonzero'), f: withForms((a, b) => T.div(a, b)), ref: formsRef((a, b) => a / b) }),
  composite({ name: 'mul (with numbers)', gen: binaryOperands('real'), f: withForms(T.mul), ref: formsRef((a, b) => a * b) }),
  composite({ name: 'pow (tensor ** number)', gen: fc.tuple(tensorArb({}, { domain: 'positive' }), fc.constantFrom(-2, -0.5, 0.5, 2, 3, 2.5)).map(([x, e]): S<number> => ({ xs: [x], a: e })), f: ([x], e) => T.pow(x!, e), ref: ([x], s) => ({ values: x!.map((v) => v ** s.a), shape: s.xs[0]!.shape }) }),
  composite({ name: 'square', gen: one(), f: ([x]) => T.square(x!), ref: map1((v) => v * v) }),
  composite({ name: 'sigmoid (composite 1/(1+e^-x))', gen: one(), f: ([x]) => T.div(1, T.add(T.exp(T.neg(x!)), 1)), ref: map1(sigmoidJs) }),
  composite({ name: 'sigmoid (public)', gen: one(), f: ([x]) => T.sigmoid(x!), ref: map1(sigmoidJs) }),
  composite({ name: 'tanh (public)', gen: one(), f: ([x]) => T.tanh(x!), ref: map1(Math.tanh) }),
  composite({ name: 'tanh (as 2σ(2x) − 1)', gen: one(), f: ([x]) => T.sub(T.mul(T.sigmoid(T.mul(x!, 2)), 2), 1), ref: map1(Math.tanh) }),
  composite({
    name: 'leakyRelu',
    gen: fc.tuple(tensorArb({}, { domain: 'nonzero' }), fc.double({ min: 0, max: 0.5, noNaN: true })).map(([x, slope]): S<number> => ({ xs: [x], a: slope })),
    f: ([x], slope) => T.leakyRelu(x!, slope),
    ref: ([x], s) => ({ values: x!.map((v) => (v > 0 ? v : v * s.a)), shape: s.xs[0]!.shape }),
  }),
  composite({ name: 'gelu (exact)', gen: one(), f: ([x]) => T.gelu(x!), ref: map1((v) => 0.5 * v * (1 + erfJs(v / Math.SQRT2))), refTol: 1e-12 }),
  composite({
    name: 'gelu (tanh)', gen: one(), f: ([x]) => T.gelu(x!, { approximate: 'tanh' }),
    ref: map1((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))),
  }),
  composite({
    name: 'softplus',
    // threshold kink at βx = threshold: keep βx ≥ 0.1 away from it
    gen: fc.tuple(tensorArb({}, { domain: 'real', layouts: NO_EXPAND }), fc.constantFrom(0.5, 1, 2), fc.constantFrom(20, 1.05, -0.95))
      .map(([x, beta, threshold]): S<{ beta: number; threshold: number }> => ({
        xs: [{ ...x, base: x.base.map((v) => (Math.abs(beta * v - threshold) <= 0.1 ? v + 0.25 / beta : v)) }], a: { beta, threshold },
      })),
    f: ([x], o) => T.softplus(x!, o),
    ref: ([x], s) => ({ values: x!.map((v) => (s.a.beta * v > s.a.threshold ? v : Math.log1p(Math.exp(s.a.beta * v)) / s.a.beta)), shape: s.xs[0]!.shape }),
  }),
  composite({
    name: 'clamp',
    // values on the 0.2k lattice, bounds on 0.2k + 0.1: never within 0.07 of a bound
    gen: fc.tuple(tensorArb({}, { domain: 'lattice0' }), fc.integer({ min: -6, max: 0 }), fc.integer({ min: 0, max: 6 }), fc.constantFrom('both', 'min', 'max'))
      .map(([x, lo, hi, which]): S<{ min: number | null; max: number | null }> => ({
        xs: [x], a: { min: which === 'max' ? null : 0.2 * lo + 0.1, max: which === 'min' ? null : 0.2 * hi + 0.1 },
      })),
    f: ([x], o) => T.clamp(x!, o.min, o.max),
    ref: ([x], s) => ({ values: x!.map((v) => Math.min(Math.max(v, s.a.min ?? -Infinity), s.a.max ?? Infinity)), shape: s.xs[0]!.shape }),
  }),
  composite({
    name: 'maximum/minimum (public, with a number)',
    gen: fc.tuple(tensorArb({}, { domain: 'lattice0' }), fc.integer({ min: -5, max: 5 })).map(([x, k]): S<number> => ({ xs: [x], a: 0.2 * k + 0.1 })),
    f: ([x], c) => [T.maximum(x!, c), T.minimum(c, x!)],
    ref: ([x], s) => [{ values: x!.map((v) => Math.max(v, s.a)), shape: s.xs[0]!.shape }, { values: x!.map((v) => Math.min(v, s.a)), shape: s.xs[0]!.shape }],
  }),
  composite({
    name: 'where (public, number branches)',
    // a on 0.2k + 0.1, b on 0.2k: the conditions a > b and a < 0 never flip under a small step
    gen: broadcastArb(['lattice1', 'lattice0']).chain((xs) => fc.tuple(fc.constant(xs), fc.double({ min: -1, max: 1, noNaN: true })))
      .map(([xs, c]): S<number> => ({ xs, a: c })),
    f: ([a, b], c) => [T.where(T.gt(a!, b!), a!, c), T.where(T.lt(a!, 0), c, b!)],
  }),
];

/** erf to ~1e-15 by its Maclaurin series (|x| ≤ 2 here). */
function erfJs(x: number): number {
  let term = x, sum = x;
  for (let n = 1; n < 80; n++) { term *= (-x * x) / n; sum += term / (2 * n + 1); }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

// ------------------------------------------------------------------ reductions

const dimsArgs = (domain: Domain, minCount = 0) =>
  tensorArb({}, { domain }).chain((x) =>
    fc.tuple(dimsSubsetArb(x.shape.length, { minCount }), fc.boolean(), fc.boolean())
      .map(([dims, keepdim, negative]): S<{ dims: number[]; keepdim: boolean; neg: boolean }> => ({ xs: [x], a: { dims, keepdim, neg: negative } })));
/** dims as the user may write them: negative when asked */
const userDims = (a: { dims: number[]; neg: boolean }, ndim: number) => (a.neg ? a.dims.map((d) => d - ndim) : a.dims);

/** std/var need ≥ 2 elements per group (more than the correction) and distinct values (var > 0). */
const varArgs = shapeArb({ minRank: 1 }).filter((sh) => numel(sh) >= 3).chain((sh) => specArb(sh, { domain: 'distinct' })).chain((x) =>
  fc.tuple(dimsSubsetArb(x.shape.length, { minCount: 1 }), fc.boolean(), fc.constantFrom(0, 1))
    // too few elements per group for the correction: reduce over every dim instead
    .map(([dims, keepdim, correction]): S<{ dims: number[]; keepdim: boolean; correction: number }> => ({
      xs: [x],
      a: { dims: dims.reduce((n, d) => n * x.shape[d]!, 1) >= 2 + correction ? dims : [...x.shape.keys()], keepdim, correction },
    })));
const varRef = (sqrt: boolean) => ([x]: readonly number[][], s: S<{ dims: number[]; keepdim: boolean; correction: number }>): Expected => {
  const spec = s.xs[0]!, { dims, keepdim, correction } = s.a;
  const n = dims.reduce((a, d) => a * spec.shape[d]!, 1);
  const mean = along(x!, spec, dims, true, 0, (a, v) => a + v).values.map((v) => v / n);
  const kept = spec.shape.map((d, i) => (dims.includes(i) ? 1 : d));
  const dev = x!.map((v, i) => v - mean[ravel(unravel(i, spec.shape).map((k, d) => (dims.includes(d) ? 0 : k)), kept)]!);
  const r = along(dev.map((d) => d * d), spec, dims, keepdim, 0, (a, v) => a + v);
  return { values: r.values.map((v) => (sqrt ? Math.sqrt(v / (n - correction)) : v / (n - correction))), shape: r.shape };
};

const reductions = [
  composite({
    name: 'sum (public, negative dims)', gen: dimsArgs('real'),
    f: ([x], a) => T.sum(x!, userDims(a, x!.ndim), a.keepdim),
    ref: ([x], s) => along(x!, s.xs[0]!, s.a.dims, s.a.keepdim, 0, (a, v) => a + v),
  }),
  composite({
    name: 'mean', gen: dimsArgs('real'),
    f: ([x], a) => T.mean(x!, userDims(a, x!.ndim), a.keepdim),
    ref: ([x], s) => {
      const n = s.a.dims.reduce((a, d) => a * s.xs[0]!.shape[d]!, 1);
      const r = along(x!, s.xs[0]!, s.a.dims, s.a.keepdim, 0, (a, v) => a + v);
      return { values: r.values.map((v) => v / n), shape: r.shape };
    },
  }),
  composite({ name: 'var', gen: varArgs, f: ([x], a) => T.var(x!, a.dims, { correction: a.correction, keepdim: a.keepdim }), ref: varRef(false) }),
  composite({ name: 'std', gen: varArgs, f: ([x], a) => T.std(x!, a.dims, { correction: a.correction, keepdim: a.keepdim }), ref: varRef(true) }),
  composite({
    name: 'prod (public)', gen: dimsArgs('unitish'),
    f: ([x], a) => T.prod(x!, userDims(a, x!.ndim), a.keepdim),
    ref: ([x], s) => along(x!, s.xs[0]!, s.a.dims, s.a.keepdim, 1, (a, v) => a * v),
  }),
  composite({
    name: 'amax/amin (public)', gen: dimsArgs('distinct'),
    f: ([x], a) => [T.amax(x!, userDims(a, x!.ndim), a.keepdim), T.amin(x!, userDims(a, x!.ndim), a.keepdim)],
    ref: ([x], s) => [along(x!, s.xs[0]!, s.a.dims, s.a.keepdim, -Infinity, Math.max), along(x!, s.xs[0]!, s.a.dims, s.a.keepdim, Infinity, Math.min)],
  }),
  composite({
    name: 'max()/min() of all elements', gen: tensorArb({ minRank: 0 }, { domain: 'distinct' }).map((x): S<object> => ({ xs: [x], a: none })),
    f: ([x]) => [T.max(x!), T.min(x!)],
    ref: ([x]) => [{ values: [Math.max(...x!)], shape: [] }, { values: [Math.min(...x!)], shape: [] }],
  }),
  composite({
    name: 'max(dim)/min(dim) values',
    gen: withDim('distinct').chain((s) => fc.boolean().map((keepdim): S<{ dim: number; keepdim: boolean }> => ({ ...s, a: { ...s.a, keepdim } }))),
    f: ([x], a) => [T.max(x!, a.dim, a.keepdim).values, T.min(x!, a.dim, a.keepdim).values],
    ref: ([x], s) => {
      const d = norm(s.a.dim, s.xs[0]!.shape.length);
      return [along(x!, s.xs[0]!, [d], s.a.keepdim, -Infinity, Math.max), along(x!, s.xs[0]!, [d], s.a.keepdim, Infinity, Math.min)];
    },
  }),
  composite({
    name: 'logsumexp',
    gen: tensorArb({ minRank: 1 }, { domain: 'real' }).chain((x) =>
      fc.tuple(dimsSubsetArb(x.shape.length, { minCount: 1 }), fc.boolean()).map(([dims, keepdim]): S<{ dims: number[]; keepdim: boolean }> => ({ xs: [x], a: { dims, keepdim } }))),
    f: ([x], a) => T.logsumexp(x!, a.dims, a.keepdim),
    ref: ([x], s) => {
      const spec = s.xs[0]!;
      const m = along(x!, spec, s.a.dims, true, -Infinity, Math.max);
      const kept = spec.shape.map((d, i) => (s.a.dims.includes(i) ? 1 : d));
      const e = x!.map((v, i) => Math.exp(v - m.values[ravel(unravel(i, spec.shape).map((k, d) => (s.a.dims.includes(d) ? 0 : k)), kept)]!));
      const r = along(e, spec, s.a.dims, s.a.keepdim, 0, (a, v) => a + v);
      return { values: r.values.map((v, i) => Math.log(v) + m.values[i]!), shape: r.shape };
    },
  }),
  composite({
    name: 'softmax', gen: withDim(), f: ([x], a) => T.softmax(x!, a.dim),
    ref: ([x], s) => ({ values: perGroup(x!, s.xs[0]!.shape, norm(s.a.dim, s.xs[0]!.shape.length), (g) => g.map((v) => Math.exp(v - lse(g)))), shape: s.xs[0]!.shape }),
  }),
  composite({
    name: 'logSoftmax', gen: withDim(), f: ([x], a) => T.logSoftmax(x!, a.dim),
    ref: ([x], s) => ({ values: perGroup(x!, s.xs[0]!.shape, norm(s.a.dim, s.xs[0]!.shape.length), (g) => g.map((v) => v - lse(g))), shape: s.xs[0]!.shape }),
  }),
];

// ------------------------------------------------------------------ shape ops

const catArgs = fc.tuple(shapeArb({ minRank: 1, maxRank: 3 }), fc.integer({ min: 1, max: 3 })).chain(([shape, k]) =>
  fc.tuple(dimArb(shape.length), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: k, maxLength: k })).chain(([dim, sizes]) =>
    fc.tuple(...sizes.map((n) => specArb(shape.map((d, i) => (i === norm(dim, shape.length) ? n : d))))).map((xs): S<number> => ({ xs, a: dim }))));
const stackArgs = fc.tuple(shapeArb({ maxRank: 3 }), fc.integer({ min: 1, max: 3 })).chain(([shape, k]) =>
  fc.tuple(fc.integer({ min: -(shape.length + 1), max: shape.length }), fc.tuple(...Array.from({ length: k }, () => specArb(shape))))
    .map(([dim, xs]): S<number> => ({ xs, a: dim })));
const splitArgs = withDim().chain((s) => {
  const n = s.xs[0]!.shape[norm(s.a.dim, s.xs[0]!.shape.length)]!;
  const sections = fc.array(fc.integer({ min: 0, max: n }), { minLength: 1, maxLength: 3 }).map((cuts) => {
    const c = [0, ...cuts.sort((a, b) => a - b), n];
    return c.slice(1).map((v, i) => v - c[i]!);
  });
  return fc.oneof(fc.integer({ min: 1, max: n + 1 }), sections).map((by): S<{ dim: number; by: number | number[] }> => ({ ...s, a: { ...s.a, by } }));
});
const padArgs = tensorArb({ minRank: 1, maxRank: 3 }).chain((x) =>
  fc.integer({ min: 1, max: x.shape.length }).chain((m) =>
    fc.tuple(
      fc.tuple(...Array.from({ length: m }, (_, i) => {
        const size = x.shape[x.shape.length - 1 - i]!;
        // a negative pad crops; the two crops of a dim must leave ≥ 0 elements
        return fc.tuple(fc.integer({ min: -1, max: 2 }), fc.integer({ min: -1, max: 2 })).filter(([lo, hi]) => Math.max(0, -lo) + Math.max(0, -hi) <= size);
      })),
      fc.double({ min: -1, max: 1, noNaN: true }),
    ).map(([pairs, value]): S<{ pads: number[]; value: number }> => ({ xs: [x], a: { pads: pairs.flat(), value } }))));
const indexSelectArgs = tensorArb({ minRank: 1, maxRank: 3 }).chain((x) =>
  dimArb(x.shape.length).chain((dim) =>
    fc.integer({ min: 1, max: 5 }).chain((k) => indexArb([k], x.shape[norm(dim, x.shape.length)]!))
      .map((idx): S<{ dim: number; idx: number[] }> => ({ xs: [x], a: { dim, idx: [...idx.values] } }))));
const narrowArgs = withDim().chain((s) => {
  const n = s.xs[0]!.shape[norm(s.a.dim, s.xs[0]!.shape.length)]!;
  return fc.integer({ min: 0, max: n }).chain((start) => fc.tuple(fc.integer({ min: 0, max: n - start }), fc.boolean()).map(([length, neg]) => [start, length, neg] as const))
    .map(([start, length, negStart]): S<{ dim: number; start: number; length: number }> => ({ ...s, a: { ...s.a, start: negStart && start < n ? start - n : start, length } }));
});
type Spec = F.IndexSpec;
const indexArgs = tensorArb({ minRank: 1, maxRank: 3 }).chain((x) =>
  fc.integer({ min: 1, max: x.shape.length }).chain((k) =>
    fc.tuple(...x.shape.slice(0, k).map((n): fc.Arbitrary<Spec> => fc.oneof(
      fc.integer({ min: -n, max: n - 1 }),
      fc.constant(null),
      fc.tuple(fc.option(fc.integer({ min: -n - 1, max: n + 1 })), fc.option(fc.integer({ min: -n - 1, max: n + 1 })), fc.integer({ min: 1, max: 3 }))
        .map(([a, b, st]) => [a, b, st] as const),
    ))).map((specs): S<Spec[]> => ({ xs: [x], a: specs }))));
const flattenArgs = tensorArb({ minRank: 0 }).chain((x) => {
  const n = Math.max(x.shape.length, 1);
  return fc.tuple(fc.integer({ min: 0, max: n - 1 }), fc.integer({ min: 0, max: n - 1 })).map(([a, b]): S<[number, number]> => ({ xs: [x], a: [Math.min(a, b), Math.max(a, b) - n] }));
});

/** Values of x[..., start : start + size·step : step, ...] along one dim (plain JS). */
function sliceDim(vals: readonly number[], shape: readonly number[], dim: number, start: number, size: number, step = 1): Expected {
  const starts = shape.map((_, i) => (i === dim ? start : 0)), steps = shape.map((_, i) => (i === dim ? step : 1));
  const sizes = shape.map((n, i) => (i === dim ? size : n));
  return { values: sliceValues(vals, shape, starts, sizes, steps), shape: sizes };
}
function piecesJs(vals: readonly number[], shape: readonly number[], dim: number, sizes: readonly number[]): Expected[] {
  let at = 0;
  return sizes.map((n) => { const p = sliceDim(vals, shape, dim, at, n); at += n; return p; });
}
const splitSizes = (n: number, by: number | readonly number[]) => {
  if (typeof by !== 'number') return [...by];
  const out: number[] = [];
  for (let at = 0; at < n; at += by) out.push(Math.min(by, n - at));
  return out.length ? out : [0];
};
const reshapeRef = (shape: (s: S<any>) => number[]) => ([x]: readonly number[][], s: S<any>): Expected => ({ values: x!, shape: shape(s) });

const shapes = [
  composite({
    name: 'cat', gen: catArgs, f: (xs, dim) => T.cat(xs, dim),
    ref: (vals, s) => {
      const d = norm(s.a, s.xs[0]!.shape.length);
      const shape = s.xs[0]!.shape.map((n, i) => (i === d ? s.xs.reduce((a, x) => a + x.shape[d]!, 0) : n));
      const out = new Array<number>(numel(shape));
      let at = 0;
      s.xs.forEach((x, k) => {
        vals[k]!.forEach((v, i) => { const idx = unravel(i, x.shape); idx[d] = idx[d]! + at; out[ravel(idx, shape)] = v; });
        at += x.shape[d]!;
      });
      return { values: out, shape };
    },
  }),
  composite({
    name: 'stack', gen: stackArgs, f: (xs, dim) => T.stack(xs, dim),
    ref: (vals, s) => {
      const base = s.xs[0]!.shape, d = norm(s.a, base.length + 1);
      const shape = [...base.slice(0, d), s.xs.length, ...base.slice(d)];
      const out = new Array<number>(numel(shape));
      vals.forEach((v, k) => v.forEach((e, i) => { const idx = unravel(i, base); idx.splice(d, 0, k); out[ravel(idx, shape)] = e; }));
      return { values: out, shape };
    },
  }),
  composite({
    name: 'split', gen: splitArgs, f: ([x], a) => T.split(x!, a.by, a.dim),
    ref: ([x], s) => { const sh = s.xs[0]!.shape, d = norm(s.a.dim, sh.length); return piecesJs(x!, sh, d, splitSizes(sh[d]!, s.a.by)); },
  }),
  composite({
    name: 'chunk',
    gen: withDim().chain((s) => fc.integer({ min: 1, max: 5 }).map((chunks): S<{ dim: number; chunks: number }> => ({ ...s, a: { ...s.a, chunks } }))),
    f: ([x], a) => T.chunk(x!, a.chunks, a.dim),
    // PyTorch: pieces of ceil(n / chunks), so there may be fewer than `chunks`
    ref: ([x], s) => { const sh = s.xs[0]!.shape, d = norm(s.a.dim, sh.length); return piecesJs(x!, sh, d, splitSizes(sh[d]!, Math.max(1, Math.ceil(sh[d]! / s.a.chunks)))); },
  }),
  composite({
    name: 'pad (constant, negative pads crop)', gen: padArgs, f: ([x], a) => T.pad(x!, a.pads, a.value),
    ref: ([x], s) => {
      const sh = s.xs[0]!.shape, r = sh.length;
      const per = sh.map((_, d) => { const k = r - 1 - d; return k < s.a.pads.length / 2 ? [s.a.pads[2 * k]!, s.a.pads[2 * k + 1]!] : [0, 0]; });
      const shape = sh.map((n, d) => n + per[d]![0]! + per[d]![1]!);
      return {
        values: [...Array(numel(shape)).keys()].map((o) => {
          const src = unravel(o, shape).map((k, d) => k - per[d]![0]!);
          return src.every((k, d) => k >= 0 && k < sh[d]!) ? x![ravel(src, sh)]! : s.a.value;
        }),
        shape,
      };
    },
  }),
  composite({
    name: 'indexSelect (repeated indices)', gen: indexSelectArgs,
    f: ([x], a) => T.indexSelect(x!, a.dim, buildIndex({ shape: [a.idx.length], values: a.idx })),
    ref: ([x], s) => {
      const shape0 = s.xs[0]!.shape, d = norm(s.a.dim, shape0.length);
      const shape = shape0.map((n, i) => (i === d ? s.a.idx.length : n));
      return { values: [...Array(numel(shape)).keys()].map((o) => { const idx = unravel(o, shape); idx[d] = s.a.idx[idx[d]!]!; return x![ravel(idx, shape0)]!; }), shape };
    },
  }),
  composite({
    name: 'narrow', gen: narrowArgs, f: ([x], a) => T.narrow(x!, a.dim, a.start, a.length),
    ref: ([x], s) => { const sh = s.xs[0]!.shape, d = norm(s.a.dim, sh.length); return sliceDim(x!, sh, d, s.a.start < 0 ? s.a.start + sh[d]! : s.a.start, s.a.length); },
  }),
  composite({
    name: 'index (basic indexing)', gen: indexArgs, f: ([x], specs) => T.index(x!, ...specs),
    // Python semantics: an int picks and drops a dim; [start, end, step] slices with clamping
    ref: ([x], s) => {
      let cur: Expected = { values: x!, shape: s.xs[0]!.shape };
      const drop: number[] = [];
      s.a.forEach((spec, d) => {
        const n = cur.shape[d]!;
        if (spec === null) return;
        if (typeof spec === 'number') { cur = sliceDim(cur.values, cur.shape, d, spec < 0 ? spec + n : spec, 1); drop.push(d); return; }
        const [a, b, st = 1] = spec as readonly [number | null, number | null, number?];
        const clampI = (v: number) => Math.min(Math.max(v < 0 ? v + n : v, 0), n);
        const lo = clampI(a ?? 0), hi = clampI(b ?? n);
        const size = hi > lo ? Math.ceil((hi - lo) / st) : 0;
        cur = sliceDim(cur.values, cur.shape, d, size ? lo : 0, size, st);
      });
      return { values: cur.values, shape: cur.shape.filter((_, d) => !drop.includes(d)) };
    },
  }),
  composite({
    name: 'flatten', gen: flattenArgs, f: ([x], [a, b]) => T.flatten(x!, a, b),
    ref: ([x], s) => {
      const sh = s.xs[0]!.shape;
      if (sh.length === 0) return { values: x!, shape: [1] };
      const [a, b0] = s.a, b = b0 + sh.length;
      return { values: x!, shape: [...sh.slice(0, a), numel(sh.slice(a, b + 1)), ...sh.slice(b + 1)] };
    },
  }),
  composite({
    name: 'squeeze/unsqueeze',
    gen: tensorArb({ maxRank: 3 }).chain((x) =>
      fc.tuple(fc.option(dimArb(x.shape.length)), fc.integer({ min: -(x.shape.length + 1), max: x.shape.length }))
        .map(([d, u]): S<{ d: number | null; u: number }> => ({ xs: [x], a: { d, u } }))),
    f: ([x], a) => [a.d === null ? T.squeeze(x!) : T.squeeze(x!, a.d), T.unsqueeze(x!, a.u)],
    ref: ([x], s) => {
      const sh = s.xs[0]!.shape, n = sh.length;
      const sq = s.a.d === null ? sh.filter((d) => d !== 1) : sh.filter((d, i) => !(i === norm(s.a.d!, n) && d === 1));
      const un = [...sh];
      un.splice(norm(s.a.u, n + 1), 0, 1);
      return [{ values: x!, shape: sq }, { values: x!, shape: un }];
    },
  }),
  composite({
    name: 'reshape/view/transpose/mT/t/expand (public)',
    gen: tensorArb({ minRank: 2, maxRank: 3 }).map((x): S<object> => ({ xs: [x], a: none })),
    f: ([x]) => [T.reshape(x!, [-1]), T.transpose(x!, 0, -1), x!.mT, T.t(T.flatten(x!, 0, -2)), T.expand(T.unsqueeze(x!, 0), [2, ...x!.shape]), x!.contiguous().view([x!.numel])],
    ref: ([x], s) => {
      const sh = s.xs[0]!.shape, r = sh.length, n = x!.length;
      const swap = (i: number, j: number) => { const p = [...sh.keys()]; p[i] = j; p[j] = i; return p; };
      const lead = n / sh[r - 1]!;
      return [
        { values: x!, shape: [n] },
        { values: permuteValues(x!, sh, swap(0, r - 1)), shape: swap(0, r - 1).map((d) => sh[d]!) },
        { values: permuteValues(x!, sh, swap(r - 2, r - 1)), shape: swap(r - 2, r - 1).map((d) => sh[d]!) },
        { values: permuteValues(x!, [lead, sh[r - 1]!], [1, 0]), shape: [sh[r - 1]!, lead] },
        { values: [...x!, ...x!], shape: [2, ...sh] },
        { values: x!, shape: [n] },
      ];
    },
  }),
  composite({
    name: 'gather/scatterAdd (public)',
    gen: tensorArb({ minRank: 1, maxRank: 3 }).chain((x) => dimArb(x.shape.length).chain((dim) =>
      indexArb(x.shape.map((n, i) => (i === norm(dim, x.shape.length) ? 3 : n)), x.shape[norm(dim, x.shape.length)]!)
        .chain((idx) => specArb(idx.shape).map((src): S<{ dim: number; idx: typeof idx }> => ({ xs: [x, src], a: { dim, idx } }))))),
    f: ([x, src], a) => [T.gather(x!, a.dim, buildIndex(a.idx)), T.scatterAdd(x!, a.dim, buildIndex(a.idx), src!)],
  }),
];

// ------------------------------------------------------------------ matmul

const matmulArgs = fc.tuple(
  fc.constantFrom('1-D·1-D', '1-D·2-D', '2-D·1-D', '2-D·2-D', 'batched·1-D', '1-D·batched', 'batched·batched', 'broadcast'),
  fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }),
).chain(([form, m, k, n]) => {
  const [sa, sb]: [number[], number[]] = ({
    '1-D·1-D': [[k], [k]], '1-D·2-D': [[k], [k, n]], '2-D·1-D': [[m, k], [k]], '2-D·2-D': [[m, k], [k, n]],
    'batched·1-D': [[2, m, k], [k]], '1-D·batched': [[k], [3, k, n]], 'batched·batched': [[2, m, k], [2, k, n]],
    'broadcast': [[2, 1, m, k], [3, k, n]],
  } as Record<string, [number[], number[]]>)[form]!;
  return fc.tuple(specArb(sa), specArb(sb)).map((xs): S<string> => ({ xs, a: form }));
});
const matmulJs = (a: readonly number[], sa: readonly number[], b: readonly number[], sb: readonly number[]): Expected => {
  const A = sa.length === 1 ? [1, sa[0]!] : sa, B = sb.length === 1 ? [sb[0]!, 1] : sb;
  const [m, k] = A.slice(-2) as [number, number], n = B[B.length - 1]!;
  const ba = A.slice(0, -2), bb = B.slice(0, -2);
  const batch = broadcastShape(ba, bb);
  const shape = [...batch, m, n];
  const out = [...Array(numel(shape)).keys()].map((o) => {
    const idx = unravel(o, shape), bi = idx.slice(0, -2), i = idx[idx.length - 2]!, j = idx[idx.length - 1]!;
    const ao = broadcastIndex(bi, ba) * m * k, bo = broadcastIndex(bi, bb) * k * n;
    let acc = 0;
    for (let p = 0; p < k; p++) acc += a[ao + i * k + p]! * b[bo + p * n + j]!;
    return acc;
  });
  const final = [...batch, ...(sa.length === 1 ? [] : [m]), ...(sb.length === 1 ? [] : [n])];
  return { values: out, shape: final };
};
const matmuls = [
  composite({ name: 'matmul (1-D/2-D/batched/broadcast)', gen: matmulArgs, f: ([a, b]) => T.matmul(a!, b!), ref: ([a, b], s) => matmulJs(a!, s.xs[0]!.shape, b!, s.xs[1]!.shape) }),
];

export const compositeCases: readonly Composite<unknown>[] = [...elementwise, ...reductions, ...shapes, ...matmuls];
export { withDim };
