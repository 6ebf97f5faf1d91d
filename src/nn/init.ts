/**
 * @file nn.init: in-place initialisers with PyTorch's formulas and argument meanings. Each runs
 * under noGrad, returns its tensor, and draws from the global generator (see manualSeed).
 * @example
 * const w = new Parameter(zeros([128, 784]));
 * init.kaimingNormal_(w, { mode: 'fanOut', nonlinearity: 'relu' });
 */
import { isFloat } from '../dtype.ts';
import { ShapeError, ValueError } from '../errors.ts';
import { fmtShape } from '../shape.ts';
import { noGrad } from '../tape.ts';
import { eye, rand, randn } from '../creation.ts';
import { Tensor } from '../tensor.ts';
import { checkOptions, optionNames, type OptionKeys } from '../options.ts';

/** `v` when it is a number (not NaN); a ValueError naming `op` and the argument otherwise (`xavierUniform_(w, {gain: 2})` read NaN). */
function numberArg(op: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || Number.isNaN(v)) {
    throw new ValueError(`${op}: ${name} must be a number, got ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  }
  return v;
}

/** Nonlinearities `calculateGain` knows (PyTorch's snake_case names are accepted too). */
export type Nonlinearity =
  | 'linear' | 'conv1d' | 'conv2d' | 'conv3d' | 'sigmoid' | 'tanh' | 'relu' | 'leakyRelu' | 'leaky_relu' | 'selu'
  | 'convTranspose1d' | 'convTranspose2d' | 'convTranspose3d';
/** Which fan Kaiming initialisation keeps the variance of: forward (fanIn) or backward (fanOut). */
export type FanMode = 'fanIn' | 'fanOut' | 'fan_in' | 'fan_out';

/**
 * The recommended gain for a nonlinearity (PyTorch's `calculate_gain`): 1 for linear/conv/sigmoid,
 * 5/3 for tanh, √2 for relu, √(2/(1+slope²)) for leaky relu (slope `param`, default 0.01), 3/4 for selu.
 */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear': case 'conv1d': case 'conv2d': case 'conv3d': case 'sigmoid':
    case 'convTranspose1d': case 'convTranspose2d': case 'convTranspose3d':
      return 1;
    case 'tanh': return 5 / 3;
    case 'relu': return Math.SQRT2;
    case 'leakyRelu': case 'leaky_relu': {
      const slope = param ?? 0.01;
      if (!Number.isFinite(slope)) throw new ValueError(`calculateGain: negative slope ${slope} is not a finite number`);
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu': return 3 / 4;
    default: throw new ValueError(`calculateGain: unknown nonlinearity ${JSON.stringify(nonlinearity)}; expected one of linear, conv2d, sigmoid, tanh, relu, leakyRelu, selu`);
  }
}

/**
 * fanIn = size(1)·receptive field, fanOut = size(0)·receptive field, where the receptive field is
 * the product of dims 2…; a Linear weight [out, in] has fanIn = in.
 */
export function calculateFanInAndFanOut(t: Tensor): { fanIn: number; fanOut: number } {
  initTensor('init', t);
  if (t.ndim < 2) throw new ShapeError(`init: fan in and fan out need a tensor with at least 2 dims, got shape ${fmtShape(t.shape)}`);
  const receptive = t.shape.slice(2).reduce((a, d) => a * d, 1);
  return { fanIn: t.shape[1]! * receptive, fanOut: t.shape[0]! * receptive };
}

function fanFor(op: string, t: Tensor, mode: FanMode): number {
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  switch (mode) {
    case 'fanIn': case 'fan_in': return fanIn;
    case 'fanOut': case 'fan_out': return fanOut;
    default: throw new ValueError(`${op}: mode must be 'fanIn' or 'fanOut', got ${JSON.stringify(mode)}`);
  }
}

/** `t` when it is a tensor (an array or null reached a property read: TypeError). */
function initTensor(op: string, t: unknown): Tensor {
  if (!(t instanceof Tensor)) throw new ValueError(`${op}: expected a tensor to fill (a Parameter), got ${t === null ? 'null' : Array.isArray(t) ? 'an array' : typeof t}`);
  return t;
}

function floatOf(op: string, t: Tensor) {
  initTensor(op, t);
  if (!isFloat(t.dtype)) throw new ValueError(`${op}: random initialisation needs a floating-point tensor, got ${t.dtype}`);
  return { dtype: t.dtype, device: t.device };
}

/** Fills with samples of U(a, b). */
export function uniform_(t: Tensor, a = 0, b = 1): Tensor {
  numberArg('uniform_', 'a', a);
  numberArg('uniform_', 'b', b);
  if (!(a <= b)) throw new ValueError(`uniform_: need a ≤ b, got a=${a}, b=${b}`);
  return noGrad(() => t.copy_(rand(t.shape, floatOf('uniform_', t)).mul(b - a).add(a)));
}

/** Fills with samples of N(mean, std²). */
export function normal_(t: Tensor, mean = 0, std = 1): Tensor {
  numberArg('normal_', 'mean', mean);
  numberArg('normal_', 'std', std);
  if (!(std >= 0)) throw new ValueError(`normal_: std must be ≥ 0, got ${std}`);
  return noGrad(() => t.copy_(randn(t.shape, floatOf('normal_', t)).mul(std).add(mean)));
}

/** Fills with `value`. */
export function constant_(t: Tensor, value: number): Tensor {
  initTensor('constant_', t);
  numberArg('constant_', 'value', value);
  return noGrad(() => t.fill_(value));
}

/** Fills with zeros. */
export function zeros_(t: Tensor): Tensor {
  return constant_(t, 0);
}

/** Fills with ones. */
export function ones_(t: Tensor): Tensor {
  return constant_(t, 1);
}

/** Fills a 2-D tensor with the identity matrix (ones on the diagonal). */
export function eye_(t: Tensor): Tensor {
  initTensor('eye_', t);
  if (t.ndim !== 2) throw new ShapeError(`eye_: expected a 2-D tensor, got shape ${fmtShape(t.shape)}`);
  const [n, m] = t.shape as [number, number];
  return noGrad(() => t.copy_(eye(n, m, { dtype: t.dtype, device: t.device })));
}

/**
 * Xavier/Glorot uniform: U(−a, a) with a = gain·√(6 / (fanIn + fanOut)).
 */
export function xavierUniform_(t: Tensor, gain = 1): Tensor {
  numberArg('xavierUniform_', 'gain', gain);
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  const a = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform_(t, -a, a);
}

/** Xavier/Glorot normal: N(0, std²) with std = gain·√(2 / (fanIn + fanOut)). */
export function xavierNormal_(t: Tensor, gain = 1): Tensor {
  numberArg('xavierNormal_', 'gain', gain);
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  return normal_(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)));
}

/** Options of the Kaiming (He) initialisers. */
export interface KaimingOptions {
  /** negative slope of the leaky relu that follows (used when nonlinearity is leakyRelu); default 0 */
  a?: number;
  /** default 'fanIn' */
  mode?: FanMode;
  /** default 'leakyRelu' (with a = 0 that is relu's gain √2) */
  nonlinearity?: Nonlinearity;
}

const KAIMING_OPTIONS: OptionKeys<KaimingOptions> = { a: true, mode: true, nonlinearity: true };

function kaimingStd(op: string, t: Tensor, opts: KaimingOptions): number {
  checkOptions(op, opts, optionNames(KAIMING_OPTIONS));
  if (opts.a !== undefined) numberArg(op, 'a', opts.a);
  const fan = fanFor(op, t, opts.mode ?? 'fanIn');
  const gain = calculateGain(opts.nonlinearity ?? 'leakyRelu', opts.a ?? 0);
  return fan === 0 ? 0 : gain / Math.sqrt(fan);
}

/**
 * Kaiming/He uniform: U(−b, b) with b = gain·√(3 / fan). PyTorch's default Linear/Conv weight
 * init is this with a = √5, i.e. b = 1/√fanIn.
 */
export function kaimingUniform_(t: Tensor, opts: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd('kaimingUniform_', t, opts);
  return uniform_(t, -bound, bound);
}

/** Kaiming/He normal: N(0, std²) with std = gain / √fan. */
export function kaimingNormal_(t: Tensor, opts: KaimingOptions = {}): Tensor {
  return normal_(t, 0, kaimingStd('kaimingNormal_', t, opts));
}
