/**
 * @file Algebraic simplification: a table of named rewrite rules, each matching one op and
 * returning a replacement built from existing nodes. Rules marked `unsafe` change results for
 * NaN/±Inf operands (x·0 → 0 when x is Inf, (x·y)/y → x when y is 0): Theano applies them by
 * default, and so do we; pass `{unsafe: false}` to skip them.
 */
import { prims } from '../../ops/prims.ts';
import type { ReduceAttrs } from '../../ops/registry.ts';
import { sameShape } from '../../shape.ts';
import { constValue, isConst, liveNodes, rebuild, type GNode, type Graph } from '../graph.ts';

export interface Rule {
  readonly name: string;
  /** the op name the rule's root matches */
  readonly op: string;
  /** true when the rule changes results for NaN or ±Inf operands */
  readonly unsafe?: boolean;
  /** what the rule does, for the docs and tests */
  readonly doc: string;
  /**
   * runs once, after the other rules reached their fixpoint and dead nodes were dropped
   * (`{late: true}` passes): its condition depends on what they may still remove
   */
  readonly late?: boolean;
  readonly rewrite: (n: GNode, b: Graph, uses: Uses, live: Live) => GNode | null;
}

/**
 * How many consumers a node of the graph being built has (counted in the source graph, outputs
 * and updates included); Infinity when unknown. Lets a rule avoid duplicating shared work.
 */
export type Uses = (n: GNode) => number;
const unknownUses: Uses = () => Infinity;
/** Whether a node of the graph being built stands for one the source graph's outputs or updates need (false when unknown). */
export type Live = (n: GNode) => boolean;
const unknownLive: Live = () => false;

/** `x` broadcast (by an expand view) to `shape`. */
function broadcastTo(x: GNode, shape: readonly number[], b: Graph): GNode {
  if (sameShape(x.shape, shape)) return x;
  return b.add(prims.expand, [x], { shape: [...shape] }, x.device);
}

/** Best-effort proof that a node is ≥ 0 (or NaN) everywhere. */
function nonNegative(x: GNode): boolean {
  const c = constValue(x);
  if (c !== undefined) return c >= 0;
  switch (x.op?.name) {
    case 'exp': case 'sigmoid': case 'relu': case 'abs': case 'sqrt': return true;
    case 'mul': return x.inputs[0] === x.inputs[1];
    case 'pow': {
      const e = constValue(x.inputs[1]!);
      return e !== undefined && Number.isInteger(e) && e % 2 === 0;
    }
    case 'expand': case 'reshape': case 'permute': case 'slice': return nonNegative(x.inputs[0]!);
    default: return false;
  }
}

/** y when `e` is −y written as neg(y), (−1)·y, y·(−1) or (−a) − b (then y = a + b), else null. */
function negated(e: GNode, b: Graph): GNode | null {
  if (e.op === prims.neg) return e.inputs[0]!;
  if (e.op === prims.mul) {
    const [p, q] = e.inputs as [GNode, GNode];
    const y = isConst(p, -1) ? q : isConst(q, -1) ? p : null;
    if (y && sameShape(y.shape, e.shape) && y.dtype === e.dtype) return y;
  }
  if (e.op === prims.sub && e.inputs[0]!.op === prims.neg) return b.add(prims.add, [e.inputs[0]!.inputs[0]!, e.inputs[1]!], {}, e.device);
  return null;
}

/** −z, reusing the operand when `z` already is a negation (so −(−x) costs nothing). */
function negate(z: GNode, b: Graph): GNode {
  return negated(z, b) ?? b.add(prims.neg, [z], {}, z.device);
}

const isFloat = (n: GNode) => n.dtype === 'float32' || n.dtype === 'float64';

/** The exp node `e` when `d` is 1 + e (either operand order) with `e = exp(z)` of a float dtype, else null. */
function onePlusExp(d: GNode): GNode | null {
  if (d.op !== prims.add || !isFloat(d)) return null;
  const [p, q] = d.inputs as [GNode, GNode];
  const e = isConst(p, 1) ? q : isConst(q, 1) ? p : null;
  return e && e.op === prims.exp && sameShape(e.shape, d.shape) ? e : null;
}

/**
 * σ(x) when `d` is 1 + exp(z) (either operand order, shaped like the result): 1/(1 + exp(z)) is
 * σ(−z), so z = −x (neg, ·(−1), (−a) − b) gives σ(x) and any other z gives σ(−z). Else null.
 */
function logisticOf(d: GNode, shape: readonly number[], b: Graph): GNode | null {
  const e = onePlusExp(d);
  if (!e || !sameShape(e.shape, shape)) return null;
  return b.add(prims.sigmoid, [negate(e.inputs[0]!, b)], {}, d.device);
}

/**
 * −softplus(z) = −(log1p(exp(−|z|)) + max(z, 0)), the overflow-free form of −log(1 + eᶻ);
 * log σ(x) = −softplus(−x) and log(1 − σ(x)) = log σ(−x).
 * NOTE: |z| and max(z, 0) are written with one where(z > 0, …) (as F.softplus does) so that their
 * kinks at 0 cancel in the gradient: abs'(0) = relu'(0) = 0 would give d/dz = 0 at z = 0
 * instead of −σ(0) = −½.
 */
function negSoftplus(z: GNode, b: Graph): GNode {
  const d = z.device;
  const zero = b.constant(0, z.dtype, d);
  const pos = b.add(prims.gt, [z, zero], {}, d);
  const negAbs = b.add(prims.where, [pos, negate(z, b), z], {}, d);
  const tail = b.add(prims.log1p, [b.add(prims.exp, [negAbs], {}, d)], {}, d);
  const lin = b.add(prims.where, [pos, z, zero], {}, d);
  return b.add(prims.neg, [b.add(prims.add, [tail, lin], {}, d)], {}, d);
}

const zerosLike = (n: GNode, b: Graph) => b.constant(0, n.dtype, n.device, n.shape);

/**
 * where(iota_dim == idx, src, 0) for scatterAdd(0, dim, idx, src) when the scatter puts every src
 * element in a slot of its own (idx has size 1 along dim and the base's size elsewhere, src the
 * index's shape) and a gather with the same index over the same extent is in the graph, so an
 * out-of-range index still raises there (the where form would drop it silently). WebGPU only
 * (see below). Else null.
 */
/**
 * Whether `n` is scatterAdd(0, idx, src) along its dim with one index per position (idx and src
 * of size 1 along dim, the base's size elsewhere) whose indices a live gather along the same dim
 * of a same-shaped tensor range-checks (a gather the outputs do not need is dropped with its
 * check by dce, so it must be live).
 */
function checkedPick(n: GNode, b: Graph, live: Live): boolean {
  if (n.op !== prims.scatterAdd) return false;
  const [base, idx, src] = n.inputs as [GNode, GNode, GNode];
  const { dim } = n.attrs as { dim: number };
  const bs = base.shape, is = idx.shape;
  if (!isConst(base, 0) || n.dtype === 'bool' || !sameShape(src.shape, is) || is[dim] !== 1 || !is.every((d, i) => i === dim || d === bs[i])) return false;
  return b.nodes.some((g) => g.op === prims.gather && live(g) && g.inputs[1] === idx && (g.attrs as { dim: number }).dim === dim && sameShape(g.inputs[0]!.shape, bs));
}

function pickScatter(n: GNode, b: Graph, live: Live): GNode | null {
  const [base, idx, src] = n.inputs as [GNode, GNode, GNode];
  const { dim } = n.attrs as { dim: number };
  const bs = base.shape;
  // NOTE: not on the CPU, where the scatter is a tight loop and the where form a generic
  // (int32, so JavaScript) kernel: measured there, the LeNet step took 12.7 → 15.3 ms with it
  if (n.device === 'cpu' || !checkedPick(n, b, live)) return null;
  const d = n.device;
  const arange = b.add(prims.arange, [], { start: 0, step: 1, size: bs[dim]!, dtype: 'int32' }, d);
  const iota = b.add(prims.reshape, [arange], { shape: bs.map((s, i) => (i === dim ? s : 1)) }, d);
  const hit = b.add(prims.eq, [broadcastTo(iota, bs, b), broadcastTo(idx, bs, b)], {}, d);
  return b.add(prims.where, [hit, broadcastTo(src, bs, b), b.constant(0, n.dtype, d)], {}, d);
}

/** The rules, in the order they are tried. */
export const rules: readonly Rule[] = [
  { name: 'mul-one', op: 'mul', doc: 'x·1 → x', rewrite: (n, b) => (isConst(n.inputs[1]!, 1) ? broadcastTo(n.inputs[0]!, n.shape, b) : null) },
  { name: 'one-mul', op: 'mul', doc: '1·x → x', rewrite: (n, b) => (isConst(n.inputs[0]!, 1) ? broadcastTo(n.inputs[1]!, n.shape, b) : null) },
  {
    name: 'mul-zero', op: 'mul', unsafe: true, doc: 'x·0 → 0 and 0·x → 0 (NaN-unsafe: Inf·0 and NaN·0 are NaN)',
    rewrite: (n, b) => (isConst(n.inputs[0]!, 0) || isConst(n.inputs[1]!, 0) ? zerosLike(n, b) : null),
  },
  { name: 'add-zero', op: 'add', doc: 'x+0 → x', rewrite: (n, b) => (isConst(n.inputs[1]!, 0) ? broadcastTo(n.inputs[0]!, n.shape, b) : null) },
  { name: 'zero-add', op: 'add', doc: '0+x → x', rewrite: (n, b) => (isConst(n.inputs[0]!, 0) ? broadcastTo(n.inputs[1]!, n.shape, b) : null) },
  { name: 'sub-zero', op: 'sub', doc: 'x−0 → x', rewrite: (n, b) => (isConst(n.inputs[1]!, 0) ? broadcastTo(n.inputs[0]!, n.shape, b) : null) },
  {
    name: 'sub-self', op: 'sub', unsafe: true, doc: 'x−x → 0 (NaN-unsafe: Inf−Inf is NaN)',
    rewrite: (n, b) => (n.inputs[0] === n.inputs[1] ? zerosLike(n, b) : null),
  },
  {
    name: 'zero-sub', op: 'sub', doc: '0−x → −x',
    rewrite: (n, b) => (isConst(n.inputs[0]!, 0) && n.dtype !== 'bool' ? b.add(prims.neg, [broadcastTo(n.inputs[1]!, n.shape, b)], {}, n.device) : null),
  },
  { name: 'div-one', op: 'div', doc: 'x/1 → x', rewrite: (n, b) => (isConst(n.inputs[1]!, 1) ? broadcastTo(n.inputs[0]!, n.shape, b) : null) },
  {
    name: 'mul-div-cancel', op: 'div', unsafe: true, doc: '(x·y)/y → x and (y·x)/y → x (NaN-unsafe where y is 0 or ±Inf; the tutorial\'s example); floats only (an int32 product wraps and the division truncates)',
    rewrite: (n, b) => {
      const [num, y] = n.inputs as [GNode, GNode];
      if (num.op !== prims.mul || !isFloat(n)) return null;
      const [p, q] = num.inputs as [GNode, GNode];
      const x = q === y ? p : p === y ? q : null;
      return x && x.dtype === n.dtype ? broadcastTo(x, n.shape, b) : null;
    },
  },
  { name: 'neg-neg', op: 'neg', doc: '−(−x) → x', rewrite: (n) => (n.inputs[0]!.op === prims.neg ? n.inputs[0]!.inputs[0]! : null) },
  {
    name: 'log-exp', op: 'log', unsafe: true, doc: 'log(exp x) → x (Inf-unsafe: where exp overflows, x instead of ±Inf; more exact, but not what eager computes)',
    rewrite: (n) => (n.inputs[0]!.op === prims.exp ? n.inputs[0]!.inputs[0]! : null),
  },
  {
    name: 'exp-log', op: 'exp', doc: 'exp(log x) → x where x ≥ 0 is known (exp, sigmoid, relu, abs, sqrt, x·x, even powers, constants)',
    rewrite: (n) => {
      const l = n.inputs[0]!;
      return l.op === prims.log && nonNegative(l.inputs[0]!) ? l.inputs[0]! : null;
    },
  },
  { name: 'pow-one', op: 'pow', doc: 'x**1 → x', rewrite: (n, b) => (isConst(n.inputs[1]!, 1) ? broadcastTo(n.inputs[0]!, n.shape, b) : null) },
  { name: 'pow-zero', op: 'pow', doc: 'x**0 → 1 (IEEE pow(x, 0) is 1 even for NaN)', rewrite: (n, b) => (isConst(n.inputs[1]!, 0) ? b.constant(1, n.dtype, n.device, n.shape) : null) },
  // NOTE (the sigmoid rules): σ is one numerically stable kernel. The formula overflows where
  // exp(−x) does (x < −88 in float32, −709 in float64) and then gives 1/(1+Inf) = 0 where σ gives
  // a tiny positive number; exp(x)/(1+exp(x)) gives Inf/Inf = NaN for x > 88 where σ gives 1; and
  // 1 − σ(x) rounds to 0 for x > 17 (float32) where σ(−x) keeps e⁻ˣ. Elsewhere the results agree
  // to rounding. The gradient nodes the trace recorded for the formula are kept as they are
  // (only values they share with the forward are rewritten), so jit gradients equal eager ones.
  {
    name: 'sigmoid', op: 'reciprocal', doc: '1/(1+exp(−x)) → σ(x), and 1/(1+exp(z)) → σ(−z) (either operand order of the add; one op, stable where exp overflows)',
    rewrite: (n, b) => logisticOf(n.inputs[0]!, n.shape, b),
  },
  {
    name: 'sigmoid-div', op: 'div', doc: '1/(1+exp(−x)) written with div → σ(x) (and 1/(1+exp(z)) → σ(−z))',
    rewrite: (n, b) => (isConst(n.inputs[0]!, 1) ? logisticOf(n.inputs[1]!, n.shape, b) : null),
  },
  {
    name: 'pow-minus-one', op: 'pow', doc: 'x**−1 → 1/x (a float reciprocal; lets the sigmoid rule see (1+exp(−x))**−1)',
    rewrite: (n, b) => {
      const x = n.inputs[0]!;
      return isConst(n.inputs[1]!, -1) && isFloat(n) && x.dtype === n.dtype ? b.add(prims.reciprocal, [broadcastTo(x, n.shape, b)], {}, n.device) : null;
    },
  },
  {
    name: 'sigmoid-exp-ratio', op: 'div', doc: 'exp(x)/(1+exp(x)) → σ(x) (finite where exp(x) overflows)',
    rewrite: (n, b) => {
      const [e, d] = n.inputs as [GNode, GNode];
      if (e.op !== prims.exp || onePlusExp(d) !== e || !sameShape(e.shape, n.shape)) return null;
      return b.add(prims.sigmoid, [e.inputs[0]!], {}, n.device);
    },
  },
  {
    // NOTE: only where σ(x) has no other consumer, so it costs nothing: σ·(1 − σ) (sigmoid's own
    // backward) keeps one σ and a subtraction rather than computing a second σ
    name: 'one-minus-sigmoid', op: 'sub', doc: '1 − σ(x) → σ(−x) where σ(x) has no other use (keeps e⁻ˣ where 1 − σ(x) rounds to 0)',
    rewrite: (n, b, uses) => {
      const s = n.inputs[1]!;
      if (!isConst(n.inputs[0]!, 1) || s.op !== prims.sigmoid || s.dtype !== n.dtype || uses(s) > 1) return null;
      return broadcastTo(b.add(prims.sigmoid, [negate(s.inputs[0]!, b)], {}, n.device), n.shape, b);
    },
  },
  {
    name: 'log-sigmoid', op: 'log', doc: 'log σ(x) → −softplus(−x) = −(log1p(exp(−|x|)) + max(−x, 0)) (finite where σ rounds to 0; with one-minus-sigmoid also log(1 − σ(x)))',
    rewrite: (n, b) => (n.inputs[0]!.op === prims.sigmoid ? negSoftplus(negate(n.inputs[0]!.inputs[0]!, b), b) : null),
  },
  {
    name: 'log-one-minus-sigmoid', op: 'log', doc: 'log(1 − σ(x)) → −softplus(x) (where σ(x) is also used elsewhere, as in the cross-entropy: finite where σ rounds to 1)',
    rewrite: (n, b) => {
      const d = n.inputs[0]!;
      if (d.op !== prims.sub || !isConst(d.inputs[0]!, 1) || d.inputs[1]!.op !== prims.sigmoid) return null;
      const x = d.inputs[1]!.inputs[0]!;
      return sameShape(x.shape, n.shape) && x.dtype === n.dtype ? negSoftplus(x, b) : null;
    },
  },
  { name: 'cast-same', op: 'cast', doc: 'cast to the same dtype → x', rewrite: (n) => (n.inputs[0]!.dtype === n.dtype ? n.inputs[0]! : null) },
  {
    name: 'where-const', op: 'where',
    doc: 'where(c, a, b) with a constant condition → a or b (a backward rule\'s mask that the trace decides: pow\'s b = 0 for a constant exponent)',
    rewrite: (n, b) => {
      const c = constValue(n.inputs[0]!);
      if (c === undefined) return null;
      const pick = n.inputs[c ? 1 : 2]!;
      return pick.dtype === n.dtype ? broadcastTo(pick, n.shape, b) : null;
    },
  },
  { name: 'contiguous', op: 'contiguous', doc: 'contiguous(x) → x (layout is the compiler\'s business)', rewrite: (n) => n.inputs[0]! },
  { name: 'reshape-same', op: 'reshape', doc: 'reshape to the same shape → x', rewrite: (n) => (sameShape(n.inputs[0]!.shape, n.shape) ? n.inputs[0]! : null) },
  {
    name: 'reshape-reshape', op: 'reshape', doc: 'reshape(reshape(x)) → reshape(x)',
    rewrite: (n, b) => {
      const r = n.inputs[0]!;
      if (r.op !== prims.reshape) return null;
      const x = r.inputs[0]!;
      return sameShape(x.shape, n.shape) ? x : b.add(prims.reshape, [x], n.attrs, n.device);
    },
  },
  {
    name: 'permute-identity', op: 'permute', doc: 'permute by the identity → x',
    rewrite: (n) => ((n.attrs as { perm: number[] }).perm.every((d, i) => d === i) ? n.inputs[0]! : null),
  },
  {
    name: 'transpose-transpose', op: 'permute', doc: 'permute(permute(x, p), q) → permute(x, p∘q), or x when that is the identity',
    rewrite: (n, b) => {
      const inner = n.inputs[0]!;
      if (inner.op !== prims.permute) return null;
      const p = (inner.attrs as { perm: number[] }).perm, q = (n.attrs as { perm: number[] }).perm;
      const perm = q.map((d) => p[d]!);
      const x = inner.inputs[0]!;
      return perm.every((d, i) => d === i) ? x : b.add(prims.permute, [x], { perm }, n.device);
    },
  },
  { name: 'expand-same', op: 'expand', doc: 'expand to the same shape → x', rewrite: (n) => (sameShape(n.inputs[0]!.shape, n.shape) ? n.inputs[0]! : null) },
  {
    name: 'expand-expand', op: 'expand', doc: 'expand(expand(x)) → expand(x)',
    rewrite: (n, b) => (n.inputs[0]!.op === prims.expand ? b.add(prims.expand, [n.inputs[0]!.inputs[0]!], n.attrs, n.device) : null),
  },
  {
    name: 'reduce-keepdim-reshape', op: 'reshape', doc: 'reshape(reduce(x, keepdim), shape without the kept dims) → reduce(x) (the engine\'s unbroadcast pattern)',
    rewrite: (n, b) => {
      const r = n.inputs[0]!;
      if (r.op?.kind !== 'reduce' || r.inputs.length !== 1) return null;
      const { dims, keepdim } = r.attrs as ReduceAttrs;
      if (!keepdim) return null;
      const dropped = r.shape.filter((_, i) => !dims.includes(i));
      if (!sameShape(dropped, n.shape)) return null;
      return b.add(r.op, [r.inputs[0]!], { dims: [...dims], keepdim: false }, n.device);
    },
  },
  {
    name: 'matmul-transpose', op: 'permute', doc: '(A·B)ᵀ → Bᵀ·Aᵀ: the product is computed in the layout it is used in (transposes are free strided reads)',
    rewrite: (n, b) => {
      const m = n.inputs[0]!;
      if (m.op !== prims.matmul) return null;
      const perm = (n.attrs as { perm: number[] }).perm;
      const r = perm.length;
      if (!perm.every((d, i) => (i < r - 2 ? d === i : d === (i === r - 2 ? r - 1 : r - 2)))) return null;
      const swap = (x: GNode) => {
        const k = x.shape.length;
        return b.add(prims.permute, [x], { perm: x.shape.map((_, i) => (i < k - 2 ? i : i === k - 2 ? k - 1 : k - 2)) }, x.device);
      };
      const [x, y] = m.inputs as [GNode, GNode];
      return b.add(prims.matmul, [simplifyNode(swap(y), b), simplifyNode(swap(x), b)], {}, n.device);
    },
  },
  {
    // NOTE: the where form writes −0 where src is −0 (the scatter's 0 + (−0) gives +0)
    name: 'scatter-pick', op: 'scatterAdd', late: true,
    doc: 'scatterAdd(0, d, idx, g) with one index per position (idx of size 1 along d, the base\'s size elsewhere, range-checked by a gather on it) → where(iota_d == idx, g, 0): elementwise, so it fuses into its consumer (the gradients of max(…).values and of a loss\'s target pick)',
    rewrite: (n, b, _uses, live) => pickScatter(n, b, live),
  },
  {
    name: 'sum-neg', op: 'sum', doc: 'sum(−x) → −sum(x) (exact: rounding is symmetric; the negation moves to the smaller tensor)',
    rewrite: (n, b) => {
      const x = n.inputs[0]!;
      return x.op === prims.neg && x.dtype === n.dtype ? b.add(prims.neg, [b.add(prims.sum, [x.inputs[0]!], n.attrs, n.device)], {}, n.device) : null;
    },
  },
  {
    // NOTE: where src is −0 the scatter's row sums to +0 and the rule gives −0
    name: 'sum-scatter', op: 'sum',
    doc: 'sum over dims including d of scatterAdd(0, d, idx, src) with one index per position, range-checked by a live gather on idx → sum of src over those dims (each src element lands in its row once: the cross-entropy gradient\'s sum over classes)',
    rewrite: (n, b, _uses, live) => {
      const x = n.inputs[0]!;
      const { dims } = n.attrs as ReduceAttrs;
      if (!checkedPick(x, b, live) || !dims.includes((x.attrs as { dim: number }).dim) || x.dtype !== n.dtype) return null;
      return b.add(prims.sum, [x.inputs[2]!], n.attrs, n.device);
    },
  },
  {
    name: 'sum-size1', op: 'sum', doc: 'sum over size-1 dims only → reshape',
    rewrite: (n, b) => {
      const x = n.inputs[0]!;
      const { dims } = n.attrs as ReduceAttrs;
      if (!dims.every((d) => x.shape[d] === 1) || x.dtype !== n.dtype) return null;
      return sameShape(x.shape, n.shape) ? x : b.add(prims.reshape, [x], { shape: [...n.shape] }, n.device);
    },
  },
];

export interface SimplifyOptions {
  /** apply the NaN-unsafe rules (default true, as Theano) */
  unsafe?: boolean;
  /** only these rules (by name) */
  only?: readonly string[];
  /** called with each rule name that fired */
  onFire?: (rule: string) => void;
  /** run the late rules only (see Rule.late); by default they are skipped */
  late?: boolean;
}

/** Rewrites `n` until no rule matches. */
export function simplifyNode(n: GNode, b: Graph, opts: SimplifyOptions = {}, uses: Uses = unknownUses, live: Live = unknownLive): GNode {
  let cur = n;
  for (let guard = 0; guard < 64; guard++) {
    if (cur.kind !== 'op') return cur;
    let next: GNode | null = null;
    for (const r of rules) {
      if (r.op !== cur.op!.name || (r.late === true) !== (opts.late === true)) continue;
      if (r.unsafe && opts.unsafe === false) continue;
      if (opts.only && !opts.only.includes(r.name)) continue;
      next = r.rewrite(cur, b, uses, live);
      if (next && next !== cur) {
        opts.onFire?.(r.name);
        break;
      }
      next = null;
    }
    if (!next) return cur;
    cur = next;
  }
  return cur;
}

/** The simplification pass. */
export function simplify(g: Graph, opts: SimplifyOptions = {}): Graph {
  const users = g.users();
  const roots = new Set([...g.outputs, ...g.updates.map((u) => u.value)]);
  const counts = new Map<GNode, number>();
  const uses: Uses = (x) => counts.get(x) ?? Infinity;
  const needed = liveNodes(g);
  const liveBuilt = new Set<GNode>();
  const live: Live = (x) => liveBuilt.has(x);
  return rebuild(g, (n, ins, b) => {
    const m = simplifyNode(b.add(n.op!, ins, n.attrs, n.device), b, opts, uses, live);
    counts.set(m, (counts.get(m) ?? 0) + (users.get(n)?.length ?? 0) + (roots.has(n) ? 1 : 0));
    if (needed.has(n)) liveBuilt.add(m);
    return m;
  }).graph;
}
