/**
 * @file nn.functional: layers, pooling, normalisation and losses as plain functions of
 * primitives, so they get gradients, tracing and fusion for free.
 */
import { INT32_MIN, isFloat, promoteTypes } from '../dtype.ts';
import { DTypeError, IndexError, ShapeError, ValueError } from '../errors.ts';
import { broadcastShapes, fmtShape, sameShape } from '../shape.ts';
import { Tensor } from '../tensor.ts';
import { rand } from '../creation.ts';
import { doneWithOwn, isGradEnabled, noGrad, ownTensor } from '../tape.ts';
import * as F from '../ops/functional.ts';
import { describeValue, dispatch } from '../ops/dispatch.ts';
import { prims } from '../ops/prims.ts';
import { windowOutSize } from '../ops/conv.ts';
import { checkOptions, optionNames } from '../options.ts';
import { conv2dFoldsBatch } from './conv-fold.ts';

export { relu, sigmoid, tanh, softmax, logSoftmax, leakyRelu, gelu, softplus } from '../ops/functional.ts';

export type Reduction = 'mean' | 'sum' | 'none';
type Pair = number | readonly [number, number];

const showAttr = (v: unknown): string =>
  Array.isArray(v) ? `[${v.map((e) => String(e)).join(', ')}]` : typeof v === 'string' ? `'${v}'` : String(v);

const windowInt = (e: unknown, min: number): e is number => typeof e === 'number' && Number.isInteger(e) && e >= min;

/**
 * A window attribute (kernel, stride, padding, dilation) as [h, w]: one integer or a pair of
 * integers, each ≥ `min` (1, or 0 for padding); a ShapeError naming `op` and `name` otherwise.
 */
function windowPair(op: string, name: string, v: unknown, min: 0 | 1): [number, number] {
  if (windowInt(v, min)) return [v, v];
  if (Array.isArray(v) && v.length === 2 && windowInt(v[0], min) && windowInt(v[1], min)) return [v[0], v[1]];
  const what = min === 1 ? 'a positive integer' : 'a non-negative integer';
  throw new ShapeError(`${op}: ${name} must be ${what} or a pair [h, w] of them, got ${showAttr(v)}`);
}

function reduceLoss(op: string, l: Tensor, reduction: Reduction = 'mean'): Tensor {
  switch (reduction) {
    case 'mean': return F.mean(l);
    case 'sum': return F.sum(l);
    case 'none': return l;
    default: throw new ValueError(`${op}: unknown reduction '${reduction as string}'; expected 'mean', 'sum' or 'none'`);
  }
}

function sameShapeOrThrow(op: string, a: Tensor, b: Tensor, what: string): void {
  if (a.ndim !== b.ndim || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new ShapeError(`${op}: input has shape ${fmtShape(a.shape)} but ${what} has shape ${fmtShape(b.shape)}; they must match (no implicit broadcasting in losses)`);
  }
}

/**
 * y = x Wᵀ + b, with W of shape [out, in]; a 1-D W of shape [in] is one output feature, whose
 * output drops the last dim (as PyTorch: x @ W).
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  F.tensorArg('linear', x);
  F.tensorArg('linear', weight, 'the weight');
  if (bias != null) F.tensorArg('linear', bias, 'the bias');
  if (weight.ndim !== 1 && weight.ndim !== 2) {
    throw new ShapeError(`linear: weight must be [out, in] (or [in] for one output feature), got shape ${fmtShape(weight.shape)}`);
  }
  const inF = weight.shape[weight.ndim - 1]!;
  if (x.ndim < 1 || x.shape[x.ndim - 1] !== inF) {
    const w = weight.ndim === 2 ? 'weight [out, in]' : 'a 1-D weight [in]';
    throw new ShapeError(`linear: input of shape ${fmtShape(x.shape)} does not fit weight of shape ${fmtShape(weight.shape)}; expected input [..., ${inF}] and ${w}`);
  }
  const y = F.matmul(x, weight.ndim === 2 ? F.t(weight) : weight);
  if (!bias) return y;
  // the bias broadcasts to the product, never the product to the bias (PyTorch adds it in place)
  if (!sameShape(broadcastShapes('linear', y.shape, bias.shape), y.shape)) {
    throw new ShapeError(`linear: bias of shape ${fmtShape(bias.shape)} does not broadcast to the output shape ${fmtShape(y.shape)}; expected [${y.shape[y.ndim - 1] ?? ''}]`);
  }
  // the product before the bias is this function's own: released once the add has read it
  // (unless a node saved it; see conv2d)
  ownTensor(y);
  const out = F.add(y, bias);
  doneWithOwn(y);
  return out;
}

export interface Conv2dOptions {
  stride?: Pair;
  /** zero padding per side, or 'valid' (none) or 'same' (output size = input size; stride 1 only) */
  padding?: Pair | 'valid' | 'same';
  dilation?: Pair;
  groups?: number;
}
const CONV2D_OPTIONS = optionNames<Conv2dOptions>({ stride: true, padding: true, dilation: true, groups: true });

/** Elements of im2col columns above which inference convolves the batch a slice at a time (16 MiB of float32, the arena's largest block). */
const CHUNK_COLS = 2 ** 22;

/**
 * 2-D convolution (cross-correlation, as PyTorch) of x [N, C, H, W] with weight [O, C/groups, kh, kw],
 * built on unfold (im2col) and matmul: one product per image, or — for small outputs, see
 * `conv2dFoldsBatch` — one product with the batch folded into the columns.
 */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  F.tensorArg('conv2d', x);
  F.tensorArg('conv2d', weight, 'the weight');
  if (bias != null) F.tensorArg('conv2d', bias, 'the bias');
  checkOptions('conv2d', opts, CONV2D_OPTIONS);
  const unbatched = x.ndim === 3;
  if ((x.ndim !== 3 && x.ndim !== 4) || weight.ndim !== 4) {
    throw new ShapeError(`conv2d: expected input [N, C, H, W] (or [C, H, W]) and weight [O, C/groups, kh, kw], got ${fmtShape(x.shape)} and ${fmtShape(weight.shape)}`);
  }
  if (x.dtype !== weight.dtype || (bias && bias.dtype !== x.dtype)) {
    // as PyTorch ("Input type and weight type should be the same"): no silent upcast of the product
    throw new DTypeError(`conv2d: input, weight and bias must have one dtype, got input ${x.dtype}, weight ${weight.dtype}${bias ? `, bias ${bias.dtype}` : ''}`);
  }
  const g = opts.groups ?? 1;
  if (!Number.isInteger(g) || g < 1) throw new ShapeError(`conv2d: groups must be a positive integer, got ${showAttr(g)}`);
  const stride = windowPair('conv2d', 'stride', opts.stride ?? 1, 1), dilation = windowPair('conv2d', 'dilation', opts.dilation ?? 1, 1);
  const pad = opts.padding ?? 0;
  let padding: [number, number];
  if (pad === 'same') {
    if (stride[0] !== 1 || stride[1] !== 1) throw new ShapeError(`conv2d: padding 'same' needs stride 1, got stride ${fmtShape(stride)}`);
    // total padding d·(k−1) per dim; as PyTorch, the odd extra element goes on the bottom/right
    const tot = [2, 3].map((i, j) => dilation[j]! * (weight.shape[i]! - 1));
    const lo = tot.map((t) => Math.floor(t / 2));
    if (tot[0] === 2 * lo[0]! && tot[1] === 2 * lo[1]!) padding = [lo[0]!, lo[1]!];
    else {
      x = F.pad(x, [lo[1]!, tot[1]! - lo[1]!, lo[0]!, tot[0]! - lo[0]!]);
      padding = [0, 0];
    }
  } else padding = pad === 'valid' ? [0, 0] : windowPair('conv2d', 'padding', pad, 0);
  if (unbatched) x = F.unsqueeze(x, 0);
  return convNCHW(x, weight, bias ?? null, stride, padding, dilation, g, unbatched);
}

/** conv2d on a batched input with checked attributes. */
function convNCHW(x: Tensor, weight: Tensor, bias: Tensor | null, stride: [number, number], padding: [number, number],
  dilation: [number, number], g: number, unbatched: boolean): Tensor {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [O, Cg, kh, kw] = weight.shape as [number, number, number, number];
  if (C % g !== 0 || O % g !== 0 || Cg * g !== C) {
    throw new ShapeError(`conv2d: input has ${C} channels and weight ${fmtShape(weight.shape)} with groups=${g}; expected weight.shape[1]·groups = channels (${Cg}·${g} ≠ ${C}) and both divisible by groups`);
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== O)) throw new ShapeError(`conv2d: bias must have shape [${O}], got ${fmtShape(bias.shape)}`);
  const oh = windowOutSize('conv2d', H, kh, stride[0], padding[0], dilation[0]);
  const ow = windowOutSize('conv2d', W, kw, stride[1], padding[1], dilation[1]);
  const L = oh * ow;
  // inference over a large batch: a slice of images at a time, so each slice's columns fit the
  // kernels' memory (src/cpu/arena.ts) instead of one array of them all (LeNet's conv1 on 1,000
  // images: 78 MB of columns). Each image's outputs are the same products either way.
  const per = Math.max(1, Math.floor(CHUNK_COLS / (C * kh * kw * L)));
  if (N > per && !(isGradEnabled() && [x, weight, bias].some((t) => t?.requiresGrad))) {
    const parts: Tensor[] = [];
    for (let s = 0; s < N; s += per) parts.push(convNCHW(F.narrow(x, 0, s, Math.min(per, N - s)), weight, bias, stride, padding, dilation, g, false));
    const y = F.cat(parts, 0);
    for (const t of parts) t.dispose();
    return unbatched ? F.squeeze(y, 0) : y;
  }
  // the columns, their batch-folded copy and a product before its bias is added are this
  // function's own: disposed here unless backward needs them, then by backward (src/tape.ts)
  const own: Tensor[] = [];
  const mine = (t: Tensor) => (own.push(ownTensor(t)), t);
  const cols = mine(F.unfold(x, { kernel: [kh, kw], stride, padding, dilation, padValue: 0 })); // [N, C·kh·kw, L]
  const ck = Cg * kh * kw;
  let y: Tensor;
  if (conv2dFoldsBatch(N, L, O / g)) {
    // NOTE: y and the input gradient are the same dot products as in the per-image form; the
    // weight gradient's sum over the batch becomes part of one product's K (= N·L) instead of a
    // sum of N per-image products, so it is rounded in a different order.
    // cols [N, g, ck, L] → [g, ck, N, L] (copied) → [g, ck, N·L]
    const c = mine(F.reshape(F.permute(F.reshape(cols, [N, g, ck, L]), [1, 2, 0, 3]), [g, ck, N * L]));
    const p = F.matmul(F.reshape(weight, [g, O / g, ck]), c); // [g, O/g, N·L]
    if (bias) mine(p);
    y = F.permute(F.reshape(p, [O, N, L]), [1, 0, 2]); // [N, O, L], a view
    // the bias add writes y contiguously; without a bias the reshape below copies it
    if (bias) y = F.add(y, F.reshape(bias, [O, 1]));
    y = F.reshape(y, [N, O, oh, ow]);
  } else {
    const p = g === 1
      ? F.matmul(F.reshape(weight, [O, ck]), cols) // [N, O, L]
      : F.matmul(F.reshape(weight, [g, O / g, ck]), F.reshape(cols, [N, g, ck, L])); // [N, g, O/g, L]
    if (bias) mine(p);
    y = F.reshape(p, [N, O, oh, ow]);
    if (bias) y = F.add(y, F.reshape(bias, [1, O, 1, 1]));
  }
  for (const t of own) doneWithOwn(t);
  return unbatched ? F.squeeze(y, 0) : y;
}

export interface Pool2dOptions { stride?: Pair | null; padding?: Pair; dilation?: Pair }
const MAXPOOL_OPTIONS = optionNames<Pool2dOptions>({ stride: true, padding: true, dilation: true });
const AVGPOOL_OPTIONS = optionNames<Omit<Pool2dOptions, 'dilation'>>({ stride: true, padding: true });

interface PoolGeometry { x4: Tensor; k: [number, number]; s: [number, number]; p: [number, number]; d: [number, number]; oh: number; ow: number; finish: (y: Tensor) => Tensor }

function poolGeometry(op: string, x: Tensor, kernel: Pair, opts: Pool2dOptions): PoolGeometry {
  const unbatched = x.ndim === 3;
  const x4 = unbatched ? F.unsqueeze(x, 0) : x;
  if (x4.ndim !== 4) throw new ShapeError(`${op}: expected input [N, C, H, W] or [C, H, W], got ${fmtShape(x.shape)}`);
  const k = windowPair(op, 'kernel size', kernel, 1);
  const s = opts.stride == null ? k : windowPair(op, 'stride', opts.stride, 1);
  const p = windowPair(op, 'padding', opts.padding ?? 0, 0), d = windowPair(op, 'dilation', opts.dilation ?? 1, 1);
  if (p[0] > k[0] / 2 || p[1] > k[1] / 2) throw new ShapeError(`${op}: padding ${fmtShape(p)} must be at most half the kernel size ${fmtShape(k)}`);
  const [N, C, H, W] = x4.shape as [number, number, number, number];
  const oh = windowOutSize(op, H, k[0], s[0], p[0], d[0]), ow = windowOutSize(op, W, k[1], s[1], p[1], d[1]);
  const finish = (y: Tensor) => {
    const r = F.reshape(y, [N, C, oh, ow]);
    return unbatched ? F.squeeze(r, 0) : r;
  };
  return { x4, k, s, p, d, oh, ow, finish };
}

/** Every window as a column: [N·C, kh·kw, oh·ow] (the general path: overlap, padding, dilation). */
function windowColumns(g: PoolGeometry, padValue: number): Tensor {
  const [N, C, H, W] = g.x4.shape as [number, number, number, number];
  return F.unfold(F.reshape(g.x4, [N * C, 1, H, W]), { kernel: g.k, stride: g.s, padding: g.p, dilation: g.d, padValue });
}

/**
 * When the windows are disjoint and lie inside the image (no padding, no dilation, stride ≥
 * kernel), the pixels of every window as a view [N·C, oh, kh, ow, kw] of the input — no im2col
 * copy, and the gradient flows back through views instead of a fold. Null otherwise.
 */
function windowTiles(g: PoolGeometry): Tensor | null {
  const { k, s, p, d, oh, ow } = g;
  const [N, C, H, W] = g.x4.shape as [number, number, number, number];
  if (p[0] !== 0 || p[1] !== 0 || d[0] !== 1 || d[1] !== 1 || s[0] < k[0] || s[1] < k[1]) return null;
  if (oh * s[0] > H || ow * s[1] > W) return null; // the last stride step would overrun the image
  // crop the rows/columns no window reaches, split H = oh·sh and W = ow·sw, keep the first k of each step
  let t = F.sliceView(g.x4, [0, 0, 0, 0], [N, C, oh * s[0], ow * s[1]], [1, 1, 1, 1]);
  t = F.reshape(t, [N * C, oh, s[0], ow, s[1]]);
  return F.sliceView(t, [0, 0, 0, 0, 0], [N * C, oh, k[0], ow, k[1]], [1, 1, 1, 1, 1]);
}

/** Whether the windows tile the image exactly (stride = kernel, no crop): tiles are a plain reshape. */
const exactTiling = (g: PoolGeometry) =>
  g.s[0] === g.k[0] && g.s[1] === g.k[1] && g.oh * g.k[0] === g.x4.shape[2] && g.ow * g.k[1] === g.x4.shape[3];

/** Max over each window (the gradient goes to the window's first maximum, as PyTorch). */
export function maxPool2d(x: Tensor, kernel: Pair, opts: Pool2dOptions = {}): Tensor {
  F.tensorArg('maxPool2d', x);
  checkOptions('maxPool2d', opts, MAXPOOL_OPTIONS);
  const g = poolGeometry('maxPool2d', x, kernel, opts);
  const tiles = windowTiles(g);
  if (tiles) {
    // NOTE: the max of a window is taken in two steps, along each row (kw) and then down the
    // row maxima (kh). Each step picks its first maximum, so the element chosen is the first
    // maximum in row-major window order — the same element, hence the same gradient, as one
    // argmax over the flattened window. The backward is two scatters into views instead of a
    // scatter into im2col columns and a fold.
    const [R, oh, kh, ow, kw] = tiles.shape as [number, number, number, number, number];
    // (the row maxima are this function's own: released once the second step has read them,
    // unless a node saved them)
    let rows: Tensor, y: Tensor;
    if (exactTiling(g)) {
      // the same two steps at rank 2 and 3 (views of the input): indexing kernels pay per dim
      rows = ownTensor(F.max(F.reshape(g.x4, [R * oh * kh * ow, kw]), 1, true).values); // [N·C·oh·kh·ow, 1]
      y = F.max(F.reshape(rows, [R * oh, kh, ow]), 1, true).values;
    } else {
      rows = ownTensor(F.max(tiles, 4, true).values); // [N·C, oh, kh, ow, 1]
      y = F.max(rows, 2, true).values;
    }
    doneWithOwn(rows);
    return g.finish(y);
  }
  // (padding never wins the max: −∞, or int32's least value, which −∞ would have become 0 as)
  return g.finish(F.max(windowColumns(g, isFloat(x.dtype) ? -Infinity : x.dtype === 'int32' ? INT32_MIN : 0), 1).values);
}

/** Mean over each window (padding counts as zeros, PyTorch's countIncludePad=true). */
export function avgPool2d(x: Tensor, kernel: Pair, opts: Omit<Pool2dOptions, 'dilation'> = {}): Tensor {
  F.tensorArg('avgPool2d', x);
  checkOptions('avgPool2d', opts, AVGPOOL_OPTIONS);
  const g = poolGeometry('avgPool2d', x, kernel, opts);
  const tiles = windowTiles(g);
  // NOTE: on disjoint windows the mean reduces the tile view over (kh, kw) directly; its
  // gradient is a broadcast instead of a fold (the sum's order may differ from the column path
  // in the last bit).
  if (tiles) return g.finish(F.mean(tiles, [2, 4]));
  return g.finish(F.mean(windowColumns(g, 0), 1));
}

/**
 * Checks int32 class indices against `classes` (CPU tensors with values: one pass over them; on
 * other devices and under jit the gather kernel checks the range). `what` names the count in the
 * message: "classes" for losses, "numEmbeddings" for embedding.
 */
function checkTargets(op: string, target: Tensor, classes: number, what: 'classes' | 'numEmbeddings' = 'classes', ignoreIndex?: number): void {
  const noun = what === 'classes' ? 'class-index targets' : 'indices';
  if (target.dtype !== 'int32') throw new DTypeError(`${op}: ${noun} must be int32, got ${target.dtype}`);
  if (target.device !== 'cpu' || target.isSymbolic) return;
  const t = target.dataSync();
  for (let i = 0; i < t.length; i++) {
    const c = t[i]!;
    if ((c < 0 || c >= classes) && c !== ignoreIndex) {
      throw new IndexError(what === 'classes'
        ? `${op}: target ${c} at position ${i} is out of range for ${classes} classes (expected 0..${classes - 1})${c < 0 && ignoreIndex === undefined ? '; targets to skip need ignoreIndex (PyTorch\'s ignore_index, -100 there by default)' : ''}`
        : `${op}: index ${c} at position ${i} is out of range for numEmbeddings ${classes} (expected 0..${classes - 1})`);
    }
  }
}

/** The class dim of a loss input [N, C, ...] (or [C]) and its size; checks class-index targets' shape. */
function classInput(op: string, input: Tensor, target: Tensor): { cdim: number; C: number } {
  if (input.ndim < 1) throw new ShapeError(`${op}: input must have a class dim, got shape ${fmtShape(input.shape)}`);
  const cdim = input.ndim === 1 ? 0 : 1;
  const expectT = input.shape.filter((_, i) => i !== cdim);
  if (target.ndim !== expectT.length || target.shape.some((d, i) => d !== expectT[i])) {
    throw new ShapeError(`${op}: input of shape ${fmtShape(input.shape)} needs targets of shape ${fmtShape(expectT)}, got ${fmtShape(target.shape)}`);
  }
  return { cdim, C: input.shape[cdim]! };
}

/** A class weight must be a float tensor of shape [C] (PyTorch: "weight tensor should be defined either for all C classes or no classes"). */
function checkClassWeight(op: string, weight: Tensor | null | undefined, input: Tensor, C: number): Tensor | null {
  if (weight === undefined || weight === null) return null;
  if (!(weight instanceof Tensor)) throw new ValueError(`${op}: weight must be a Tensor of shape [${C}] or null, got ${typeof weight}`);
  if (weight.ndim !== 1 || weight.shape[0] !== C) {
    throw new ShapeError(`${op}: weight must have shape [${C}] (one weight per class of input ${fmtShape(input.shape)}), got ${fmtShape(weight.shape)}`);
  }
  if (!isFloat(weight.dtype)) throw new DTypeError(`${op}: weight must be float32 or float64, got ${weight.dtype}`);
  return weight;
}

/** An elementwise weight (BCE's weight, posWeight) must broadcast to the input's shape without growing it. */
function checkElementWeight(op: string, name: string, weight: Tensor | null | undefined, input: Tensor): Tensor | null {
  if (weight === undefined || weight === null) return null;
  if (!(weight instanceof Tensor)) throw new ValueError(`${op}: ${name} must be a Tensor or null, got ${typeof weight}`);
  let out: readonly number[] | null;
  try {
    out = broadcastShapes(op, input.shape, weight.shape);
  } catch {
    out = null;
  }
  if (!out || out.length !== input.ndim || out.some((d, i) => d !== input.shape[i])) {
    throw new ShapeError(`${op}: ${name} of shape ${fmtShape(weight.shape)} does not broadcast to the input's shape ${fmtShape(input.shape)}`);
  }
  return weight;
}

export interface NllOptions {
  reduction?: Reduction;
  weight?: Tensor | null;
  /** targets equal to it add nothing, and 'mean' leaves them out of the count (PyTorch's ignore_index; off unless given) */
  ignoreIndex?: number;
}
const NLL_OPTIONS = optionNames<NllOptions>({ reduction: true, weight: true, ignoreIndex: true });

/** The ignored targets replaced by class 0, and where they are kept (1) or ignored (0); as is without ignoreIndex. */
function ignoring(op: string, target: Tensor, ignoreIndex: number | undefined, dtype: Tensor['dtype']): { target: Tensor; keep: Tensor | null } {
  if (ignoreIndex === undefined) return { target, keep: null };
  if (!Number.isInteger(ignoreIndex)) throw new ValueError(`${op}: ignoreIndex must be an integer, got ${describeValue(ignoreIndex)}`);
  const kept = F.ne(target, ignoreIndex);
  return { target: F.where(kept, target, 0), keep: F.cast(kept, dtype) };
}

/**
 * −logProbs[target] per element; with a weight, times weight[target], and the picked weights
 * (with ignored targets: 0 there, and the weights — 1 without a class weight — are the count).
 */
function pickNll(op: string, logp: Tensor, target: Tensor, cdim: number, weight: Tensor | null, keep: Tensor | null = null): { loss: Tensor; w: Tensor | null } {
  // (the gather's range check names the loss where eager's target check cannot run: compiled code)
  let loss = F.neg(F.squeeze(F.gather(logp, cdim, F.unsqueeze(target, cdim), `${op} (target)`), cdim));
  let w = weight ? F.reshape(F.indexSelect(weight, 0, F.reshape(target, [-1])), target.shape) : null;
  if (keep) w = w ? F.mul(w, keep) : keep;
  if (w) loss = F.mul(loss, w);
  return { loss, w };
}

/** Negative log-likelihood of class-index targets, given log-probabilities [N, C, ...]. */
export function nllLoss(logProbs: Tensor, target: Tensor, opts: NllOptions = {}): Tensor {
  F.tensorArg('nllLoss', logProbs);
  F.tensorArg('nllLoss', target, 'the target');
  checkOptions('nllLoss', opts, NLL_OPTIONS);
  if (!isFloat(logProbs.dtype)) throw new DTypeError(`nllLoss: log-probabilities must be float, got ${logProbs.dtype}`);
  const { cdim, C } = classInput('nllLoss', logProbs, target);
  const weight = checkClassWeight('nllLoss', opts.weight, logProbs, C);
  const ig = ignoring('nllLoss', target, opts.ignoreIndex, logProbs.dtype);
  checkTargets('nllLoss', target, C, 'classes', opts.ignoreIndex);
  const { loss, w } = pickNll('nllLoss', logProbs, ig.target, cdim, weight, ig.keep);
  if (w && (opts.reduction ?? 'mean') === 'mean') return F.div(F.sum(loss), F.sum(w));
  return reduceLoss('nllLoss', loss, opts.reduction);
}

export interface CrossEntropyOptions extends NllOptions { labelSmoothing?: number }
const CROSS_ENTROPY_OPTIONS = optionNames<CrossEntropyOptions>({ reduction: true, weight: true, labelSmoothing: true, ignoreIndex: true });

/**
 * Softmax cross-entropy of logits [N, C, ...] against class indices [N, ...] (int32) or class
 * probabilities of the logits' shape, with optional class weights and label smoothing.
 */
export function crossEntropy(logits: Tensor, target: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  F.tensorArg('crossEntropy', logits);
  F.tensorArg('crossEntropy', target, 'the target');
  checkOptions('crossEntropy', opts, CROSS_ENTROPY_OPTIONS);
  const eps = opts.labelSmoothing ?? 0;
  if (!(eps >= 0 && eps <= 1)) throw new ValueError(`crossEntropy: labelSmoothing must be in [0, 1], got ${eps}`);
  if (!isFloat(logits.dtype)) throw new DTypeError(`crossEntropy: logits must be float, got ${logits.dtype}`);
  if (logits.ndim < 1) throw new ShapeError(`crossEntropy: input must have a class dim, got shape ${fmtShape(logits.shape)}`);
  const cdim = logits.ndim === 1 ? 0 : 1;
  const C = logits.shape[cdim]!;
  const w = checkClassWeight('crossEntropy', opts.weight, logits, C);
  // the class weight laid along the class dim, for terms summed over all classes
  const wAlong = (t: Tensor) => (w ? F.mul(t, F.reshape(w, logits.shape.map((d, i) => (i === cdim ? d : 1)))) : t);
  if (isFloat(target.dtype)) {
    sameShapeOrThrow('crossEntropy', logits, target, 'probability target');
    const logp = F.logSoftmax(logits, cdim);
    const t = eps > 0 ? F.add(F.mul(target, 1 - eps), eps / C) : target;
    // as PyTorch, a probability target's 'mean' is over the samples, not over the weights
    return reduceLoss('crossEntropy', F.neg(F.sum(wAlong(F.mul(t, logp)), cdim)), opts.reduction);
  }
  classInput('crossEntropy', logits, target);
  const ig = ignoring('crossEntropy', target, opts.ignoreIndex, logits.dtype);
  checkTargets('crossEntropy', target, C, 'classes', opts.ignoreIndex);
  const logp = F.logSoftmax(logits, cdim);
  const { loss: nll, w: wt } = pickNll('crossEntropy', logp, ig.target, cdim, w, ig.keep);
  const mean = (opts.reduction ?? 'mean') === 'mean';
  if (eps === 0) {
    if (wt && mean) return F.div(F.sum(nll), F.sum(wt));
    return reduceLoss('crossEntropy', nll, opts.reduction);
  }
  // NOTE: label smoothing mixes the one-hot target with the uniform distribution:
  // (1−ε)·nll + (ε/C)·Σ_c w_c·(−log p_c). As in PyTorch the smoothing term is class-weighted too, and
  // with a weight the 'mean' reduction divides both terms by Σ weight[target].
  let smooth = F.mul(F.neg(F.sum(wAlong(logp), cdim)), eps / C);
  if (ig.keep) smooth = F.mul(smooth, ig.keep);
  const per = F.add(F.mul(nll, 1 - eps), smooth);
  if (wt && mean) return F.div(F.sum(per), F.sum(wt));
  return reduceLoss('crossEntropy', per, opts.reduction);
}

export interface BinaryCrossEntropyOptions { reduction?: Reduction; weight?: Tensor | null }
const BCE_OPTIONS = optionNames<BinaryCrossEntropyOptions>({ reduction: true, weight: true });

/**
 * PyTorch's "all elements of input should be between 0 and 1", checked where the values are at
 * hand: CPU tensors outside jit tracing (one pass over the input, next to the loss's own ~10
 * elementwise passes). WebGPU tensors and traced calls are not checked, since that would need a
 * readback; there an input outside [0, 1] gives NaN, as the log of a negative number does.
 */
function checkProbabilities(op: string, p: Tensor): void {
  if (p.device !== 'cpu' || p.isSymbolic || !isFloat(p.dtype)) return;
  const d = p.dataSync();
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    if (!(v >= 0 && v <= 1)) {
      throw new ValueError(`${op}: input element ${i} is ${v}; all elements of input should be between 0 and 1 (probabilities; for logits use binaryCrossEntropyWithLogits)`);
    }
  }
}

/** Binary cross-entropy's input and target are float (PyTorch refuses an int target: no silent cast). */
function floatPair(op: string, input: Tensor, target: Tensor): void {
  if (!isFloat(input.dtype)) throw new DTypeError(`${op}: input must be float, got ${input.dtype}`);
  if (!isFloat(target.dtype)) throw new DTypeError(`${op}: target must be float (0 and 1 as ${input.dtype}), got ${target.dtype}; convert it with .to('${input.dtype}')`);
}

/** −(y log p + (1−y) log(1−p)), logs clamped at −100 as PyTorch does. */
export function binaryCrossEntropy(p: Tensor, y: Tensor, opts: BinaryCrossEntropyOptions = {}): Tensor {
  F.tensorArg('binaryCrossEntropy', p);
  F.tensorArg('binaryCrossEntropy', y, 'the target');
  checkOptions('binaryCrossEntropy', opts, BCE_OPTIONS);
  sameShapeOrThrow('binaryCrossEntropy', p, y, 'target');
  floatPair('binaryCrossEntropy', p, y);
  const weight = checkElementWeight('binaryCrossEntropy', 'weight', opts.weight, p);
  checkProbabilities('binaryCrossEntropy', p);
  // one primitive for PyTorch's backward at p = 0 and 1 (see ops/elementwise.ts), on one dtype
  const dtype = promoteTypes(p.dtype, false, y.dtype, false);
  let l = dispatch(prims.binaryCrossEntropy, [F.cast(p, dtype), F.cast(y, dtype)], {});
  if (weight) l = F.mul(l, weight);
  return reduceLoss('binaryCrossEntropy', l, opts.reduction);
}

export interface BinaryCrossEntropyWithLogitsOptions extends BinaryCrossEntropyOptions { posWeight?: Tensor | null }
const BCE_LOGITS_OPTIONS = optionNames<BinaryCrossEntropyWithLogitsOptions>({ reduction: true, weight: true, posWeight: true });

/** Binary cross-entropy on logits, in the overflow-free form max(z,0) − z·y + log(1 + e^{−|z|}). */
export function binaryCrossEntropyWithLogits(z: Tensor, y: Tensor, opts: BinaryCrossEntropyWithLogitsOptions = {}): Tensor {
  F.tensorArg('binaryCrossEntropyWithLogits', z);
  F.tensorArg('binaryCrossEntropyWithLogits', y, 'the target');
  const op = 'binaryCrossEntropyWithLogits';
  checkOptions(op, opts, BCE_LOGITS_OPTIONS);
  sameShapeOrThrow(op, z, y, 'target');
  floatPair(op, z, y);
  const weight = checkElementWeight(op, 'weight', opts.weight, z);
  const posWeight = checkElementWeight(op, 'posWeight', opts.posWeight, z);
  let l: Tensor;
  if (posWeight) {
    // (1−y)z + (1 + (pw−1)y)·softplus(−z)
    const lw = F.add(F.mul(F.sub(posWeight, 1), y), 1);
    l = F.add(F.mul(F.rsub(y, 1), z), F.mul(lw, F.softplus(F.neg(z))));
  } else {
    // NOTE: max(z, 0) and −|z| share one where() so their kinks at 0 cancel in the gradient too
    // (relu'(0) = abs'(0) = 0 would give ∂l/∂z = −y at z = 0 instead of ½ − y)
    const pos = F.gt(z, 0);
    l = F.add(F.sub(F.where(pos, z, 0), F.mul(z, y)), F.log1p(F.exp(F.where(pos, F.neg(z), z))));
  }
  if (weight) l = F.mul(l, weight);
  return reduceLoss(op, l, opts.reduction);
}

const REDUCTION_OPTIONS = ['reduction'] as const;

/** Mean squared error. */
export function mseLoss(input: Tensor, target: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  F.tensorArg('mseLoss', input);
  F.tensorArg('mseLoss', target, 'the target');
  checkOptions('mseLoss', opts, REDUCTION_OPTIONS);
  sameShapeOrThrow('mseLoss', input, target, 'target');
  const d = F.sub(input, target);
  return reduceLoss('mseLoss', F.mul(d, d), opts.reduction);
}

/** Mean absolute error. */
export function l1Loss(input: Tensor, target: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  F.tensorArg('l1Loss', input);
  F.tensorArg('l1Loss', target, 'the target');
  checkOptions('l1Loss', opts, REDUCTION_OPTIONS);
  sameShapeOrThrow('l1Loss', input, target, 'target');
  return reduceLoss('l1Loss', F.abs(F.sub(input, target)), opts.reduction);
}

/** Normalises over the trailing `normalizedShape` dims (biased variance), then scales and shifts. */
export function layerNorm(x: Tensor, normalizedShapeArg: number | readonly number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  F.tensorArg('layerNorm', x);
  // (a single size, as the LayerNorm module and PyTorch's accept)
  const normalizedShape = typeof normalizedShapeArg === 'number' ? [normalizedShapeArg] : normalizedShapeArg;
  if (!Array.isArray(normalizedShape) || normalizedShape.some((d) => !Number.isInteger(d))) {
    throw new ValueError(`layerNorm: normalizedShape must be a size or a list of sizes, got ${JSON.stringify(normalizedShapeArg)}`);
  }
  const k = normalizedShape.length;
  const tail = x.shape.slice(x.ndim - k);
  if (k === 0 || k > x.ndim || tail.some((d, i) => d !== normalizedShape[i])) {
    throw new ShapeError(`layerNorm: input of shape ${fmtShape(x.shape)} does not end with normalizedShape ${fmtShape(normalizedShape)}`);
  }
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    // as PyTorch: exactly normalizedShape (a [2, 1] weight broadcast per row, silently)
    if (t && !sameShape(t.shape, normalizedShape)) {
      throw new ShapeError(`layerNorm: ${name} of shape ${fmtShape(t.shape)} must have the shape of normalizedShape ${fmtShape(normalizedShape)}`);
    }
  }
  const dims = [...Array(k).keys()].map((i) => x.ndim - k + i);
  const mu = F.mean(x, dims, true);
  const v = F.var(x, dims, { correction: 0, keepdim: true });
  let y = F.mul(F.sub(x, mu), F.rsqrt(F.add(v, eps)));
  if (weight) y = F.mul(y, weight);
  if (bias) y = F.add(y, bias);
  return y;
}

export interface BatchNormOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  /** batch statistics, updating the running ones (default false: the running ones, as PyTorch's F.batch_norm) */
  training?: boolean;
  /** the running statistics' update factor (default 0.1; a 0-d tensor: the module's cumulative average) */
  momentum?: number | Tensor;
  eps?: number;
}
const BATCH_NORM_OPTIONS = optionNames<BatchNormOptions>({ weight: true, bias: true, training: true, momentum: true, eps: true });

/**
 * Batch normalisation over every dim but the channel dim 1. With `training: true` it uses batch
 * statistics and updates the running ones in place (unbiased variance, as PyTorch); by default
 * (as PyTorch's F.batch_norm, training=False) it uses the running statistics, or the batch's
 * where there are none.
 */
export function batchNorm(x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, opts: BatchNormOptions = {}): Tensor {
  F.tensorArg('batchNorm', x);
  checkOptions('batchNorm', opts, BATCH_NORM_OPTIONS);
  if (x.ndim < 2) throw new ShapeError(`batchNorm: expected input [N, C, ...], got ${fmtShape(x.shape)}`);
  const C = x.shape[1]!;
  const eps = opts.eps ?? 1e-5, momentum = opts.momentum ?? 0.1;
  const bshape = x.shape.map((d, i) => (i === 1 ? d : 1));
  const dims = x.shape.map((_, i) => i).filter((i) => i !== 1);
  for (const [name, t] of [['runningMean', runningMean], ['runningVar', runningVar], ['weight', opts.weight], ['bias', opts.bias]] as const) {
    if (t && (t.ndim !== 1 || t.shape[0] !== C)) throw new ShapeError(`batchNorm: ${name} must have shape [${C}] for input ${fmtShape(x.shape)}, got ${fmtShape(t.shape)}`);
  }
  let mu: Tensor, v: Tensor;
  const training = opts.training ?? false;
  if (!training && (!runningMean || !runningVar)) {
    // as PyTorch: out of training the running statistics normalise; batch ones were used silently
    throw new ValueError(`batchNorm: runningMean and runningVar are required when training is false (they normalise the input); pass training: true to normalise with the batch's statistics`);
  }
  if (training) {
    const n = dims.reduce((a, d) => a * x.shape[d]!, 1);
    if (training && n <= 1) throw new ValueError(`batchNorm: expected more than 1 value per channel when training, got input ${fmtShape(x.shape)}`);
    mu = F.mean(x, dims, true);
    v = F.var(x, dims, { correction: 0, keepdim: true });
    if (training && runningMean && runningVar) {
      noGrad(() => {
        const unbiased = F.mul(F.reshape(v, [C]), n / Math.max(n - 1, 1));
        const keep = typeof momentum === 'number' ? 1 - momentum : F.rsub(momentum, 1);
        runningMean.mul_(keep).add_(F.mul(F.reshape(mu, [C]), momentum));
        runningVar.mul_(keep).add_(F.mul(unbiased, momentum));
      });
    }
  } else {
    mu = F.reshape(runningMean!, bshape);
    v = F.reshape(runningVar!, bshape);
  }
  let y = F.mul(F.sub(x, mu), F.rsqrt(F.add(v, eps)));
  if (opts.weight) y = F.mul(y, F.reshape(opts.weight, bshape));
  if (opts.bias) y = F.add(y, F.reshape(opts.bias, bshape));
  return y;
}

/** Rows of `weight` [num, dim] picked by the int32 indices: output [...indices.shape, dim]. */
export function embedding(indices: Tensor, weight: Tensor): Tensor {
  F.tensorArg('embedding', indices, 'the indices');
  F.tensorArg('embedding', weight, 'the weight');
  if (weight.ndim !== 2) throw new ShapeError(`embedding: weight must be [numEmbeddings, dim], got ${fmtShape(weight.shape)}`);
  if (indices.dtype !== 'int32') throw new DTypeError(`embedding: indices must be int32, got ${indices.dtype}`);
  checkTargets('embedding', indices, weight.shape[0]!, 'numEmbeddings');
  const rows = F.indexSelect(weight, 0, F.reshape(indices, [-1]));
  return F.reshape(rows, [...indices.shape, weight.shape[1]!]);
}

/** Zeroes each element with probability p and scales the rest by 1/(1−p) (identity when not training). */
export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  F.tensorArg('dropout', x);
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new ValueError(`dropout: probability must be a number in [0, 1], got ${typeof p === 'number' ? p : `${typeof p} ${String(p)}`}`);
  if (typeof training !== 'boolean') throw new ValueError(`dropout: training must be a boolean, got ${typeof training} ${String(training)}`);
  if (!training || p === 0) return x;
  // (PyTorch refuses integer inputs too: the kept values would be scaled by 1/(1 − p))
  if (!isFloat(x.dtype)) throw new DTypeError(`dropout: input must be float32 or float64, got ${x.dtype}`);
  if (p === 1) return F.mul(x, 0);
  const keep = F.ge(rand(x.shape, { device: x.device, dtype: isFloat(x.dtype) ? x.dtype : 'float32' }), p);
  return F.mul(x, F.mul(F.cast(keep, x.dtype), 1 / (1 - p)));
}

export interface UnfoldOptions {
  /** window size [kh, kw] (or one number for both) */
  kernel: Pair;
  /** default 1 */
  stride?: Pair;
  /** added on each side (default 0) */
  padding?: Pair;
  /** default 1 */
  dilation?: Pair;
  /** the value read in the padding (default 0) */
  padValue?: number;
}
export interface FoldOptions extends UnfoldOptions {
  /** the [H, W] of the image the columns are summed into (PyTorch's output_size) */
  inputSize: Pair;
}
const UNFOLD_OPTIONS = optionNames<UnfoldOptions>({ kernel: true, stride: true, padding: true, dilation: true, padValue: true });
const FOLD_OPTIONS = optionNames<FoldOptions>({ kernel: true, stride: true, padding: true, dilation: true, padValue: true, inputSize: true });

function windowAttrs(op: string, opts: UnfoldOptions) {
  const padValue = opts.padValue ?? 0;
  if (typeof padValue !== 'number') throw new ValueError(`${op}: padValue must be a number, got ${typeof padValue}`);
  return {
    kernel: windowPair(op, 'kernel', opts.kernel, 1),
    stride: windowPair(op, 'stride', opts.stride ?? 1, 1),
    padding: windowPair(op, 'padding', opts.padding ?? 0, 0),
    dilation: windowPair(op, 'dilation', opts.dilation ?? 1, 1),
    padValue,
  };
}

/** im2col: every kernel window of x [N, C, H, W] as a column, [N, C·kh·kw, L] (PyTorch's F.unfold). */
export function unfold(x: Tensor, opts: UnfoldOptions): Tensor {
  checkOptions('unfold', opts, UNFOLD_OPTIONS, ['kernel']);
  return F.unfold(x, windowAttrs('unfold', opts));
}

/** col2im: sums columns [N, C·kh·kw, L] back into images [N, C, H, W], the adjoint of unfold (PyTorch's F.fold). */
export function fold(cols: Tensor, opts: FoldOptions): Tensor {
  checkOptions('fold', opts, FOLD_OPTIONS, ['kernel', 'inputSize']);
  return F.fold(cols, { ...windowAttrs('fold', opts), inputSize: windowPair('fold', 'inputSize', opts.inputSize, 1) });
}
