/**
 * @file Algebraic simplification: a table of named rewrite rules, each matching one op and
 * returning a replacement built from existing nodes. Rules marked `unsafe` change results for
 * NaN/±Inf operands (x·0 → 0 when x is Inf, (x·y)/y → x when y is 0): Theano applies them by
 * default, and so do we; pass `{unsafe: false}` to skip them.
 */
import { prims } from '../../ops/prims.ts';
import type { ReduceAttrs } from '../../ops/registry.ts';
import { sameShape } from '../../shape.ts';
import { constValue, isConst, rebuild, type GNode, type Graph } from '../graph.ts';

export interface Rule {
  readonly name: string;
  /** the op name the rule's root matches */
  readonly op: string;
  /** true when the rule changes results for NaN or ±Inf operands */
  readonly unsafe?: boolean;
  /** what the rule does, for the docs and tests */
  readonly doc: string;
  readonly rewrite: (n: GNode, b: Graph) => GNode | null;
}

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

/** y when `e` is −y written as neg(y) or (−a) − b (then y = a + b), else null. */
function negated(e: GNode, b: Graph): GNode | null {
  if (e.op === prims.neg) return e.inputs[0]!;
  if (e.op === prims.sub && e.inputs[0]!.op === prims.neg) return b.add(prims.add, [e.inputs[0]!.inputs[0]!, e.inputs[1]!], {}, e.device);
  return null;
}

/** x when `d` is 1 + exp(−x) (either operand order) of a float dtype, else null. */
function logisticArg(d: GNode, b: Graph): GNode | null {
  if (d.op !== prims.add || (d.dtype !== 'float32' && d.dtype !== 'float64')) return null;
  const [p, q] = d.inputs as [GNode, GNode];
  const e = isConst(p, 1) ? q : isConst(q, 1) ? p : null;
  if (!e || e.op !== prims.exp) return null;
  const x = negated(e.inputs[0]!, b);
  return x && sameShape(x.shape, d.shape) ? x : null;
}

/** −softplus(∓x) = −(log1p(exp(−|x|)) + relu(∓x)): log σ(x) when `negate`, log(1 − σ(x)) otherwise. */
function negSoftplus(x: GNode, negate: boolean, b: Graph): GNode {
  const d = x.device;
  const tail = b.add(prims.log1p, [b.add(prims.exp, [b.add(prims.neg, [b.add(prims.abs, [x], {}, d)], {}, d)], {}, d)], {}, d);
  const lin = b.add(prims.relu, [negate ? b.add(prims.neg, [x], {}, d) : x], {}, d);
  return b.add(prims.neg, [b.add(prims.add, [tail, lin], {}, d)], {}, d);
}

const zerosLike = (n: GNode, b: Graph) => b.constant(0, n.dtype, n.device, n.shape);

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
    name: 'mul-div-cancel', op: 'div', unsafe: true, doc: '(x·y)/y → x and (y·x)/y → x (NaN-unsafe where y is 0 or ±Inf; the tutorial\'s example)',
    rewrite: (n, b) => {
      const [num, y] = n.inputs as [GNode, GNode];
      if (num.op !== prims.mul) return null;
      const [p, q] = num.inputs as [GNode, GNode];
      const x = q === y ? p : p === y ? q : null;
      return x && x.dtype === n.dtype ? broadcastTo(x, n.shape, b) : null;
    },
  },
  { name: 'neg-neg', op: 'neg', doc: '−(−x) → x', rewrite: (n) => (n.inputs[0]!.op === prims.neg ? n.inputs[0]!.inputs[0]! : null) },
  { name: 'log-exp', op: 'log', doc: 'log(exp x) → x', rewrite: (n) => (n.inputs[0]!.op === prims.exp ? n.inputs[0]!.inputs[0]! : null) },
  {
    name: 'exp-log', op: 'exp', doc: 'exp(log x) → x where x ≥ 0 is known (exp, sigmoid, relu, abs, sqrt, x·x, even powers, constants)',
    rewrite: (n) => {
      const l = n.inputs[0]!;
      return l.op === prims.log && nonNegative(l.inputs[0]!) ? l.inputs[0]! : null;
    },
  },
  { name: 'pow-one', op: 'pow', doc: 'x**1 → x', rewrite: (n, b) => (isConst(n.inputs[1]!, 1) ? broadcastTo(n.inputs[0]!, n.shape, b) : null) },
  { name: 'pow-zero', op: 'pow', doc: 'x**0 → 1 (IEEE pow(x, 0) is 1 even for NaN)', rewrite: (n, b) => (isConst(n.inputs[1]!, 0) ? b.constant(1, n.dtype, n.device, n.shape) : null) },
  {
    name: 'sigmoid', op: 'reciprocal', doc: '1/(1+exp(−x)) → sigmoid(x) (one op, and stable where exp(−x) overflows)',
    rewrite: (n, b) => {
      const x = logisticArg(n.inputs[0]!, b);
      return x ? b.add(prims.sigmoid, [x], {}, n.device) : null;
    },
  },
  {
    name: 'sigmoid-div', op: 'div', doc: '1/(1+exp(−x)) written with div → sigmoid(x)',
    rewrite: (n, b) => {
      if (!isConst(n.inputs[0]!, 1)) return null;
      const x = logisticArg(n.inputs[1]!, b);
      return x && sameShape(x.shape, n.shape) ? b.add(prims.sigmoid, [x], {}, n.device) : null;
    },
  },
  {
    name: 'log-sigmoid', op: 'log', doc: 'log(sigmoid x) → −(log1p(exp(−|x|)) + relu(−x)) (softplus form: finite where sigmoid rounds to 0)',
    rewrite: (n, b) => (n.inputs[0]!.op === prims.sigmoid ? negSoftplus(n.inputs[0]!.inputs[0]!, true, b) : null),
  },
  {
    name: 'log-one-minus-sigmoid', op: 'log', doc: 'log(1 − sigmoid x) → −(log1p(exp(−|x|)) + relu(x)) (finite where sigmoid rounds to 1)',
    rewrite: (n, b) => {
      const d = n.inputs[0]!;
      if (d.op !== prims.sub || !isConst(d.inputs[0]!, 1) || d.inputs[1]!.op !== prims.sigmoid) return null;
      const x = d.inputs[1]!.inputs[0]!;
      return sameShape(x.shape, n.shape) ? negSoftplus(x, false, b) : null;
    },
  },
  { name: 'cast-same', op: 'cast', doc: 'cast to the same dtype → x', rewrite: (n) => (n.inputs[0]!.dtype === n.dtype ? n.inputs[0]! : null) },
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
}

/** Rewrites `n` until no rule matches. */
export function simplifyNode(n: GNode, b: Graph, opts: SimplifyOptions = {}): GNode {
  let cur = n;
  for (let guard = 0; guard < 64; guard++) {
    if (cur.kind !== 'op') return cur;
    let next: GNode | null = null;
    for (const r of rules) {
      if (r.op !== cur.op!.name) continue;
      if (r.unsafe && opts.unsafe === false) continue;
      if (opts.only && !opts.only.includes(r.name)) continue;
      next = r.rewrite(cur, b);
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
  return rebuild(g, (n, ins, b) => simplifyNode(b.add(n.op!, ins, n.attrs, n.device), b, opts)).graph;
}
