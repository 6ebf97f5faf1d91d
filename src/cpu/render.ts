/**
 * @file The JavaScript renderer: turns a scalar Expr into a JS expression string. Shared
 * subexpressions become `const` temporaries. Helper functions the code calls live in `H`.
 */
import { isFloat, type DType } from '../dtype.ts';
import { exprUses, type Expr } from '../ops/expr.ts';

/** Runtime helpers referenced by generated code as `H.name`. */
export const H = {
  /** erf to ~1e-13: Maclaurin series below 3, continued fraction for erfc above */
  erf(x: number): number {
    if (x !== x) return NaN;
    const ax = Math.abs(x);
    if (ax < 3) {
      let term = ax, sum = ax;
      const x2 = ax * ax;
      for (let n = 1; n < 200; n++) {
        term *= -x2 / n;
        const add = term / (2 * n + 1);
        sum += add;
        if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
      }
      const r = (2 / Math.sqrt(Math.PI)) * sum;
      return x < 0 ? -r : r;
    }
    if (ax > 6) return x < 0 ? -1 : 1;
    // erfc(x) = e^{-x²}/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + …)))), evaluated backwards
    let f = ax;
    for (let n = 60; n >= 1; n--) f = ax + n / 2 / f;
    const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
    return x < 0 ? erfc - 1 : 1 - erfc;
  },
  /** round half to even (PyTorch's round) */
  rint(x: number): number {
    const r = Math.round(x);
    return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
  },
  /** truncating integer division; division by zero gives 0 */
  idiv(a: number, b: number): number {
    return b === 0 ? 0 : Math.trunc(a / b) | 0;
  },
  /** integer remainder with the divisor's sign; by zero gives 0 */
  imod(a: number, b: number): number {
    if (b === 0) return 0;
    const r = a % b;
    // (| 0: -4 % 2 is -0 in JavaScript, which a fused cast to float would keep)
    return (r !== 0 && (r < 0) !== (b < 0) ? r + b : r) | 0;
  },
  /** floating remainder with the divisor's sign (Python's %) */
  fmod(a: number, b: number): number {
    const r = a % b;
    return r !== 0 && (r < 0) !== (b < 0) ? r + b : r;
  },
  /** integer power wrapping at every product as int32 (Math.pow in double lost the low bits past 2⁵³) */
  ipow(a: number, b: number): number {
    if (b < 0) return a === 1 ? 1 : a === -1 ? (b & 1 ? -1 : 1) : 0;
    let r = 1, base = a | 0;
    for (let e = b; e > 0; e = Math.floor(e / 2)) {
      if (e % 2 === 1) r = Math.imul(r, base);
      base = Math.imul(base, base);
    }
    return r;
  },
  /** uniform [0, 1) from a 32-bit hash of (seed, index); identical to the WGSL renderer's */
  rand(seed: number, i: number): number {
    let h = (Math.imul(i, 0x9e3779b1) ^ seed) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h = Math.imul(h ^ (h >>> 16), 0x27d4eb2f);
    h ^= h >>> 15;
    return (h >>> 8) * 5.960464477539063e-8; // 2^-24
  },
};

export function literal(v: number, dtype: DType): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  if (Object.is(v, -0)) return '(-0)'; // parenthesised: -x of it must not render as --0
  const x = dtype === 'float32' ? Math.fround(v) : dtype === 'int32' ? v | 0 : dtype === 'bool' ? (v ? 1 : 0) : v;
  return x < 0 ? `(${x})` : String(x);
}

/**
 * Renders `root` as JS. `load(i)` gives the expression reading operand i; `index` names the
 * linear output index variable; `param(e)`, when given, may name where a constant's value or a
 * rand node's seed is read at run time instead of being written into the code. Returns the
 * statements (temporaries) and the final expression.
 */
export function renderJs(
  root: Expr, load: (i: number) => string, index: string, param?: (e: Expr) => string | null,
): { stmts: string[]; value: string } {
  const uses = exprUses(root);
  const names = new Map<Expr, string>();
  const stmts: string[] = [];
  const go = (e: Expr): string => {
    const named = names.get(e);
    if (named) return named;
    const s = build(e);
    if ((uses.get(e) ?? 0) > 1 && e.k !== 'in' && e.k !== 'const') {
      const n = `t${names.size}`;
      names.set(e, n);
      stmts.push(`const ${n} = ${s};`);
      return n;
    }
    return s;
  };
  // x**k for a small integer constant k by repeated squaring (much faster than Math.pow)
  const powByMultiplication = (a: string, k: number): string => {
    if (k === 0) return '1';
    const base = `t${names.size + stmts.length}_p`;
    stmts.push(`const ${base} = ${a};`);
    let result = '', sq = base, n = Math.abs(k), i = 0;
    while (n > 0) {
      if (n & 1) result = result ? `(${result} * ${sq})` : sq;
      n >>= 1;
      if (n > 0) {
        const next = `${base}${++i}`;
        stmts.push(`const ${next} = ${sq} * ${sq};`);
        sq = next;
      }
    }
    return k < 0 ? `(1 / ${result})` : result;
  };
  const build = (e: Expr): string => {
    switch (e.k) {
      case 'in': return load(e.i);
      case 'const': return param?.(e) ?? literal(e.v, e.dtype);
      case 'index': return index;
      case 'rand': return `H.rand(${param?.(e) ?? e.seed}, ${index})`;
      case 'cast': {
        const a = go(e.a);
        const from = e.a.dtype;
        switch (e.dtype) {
          case 'bool': return `(${a} !== 0 ? 1 : 0)`;
          case 'int32': return isFloat(from) ? `(${a} | 0)` : a;
          case 'float32': return from === 'float64' ? `Math.fround(${a})` : a;
          case 'float64': return a;
          default: return e.dtype satisfies never;
        }
      }
      case 'where': return `(${go(e.c)} ? ${go(e.a)} : ${go(e.b)})`;
      case 'un': {
        const a = go(e.a);
        const int = !isFloat(e.a.dtype);
        const op = e.op;
        switch (op) {
          case 'neg': return int ? `((-${a}) | 0)` : `(-${a})`;
          case 'exp': return `Math.exp(${a})`;
          case 'log': return `Math.log(${a})`;
          case 'sin': return `Math.sin(${a})`;
          case 'cos': return `Math.cos(${a})`;
          case 'sqrt': return `Math.sqrt(${a})`;
          case 'rsqrt': return `(1 / Math.sqrt(${a}))`;
          case 'recip': return `(1 / ${a})`;
          case 'abs': return int ? `(Math.abs(${a}) | 0)` : `Math.abs(${a})`; // int32: |−2³¹| wraps, as the stored result does
          case 'sign': return `(Math.sign(${a}) + 0)`; // + 0: sign(-0) is +0, as PyTorch and WGSL
          case 'tanh': return `Math.tanh(${a})`;
          case 'sigmoid': return `(1 / (1 + Math.exp(-${a})))`;
          case 'relu': return `(${a} <= 0 ? 0 : ${a})`;
          case 'log1p': return `Math.log1p(${a})`;
          case 'expm1': return `Math.expm1(${a})`;
          case 'erf': return `H.erf(${a})`;
          case 'floor': return `Math.floor(${a})`;
          case 'ceil': return `Math.ceil(${a})`;
          case 'trunc': return `Math.trunc(${a})`;
          case 'round': return `H.rint(${a})`;
          case 'not': return `(${a} !== 0 ? 0 : 1)`; // NaN is truthy, as bool(nan) in PyTorch
          case 'isnan': return `(${a} !== ${a} ? 1 : 0)`;
          default: return op satisfies never;
        }
      }
      case 'bin': {
        const a = go(e.a), b = go(e.b);
        const int = e.a.dtype === 'int32';
        const op = e.op;
        switch (op) {
          case 'add': return int ? `((${a} + ${b}) | 0)` : `(${a} + ${b})`;
          case 'sub': return int ? `((${a} - ${b}) | 0)` : `(${a} - ${b})`;
          case 'mul': return int ? `Math.imul(${a}, ${b})` : `(${a} * ${b})`;
          case 'div': return int ? `H.idiv(${a}, ${b})` : `(${a} / ${b})`;
          case 'pow': {
            const k = e.b.k === 'const' ? e.b.v : NaN;
            if (!int && Number.isInteger(k) && Math.abs(k) <= 64) return powByMultiplication(a, k);
            return int ? `H.ipow(${a}, ${b})` : `Math.pow(${a}, ${b})`;
          }
          case 'max': return `Math.max(${a}, ${b})`;
          case 'min': return `Math.min(${a}, ${b})`;
          case 'mod': return int ? `H.imod(${a}, ${b})` : `H.fmod(${a}, ${b})`;
          case 'lt': return `(${a} < ${b} ? 1 : 0)`;
          case 'le': return `(${a} <= ${b} ? 1 : 0)`;
          case 'gt': return `(${a} > ${b} ? 1 : 0)`;
          case 'ge': return `(${a} >= ${b} ? 1 : 0)`;
          case 'eq': return `(${a} === ${b} ? 1 : 0)`;
          case 'ne': return `(${a} !== ${b} ? 1 : 0)`;
          case 'and': return `(${a} && ${b} ? 1 : 0)`;
          case 'or': return `(${a} || ${b} ? 1 : 0)`;
          case 'xor': return `(${a} !== ${b} ? 1 : 0)`;
          default: return op satisfies never;
        }
      }
      default: return e satisfies never;
    }
  };
  const value = go(root);
  return { stmts, value };
}
