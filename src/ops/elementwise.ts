/**
 * @file Elementwise primitives: each is a scalar expression plus a backward rule in Tensor ops.
 * Operands arrive with one common dtype (the public functions promote first).
 */
import type { Aval } from '../backend.ts';
import { isFloat, type DType } from '../dtype.ts';
import { DTypeError } from '../errors.ts';
import { broadcastShapes, checkShape } from '../shape.ts';
import { E, type BinaryExprOp, type Expr, type UnaryExprOp } from './expr.ts';
import { elementwise, type CastAttrs, type ElementwiseOp } from './registry.ts';
import * as F from './functional.ts';
import type { Tensor } from '../tensor.ts';

type NoAttrs = Record<string, never>;

function sameDtype(op: string, inputs: readonly Aval[]): DType {
  const d = inputs[0]!.dtype;
  for (const x of inputs) {
    if (x.dtype !== d) {
      throw new DTypeError(`${op}: operands have dtypes ${inputs.map((i) => i.dtype).join(', ')}; expected one dtype (internal promotion missing)`);
    }
  }
  return d;
}

function floatRule(op: string) {
  return (inputs: readonly Aval[]): Aval => {
    const x = inputs[0]!;
    if (!isFloat(x.dtype)) throw new DTypeError(`${op}: expected a float tensor, got ${x.dtype}`);
    return { shape: x.shape, dtype: x.dtype };
  };
}
function numericRule(op: string) {
  return (inputs: readonly Aval[]): Aval => {
    const x = inputs[0]!;
    if (x.dtype === 'bool') throw new DTypeError(`${op}: expected a numeric tensor, got bool`);
    return { shape: x.shape, dtype: x.dtype };
  };
}
function binaryRule(op: string, numeric = true) {
  return (inputs: readonly Aval[]): Aval => {
    const dtype = sameDtype(op, inputs);
    if (numeric && dtype === 'bool') throw new DTypeError(`${op}: expected numeric tensors, got bool (cast with .int() or .float())`);
    return { shape: broadcastShapes(op, inputs[0]!.shape, inputs[1]!.shape), dtype };
  };
}
function compareRule(op: string) {
  return (inputs: readonly Aval[]): Aval => {
    sameDtype(op, inputs);
    return { shape: broadcastShapes(op, inputs[0]!.shape, inputs[1]!.shape), dtype: 'bool' };
  };
}

const unary = (name: string, op: UnaryExprOp, rule: (i: readonly Aval[]) => Aval, rest: Partial<ElementwiseOp<NoAttrs>> = {}) =>
  elementwise<NoAttrs>({ name, infer: rule, expr: ([x]) => E.un(op, x!), ...rest });
const binary = (name: string, op: BinaryExprOp, rest: Partial<ElementwiseOp<NoAttrs>> = {}) =>
  elementwise<NoAttrs>({ name, infer: binaryRule(name), expr: ([a, b]) => E.bin(op, a!, b!), ...rest });
const compare = (name: string, op: BinaryExprOp, infix: string) =>
  elementwise<NoAttrs>({ name, infer: compareRule(name), expr: ([a, b]) => E.bin(op, a!, b!), infix });

// ---- unary ----
export const neg = unary('neg', 'neg', numericRule('neg'), {
  vjp: (g) => [F.neg(g)], // d(-x) = -dx
});
export const exp = unary('exp', 'exp', floatRule('exp'), {
  save: { out: true },
  vjp: (g, { out }) => [F.mul(g, out!)], // d e^x = e^x dx
});
export const log = unary('log', 'log', floatRule('log'), {
  save: { inputs: [0] },
  vjp: (g, { inputs: [x] }) => [F.div(g, x!)], // d log x = dx / x
});
export const sin = unary('sin', 'sin', floatRule('sin'), {
  save: { inputs: [0] },
  vjp: (g, { inputs: [x] }) => [F.mul(g, F.cos(x!))], // d sin x = cos x dx
});
export const cos = unary('cos', 'cos', floatRule('cos'), {
  save: { inputs: [0] },
  vjp: (g, { inputs: [x] }) => [F.neg(F.mul(g, F.sin(x!)))], // d cos x = -sin x dx
});
export const sqrt = unary('sqrt', 'sqrt', floatRule('sqrt'), {
  save: { out: true },
  vjp: (g, { out }) => [F.div(g, F.mul(out!, 2))], // d √x = dx / (2√x)
});
export const rsqrt = unary('rsqrt', 'rsqrt', floatRule('rsqrt'), {
  save: { out: true },
  vjp: (g, { out }) => [F.mul(g, F.mul(F.pow(out!, 3), -0.5))], // d x^-½ = -½ x^-3/2 dx = -½ y³ dx
});
export const reciprocal = unary('reciprocal', 'recip', floatRule('reciprocal'), {
  save: { out: true },
  vjp: (g, { out }) => [F.neg(F.mul(g, F.mul(out!, out!)))], // d (1/x) = -dx / x² = -y² dx
});
export const abs = unary('abs', 'abs', numericRule('abs'), {
  save: { inputs: [0] },
  // NOTE: d|x| at 0 is taken as sign(0) = 0, as PyTorch does
  vjp: (g, { inputs: [x] }) => [F.mul(g, F.sign(x!))],
});
export const sign = unary('sign', 'sign', numericRule('sign'), {
  save: { inputs: [0] },
  vjp: (_g, { inputs: [x] }) => [F.zerosLike(x!)], // piecewise constant: zero gradient
});
export const tanh = unary('tanh', 'tanh', floatRule('tanh'), {
  save: { out: true },
  vjp: (g, { out }) => [F.mul(g, F.rsub(F.mul(out!, out!), 1))], // d tanh x = (1 - tanh² x) dx
});
// NOTE: a primitive (not 1/(1+e^-x)) so eager runs one kernel; tests check both forms agree.
export const sigmoid = unary('sigmoid', 'sigmoid', floatRule('sigmoid'), {
  save: { out: true },
  vjp: (g, { out }) => [F.mul(g, F.mul(out!, F.rsub(out!, 1)))], // dσ = σ(1-σ) dx
});
// NOTE: relu'(0) = 0, as in PyTorch; a primitive for speed, equal to where(x > 0, x, 0).
export const relu = unary('relu', 'relu', numericRule('relu'), {
  save: { out: true },
  // x̄ = g where y > 0, else 0. NOTE: a select, not g·[y > 0]: an infinite or NaN g where y ≤ 0
  // gives 0 (PyTorch's threshold_backward), where the product would give NaN
  vjp: (g, { out }) => [F.where(F.gt(out!, 0), g, 0)],
});
export const log1p = unary('log1p', 'log1p', floatRule('log1p'), {
  save: { inputs: [0] },
  vjp: (g, { inputs: [x] }) => [F.div(g, F.add(x!, 1))], // d log(1+x) = dx / (1+x)
});
export const expm1 = unary('expm1', 'expm1', floatRule('expm1'), {
  save: { out: true },
  vjp: (g, { out }) => [F.mul(g, F.add(out!, 1))], // d (e^x - 1) = e^x dx = (y + 1) dx
});
export const erf = unary('erf', 'erf', floatRule('erf'), {
  save: { inputs: [0] },
  // d erf x = 2/√π e^{-x²} dx
  vjp: (g, { inputs: [x] }) => [F.mul(g, F.mul(F.exp(F.neg(F.mul(x!, x!))), 2 / Math.sqrt(Math.PI)))],
});
const zeroGrad = (g: Tensor): Tensor[] => [F.zerosLike(g)]; // piecewise constant
export const floor = unary('floor', 'floor', floatRule('floor'), { vjp: zeroGrad });
export const ceil = unary('ceil', 'ceil', floatRule('ceil'), { vjp: zeroGrad });
export const trunc = unary('trunc', 'trunc', floatRule('trunc'), { vjp: zeroGrad });
export const round = unary('round', 'round', floatRule('round'), { vjp: zeroGrad });
export const logicalNot = elementwise<NoAttrs>({
  name: 'logicalNot',
  infer: ([x]) => ({ shape: x!.shape, dtype: 'bool' }),
  expr: ([x]) => E.un('not', x!),
});
export const isnan = elementwise<NoAttrs>({
  name: 'isnan',
  infer: ([x]) => ({ shape: x!.shape, dtype: 'bool' }),
  expr: ([x]) => E.un('isnan', x!),
});

// ---- binary ----
export const add = binary('add', 'add', { infix: '+', vjp: (g) => [g, g] }); // d(a+b) = da + db
export const sub = binary('sub', 'sub', { infix: '-', vjp: (g) => [g, F.neg(g)] }); // d(a-b) = da - db
export const mul = binary('mul', 'mul', {
  infix: '*',
  // ā needs b and b̄ needs a
  save: { inputs: (ng) => [...(ng[1] ? [0] : []), ...(ng[0] ? [1] : [])] },
  vjp: (g, { inputs: [a, b], needsGrad }) => [needsGrad[0] ? F.mul(g, b!) : null, needsGrad[1] ? F.mul(g, a!) : null], // d(ab) = b da + a db
});
export const div = binary('div', 'div', {
  infix: '/',
  save: { inputs: (ng) => (ng[1] ? [0, 1] : [1]) },
  // d(a/b) = da/b - a db/b²
  vjp: (g, { inputs: [a, b], needsGrad }) => [
    needsGrad[0] ? F.div(g, b!) : null,
    needsGrad[1] ? F.neg(F.div(F.mul(g, a!), F.mul(b!, b!))) : null,
  ],
});
/**
 * g·b·a^(b−1), 0 where b = 0 and a = 0 (where it would be 0·∞; elsewhere b = 0 gives 0 anyway,
 * and the unmasked form keeps its derivative in b). A known exponent decides the mask now,
 * keeping the graph plain.
 */
function powBaseGrad(g: Tensor, a: Tensor, b: Tensor): Tensor {
  const known = F.knownScalar(b);
  if (known === 0) return F.mul(g, 0);
  const d = F.mul(g, F.mul(b, F.pow(a, F.sub(b, 1))));
  return known === undefined ? F.where(F.logicalAnd(F.eq(b, 0), F.eq(a, 0)), 0, d) : d;
}
export const pow = binary('pow', 'pow', {
  infix: '**',
  save: { inputs: [0, 1], out: true },
  // d(a^b) = b a^(b-1) da + a^b log(a) db; the db term is 0 where a = 0 and b ≥ 0 (PyTorch's choice).
  // NOTE: the da term is 0 where b = 0 (PyTorch masks it too): b·a^(b−1) would be 0·∞ = NaN at a = 0
  vjp: (g, { inputs: [a, b], out, needsGrad }) => [
    needsGrad[0] ? powBaseGrad(g, a!, b!) : null,
    needsGrad[1]
      ? F.where(F.logicalAnd(F.eq(a!, 0), F.ge(b!, 0)), 0, F.mul(g, F.mul(out!, F.log(a!))))
      : null,
  ],
});
// NOTE: at ties a = b the gradient is split evenly between both operands, as PyTorch does.
const extremum = (name: 'maximum' | 'minimum', op: BinaryExprOp): ElementwiseOp<NoAttrs> =>
  binary(name, op, {
    save: { inputs: [0, 1] },
    vjp: (g, { inputs: [a, b] }) => {
      const win = name === 'maximum' ? F.gt : F.lt;
      const half = F.mul(F.eq(a!, b!).to(g.dtype), 0.5);
      const wa = F.add(win(a!, b!).to(g.dtype), half);
      const wb = F.add(win(b!, a!).to(g.dtype), half);
      return [F.mul(g, wa), F.mul(g, wb)];
    },
  });
export const maximum = extremum('maximum', 'max');
export const minimum = extremum('minimum', 'min');
/** Remainder with the sign of the divisor (Python's %, PyTorch's remainder). */
export const remainder = binary('remainder', 'mod', {
  save: { inputs: [0, 1] },
  // a mod b = a − (a // b)·b: d/da = 1, d/db = −(a // b)
  // NOTE: a // b is the floor division consistent with the remainder (1 % 0.1 ≈ 0.0999…: the
  // quotient is 9), not floor(a/b) = 10, as PyTorch's derivative uses
  vjp: (g, { inputs: [a, b] }) => [g, F.neg(F.mul(g, F.div(a!, b!, { roundingMode: 'floor' })))],
});

export const lt = compare('lt', 'lt', '<');
export const le = compare('le', 'le', '<=');
export const gt = compare('gt', 'gt', '>');
export const ge = compare('ge', 'ge', '>=');
export const eq = compare('eq', 'eq', '==');
export const ne = compare('ne', 'ne', '!=');
export const logicalAnd = elementwise<NoAttrs>({
  name: 'logicalAnd',
  infer: (i) => ({ shape: broadcastShapes('logicalAnd', i[0]!.shape, i[1]!.shape), dtype: 'bool' }),
  expr: ([a, b]) => E.bin('and', E.cast(a!, 'bool'), E.cast(b!, 'bool')),
});
export const logicalOr = elementwise<NoAttrs>({
  name: 'logicalOr',
  infer: (i) => ({ shape: broadcastShapes('logicalOr', i[0]!.shape, i[1]!.shape), dtype: 'bool' }),
  expr: ([a, b]) => E.bin('or', E.cast(a!, 'bool'), E.cast(b!, 'bool')),
});

// ---- ternary ----
export const where = elementwise<NoAttrs>({
  name: 'where',
  nondiff: [0],
  infer: ([c, a, b]) => {
    if (c!.dtype !== 'bool') throw new DTypeError(`where: condition must be bool, got ${c!.dtype}`);
    if (a!.dtype !== b!.dtype) throw new DTypeError(`where: branches have dtypes ${a!.dtype} and ${b!.dtype} (internal promotion missing)`);
    return { shape: broadcastShapes('where', c!.shape, a!.shape, b!.shape), dtype: a!.dtype };
  },
  expr: ([c, a, b]) => E.where(c!, a!, b!),
  save: { inputs: [0] },
  // d where(c, a, b) = where(c, da, 0) + where(c, 0, db)
  vjp: (g, { inputs: [c] }) => [null, F.where(c!, g, 0), F.where(c!, 0, g)],
});

// ---- fused updates (one kernel each: optimizers run them on every parameter, every step) ----
function fusedRule(op: string, float: boolean) {
  return (inputs: readonly Aval[]): Aval => {
    const dtype = sameDtype(op, inputs);
    if (float ? !isFloat(dtype) : dtype === 'bool') throw new DTypeError(`${op}: expected ${float ? 'float' : 'numeric'} tensors, got ${dtype}`);
    return { shape: broadcastShapes(op, ...inputs.map((x) => x.shape)), dtype };
  };
}
/** a + w·(b − a) (PyTorch's lerp). */
export const lerp = elementwise<NoAttrs>({
  name: 'lerp',
  roundSteps: true,
  infer: fusedRule('lerp', true),
  expr: ([a, b, w]) => E.bin('add', a!, E.bin('mul', w!, E.bin('sub', b!, a!))),
  save: { inputs: [0, 1, 2] },
  // d lerp = (1 − w) da + w db + (b − a) dw
  vjp: (g, { inputs: [a, b, w], needsGrad }) => [
    needsGrad[0] ? F.mul(g, F.sub(1, w!)) : null,
    needsGrad[1] ? F.mul(g, w!) : null,
    needsGrad[2] ? F.mul(g, F.sub(b!, a!)) : null,
  ],
});
/**
 * x + v·q(t1, t2) with q a product or a quotient: PyTorch's addcmul and addcdiv, with the value as
 * an operand. `vdq` gives v·∂q/∂t1 and v·∂q/∂t2, for the rule d = dx + v·∂q/∂t1 dt1 + v·∂q/∂t2 dt2 + q dv.
 */
function addcOp(name: 'addcmul' | 'addcdiv', op: 'mul' | 'div', float: boolean, vdq: (v: Tensor, t1: Tensor, t2: Tensor) => [Tensor, Tensor]) {
  return elementwise<NoAttrs>({
    name,
    roundSteps: true,
    infer: fusedRule(name, float),
    expr: ([x, t1, t2, v]) => E.bin('add', x!, E.bin('mul', v!, E.bin(op, t1!, t2!))),
    save: { inputs: [1, 2, 3] },
    vjp: (g, { inputs: [, t1, t2, v], needsGrad }) => {
      const [d1, d2] = needsGrad[1] || needsGrad[2] ? vdq(v!, t1!, t2!) : [null, null];
      return [
        g,
        needsGrad[1] ? F.mul(g, d1!) : null,
        needsGrad[2] ? F.mul(g, d2!) : null,
        needsGrad[3] ? F.mul(g, op === 'mul' ? F.mul(t1!, t2!) : F.div(t1!, t2!)) : null,
      ];
    },
  });
}
/** x + v·t1·t2: v·∂/∂t1 = v·t2, v·∂/∂t2 = v·t1. */
export const addcmul = addcOp('addcmul', 'mul', false, (v, t1, t2) => [F.mul(v, t2), F.mul(v, t1)]);
/** x + v·t1/t2: v·∂/∂t1 = v/t2, v·∂/∂t2 = −v·t1/t2². */
export const addcdiv = addcOp('addcdiv', 'div', true, (v, t1, t2) => [F.div(v, t2), F.neg(F.div(F.mul(v, t1), F.mul(t2, t2)))]);

/**
 * Binary cross-entropy of probabilities p against targets y, each log clamped at −100 as in
 * PyTorch: −(y·max(log p, −100) + (1 − y)·max(log(1 − p), −100)). A primitive (as PyTorch's is)
 * for its backward. NOTE: ∂/∂p = (p − y)/max(p(1 − p), 10⁻¹²), PyTorch's formula, finite at p = 0
 * and 1, where the chain rule through the clamped logs gives 0·∞ = NaN (also through a sigmoid
 * saturated to exactly 0 or 1); ∂/∂y = max(log(1 − p), −100) − max(log p, −100).
 */
export const binaryCrossEntropy = elementwise<NoAttrs>({
  name: 'binaryCrossEntropy',
  roundSteps: true,
  infer: fusedRule('binaryCrossEntropy', true),
  expr: ([p, y]) => {
    const c = (v: number) => E.const(v, p!.dtype);
    const clampedLog = (x: Expr) => E.bin('max', E.un('log', x), c(-100));
    const terms = E.bin('add', E.bin('mul', y!, clampedLog(p!)), E.bin('mul', E.bin('sub', c(1), y!), clampedLog(E.bin('sub', c(1), p!))));
    return E.un('neg', terms);
  },
  save: { inputs: [0, 1] },
  vjp: (g, { inputs: [p, y], needsGrad }) => [
    needsGrad[0] ? F.div(F.mul(g, F.sub(p!, y!)), F.maximum(F.mul(p!, F.rsub(p!, 1)), 1e-12)) : null,
    needsGrad[1] ? F.mul(g, F.sub(F.clamp(F.log(F.rsub(p!, 1)), -100), F.clamp(F.log(p!), -100))) : null,
  ],
});

// ---- cast ----
export const cast = elementwise<CastAttrs>({
  name: 'cast',
  infer: ([x], { dtype }) => ({ shape: x!.shape, dtype }),
  expr: ([x], { dtype }) => E.cast(x!, dtype),
  // gradient flows between float dtypes only
  vjp: (g, { inAvals }) => [isFloat(inAvals[0]!.dtype) ? F.cast(g, inAvals[0]!.dtype) : null],
});

// ---- sources (no operands) ----
export interface FullAttrs { readonly shape: readonly number[]; readonly value: number; readonly dtype: DType }
export const full = elementwise<FullAttrs>({
  name: 'full',
  infer: (_i, a) => ({ shape: checkShape('full', a.shape), dtype: a.dtype }),
  expr: (_i, a) => E.const(a.value, a.dtype),
});
export interface ArangeAttrs { readonly start: number; readonly step: number; readonly size: number; readonly dtype: DType }
export const arange = elementwise<ArangeAttrs>({
  name: 'arange',
  infer: (_i, a) => ({ shape: checkShape('arange', [a.size]), dtype: a.dtype }),
  // start + i·step, computed in the output dtype
  expr: (_i, a) =>
    E.bin('add', E.const(a.start, a.dtype), E.bin('mul', E.cast(E.index(), a.dtype), E.const(a.step, a.dtype))),
});
export interface RandAttrs { readonly shape: readonly number[]; readonly seed: number; readonly dtype: DType }
/** Uniform [0, 1) from a counter-based generator: same seed, same numbers on every backend. */
export const randUniform = elementwise<RandAttrs>({
  name: 'randUniform',
  infer: (_i, a) => {
    if (!isFloat(a.dtype)) throw new DTypeError(`rand: dtype must be float, got ${a.dtype}`);
    return { shape: checkShape('rand', a.shape), dtype: a.dtype };
  },
  expr: (_i, a) => E.cast(E.rand(a.seed), a.dtype),
});

