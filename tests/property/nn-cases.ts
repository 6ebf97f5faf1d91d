/**
 * @file Property cases of nn.functional (src/nn/functional.ts), run by nn.prop.test.ts: each is
 * gradient-checked in float64 against central differences, and its forward values are checked
 * against a naive plain-JS implementation of PyTorch's definition.
 */
import fc from 'fast-check';
import { manualSeed, nn, tensor, type Tensor } from '../../src/index.ts';
import { numel, ravel, unravel } from '../helpers/ndarray.ts';
import { buildIndex, indexArb, shapeArb, specArb, type Domain, type IndexSpec, type TensorSpec } from './arbitraries.ts';
import type { Expected } from './check.ts';
import { composite, type Composite, type CompositeSample } from './composite.ts';

const NF = nn.functional;
type S<A> = CompositeSample<A>;
type Reduction = 'mean' | 'sum' | 'none';
const reductionArb = fc.constantFrom<Reduction>('mean', 'sum', 'none');
const reduceJs = (l: number[], shape: readonly number[], r: Reduction): Expected =>
  r === 'none' ? { values: l, shape } : { values: [r === 'sum' ? l.reduce((a, b) => a + b, 0) : l.reduce((a, b) => a + b, 0) / l.length], shape: [] };
const lse = (g: readonly number[]) => { const m = Math.max(...g); return m + Math.log(g.reduce((a, v) => a + Math.exp(v - m), 0)); };
const softplusJs = (z: number) => Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));

// ------------------------------------------------------------------ linear

const linear = composite({
  name: 'linear',
  gen: fc.tuple(shapeArb({ maxRank: 2, maxDim: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.boolean())
    .chain(([batch, inF, outF, bias]) =>
      fc.tuple(specArb([...batch, inF]), specArb([outF, inF]), specArb([outF]))
        .map(([x, w, b]): S<{ bias: boolean }> => ({ xs: bias ? [x, w, b] : [x, w], a: { bias } }))),
  f: ([x, w, b]) => NF.linear(x!, w!, b),
  ref: ([x, w, b], s) => {
    const xs = s.xs[0]!.shape, [o, k] = s.xs[1]!.shape as [number, number];
    const rows = numel(xs) / k;
    const out: number[] = [];
    for (let r = 0; r < rows; r++) for (let j = 0; j < o; j++) {
      let acc = b ? b[j]! : 0;
      for (let p = 0; p < k; p++) acc += x![r * k + p]! * w![j * k + p]!;
      out.push(acc);
    }
    return { values: out, shape: [...xs.slice(0, -1), o] };
  },
});

// ------------------------------------------------------------------ convolution and pooling

interface Axis { k: number; s: number; p: number; d: number; size: number }
const axis = (maxPadHalf: boolean) =>
  fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 0, max: 1 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 0, max: 3 }))
    .map(([k, s, p0, d, extra]): Axis => {
      const p = maxPadHalf ? Math.min(p0, Math.floor(k / 2)) : p0;
      return { k, s, p, d, size: Math.max(1, d * (k - 1) + 1 - 2 * p) + extra };
    });
const outLen = (a: Axis) => Math.floor((a.size + 2 * a.p - a.d * (a.k - 1) - 1) / a.s) + 1;
const windowsHit = (a: Axis) =>
  [...Array(outLen(a)).keys()].every((o) => [...Array(a.k).keys()].some((i) => { const y = o * a.s - a.p + i * a.d; return y >= 0 && y < a.size; }));

interface ConvArgs { h: Axis; w: Axis; groups: number; unbatched: boolean; bias: boolean }
const convGen = fc.tuple(axis(false), axis(false), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 }), fc.boolean(), fc.boolean())
  .chain(([h, w, groups, cg, og, n, unbatched, bias]) => {
    const C = groups * cg, O = groups * og;
    const xShape = unbatched ? [C, h.size, w.size] : [n, C, h.size, w.size];
    return fc.tuple(specArb(xShape), specArb([O, cg, h.k, w.k]), specArb([O]))
      .map(([x, wt, b]): S<ConvArgs> => ({ xs: bias ? [x, wt, b] : [x, wt], a: { h, w, groups, unbatched, bias } }));
  });
const conv2d = composite({
  name: 'conv2d (stride/padding/dilation/groups)',
  gen: convGen,
  f: ([x, w, b], a) => NF.conv2d(x!, w!, b, { stride: [a.h.s, a.w.s], padding: [a.h.p, a.w.p], dilation: [a.h.d, a.w.d], groups: a.groups }),
  ref: ([x, w, b], s) => {
    const { h, w: wa, groups, unbatched } = s.a;
    const xs = unbatched ? [1, ...s.xs[0]!.shape] : s.xs[0]!.shape;
    const [N, C, H, W] = xs as [number, number, number, number];
    const [O, cg, kh, kw] = s.xs[1]!.shape as [number, number, number, number];
    const oh = outLen(h), ow = outLen(wa), og = O / groups;
    const out: number[] = [];
    for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
      let acc = b ? b[o]! : 0;
      const g = Math.floor(o / og);
      for (let c = 0; c < cg; c++) for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) {
        const y = oy * h.s - h.p + i * h.d, xx = ox * wa.s - wa.p + j * wa.d;
        if (y < 0 || y >= H || xx < 0 || xx >= W) continue;
        acc += x![ravel([n, g * cg + c, y, xx], [N, C, H, W])]! * w![ravel([o, c, i, j], [O, cg, kh, kw])]!;
      }
      out.push(acc);
    }
    return { values: out, shape: unbatched ? [O, oh, ow] : [N, O, oh, ow] };
  },
});

interface PoolArgs { h: Axis; w: Axis; unbatched: boolean; defaultStride: boolean }
const poolGen = (domain: Domain, dilation: boolean) =>
  fc.tuple(axis(true), axis(true), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 }), fc.boolean(), fc.boolean())
    .chain(([h0, w0, n, c, unbatched, defaultStride]) => {
      const fix = (a: Axis): Axis => {
        const d = dilation ? a.d : 1, s = defaultStride ? a.k : a.s;
        const r = { ...a, d, s, size: Math.max(1, d * (a.k - 1) + 1 - 2 * a.p) + (a.size % 3) };
        // every window must hold a pixel: one entirely in the padding has max −∞ (as in PyTorch), no derivative
        while (!windowsHit(r)) r.size++;
        return r;
      };
      const h = fix(h0), w = fix(w0);
      return specArb(unbatched ? [c, h.size, w.size] : [n, c, h.size, w.size], { domain })
        .map((x): S<PoolArgs> => ({ xs: [x], a: { h, w, unbatched, defaultStride } }));
    });
const poolOpts = (a: PoolArgs, dilation: boolean) => ({
  stride: a.defaultStride ? null : ([a.h.s, a.w.s] as [number, number]),
  padding: [a.h.p, a.w.p] as [number, number],
  ...(dilation ? { dilation: [a.h.d, a.w.d] as [number, number] } : {}),
});
function poolRef(x: readonly number[], spec: TensorSpec, a: PoolArgs, reduce: (vals: number[]) => number): Expected {
  const xs = a.unbatched ? [1, ...spec.shape] : spec.shape;
  const [N, C, H, W] = xs as [number, number, number, number];
  const oh = outLen(a.h), ow = outLen(a.w);
  const out: number[] = [];
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
    const win: number[] = [];
    for (let i = 0; i < a.h.k; i++) for (let j = 0; j < a.w.k; j++) {
      const y = oy * a.h.s - a.h.p + i * a.h.d, xx = ox * a.w.s - a.w.p + j * a.w.d;
      win.push(y < 0 || y >= H || xx < 0 || xx >= W ? NaN : x[ravel([n, c, y, xx], [N, C, H, W])]!);
    }
    out.push(reduce(win));
  }
  return { values: out, shape: a.unbatched ? [C, oh, ow] : [N, C, oh, ow] };
}
// distinct values: a window never holds two equal maxima (the kink of max)
const maxPool2d = composite({
  name: 'maxPool2d',
  gen: poolGen('distinct', true),
  f: ([x], a) => NF.maxPool2d(x!, [a.h.k, a.w.k], poolOpts(a, true)),
  ref: ([x], s) => poolRef(x!, s.xs[0]!, s.a, (w) => Math.max(...w.filter((v) => !Number.isNaN(v)))),
});
const avgPool2d = composite({
  name: 'avgPool2d (padding counts as zeros)',
  gen: poolGen('real', false),
  f: ([x], a) => NF.avgPool2d(x!, [a.h.k, a.w.k], poolOpts(a, false)),
  ref: ([x], s) => poolRef(x!, s.xs[0]!, s.a, (w) => w.reduce((acc, v) => acc + (Number.isNaN(v) ? 0 : v), 0) / w.length),
});

// ------------------------------------------------------------------ losses

/** logits [N, C] | [C] | [N, C, d], class-index targets [N] | [] | [N, d] in 0..C-1. */
interface ClsArgs { target: IndexSpec; reduction: Reduction; weight: boolean; smoothing: number }
const clsShape = fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.constantFrom(1, 2, 3))
  .map(([n, c, d, rank]) => ({ logits: rank === 1 ? [c] : rank === 2 ? [n, c] : [n, c, d], target: rank === 1 ? [] : rank === 2 ? [n] : [n, d], c }));
const clsGen = (withSmoothing: boolean) =>
  clsShape.chain(({ logits, target, c }) =>
    fc.tuple(specArb(logits), specArb([c], { domain: 'positive' }), indexArb(target, c), reductionArb, fc.boolean(), withSmoothing ? fc.constantFrom(0, 0.1, 0.35) : fc.constant(0))
      .map(([x, w, t, reduction, weight, smoothing]): S<ClsArgs> => ({ xs: weight ? [x, w] : [x], a: { target: t, reduction, weight, smoothing } })));
/** Per-sample class dim view of logits: rows of C values and the target of each row. */
function rowsOf(x: readonly number[], shape: readonly number[]): { rows: number[][]; outShape: number[] } {
  const cdim = shape.length === 1 ? 0 : 1, C = shape[cdim]!;
  const outShape = shape.filter((_, i) => i !== cdim);
  const rows = [...Array(numel(outShape)).keys()].map((o) => {
    const idx = unravel(o, outShape);
    return [...Array(C).keys()].map((c) => { const full = [...idx]; full.splice(cdim, 0, c); return x[ravel(full, shape)]!; });
  });
  return { rows, outShape };
}
/** nll of log-probability rows, PyTorch's weighted mean (Σ w_t·l / Σ w_t). */
function nllJs(rows: readonly number[][], t: readonly number[], outShape: readonly number[], w: readonly number[] | undefined, r: Reduction): Expected {
  const wt = t.map((c) => (w ? w[c]! : 1));
  const l = rows.map((row, i) => -row[t[i]!]! * wt[i]!);
  if (r === 'mean') return { values: [l.reduce((a, b) => a + b, 0) / wt.reduce((a, b) => a + b, 0)], shape: [] };
  return reduceJs(l, outShape, r);
}
const crossEntropy = composite({
  name: 'crossEntropy (class indices, weight, labelSmoothing)',
  gen: clsGen(true),
  f: ([x, w], a) => NF.crossEntropy(x!, buildIndex(a.target), { reduction: a.reduction, weight: w ?? null, labelSmoothing: a.smoothing }),
  // PyTorch: (1−ε)·nll_w + (ε/C)·Σ_c w_c·(−log p_c), the smooth term reduced like nll (mean: ÷ Σ w_target)
  ref: ([x, w], s) => {
    const { rows, outShape } = rowsOf(x!, s.xs[0]!.shape);
    const logp = rows.map((row) => row.map((v) => v - lse(row)));
    const t = s.a.target.values, eps = s.a.smoothing, C = rows[0]!.length;
    const nll = nllJs(logp, t, outShape, w, s.a.reduction);
    const smoothRows = logp.map((row) => -row.reduce((acc, v, c) => acc + v * (w ? w[c]! : 1), 0));
    const smooth = s.a.reduction === 'mean'
      ? [smoothRows.reduce((a, b) => a + b, 0) / t.reduce((a, c) => a + (w ? w[c]! : 1), 0)]
      : reduceJs(smoothRows, outShape, s.a.reduction).values;
    return { values: nll.values.map((v, i) => (1 - eps) * v + (eps / C) * smooth[i]!), shape: nll.shape };
  },
});
const crossEntropyProbs = composite({
  name: 'crossEntropy (probability targets, labelSmoothing)',
  gen: clsShape.chain(({ logits }) =>
    fc.tuple(specArb(logits), specArb(logits, { domain: 'positive' }), reductionArb, fc.constantFrom(0, 0.2))
      .map(([x, p, reduction, smoothing]): S<{ reduction: Reduction; smoothing: number }> => ({ xs: [x, p], a: { reduction, smoothing } }))),
  f: ([x, p], a) => NF.crossEntropy(x!, p!, { reduction: a.reduction, labelSmoothing: a.smoothing }),
  ref: ([x, p], s) => {
    const { rows, outShape } = rowsOf(x!, s.xs[0]!.shape);
    const prow = rowsOf(p!, s.xs[1]!.shape).rows, eps = s.a.smoothing, C = rows[0]!.length;
    const l = rows.map((row, i) => -row.reduce((acc, v, c) => acc + (prow[i]![c]! * (1 - eps) + eps / C) * (v - lse(row)), 0));
    return reduceJs(l, outShape, s.a.reduction);
  },
});
const nllLoss = composite({
  name: 'nllLoss (weight)',
  gen: clsGen(false),
  f: ([x, w], a) => NF.nllLoss(x!, buildIndex(a.target), { reduction: a.reduction, weight: w ?? null }),
  ref: ([x, w], s) => { const { rows, outShape } = rowsOf(x!, s.xs[0]!.shape); return nllJs(rows, s.a.target.values, outShape, w, s.a.reduction); },
});

interface BceArgs { reduction: Reduction; weight: boolean; posWeight?: boolean }
const probSpec = (shape: readonly number[]) => specArb(shape, { domain: 'positive' }).map((p) => ({ ...p, base: p.base.map((v) => 0.05 + (0.9 * (v - 0.25)) / 2.25) }));
const bce = composite({
  name: 'binaryCrossEntropy (weight)',
  gen: shapeArb({ maxRank: 3 }).chain((sh) =>
    fc.tuple(probSpec(sh), probSpec(sh), specArb(sh, { domain: 'positive' }), reductionArb, fc.boolean())
      .map(([p, y, w, reduction, weight]): S<BceArgs> => ({ xs: weight ? [p, y, w] : [p, y], a: { reduction, weight } }))),
  f: ([p, y, w], a) => NF.binaryCrossEntropy(p!, y!, { reduction: a.reduction, weight: w ?? null }),
  ref: ([p, y, w], s) => reduceJs(p!.map((pi, i) => -(y![i]! * Math.log(pi) + (1 - y![i]!) * Math.log(1 - pi)) * (w ? w[i]! : 1)), s.xs[0]!.shape, s.a.reduction),
});
const bceLogits = composite({
  name: 'binaryCrossEntropyWithLogits (weight, posWeight)',
  // 'real' logits include 0 and −0 often: the loss is smooth there and so must its gradient be
  gen: shapeArb({ maxRank: 3 }).chain((sh) =>
    fc.tuple(specArb(sh), probSpec(sh), specArb(sh, { domain: 'positive' }), specArb(sh.slice(-1), { domain: 'positive' }), reductionArb, fc.boolean(), fc.boolean())
      .map(([z, y, w, pw, reduction, weight, posWeight]): S<BceArgs> => ({ xs: [z, y, ...(weight ? [w] : []), ...(posWeight ? [pw] : [])], a: { reduction, weight, posWeight } }))),
  f: ([z, y, ...rest], a) => NF.binaryCrossEntropyWithLogits(z!, y!, {
    reduction: a.reduction, weight: a.weight ? rest[0]! : null, posWeight: a.posWeight ? rest[a.weight ? 1 : 0]! : null,
  }),
  ref: ([z, y, ...rest], s) => {
    const sh = s.xs[0]!.shape;
    const w = s.a.weight ? rest[0] : undefined, pw = s.a.posWeight ? rest[s.a.weight ? 1 : 0] : undefined;
    const l = z!.map((zi, i) => {
      const yi = y![i]!, pwi = pw ? pw[sh.length ? i % sh[sh.length - 1]! : 0]! : 1;
      return ((1 - yi) * zi + (1 + (pwi - 1) * yi) * softplusJs(-zi)) * (w ? w[i]! : 1);
    });
    return reduceJs(l, sh, s.a.reduction);
  },
});
const pairLoss = (name: string, da: Domain, db: Domain, fn: typeof NF.mseLoss, js: (d: number) => number) => composite({
  name,
  gen: shapeArb({ maxRank: 3 }).chain((sh) =>
    fc.tuple(specArb(sh, { domain: da }), specArb(sh, { domain: db }), reductionArb).map(([a, b, reduction]): S<Reduction> => ({ xs: [a, b], a: reduction }))),
  f: ([a, b], r) => fn(a!, b!, { reduction: r }),
  ref: ([a, b], s) => reduceJs(a!.map((v, i) => js(v - b![i]!)), s.xs[0]!.shape, s.a),
});
// l1: input on 0.2k, target on 0.2k + 0.1 — never equal, so |·| is away from its kink
const mseLoss = pairLoss('mseLoss', 'real', 'real', NF.mseLoss, (d) => d * d);
const l1Loss = pairLoss('l1Loss', 'lattice0', 'lattice1', NF.l1Loss, Math.abs);

// ------------------------------------------------------------------ normalisation, embedding, dropout

interface NormArgs { k: number; weight: boolean; bias: boolean; eps: number }
const layerNorm = composite({
  name: 'layerNorm',
  gen: shapeArb({ minRank: 1, maxRank: 3 }).chain((sh) =>
    fc.tuple(fc.integer({ min: 1, max: sh.length }), fc.boolean(), fc.boolean(), fc.constantFrom(1e-5, 0.1)).chain(([k, weight, bias, eps]) =>
      fc.tuple(specArb(sh), specArb(sh.slice(-k)), specArb(sh.slice(-k)))
        .map(([x, w, b]): S<NormArgs> => ({ xs: [x, ...(weight ? [w] : []), ...(bias ? [b] : [])], a: { k, weight, bias, eps } })))),
  f: ([x, ...rest], a) => NF.layerNorm(x!, x!.shape.slice(-a.k), a.weight ? rest[0]! : null, a.bias ? rest[a.weight ? 1 : 0]! : null, a.eps),
  ref: ([x, ...rest], s) => {
    const sh = s.xs[0]!.shape, inner = numel(sh.slice(-s.a.k));
    const w = s.a.weight ? rest[0] : undefined, b = s.a.bias ? rest[s.a.weight ? 1 : 0] : undefined;
    const out: number[] = [];
    for (let g = 0; g < x!.length / inner; g++) {
      const seg = x!.slice(g * inner, (g + 1) * inner);
      const mu = seg.reduce((a, v) => a + v, 0) / inner;
      const v = seg.reduce((a, e) => a + (e - mu) ** 2, 0) / inner;
      seg.forEach((e, i) => out.push(((e - mu) / Math.sqrt(v + s.a.eps)) * (w ? w[i]! : 1) + (b ? b[i]! : 0)));
    }
    return { values: out, shape: sh };
  },
});

interface BnArgs { training: boolean; weight: boolean; bias: boolean; rm: number[]; rv: number[] }
const bnGen = fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), shapeArb({ maxRank: 2, maxDim: 3 }), fc.boolean(), fc.boolean(), fc.boolean())
  .filter(([n, , sp, training]) => !training || n * numel(sp) > 1)
  .chain(([n, c, sp, training, weight, bias]) =>
    fc.tuple(specArb([n, c, ...sp]), specArb([c]), specArb([c]), fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: c, maxLength: c }), fc.array(fc.double({ min: 0.5, max: 2, noNaN: true }), { minLength: c, maxLength: c }))
      .map(([x, w, b, rm, rv]): S<BnArgs> => ({ xs: [x, ...(weight ? [w] : []), ...(bias ? [b] : [])], a: { training, weight, bias, rm, rv } })));
const f64 = (v: readonly number[]): Tensor => tensor(Float64Array.from(v), { shape: [v.length], dtype: 'float64' });
const batchNorm = composite({
  name: 'batchNorm (training and eval)',
  gen: bnGen,
  // fresh running statistics each call: training updates them in place
  f: ([x, ...rest], a) => NF.batchNorm(x!, f64(a.rm), f64(a.rv), {
    training: a.training, weight: a.weight ? rest[0]! : null, bias: a.bias ? rest[a.weight ? 1 : 0]! : null,
  }),
  ref: ([x, ...rest], s) => {
    const sh = s.xs[0]!.shape, C = sh[1]!, eps = 1e-5;
    const w = s.a.weight ? rest[0] : undefined, b = s.a.bias ? rest[s.a.weight ? 1 : 0] : undefined;
    const chan = (i: number) => unravel(i, sh)[1]!;
    const mean = new Array<number>(C).fill(0), cnt = new Array<number>(C).fill(0), v = new Array<number>(C).fill(0);
    if (s.a.training) {
      x!.forEach((e, i) => { mean[chan(i)]! += e; cnt[chan(i)]!++; });
      mean.forEach((m, c) => { mean[c] = m / cnt[c]!; });
      x!.forEach((e, i) => { v[chan(i)]! += (e - mean[chan(i)]!) ** 2; });
      v.forEach((e, c) => { v[c] = e / cnt[c]!; });
    } else {
      s.a.rm.forEach((m, c) => { mean[c] = m; v[c] = s.a.rv[c]!; });
    }
    return { values: x!.map((e, i) => { const c = chan(i); return ((e - mean[c]!) / Math.sqrt(v[c]! + eps)) * (w ? w[c]! : 1) + (b ? b[c]! : 0); }), shape: sh };
  },
});

const embedding = composite({
  name: 'embedding',
  gen: fc.tuple(shapeArb({ maxRank: 2, maxDim: 3 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 })).chain(([is, num, dim]) =>
    fc.tuple(indexArb(is, num), specArb([num, dim])).map(([idx, w]): S<IndexSpec> => ({ xs: [w], a: idx }))),
  f: ([w], idx) => NF.embedding(buildIndex(idx), w!),
  ref: ([w], s) => {
    const dim = s.xs[0]!.shape[1]!;
    return { values: s.a.values.flatMap((r) => w!.slice(r * dim, (r + 1) * dim)), shape: [...s.a.shape, dim] };
  },
});

const dropout = composite({
  name: 'dropout (fixed seed: a fixed mask)',
  gen: fc.tuple(shapeArb({ maxRank: 3 }), fc.constantFrom(0, 0.3, 0.5, 1), fc.boolean(), fc.nat()).chain(([sh, p, training, seed]) =>
    specArb(sh).map((x): S<{ p: number; training: boolean; seed: number }> => ({ xs: [x], a: { p, training, seed } }))),
  f: ([x], a) => { manualSeed(a.seed); return NF.dropout(x!, a.p, a.training); },
});

export const nnCases: readonly Composite<unknown>[] = [
  linear, conv2d, maxPool2d, avgPool2d, crossEntropy, crossEntropyProbs, nllLoss, bce, bceLogits, mseLoss, l1Loss,
  layerNorm, batchNorm, embedding, dropout,
];
