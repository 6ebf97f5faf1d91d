/**
 * @file One test case per primitive of the registry: an input generator (plain data), how to run
 * the primitive on it, and where possible a plain-JS reference of its forward values.
 *
 * The table is `satisfies Record<PrimName, PrimCase>`: adding a primitive to `prims` without an
 * entry here fails the type check, and `ops.prop.test.ts` also fails at run time for any
 * registry entry without a case, or whose case disagrees with the op about having a vjp.
 */
import fc from 'fast-check';
import type { Tensor } from '../../src/index.ts';
import { dispatch } from '../../src/ops/dispatch.ts';
import * as F from '../../src/ops/functional.ts';
import { prims, type PrimName } from '../../src/ops/prims.ts';
import type { OpDef } from '../../src/ops/registry.ts';
import {
  broadcastIndex, broadcastShape, expandValues, mapBroadcast, numel, permuteValues, ravel, reduceDims, sliceValues, unravel,
} from '../helpers/ndarray.ts';
import {
  broadcastArb, broadcastShapesArb, buildBool, buildIndex, dimsSubsetArb, indexArb, logical, permArb, reshapeTargetArb,
  shapeArb, specArb, tensorArb, valuesArb, type Domain, type IndexSpec, type TensorSpec,
} from './arbitraries.ts';
import type { GradcheckOptions } from './gradcheck.ts';

/** A constant (non-differentiable) operand: an int32 index or a bool mask. */
export interface ConstSpec extends IndexSpec { readonly dtype: 'int32' | 'bool' }

/** One generated application of a primitive. */
export interface Sample {
  /** differentiable operands (float) */
  readonly xs: readonly TensorSpec[];
  /** constant operands (indices, conditions) */
  readonly consts?: readonly ConstSpec[];
  readonly attrs: unknown;
}

export type { Expected } from './check.ts';
import type { Expected } from './check.ts';

/** How float32 results are compared with float64 ones (see float32.prop.test.ts). */
export type F32Class = 'elementwise' | 'sum' | 'prod' | 'exact' | 'matmul' | 'none';

export interface PrimCase {
  /** whether the op must have a vjp (checked against the registry) */
  readonly vjp: boolean;
  readonly gen: fc.Arbitrary<Sample>;
  /** runs the op (default: dispatch(op, xs, attrs)) */
  readonly apply?: (op: OpDef, xs: readonly Tensor[], consts: readonly Tensor[], attrs: any) => Tensor;
  /** plain-JS forward reference (on the logical values of the operands) */
  readonly ref?: (s: Sample) => Expected;
  /** forward tolerance against `ref` (default 1e-12 relative and absolute) */
  readonly refTol?: number;
  /** a custom forward check, instead of `ref` */
  readonly check?: (s: Sample, out: Tensor) => void;
  /** gradcheck tolerances when the defaults do not fit */
  readonly tol?: GradcheckOptions;
  readonly f32: F32Class;
  readonly runs?: number;
}

export function buildConst(c: ConstSpec): Tensor {
  return c.dtype === 'int32' ? buildIndex(c) : buildBool(c);
}
const intConst = (s: IndexSpec): ConstSpec => ({ ...s, dtype: 'int32' });
const noAttrs = {};

// ------------------------------------------------------------------ elementwise

const unary = (domain: Domain, fn: ((x: number) => number) | null, extra: Partial<PrimCase> = {}): PrimCase => ({
  vjp: true,
  gen: tensorArb({ allowEmpty: true }, { domain }).map((x) => ({ xs: [x], attrs: noAttrs })),
  ...(fn ? { ref: (s: Sample) => ({ values: logical(s.xs[0]!).map(fn), shape: s.xs[0]!.shape }) } : {}),
  f32: 'elementwise',
  ...extra,
});
const zeroGrad = (domain: Domain, fn: (x: number) => number): PrimCase => unary(domain, fn);

const binaryRef = (fn: (a: number, b: number) => number) => (s: Sample): Expected =>
  mapBroadcast(s.xs.map((x) => ({ values: logical(x), shape: x.shape })), fn);
const binary = (da: Domain, db: Domain, fn: (a: number, b: number) => number, extra: Partial<PrimCase> = {}): PrimCase => ({
  vjp: true,
  gen: broadcastArb([da, db], { allowEmpty: true }).map((xs) => ({ xs, attrs: noAttrs })),
  ref: binaryRef(fn),
  f32: 'elementwise',
  ...extra,
});
const compare = (fn: (a: number, b: number) => boolean): PrimCase => ({
  vjp: false,
  gen: broadcastArb(['special', 'special'], { allowEmpty: true }).map((xs) => ({ xs, attrs: noAttrs })),
  ref: binaryRef((a, b) => (fn(a, b) ? 1 : 0)),
  f32: 'exact',
});

/** erf by its Maclaurin series (|x| ≤ 3 here), an independent reference for the kernel's. */
function erfRef(x: number): number {
  let term = x, sum = x;
  for (let n = 1; n < 100; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
const roundHalfEven = (x: number) => {
  const r = Math.round(x);
  return Math.abs(r - x) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};
const pyMod = (a: number, b: number) => a - Math.floor(a / b) * b;

/** remainder: operands whose quotient a/b stays ≥ 0.1 away from integers (the db jump). */
const remainderGen: fc.Arbitrary<Sample> = broadcastShapesArb(2).chain(([sa, sb]) => {
  const out = broadcastShape(sa!, sb!);
  return fc.tuple(
    specArb(sb!, { domain: 'nonzero' }),
    valuesArb('offInteger', numel(out)),
  ).map(([b, q]): Sample => {
    const bv = expandValues(logical(b), b.shape, out);
    const a: TensorSpec = { shape: out, baseShape: out, base: q.map((qi, i) => qi * bv[i]!), view: null };
    return { xs: [a, b], attrs: noAttrs };
  });
});

const whereGen: fc.Arbitrary<Sample> = broadcastShapesArb(3).chain(([sc, sa, sb]) =>
  fc.tuple(
    fc.array(fc.boolean(), { minLength: numel(sc!), maxLength: numel(sc!) }),
    specArb(sa!, { domain: 'real' }),
    specArb(sb!, { domain: 'real' }),
  ).map(([c, a, b]): Sample => ({ xs: [a, b], consts: [{ shape: sc!, values: c.map(Number), dtype: 'bool' }], attrs: noAttrs })),
);
const whereRef = (s: Sample): Expected => {
  const c = s.consts![0]!;
  return mapBroadcast(
    [{ values: c.values, shape: c.shape }, ...s.xs.map((x) => ({ values: logical(x), shape: x.shape }))],
    (ci, a, b) => (ci ? a : b),
  );
};

// ------------------------------------------------------------------ reductions

/** sum and prod reduce empty dims to 0 and 1; max and min refuse them (no identity) */
const reduceGen = (domain: Domain, allowEmpty = false) =>
  tensorArb({ allowEmpty }, { domain, expandTies: true }).chain((x) =>
    fc.tuple(dimsSubsetArb(x.shape.length), fc.boolean()).map(([dims, keepdim]): Sample => ({ xs: [x], attrs: { dims, keepdim } })),
  );
const reduceRef = (init: number, fn: (acc: number, x: number) => number) => (s: Sample): Expected => {
  const { dims, keepdim } = s.attrs as { dims: number[]; keepdim: boolean };
  return reduceDims(logical(s.xs[0]!), s.xs[0]!.shape, dims, keepdim, init, fn);
};
const argGen = tensorArb({ minRank: 1 }, { domain: 'distinct' }).chain((x) =>
  fc.tuple(fc.integer({ min: 0, max: x.shape.length - 1 }), fc.boolean()).map(([d, keepdim]): Sample => ({ xs: [x], attrs: { dims: [d], keepdim } })),
);
const argRef = (better: (a: number, b: number) => boolean) => (s: Sample): Expected => {
  const { dims, keepdim } = s.attrs as { dims: number[]; keepdim: boolean };
  const x = s.xs[0]!;
  const vals = logical(x);
  const best = reduceDims(vals, x.shape, dims, true, NaN, (acc, v) => (Number.isNaN(acc) || better(v, acc) ? v : acc));
  const keptShape = x.shape.map((d, i) => (dims.includes(i) ? 1 : d));
  const out = new Array<number>(best.values.length).fill(-1);
  vals.forEach((v, i) => {
    const idx = unravel(i, x.shape);
    const o = ravel(idx.map((k, d) => (dims.includes(d) ? 0 : k)), keptShape);
    if (v === best.values[o] && out[o] === -1) out[o] = idx[dims[0]!]!;
  });
  return { values: out, shape: keepdim ? keptShape : x.shape.filter((_, i) => !dims.includes(i)) };
};

// ------------------------------------------------------------------ movement

const permuteGen = tensorArb().chain((x) => permArb(x.shape.length).map((perm): Sample => ({ xs: [x], attrs: { perm } })));
const expandGen = shapeArb().chain((target) =>
  fc.tuple(fc.integer({ min: 0, max: target.length }), fc.array(fc.boolean(), { minLength: target.length, maxLength: target.length }))
    .chain(([drop, ones]) => specArb(target.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d))).map((x): Sample => ({ xs: [x], attrs: { shape: target } }))),
);
const sliceGen = tensorArb({ minRank: 0 }).chain((x) =>
  fc.tuple(...x.shape.map((d) =>
    fc.tuple(fc.integer({ min: 0, max: d - 1 }), fc.integer({ min: 1, max: 3 })).chain(([start, step]) =>
      fc.integer({ min: 0, max: Math.floor((d - 1 - start) / step) + 1 }).map((size) => [start, size, step] as const)),
  )).map((per): Sample => ({
    xs: [x],
    attrs: { starts: per.map((p) => (p[1] === 0 ? 0 : p[0])), sizes: per.map((p) => p[1]), steps: per.map((p) => p[2]) },
  })),
);
const catGen = fc.tuple(shapeArb({ minRank: 1, maxRank: 3 }), fc.integer({ min: 1, max: 4 })).chain(([shape, k]) =>
  fc.tuple(fc.integer({ min: 0, max: shape.length - 1 }), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: k, maxLength: k }))
    .chain(([dim, sizes]) =>
      fc.tuple(...sizes.map((n) => specArb(shape.map((d, i) => (i === dim ? n : d)))))
        .map((xs): Sample => ({ xs, attrs: { dim } }))),
);
const padGen = tensorArb({ maxRank: 3 }).chain((x) =>
  fc.tuple(
    fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })), { minLength: x.shape.length, maxLength: x.shape.length }),
    fc.array(fc.integer({ min: 1, max: 3 }), { minLength: x.shape.length, maxLength: x.shape.length }),
    fc.double({ min: -2, max: 2, noNaN: true }),
  ).map(([pads, steps, value]): Sample => ({ xs: [x], attrs: { pads, steps, value } })),
);
const padRef = (s: Sample): Expected => {
  const x = s.xs[0]!;
  const { pads, steps, value } = s.attrs as { pads: [number, number][]; steps: number[]; value: number };
  const shape = x.shape.map((d, i) => pads[i]![0] + pads[i]![1] + (d === 0 ? 0 : (d - 1) * steps[i]! + 1));
  const out = new Array<number>(numel(shape)).fill(value);
  logical(x).forEach((v, i) => {
    out[ravel(unravel(i, x.shape).map((k, d) => pads[d]![0] + k * steps[d]!), shape)] = v;
  });
  return { values: out, shape };
};
const catRef = (s: Sample): Expected => {
  const { dim } = s.attrs as { dim: number };
  const first = s.xs[0]!;
  const shape = first.shape.map((d, i) => (i === dim ? s.xs.reduce((a, x) => a + x.shape[dim]!, 0) : d));
  const out = new Array<number>(numel(shape));
  let at = 0;
  for (const x of s.xs) {
    logical(x).forEach((v, i) => {
      const idx = unravel(i, x.shape);
      idx[dim] = idx[dim]! + at;
      out[ravel(idx, shape)] = v;
    });
    at += x.shape[dim]!;
  }
  return { values: out, shape };
};

// ------------------------------------------------------------------ matmul, im2col, gather

const matmulGen = broadcastShapesArb(2, { maxRank: 2, maxDim: 3 }).chain(([ba, bb]) =>
  fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 })).chain(([m, k, n]) =>
    fc.tuple(specArb([...ba!, m, k]), specArb([...bb!, k, n])).map((xs): Sample => ({ xs, attrs: noAttrs }))),
);
const matmulRef = (s: Sample): Expected => {
  const [a, b] = s.xs as [TensorSpec, TensorSpec];
  const av = logical(a), bv = logical(b);
  const [m, k] = a.shape.slice(-2) as [number, number];
  const n = b.shape[b.shape.length - 1]!;
  const batch = broadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const shape = [...batch, m, n];
  const out = new Array<number>(numel(shape));
  for (let o = 0; o < out.length; o++) {
    const idx = unravel(o, shape);
    const bi = idx.slice(0, -2), i = idx[idx.length - 2]!, j = idx[idx.length - 1]!;
    const ao = broadcastIndex(bi, a.shape.slice(0, -2)) * m * k, bo = broadcastIndex(bi, b.shape.slice(0, -2)) * k * n;
    let acc = 0;
    for (let p = 0; p < k; p++) acc += av[ao + i * k + p]! * bv[bo + p * n + j]!;
    out[o] = acc;
  }
  return { values: out, shape };
};

interface Window { kernel: [number, number]; stride: [number, number]; padding: [number, number]; dilation: [number, number]; size: [number, number] }
const axisArb = fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 0, max: 1 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 0, max: 2 }))
  .map(([k, s, p, d, extra]) => ({ k, s, p, d, size: Math.max(1, d * (k - 1) + 1 - 2 * p) + extra }));
const windowArb: fc.Arbitrary<Window> = fc.tuple(axisArb, axisArb).map(([h, w]) => ({
  kernel: [h.k, w.k], stride: [h.s, w.s], padding: [h.p, w.p], dilation: [h.d, w.d], size: [h.size, w.size],
}));
const outSize = (w: Window, a: 0 | 1) => Math.floor((w.size[a] + 2 * w.padding[a] - w.dilation[a] * (w.kernel[a] - 1) - 1) / w.stride[a]) + 1;
const unfoldAttrs = (w: Window) => ({ kernel: w.kernel, stride: w.stride, padding: w.padding, dilation: w.dilation, padValue: 0 });
const unfoldGen = fc.tuple(windowArb, fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })).chain(([w, n, c]) =>
  specArb([n, c, w.size[0], w.size[1]]).map((x): Sample => ({ xs: [x], attrs: unfoldAttrs(w) })),
);
const foldGen = fc.tuple(windowArb, fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })).chain(([w, n, c]) =>
  specArb([n, c * w.kernel[0] * w.kernel[1], outSize(w, 0) * outSize(w, 1)])
    .map((x): Sample => ({ xs: [x], attrs: { ...unfoldAttrs(w), inputSize: w.size } })),
);
/** Visits every (column entry, pixel) pair of an im2col: cols[n, (c·kh+i)·kw+j, oy·ow+ox] ↔ x[n, c, y, x] (or padding). */
function forEachWindow(
  nc: [number, number], size: readonly [number, number], a: { kernel: readonly number[]; stride: readonly number[]; padding: readonly number[]; dilation: readonly number[] },
  fn: (col: number, pixel: number | null) => void,
): number[] {
  const [N, C] = nc, [H, W] = size;
  const [kh, kw] = a.kernel as [number, number], [sh, sw] = a.stride as [number, number];
  const [ph, pw] = a.padding as [number, number], [dh, dw] = a.dilation as [number, number];
  const oh = Math.floor((H + 2 * ph - dh * (kh - 1) - 1) / sh) + 1, ow = Math.floor((W + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  const colShape = [N, C * kh * kw, oh * ow];
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++)
    for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
      const y = oy * sh - ph + i * dh, x = ox * sw - pw + j * dw;
      const col = ravel([n, (c * kh + i) * kw + j, oy * ow + ox], colShape);
      fn(col, y < 0 || y >= H || x < 0 || x >= W ? null : ravel([n, c, y, x], [N, C, H, W]));
    }
  return colShape;
}
const unfoldRef = (s: Sample): Expected => {
  const x = s.xs[0]!, xv = logical(x);
  const a = s.attrs as { kernel: number[]; stride: number[]; padding: number[]; dilation: number[]; padValue: number };
  const cols: number[] = [];
  const shape = forEachWindow([x.shape[0]!, x.shape[1]!], [x.shape[2]!, x.shape[3]!], a, (col, px) => { cols[col] = px === null ? a.padValue : xv[px]!; });
  return { values: cols, shape };
};
const foldRef = (s: Sample): Expected => {
  const x = s.xs[0]!, xv = logical(x);
  const a = s.attrs as { kernel: number[]; stride: number[]; padding: number[]; dilation: number[]; inputSize: [number, number] };
  const C = x.shape[1]! / (a.kernel[0]! * a.kernel[1]!);
  const shape = [x.shape[0]!, C, a.inputSize[0], a.inputSize[1]];
  const out = new Array<number>(numel(shape)).fill(0);
  forEachWindow([x.shape[0]!, C], a.inputSize, a, (col, px) => { if (px !== null) out[px] = out[px]! + xv[col]!; });
  return { values: out, shape };
};

const gatherGen = shapeArb({ minRank: 1, maxRank: 3 }).chain((xs) =>
  fc.tuple(fc.integer({ min: 0, max: xs.length - 1 }), fc.array(fc.integer({ min: 1, max: 4 }), { minLength: xs.length, maxLength: xs.length }))
    .chain(([dim, raw]) => {
      const is = xs.map((d, i) => (i === dim ? raw[i]! : 1 + ((raw[i]! - 1) % d)));
      return fc.tuple(specArb(xs), indexArb(is, xs[dim]!)).map(([x, idx]): Sample => ({ xs: [x], consts: [intConst(idx)], attrs: { dim } }));
    }),
);
const gatherRef = (s: Sample): Expected => {
  const x = s.xs[0]!, idx = s.consts![0]!, { dim } = s.attrs as { dim: number };
  const xv = logical(x);
  return {
    values: idx.values.map((k, o) => { const p = unravel(o, idx.shape); p[dim] = k; return xv[ravel(p, x.shape)]!; }),
    shape: idx.shape,
  };
};
const scatterGen = shapeArb({ minRank: 1, maxRank: 3 }).chain((bs) =>
  fc.tuple(
    fc.integer({ min: 0, max: bs.length - 1 }),
    fc.array(fc.integer({ min: 1, max: 4 }), { minLength: bs.length, maxLength: bs.length }),
    fc.array(fc.integer({ min: 0, max: 1 }), { minLength: bs.length, maxLength: bs.length }),
  ).chain(([dim, raw, grow]) => {
    const is = bs.map((d, i) => (i === dim ? raw[i]! : 1 + ((raw[i]! - 1) % d)));
    const ss = is.map((d, i) => d + grow[i]!);
    return fc.tuple(specArb(bs), indexArb(is, bs[dim]!), specArb(ss))
      .map(([base, idx, src]): Sample => ({ xs: [base, src], consts: [intConst(idx)], attrs: { dim } }));
  }),
);
const scatterRef = (s: Sample): Expected => {
  const [base, src] = s.xs as [TensorSpec, TensorSpec];
  const idx = s.consts![0]!, { dim } = s.attrs as { dim: number };
  const out = logical(base), sv = logical(src);
  idx.values.forEach((k, o) => {
    const p = unravel(o, idx.shape);
    const from = ravel(p, src.shape);
    p[dim] = k;
    const to = ravel(p, base.shape);
    out[to] = out[to]! + sv[from]!;
  });
  return { values: out, shape: base.shape };
};

// ------------------------------------------------------------------ sources

const dtypeArb = fc.constantFrom('float64' as const, 'float32' as const, 'int32' as const);
const fullGen = fc.tuple(shapeArb({ minDim: 0 }), fc.integer({ min: -5, max: 5 }), fc.double({ min: -3, max: 3, noNaN: true }), fc.constantFrom('float64' as const, 'float32' as const, 'int32' as const, 'bool' as const))
  .map(([shape, i, v, dtype]): Sample => ({ xs: [], attrs: { shape, value: dtype === 'int32' || dtype === 'bool' ? i : v, dtype } }));
const castValue = (v: number, dtype: string) =>
  dtype === 'float32' ? Math.fround(v) : dtype === 'int32' ? v | 0 : dtype === 'bool' ? (v ? 1 : 0) : v;
const arangeGen = fc.tuple(fc.integer({ min: -5, max: 5 }), fc.integer({ min: -3, max: 3 }).filter((s) => s !== 0), fc.integer({ min: 0, max: 12 }), dtypeArb, fc.boolean())
  .map(([start, step, size, dtype, frac]): Sample => ({
    xs: [],
    attrs: dtype === 'int32' || !frac ? { start, step, size, dtype } : { start: start + 0.25, step: step * 0.5, size, dtype },
  }));
const randGen = fc.tuple(shapeArb({ minDim: 0 }), fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom('float64' as const, 'float32' as const))
  .map(([shape, seed, dtype]): Sample => ({ xs: [], attrs: { shape, seed, dtype } }));
const source = (op: OpDef, _xs: readonly Tensor[], _c: readonly Tensor[], attrs: unknown) => dispatch(op, [], attrs, 'cpu');

// ------------------------------------------------------------------ the table

const logicalGen = broadcastArb(['special', 'special'], { allowEmpty: true }).map((xs): Sample => ({ xs, attrs: noAttrs }));
const truthy = (v: number) => v !== 0; // NaN is true, as bool(nan) in PyTorch

export const primCases = {
  // elementwise unary
  neg: unary('real', (x) => -x),
  exp: unary('real', Math.exp),
  log: unary('positive', Math.log),
  sin: unary('real', Math.sin),
  cos: unary('real', Math.cos),
  sqrt: unary('positive', Math.sqrt),
  rsqrt: unary('positive', (x) => 1 / Math.sqrt(x)),
  reciprocal: unary('nonzero', (x) => 1 / x),
  abs: unary('nonzero', Math.abs),
  sign: zeroGrad('nonzero', Math.sign),
  tanh: unary('real', Math.tanh),
  sigmoid: unary('real', (x) => 1 / (1 + Math.exp(-x))),
  relu: unary('nonzero', (x) => Math.max(x, 0)),
  log1p: unary('aboveMinusOne', Math.log1p),
  expm1: unary('real', Math.expm1),
  erf: unary('real', erfRef, { refTol: 1e-13 }),
  floor: zeroGrad('offInteger', Math.floor),
  ceil: zeroGrad('offInteger', Math.ceil),
  trunc: zeroGrad('offInteger', Math.trunc),
  round: zeroGrad('offInteger', roundHalfEven),
  logicalNot: {
    vjp: false,
    gen: tensorArb({}, { domain: 'special' }).map((x): Sample => ({ xs: [x], attrs: noAttrs })),
    ref: (s) => ({ values: logical(s.xs[0]!).map((v) => (truthy(v) ? 0 : 1)), shape: s.xs[0]!.shape }),
    f32: 'exact',
  },
  isnan: {
    vjp: false,
    gen: tensorArb({}, { domain: 'special' }).map((x): Sample => ({ xs: [x], attrs: noAttrs })),
    ref: (s) => ({ values: logical(s.xs[0]!).map((v) => (Number.isNaN(v) ? 1 : 0)), shape: s.xs[0]!.shape }),
    f32: 'exact',
  },
  // elementwise binary
  add: binary('real', 'real', (a, b) => a + b),
  sub: binary('real', 'real', (a, b) => a - b),
  mul: binary('real', 'real', (a, b) => a * b),
  div: binary('real', 'nonzero', (a, b) => a / b),
  pow: binary('positive', 'real', Math.pow),
  maximum: binary('lattice0', 'lattice1', Math.max),
  minimum: binary('lattice1', 'lattice0', Math.min),
  remainder: { vjp: true, gen: remainderGen, ref: binaryRef(pyMod), refTol: 1e-9, f32: 'none' },
  lt: compare((a, b) => a < b),
  le: compare((a, b) => a <= b),
  gt: compare((a, b) => a > b),
  ge: compare((a, b) => a >= b),
  eq: compare((a, b) => a === b),
  ne: compare((a, b) => a !== b),
  logicalAnd: { vjp: false, gen: logicalGen, ref: binaryRef((a, b) => (truthy(a) && truthy(b) ? 1 : 0)), f32: 'exact' },
  logicalOr: { vjp: false, gen: logicalGen, ref: binaryRef((a, b) => (truthy(a) || truthy(b) ? 1 : 0)), f32: 'exact' },
  // ternary
  where: {
    vjp: true,
    gen: whereGen,
    apply: (op, [a, b], [c], attrs) => dispatch(op, [c!, a!, b!], attrs),
    ref: whereRef,
    f32: 'exact',
  },
  // fused updates: every operand differentiable, broadcast against the others
  lerp: {
    vjp: true,
    gen: broadcastArb(['real', 'real', 'real'], { allowEmpty: true }).map((xs) => ({ xs, attrs: noAttrs })),
    ref: (s) => mapBroadcast(s.xs.map((x) => ({ values: logical(x), shape: x.shape })), (a, b, w) => a + w! * (b! - a)),
    f32: 'elementwise',
  },
  addcmul: {
    vjp: true,
    gen: broadcastArb(['real', 'real', 'real', 'real'], { allowEmpty: true }).map((xs) => ({ xs, attrs: noAttrs })),
    ref: (s) => mapBroadcast(s.xs.map((x) => ({ values: logical(x), shape: x.shape })), (x, a, b, v) => x + v! * a! * b!),
    f32: 'elementwise',
  },
  addcdiv: {
    vjp: true,
    gen: broadcastArb(['real', 'real', 'nonzero', 'real'], { allowEmpty: true }).map((xs) => ({ xs, attrs: noAttrs })),
    ref: (s) => mapBroadcast(s.xs.map((x) => ({ values: logical(x), shape: x.shape })), (x, a, b, v) => x + v! * (a! / b!)),
    f32: 'elementwise',
  },
  // p and y both differentiable, broadcast against each other; the logs are far from their clamp
  binaryCrossEntropy: {
    vjp: true,
    gen: broadcastArb(['probability', 'probability'], { allowEmpty: true }).map((xs) => ({ xs, attrs: noAttrs })),
    ref: (s) => mapBroadcast(s.xs.map((x) => ({ values: logical(x), shape: x.shape })),
      (p, y) => -(y! * Math.max(Math.log(p!), -100) + (1 - y!) * Math.max(Math.log(1 - p!), -100))),
    f32: 'elementwise',
  },
  // f64 → f32 → f64: the f32 rounding (≤ 6e-8 relative) needs a coarser step than 1e-6
  cast: {
    vjp: true,
    gen: tensorArb({}, { domain: 'real' }).map((x): Sample => ({ xs: [x], attrs: noAttrs })),
    apply: (op, [x]) => dispatch(op, [dispatch(op, [x!], { dtype: 'float32' })], { dtype: 'float64' }),
    ref: (s) => ({ values: logical(s.xs[0]!).map(Math.fround), shape: s.xs[0]!.shape }),
    tol: { eps: 1e-2, rtol: 1e-4, atol: 1e-3 },
    f32: 'none',
  },
  // sources
  full: {
    vjp: false, gen: fullGen, apply: source, f32: 'none',
    ref: (s) => {
      const a = s.attrs as { shape: number[]; value: number; dtype: string };
      return { values: new Array<number>(numel(a.shape)).fill(castValue(a.value, a.dtype)), shape: a.shape };
    },
  },
  arange: {
    vjp: false, gen: arangeGen, apply: source, f32: 'none',
    ref: (s) => {
      const a = s.attrs as { start: number; step: number; size: number; dtype: string };
      return { values: [...Array(a.size).keys()].map((i) => castValue(a.start + i * a.step, a.dtype)), shape: [a.size] };
    },
    refTol: 1e-6,
  },
  randUniform: {
    vjp: false, gen: randGen, apply: source, f32: 'none',
    check: (s, out) => {
      const a = s.attrs as { shape: number[]; seed: number; dtype: string };
      const v = Array.from(out.dataSync() as ArrayLike<number>);
      if (out.dtype !== a.dtype || out.shape.join() !== a.shape.join()) throw new Error(`randUniform: got ${out.dtype} [${out.shape}]`);
      if (v.some((x) => !(x >= 0 && x < 1))) throw new Error(`randUniform: values outside [0, 1): ${v.filter((x) => !(x >= 0 && x < 1))}`);
      const again = Array.from(dispatch(prims.randUniform, [], a, 'cpu').dataSync() as ArrayLike<number>);
      if (again.some((x, i) => x !== v[i])) throw new Error('randUniform: the same seed gave different values');
      if (v.length >= 8) {
        const other = Array.from(dispatch(prims.randUniform, [], { ...a, seed: (a.seed + 1) >>> 0 }, 'cpu').dataSync() as ArrayLike<number>);
        if (other.every((x, i) => x === v[i])) throw new Error('randUniform: seeds s and s+1 gave identical values');
        if (new Set(v).size < v.length / 2) throw new Error(`randUniform: too many repeated values ${v}`);
      }
    },
  },
  // reductions
  sum: { vjp: true, gen: reduceGen('real', true), ref: reduceRef(0, (a, x) => a + x), f32: 'sum' },
  // expand layouts repeat one leaf element along a reduced dim: a tie whose shares must add up to 1
  amax: { vjp: true, gen: reduceGen('distinct'), ref: reduceRef(-Infinity, (a, x) => Math.max(a, x)), f32: 'exact' },
  amin: { vjp: true, gen: reduceGen('distinct'), ref: reduceRef(Infinity, (a, x) => Math.min(a, x)), f32: 'exact' },
  prod: { vjp: true, gen: reduceGen('unitish', true), ref: reduceRef(1, (a, x) => a * x), f32: 'prod' },
  argmax: { vjp: false, gen: argGen, ref: argRef((a, b) => a > b), f32: 'exact' },
  argmin: { vjp: false, gen: argGen, ref: argRef((a, b) => a < b), f32: 'exact' },
  // movement
  reshape: {
    vjp: true,
    gen: tensorArb().chain((x) => reshapeTargetArb(x.shape).map((shape): Sample => ({ xs: [x], attrs: { shape } }))),
    // the primitive needs a viewable layout; F.reshape copies first when it is not
    apply: (_op, [x], _c, { shape }) => F.reshape(x!, shape),
    ref: (s) => ({ values: logical(s.xs[0]!), shape: (s.attrs as { shape: number[] }).shape }),
    f32: 'none',
  },
  permute: {
    vjp: true, gen: permuteGen, f32: 'none',
    ref: (s) => {
      const { perm } = s.attrs as { perm: number[] };
      const x = s.xs[0]!;
      return { values: permuteValues(logical(x), x.shape, perm), shape: perm.map((p) => x.shape[p]!) };
    },
  },
  expand: {
    vjp: true, gen: expandGen, f32: 'none',
    ref: (s) => {
      const { shape } = s.attrs as { shape: number[] };
      return { values: expandValues(logical(s.xs[0]!), s.xs[0]!.shape, shape), shape };
    },
  },
  slice: {
    vjp: true, gen: sliceGen, f32: 'none',
    ref: (s) => {
      const a = s.attrs as { starts: number[]; sizes: number[]; steps: number[] };
      const x = s.xs[0]!;
      return { values: sliceValues(logical(x), x.shape, a.starts, a.sizes, a.steps), shape: a.sizes };
    },
  },
  contiguous: {
    vjp: true, f32: 'none',
    gen: tensorArb().map((x): Sample => ({ xs: [x], attrs: noAttrs })),
    ref: (s) => ({ values: logical(s.xs[0]!), shape: s.xs[0]!.shape }),
  },
  cat: { vjp: true, gen: catGen, ref: catRef, f32: 'none' },
  pad: { vjp: true, gen: padGen, ref: padRef, f32: 'none' },
  // templates
  matmul: { vjp: true, gen: matmulGen, ref: matmulRef, f32: 'matmul' },
  unfold: { vjp: true, gen: unfoldGen, ref: unfoldRef, f32: 'none' },
  fold: { vjp: true, gen: foldGen, ref: foldRef, f32: 'none' },
  gather: {
    vjp: true, gen: gatherGen, ref: gatherRef, f32: 'none',
    apply: (op, [x], [idx], attrs) => dispatch(op, [x!, idx!], attrs),
  },
  scatterAdd: {
    vjp: true, gen: scatterGen, ref: scatterRef, f32: 'none',
    apply: (op, [base, src], [idx], attrs) => dispatch(op, [base!, idx!, src!], attrs),
  },
} satisfies Record<PrimName, PrimCase>;


/** Runs a case's op on a sample in a dtype (constants as given). */
export function runCase(op: OpDef, c: PrimCase, s: Sample, xs: readonly Tensor[]): Tensor {
  const consts = (s.consts ?? []).map(buildConst);
  return c.apply ? c.apply(op, xs, consts, s.attrs) : dispatch(op, xs, s.attrs);
}

/** Reads a tensor's values as numbers (bool → 0/1). */
export function readValues(t: Tensor): number[] {
  return Array.from(t.dataSync() as ArrayLike<number>, Number);
}
