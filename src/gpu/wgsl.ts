/**
 * @file The WGSL renderer: turns a scalar Expr (the same nodes the CPU renders to JavaScript)
 * into WGSL. It owns WGSL's quirks so nothing else has to:
 * - dtype table: float32 → f32, int32 → i32, bool → `bool` in expressions and `u32` (0/1) in
 *   storage; float64 is a DTypeError (WGSL has no f64).
 * - NaN and ±Inf are built from bit patterns held in private variables (never const-folded),
 *   and tested through their bits: compilers may assume `x != x` is false (lavapipe does).
 * - `select(f, t, cond)` argument order; `!=` on floats is rendered as `!(a == b)` (unordered).
 * - JavaScript semantics the CPU renderer has: ToInt32 for float→int casts, truncating integer
 *   division with x/0 = 0, Python-style remainder, Math.pow's special cases, NaN-propagating
 *   max/min, round half to even, and the same counter-based `rand` hash as `H.rand`.
 * Constants and random seeds are not inlined: they are read from uniform slots, so the shader
 * (and its pipeline) depends only on the structure of the expression, not on the numbers in it.
 */
import { isFloat, type DType } from '../dtype.ts';
import { DTypeError } from '../errors.ts';
import { exprUses, type Expr } from '../ops/expr.ts';

/** The WGSL type of a dtype's values inside expressions. */
export function valueType(dtype: DType, op = 'webgpu'): 'f32' | 'i32' | 'bool' {
  switch (dtype) {
    case 'float32': return 'f32';
    case 'int32': return 'i32';
    case 'bool': return 'bool';
    case 'float64': throw float64Error(op);
    default: return dtype satisfies never;
  }
}

/** The WGSL element type of a dtype's storage buffer (bool is stored as u32 0/1). */
export function storageType(dtype: DType, op = 'webgpu'): 'f32' | 'i32' | 'u32' {
  const t = valueType(dtype, op);
  return t === 'bool' ? 'u32' : t;
}

export function float64Error(op: string): DTypeError {
  return new DTypeError(`${op}: float64 is not supported on WebGPU (WGSL has no 64-bit floats); run float64 work on the CPU (t.to('cpu')) or cast to float32 first`);
}

/** Reads a storage element as an expression value of `dtype`. */
export function loadAs(dtype: DType, element: string): string {
  return dtype === 'bool' ? `(${element} != 0u)` : element;
}
/** Converts an expression value of `dtype` to its storage representation. */
export function storeAs(dtype: DType, value: string): string {
  return dtype === 'bool' ? `select(0u, 1u, ${value})` : value;
}

/** `u[k/4].xyzw`: slot k of a uniform block declared as `array<vec4<u32>, N>`. */
export function uslot(k: number, name = 'u'): string {
  return `${name}[${k >> 2}].${'xyzw'[k & 3]}`;
}

/** Reinterprets a uniform slot as a value of `dtype`. */
export function uvalue(k: number, dtype: DType): string {
  switch (valueType(dtype)) {
    case 'f32': return `bitcast<f32>(${uslot(k)})`;
    case 'i32': return `bitcast<i32>(${uslot(k)})`;
    case 'bool': return `(${uslot(k)} != 0u)`;
  }
}

/** The 32-bit pattern a number has as a value of `dtype` (what uvalue reads back). */
export function bitsOf(v: number, dtype: DType): number {
  switch (dtype) {
    case 'float32': { f32[0] = v; return u32[0]!; }
    case 'int32': return (v | 0) >>> 0;
    case 'bool': return v ? 1 : 0;
    case 'float64': throw float64Error('webgpu');
    default: return dtype satisfies never;
  }
}
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Helper functions generated code may call; each is emitted only when used. */
const HELPERS: Record<string, { deps?: string[]; src: string }> = {
  tg_bits: {
    src: 'var<private> tg_NAN_BITS: u32 = 0x7fc00000u;\nvar<private> tg_INF_BITS: u32 = 0x7f800000u;',
  },
  tg_nan: { deps: ['tg_bits'], src: 'fn tg_nan() -> f32 { return bitcast<f32>(tg_NAN_BITS); }' },
  tg_inf: { deps: ['tg_bits'], src: 'fn tg_inf() -> f32 { return bitcast<f32>(tg_INF_BITS); }' },
  tg_isnan: { src: 'fn tg_isnan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }' },
  tg_isinf: { src: 'fn tg_isinf(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }' },
  // NOTE: NaN passes through, as in PyTorch; tested on its bits because a driver may assume no NaNs
  // in float compares (NVIDIA's turns `select(x, 0, x <= 0)` into a max that returns 0 for NaN)
  tg_relu: { deps: ['tg_isnan'], src: 'fn tg_relu(x: f32) -> f32 { if (tg_isnan(x)) { return x; } return select(x, 0.0, x <= 0.0); }' },
  tg_fmax: {
    deps: ['tg_nan', 'tg_isnan'],
    // (equal operands: the AND of their bits, so max(−0, +0) is +0 in either order, as Math.max;
    // WGSL's max of ±0 may return either, and the compiler reorders commutative operands)
    src: 'fn tg_fmax(a: f32, b: f32) -> f32 { if (tg_isnan(a) || tg_isnan(b)) { return tg_nan(); } if (a == b) { return bitcast<f32>(bitcast<u32>(a) & bitcast<u32>(b)); } return max(a, b); }',
  },
  tg_fmin: {
    deps: ['tg_nan', 'tg_isnan'],
    // (equal operands: the OR of their bits, so min(−0, +0) is −0 in either order, as Math.min)
    src: 'fn tg_fmin(a: f32, b: f32) -> f32 { if (tg_isnan(a) || tg_isnan(b)) { return tg_nan(); } if (a == b) { return bitcast<f32>(bitcast<u32>(a) | bitcast<u32>(b)); } return min(a, b); }',
  },
  // NOTE: log from the bits, not WGSL's log: the built-in only bounds the absolute error (2⁻²¹
  // near 1: log1p, expm1 and tanh built on it were off by up to 19 % for small arguments, and
  // randn's Box–Muller by 2 %), and may flush subnormal inputs (log(1e-40) read −88.0, not −92.1).
  // x = m·2ᵉ with m in [√½, √2) (subnormals from their integer mantissa), then
  // log m = 2·atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.172, as an odd series to s⁹ (error < 1e-9);
  // e·ln 2 in two parts so it adds no rounding of its own.
  tg_log: {
    deps: ['tg_nan', 'tg_inf'],
    src: `fn tg_log(x: f32) -> f32 {
  let b = bitcast<u32>(x);
  let mag = b & 0x7fffffffu;
  if (mag > 0x7f800000u) { return x; }
  if (mag == 0u) { return -tg_inf(); }
  if ((b >> 31u) != 0u) { return tg_nan(); }
  if (mag == 0x7f800000u) { return x; }
  var e: i32;
  var mb: u32;
  if ((b >> 23u) == 0u) {
    let fb = bitcast<u32>(f32(b));
    e = i32(fb >> 23u) - 127 - 149;
    mb = fb & 0x007fffffu;
  } else {
    e = i32(b >> 23u) - 127;
    mb = b & 0x007fffffu;
  }
  var m = bitcast<f32>(mb | 0x3f800000u);
  if (m > 1.4142135) { m = m * 0.5; e = e + 1; }
  let s = (m - 1.0) / (m + 1.0);
  let s2 = s * s;
  let p = s2 * (0.33333334 + s2 * (0.2 + s2 * (0.14285715 + s2 * 0.11111111)));
  let fe = f32(e);
  return fe * 0.693145751953125 + (fe * 1.4286068203094172e-6 + (2.0 * s + 2.0 * s * p));
}`,
  },
  tg_sqrt: {
    deps: ['tg_nan', 'tg_isnan'],
    src: 'fn tg_sqrt(x: f32) -> f32 { if (tg_isnan(x) || x < 0.0) { return tg_nan(); } if (x > 3.4028234663852886e38) { return x; } return sqrt(x); }',
  },
  tg_exp: {
    deps: ['tg_inf', 'tg_isnan'],
    src: 'fn tg_exp(x: f32) -> f32 { if (tg_isnan(x)) { return x; } if (x > 88.72284) { return tg_inf(); } if (x < -104.0) { return 0.0; } return exp(x); }',
  },
  tg_sign: {
    deps: ['tg_isnan'],
    src: 'fn tg_sign(x: f32) -> f32 { if (tg_isnan(x)) { return x; } return sign(x); }',
  },
  // tanh = expm1(2x)/(expm1(2x) + 2), accurate for small |x| too (WGSL's tanh is not: tanh(1e-8) read 3e-8)
  tg_tanh: {
    deps: ['tg_isnan', 'tg_expm1'],
    src: `fn tg_tanh(x: f32) -> f32 {
  if (tg_isnan(x)) { return x; }
  if (abs(x) > 10.0) { return sign(x); }
  if (abs(x) < 1e-4) { return x - x * x * x * 0.33333334; }
  let e = tg_expm1(2.0 * x);
  return e / (e + 2.0);
}`,
  },
  tg_sigmoid: {
    deps: ['tg_exp'],
    src: 'fn tg_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + tg_exp(-x)); }',
  },
  tg_log1p: {
    deps: ['tg_nan', 'tg_inf', 'tg_isnan', 'tg_log'],
    src: `fn tg_log1p(x: f32) -> f32 {
  if (tg_isnan(x) || x < -1.0) { return tg_nan(); }
  if (x == -1.0) { return -tg_inf(); }
  if (x > 3.4028234663852886e38) { return x; }
  // NOTE: not log(u)·x/(u − 1) with u = 1 + x: shader compilers may fold (1 + x) − 1 to x, which
  // drops the correction for u's rounding (log1p(2.5e-4) was off by 1.7e-4 relative). Below 0.3,
  // 2·atanh(s) with s = x/(2 + x), which has no cancellation; above, the rounding of 1 + x is small
  if (abs(x) < 0.3) {
    let s = x / (2.0 + x);
    let s2 = s * s;
    let p = s2 * (0.33333334 + s2 * (0.2 + s2 * (0.14285715 + s2 * 0.11111111)));
    return 2.0 * s + 2.0 * s * p;
  }
  return tg_log(1.0 + x);
}`,
  },
  tg_expm1: {
    deps: ['tg_inf', 'tg_isnan', 'tg_log'],
    src: `fn tg_expm1(x: f32) -> f32 {
  if (tg_isnan(x)) { return x; }
  if (x > 88.72284) { return tg_inf(); }
  if (x < -17.0) { return -1.0; }
  if (abs(x) < 1e-4) { return x * (1.0 + x * (0.5 + x * 0.16666667)); }
  let u = exp(x);
  let um1 = u - 1.0;
  if (um1 == -1.0) { return -1.0; }
  return um1 * (x / tg_log(u));
}`,
  },
  // erf: Maclaurin series below 0.5, Abramowitz & Stegun 7.1.26 above (|error| < 1.5e-7)
  tg_erf: {
    deps: ['tg_isnan'],
    src: `fn tg_erf(x: f32) -> f32 {
  if (tg_isnan(x)) { return x; }
  let ax = abs(x);
  if (ax < 0.5) {
    let x2 = x * x;
    return 1.1283791670955126 * x * (1.0 + x2 * (-0.3333333333333333 + x2 * (0.1 + x2 * (-0.023809523809523808 + x2 * (0.004629629629629629 + x2 * -0.0007575757575757576)))));
  }
  if (ax > 4.0) { return sign(x); }
  let t = 1.0 / (1.0 + 0.3275911 * ax);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t) * exp(-ax * ax);
  return sign(x) * y;
}`,
  },
  tg_pow: {
    deps: ['tg_nan', 'tg_inf', 'tg_isnan', 'tg_isinf'],
    src: `fn tg_pow(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  if (tg_isnan(a) || tg_isnan(b)) { return tg_nan(); }
  if (b == 1.0) { return a; }
  if (b == 2.0) { return a * a; }
  if (b == -1.0) { return 1.0 / a; }
  let ab = abs(a);
  let bFinite = !tg_isinf(b);
  let bInt = bFinite && floor(b) == b;
  let bOdd = bInt && abs(b) < 16777216.0 && abs(b) % 2.0 == 1.0;
  if (!bFinite) {
    if (ab == 1.0) { return tg_nan(); }
    if ((ab > 1.0) == (b > 0.0)) { return tg_inf(); }
    return 0.0;
  }
  if (ab == 0.0 || tg_isinf(a)) {
    var m = 0.0;
    if ((ab == 0.0) != (b > 0.0)) { m = tg_inf(); }
    if (bOdd && (bitcast<u32>(a) >> 31u) == 1u) { return -m; }
    return m;
  }
  if (a < 0.0 && !bInt) { return tg_nan(); }
  var r = exp2(b * log2(ab));
  if (b == 0.5) { r = sqrt(ab); }
  if (a < 0.0 && bOdd) { r = -r; }
  return r;
}`,
  },
  tg_ipow: {
    src: `fn tg_ipow(a: i32, b: i32) -> i32 {
  if (b < 0) {
    if (a == 1) { return 1; }
    if (a == -1) { return select(-1, 1, (b & 1) == 0); }
    return 0;
  }
  var r = 1;
  var base = a;
  var e = b;
  loop {
    if (e == 0) { break; }
    if ((e & 1) == 1) { r = r * base; }
    base = base * base;
    e = e >> 1u;
  }
  return r;
}`,
  },
  tg_idiv: { src: 'fn tg_idiv(a: i32, b: i32) -> i32 { if (b == 0) { return 0; } if (b == -1) { return 0 - a; } return a / b; }' },
  tg_imod: {
    src: `fn tg_imod(a: i32, b: i32) -> i32 {
  if (b == 0 || b == -1) { return 0; }
  let r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) { return r + b; }
  return r;
}`,
  },
  // Python's remainder from an exact truncated fmod: subtracting |b|·2^k never rounds (Sterbenz)
  // m mod y for m, y ≥ 0 finite, exactly: subtract y·2^k for falling k
  tg_fmod_abs: {
    deps: [],
    src: `fn tg_fmod_abs(m0: f32, y: f32) -> f32 {
  var m = m0;
  for (var i = 0; i < 320 && m >= y; i++) {
    var d = ldexp(y, frexp(m).exp - frexp(y).exp);
    if (d > m) { d = d * 0.5; }
    m = m - d;
  }
  return m;
}`,
  },
  // NOTE: a subnormal divisor is scaled into the normal range (frexp/ldexp of a subnormal may flush
  // it to 0: lavapipe gave 1 % 1e-39 = 6e-19): m is first reduced modulo y·2^24 (a multiple of y),
  // then both are scaled by 2^24 — exact — and the remainder scaled back (a device that flushes
  // subnormal results gives 0 there)
  tg_fmod: {
    deps: ['tg_nan', 'tg_isnan', 'tg_isinf', 'tg_fmod_abs'],
    src: `fn tg_fmod(a: f32, b: f32) -> f32 {
  if (tg_isnan(a) || tg_isnan(b) || tg_isinf(a) || b == 0.0) { return tg_nan(); }
  var r = a;
  if (!tg_isinf(b)) {
    var m = abs(a);
    var y = abs(b);
    var back = 1.0;
    if (y < 1.1754943508222875e-38) {
      let c = y * 16777216.0;
      m = tg_fmod_abs(m, c) * 16777216.0;
      y = c;
      back = 5.9604644775390625e-8;
    }
    m = tg_fmod_abs(m, y) * back;
    r = select(m, -m, a < 0.0);
  }
  if (r != 0.0 && ((r < 0.0) != (b < 0.0))) { r = r + b; }
  return r;
}`,
  },
  // JavaScript's ToInt32: NaN/±Inf → 0, truncate, wrap modulo 2^32
  tg_f2i: {
    deps: ['tg_isnan', 'tg_isinf'],
    src: `fn tg_f2i(x: f32) -> i32 {
  if (tg_isnan(x) || tg_isinf(x)) { return 0; }
  let t = trunc(x);
  if (abs(t) < 2147483648.0) { return i32(t); }
  let m = t - 4294967296.0 * floor(t / 4294967296.0);
  return bitcast<i32>(u32(m));
}`,
  },
  tg_truthy: {
    deps: ['tg_isnan'],
    src: 'fn tg_truthy(x: f32) -> bool { return !(x == 0.0 || tg_isnan(x)); }',
  },
  // (a / b, a % b) for a < 2^23 through a float reciprocal, corrected by ±1: CPU adapters
  // scalarise integer division (lavapipe: 4× slower than this on index arithmetic). The quotient
  // is rounded to an integer by adding 2^23 and read off the float's bits, and corrected with
  // selects: lavapipe scalarises f32→u32 and f32→i32 conversions too (WGSL's saturating
  // semantics, ~6 instructions per lane each), which made the rank-3 broadcast add of LeNet's
  // conv1 bias ([64,6,784] + [6,1,1]) 1.80 ms against 1.24 ms this way (same run); unfold and
  // fold 7–14% faster.
  tg_divmod: {
    src: `fn tg_divmod(a: u32, b: u32, binv: f32) -> vec2<u32> {
  let q0 = bitcast<u32>(f32(a) * binv + 8388608.0) - 0x4b000000u;
  let r0 = i32(a) - i32(q0 * b);
  let lo = r0 < 0;
  let q1 = select(q0, q0 - 1u, lo);
  let r1 = select(r0, r0 + i32(b), lo);
  let hi = u32(r1) >= b;
  return vec2<u32>(select(q1, q1 + 1u, hi), u32(select(r1, r1 - i32(b), hi)));
}`,
  },
  // the counter-based generator of H.rand in src/cpu/render.ts, bit for bit
  tg_rand: {
    src: `fn tg_rand(seed: u32, i: u32) -> f32 {
  var h = (i * 0x9e3779b1u) ^ seed;
  h = (h ^ (h >> 16u)) * 0x85ebca6bu;
  h = (h ^ (h >> 13u)) * 0xc2b2ae35u;
  h = (h ^ (h >> 16u)) * 0x27d4eb2fu;
  h = h ^ (h >> 15u);
  return f32(h >> 8u) * 5.9604644775390625e-8;
}`,
  },
};

/** The WGSL source of the given helpers and everything they use, in dependency order. */
export function helperSource(names: Iterable<string>): string {
  const out: string[] = [];
  const done = new Set<string>();
  const add = (n: string) => {
    if (done.has(n)) return;
    done.add(n);
    const h = HELPERS[n];
    if (!h) throw new Error(`internal: unknown WGSL helper ${n}`);
    for (const d of h.deps ?? []) add(d);
    out.push(h.src);
  };
  for (const n of names) add(n);
  return out.join('\n');
}

export interface RenderContext {
  /** expression reading operand i as a value of its dtype */
  load(i: number): string;
  /** expression reading the uniform slot of a `const` node (its value) or a `rand` node (its seed) */
  constant(e: Expr): string;
  /** the linear output index as a u32 expression */
  index: string;
  /** helpers used; filled by the renderer */
  helpers: Set<string>;
  /** op name for error messages */
  op?: string;
}

/**
 * A key for an expression's structure: like exprKey, but constants and random seeds are
 * replaced by their dtype, because they travel as uniforms. Equal keys render equal WGSL.
 */
export function structureKey(root: Expr): string {
  const ids = new Map<Expr, number>();
  const visit = (e: Expr): string => {
    const seen = ids.get(e);
    if (seen !== undefined) return `#${seen}`;
    let s: string;
    switch (e.k) {
      case 'in': s = `i${e.i}${e.dtype[0]}`; break;
      case 'const': s = `c${e.dtype[0]}`; break;
      case 'un': s = `${e.op}(${visit(e.a)})`; break;
      case 'bin': s = `${e.op}(${visit(e.a)},${visit(e.b)})`; break;
      case 'where': s = `?(${visit(e.c)},${visit(e.a)},${visit(e.b)})`; break;
      case 'cast': s = `${e.dtype[0]}(${visit(e.a)})`; break;
      case 'rand': s = 'rand'; break;
      case 'index': s = 'idx'; break;
      default: return e satisfies never;
    }
    ids.set(e, ids.size);
    return s;
  };
  return visit(root);
}

/**
 * The `const` and `rand` nodes of an expression in a canonical order (the order structureKey
 * visits them), so expressions with equal keys put their numbers in the same uniform slots.
 */
export function constNodes(root: Expr): Expr[] {
  const seen = new Set<Expr>();
  const out: Expr[] = [];
  const visit = (e: Expr): void => {
    if (seen.has(e)) return;
    seen.add(e);
    switch (e.k) {
      case 'const': case 'rand': out.push(e); break;
      case 'un': case 'cast': visit(e.a); break;
      case 'bin': visit(e.a); visit(e.b); break;
      case 'where': visit(e.c); visit(e.a); visit(e.b); break;
      case 'in': case 'index': break;
      default: e satisfies never;
    }
  };
  visit(root);
  return out;
}

/** The uniform bit pattern of a `const` node's value or a `rand` node's seed. */
export function constBits(e: Expr): number {
  if (e.k === 'rand') return e.seed >>> 0;
  if (e.k === 'const') return bitsOf(e.v, e.dtype);
  throw new Error(`internal: constBits of a '${e.k}' node`);
}

/** Reads the uniform slot of a const node as its dtype's value type, or a rand seed as u32. */
export function constExpr(e: Expr, slot: number): string {
  return e.k === 'rand' ? uslot(slot) : uvalue(slot, e.dtype);
}

/**
 * Renders `root` to WGSL statements (`let` temporaries for shared subexpressions) and a final
 * value expression of type valueType(root.dtype).
 */
export function renderWgsl(root: Expr, ctx: RenderContext): { stmts: string[]; value: string } {
  const uses = exprUses(root);
  const names = new Map<Expr, string>();
  const stmts: string[] = [];
  const H = ctx.helpers;
  const op = ctx.op ?? 'webgpu';
  const need = (h: string) => { H.add(h); return h; };

  const go = (e: Expr): string => {
    const named = names.get(e);
    if (named) return named;
    const s = build(e);
    if ((uses.get(e) ?? 0) > 1 && e.k !== 'in' && e.k !== 'index') {
      const n = `t${names.size}`;
      names.set(e, n);
      stmts.push(`let ${n} = ${s};`);
      return n;
    }
    return s;
  };
  /** a float function applied to a non-float operand: compute in f32, store back as the dtype */
  const viaF32 = (e: Expr & { a: Expr }, f: (x: string) => string): string => {
    const a = go(e.a);
    if (isFloat(e.a.dtype)) return f(a);
    return fromF32(f(`f32(${a})`), e.dtype);
  };
  const fromF32 = (x: string, dtype: DType): string => {
    switch (valueType(dtype, op)) {
      case 'f32': return x;
      case 'i32': return `${need('tg_f2i')}(${x})`;
      case 'bool': return `!(${x} == 0.0)`;
    }
  };
  const truthy = (x: string, dtype: DType): string => {
    switch (valueType(dtype, op)) {
      case 'bool': return x;
      case 'i32': return `(${x} != 0)`;
      case 'f32': return `${need('tg_truthy')}(${x})`;
    }
  };
  const num = (x: string, dtype: DType): string => (dtype === 'bool' ? `i32(${x})` : x);

  const build = (e: Expr): string => {
    switch (e.k) {
      case 'in': return ctx.load(e.i);
      case 'const': return ctx.constant(e);
      case 'index': return `i32(${ctx.index})`;
      case 'rand': {
        return `${need('tg_rand')}(${ctx.constant(e)}, ${ctx.index})`;
      }
      case 'cast': {
        const a = go(e.a);
        const from = e.a.dtype;
        valueType(from, op);
        switch (valueType(e.dtype, op)) {
          case 'bool': return from === 'bool' ? a : isFloat(from) ? `!(${a} == 0.0)` : `(${a} != 0)`;
          case 'i32': return from === 'int32' ? a : from === 'bool' ? `i32(${a})` : `${need('tg_f2i')}(${a})`;
          case 'f32': return isFloat(from) ? a : `f32(${a})`;
        }
        break;
      }
      case 'where': return `select(${go(e.b)}, ${go(e.a)}, ${truthy(go(e.c), e.c.dtype)})`;
      case 'un': {
        const t = e.a.dtype;
        const float = isFloat(t);
        const o = e.op;
        switch (o) {
          case 'neg': return float ? `(-(${go(e.a)}))` : `(0 - ${num(go(e.a), t)})`;
          case 'exp': return viaF32(e, (x) => `${need('tg_exp')}(${x})`);
          case 'log': return viaF32(e, (x) => `${need('tg_log')}(${x})`);
          case 'sin': return viaF32(e, (x) => `sin(${x})`);
          case 'cos': return viaF32(e, (x) => `cos(${x})`);
          case 'sqrt': return viaF32(e, (x) => `${need('tg_sqrt')}(${x})`);
          case 'rsqrt': return viaF32(e, (x) => `(1.0 / ${need('tg_sqrt')}(${x}))`);
          case 'recip': return viaF32(e, (x) => `(1.0 / ${x})`);
          case 'abs': return float ? `abs(${go(e.a)})` : `abs(${num(go(e.a), t)})`;
          case 'sign': return float ? `${need('tg_sign')}(${go(e.a)})` : `sign(${num(go(e.a), t)})`;
          case 'tanh': return viaF32(e, (x) => `${need('tg_tanh')}(${x})`);
          case 'sigmoid': return viaF32(e, (x) => `${need('tg_sigmoid')}(${x})`);
          case 'relu': return float ? `${need('tg_relu')}(${go(e.a)})` : `max(${num(go(e.a), t)}, 0)`;
          case 'log1p': return viaF32(e, (x) => `${need('tg_log1p')}(${x})`);
          case 'expm1': return viaF32(e, (x) => `${need('tg_expm1')}(${x})`);
          case 'erf': return viaF32(e, (x) => `${need('tg_erf')}(${x})`);
          case 'floor': return float ? `floor(${go(e.a)})` : go(e.a);
          case 'ceil': return float ? `ceil(${go(e.a)})` : go(e.a);
          case 'trunc': return float ? `trunc(${go(e.a)})` : go(e.a);
          case 'round': return float ? `round(${go(e.a)})` : go(e.a);
          // NOTE: not(x) is x == 0, so not(NaN) is false (NaN is truthy, as bool(nan) in PyTorch)
          case 'not': return t === 'bool' ? `!${go(e.a)}` : float ? `(${go(e.a)} == 0.0)` : `(${num(go(e.a), t)} == 0)`;
          // (an integer is never NaN; not the literal `false`, which made the rest of an expression
          // a WGSL constant expression, where 1.0 / 0.0 is a compile error)
          case 'isnan': { const a = go(e.a); return float ? `${need('tg_isnan')}(${a})` : `(${num(a, t)} != ${num(a, t)})`; }
          default: return o satisfies never;
        }
      }
      case 'bin': {
        const t = e.a.dtype;
        const float = isFloat(t);
        const int = !float;
        const ra = go(e.a), rb = go(e.b);
        const a = float ? ra : num(ra, t);
        const b = float ? rb : num(rb, e.b.dtype);
        const o = e.op;
        switch (o) {
          case 'add': return `(${a} + ${b})`;
          case 'sub': return `(${a} - ${b})`;
          case 'mul': return `(${a} * ${b})`;
          case 'div': return int ? `${need('tg_idiv')}(${a}, ${b})` : `(${a} / ${b})`;
          case 'pow': return int ? `${need('tg_ipow')}(${a}, ${b})` : `${need('tg_pow')}(${a}, ${b})`;
          case 'max': return int ? `max(${a}, ${b})` : `${need('tg_fmax')}(${a}, ${b})`;
          case 'min': return int ? `min(${a}, ${b})` : `${need('tg_fmin')}(${a}, ${b})`;
          case 'mod': return int ? `${need('tg_imod')}(${a}, ${b})` : `${need('tg_fmod')}(${a}, ${b})`;
          case 'lt': return `(${a} < ${b})`;
          case 'le': return `(${a} <= ${b})`;
          case 'gt': return `(${a} > ${b})`;
          case 'ge': return `(${a} >= ${b})`;
          case 'eq': return `(${a} == ${b})`;
          case 'ne': return `!(${a} == ${b})`;
          case 'and': return `(${truthy(ra, t)} && ${truthy(rb, e.b.dtype)})`;
          case 'or': return `(${truthy(ra, t)} || ${truthy(rb, e.b.dtype)})`;
          case 'xor': return `!(${ra} == ${rb})`;
          default: return o satisfies never;
        }
      }
      default: return e satisfies never;
    }
    return '';
  };
  const value = go(root);
  return { stmts, value };
}
