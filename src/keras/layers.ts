/**
 * @file Keras-style layers: Dense, Activation, Dropout, Conv2D, MaxPooling2D, Flatten.
 *
 * Each layer is an `nn.Module` whose parameters are created when the model learns its input
 * shape (`build`), with Keras's default initialisation (Glorot-uniform kernels, zero biases).
 * Shapes exclude the batch dim. Images are CHANNELS-FIRST, [channels, height, width] per sample
 * (PyTorch's layout, and Keras's `data_format='channels_first'`), not Keras's default
 * channels-last: MNIST is `inputShape: [1, 28, 28]`.
 * Weights use PyTorch's layout too (Dense weight [units, inputDim], Conv2D weight
 * [filters, channels, kh, kw]), so a model's stateDict loads into the equivalent nn modules.
 */
import { zeros } from '../creation.ts';
import { ShapeError, ValueError } from '../errors.ts';
import { fmtShape } from '../shape.ts';
import type { Tensor } from '../tensor.ts';
import * as F from '../ops/functional.ts';
import * as NF from '../nn/functional.ts';
import * as init from '../nn/init.ts';
import { Module } from '../nn/module.ts';
import { Parameter } from '../nn/parameter.ts';
import { activate, activationLabel, resolveActivation, type ActivationName, type ActivationSpec } from './activations.ts';
import { checkOptions } from '../options.ts';

/** Options every layer accepts. */
export interface LayerOptions {
  /** the shape of one sample (no batch dim); required on a model's first layer */
  inputShape?: readonly number[];
  /** the layer's name in summaries and in the model's stateDict keys (default: 'dense', 'dense_1', …) */
  name?: string;
}

const isShape = (s: unknown): s is readonly number[] =>
  Array.isArray(s) && s.length > 0 && s.every((d) => Number.isInteger(d) && d > 0);

/** Keras-style (None, 32, 26, 26) for a per-sample shape. */
export function kerasShape(shape: readonly number[]): string {
  return `(None, ${shape.join(', ')})`;
}

/**
 * The base class of Keras layers. A layer's output is `activation(preActivation(x))`; the model
 * uses the split to evaluate softmax/sigmoid-then-cross-entropy in a numerically stable form.
 */
export abstract class Layer extends Module<[Tensor], Tensor> {
  /** Keras's class name, as printed by summary() (e.g. 'Dense') */
  abstract readonly className: string;
  /** the base of automatic names (e.g. 'dense', 'max_pooling2d') */
  protected abstract readonly defaultName: string;
  /** set by the model when added (or from the `name` option) */
  layerName: string | undefined;
  /** the `inputShape`/`inputDim` option, if given */
  readonly declaredInputShape: readonly number[] | undefined;
  /** per-sample input and output shapes, known once built */
  inputShape: readonly number[] | undefined;
  outputShape: readonly number[] | undefined;
  activation: ActivationSpec = 'linear';

  /** `keys`: the options this kind of layer accepts beyond LayerOptions' (a misspelt one is refused, not ignored) */
  constructor(opts: LayerOptions = {}, kind = 'Layer', keys: readonly string[] = []) {
    super();
    checkOptions(kind, opts, ['inputShape', 'name', ...keys]);
    this.training = false; // Keras layers run in inference mode unless fit() trains them
    if (opts.inputShape !== undefined && !isShape(opts.inputShape)) {
      throw new ValueError(`${kind}: inputShape must be an array of positive integers (one sample's shape, no batch dim), got ${JSON.stringify(opts.inputShape)}`);
    }
    if (opts.name !== undefined && (typeof opts.name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_-]*$/.test(opts.name))) {
      throw new ValueError(`${kind}: name must start with a letter or '_' and contain only letters, digits, '_' and '-', got ${JSON.stringify(opts.name)}`);
    }
    this.declaredInputShape = opts.inputShape ? [...opts.inputShape] : undefined;
    this.layerName = opts.name;
  }

  /** @internal the automatic-name stem */
  get _defaultName(): string {
    return this.defaultName;
  }

  get built(): boolean {
    return this.outputShape !== undefined;
  }

  /** 'dense' (Dense) — how errors name this layer. */
  describe(): string {
    return `layer '${this.layerName ?? this.defaultName}' (${this.className})`;
  }

  protected override label(): string {
    return `${this.className} '${this.layerName ?? this.defaultName}'`;
  }

  /** Creates the parameters for a per-sample input shape; returns the per-sample output shape. */
  build(inputShape: readonly number[]): readonly number[] {
    if (this.built) {
      if (this.inputShape && (this.inputShape.length !== inputShape.length || this.inputShape.some((d, i) => d !== inputShape[i]))) {
        throw new ShapeError(`${this.describe()} was built for input ${kerasShape(this.inputShape)} and cannot take ${kerasShape(inputShape)}; a layer object can be added to one place only`);
      }
      return this.outputShape!;
    }
    const out = this.buildLayer(inputShape);
    this.inputShape = [...inputShape];
    this.outputShape = [...out];
    return out;
  }

  /** Checks the input shape and creates parameters; returns the output shape. */
  protected abstract buildLayer(inputShape: readonly number[]): readonly number[];

  /** Everything but the activation. */
  abstract preActivation(x: Tensor): Tensor;

  forward(x: Tensor): Tensor {
    if (!this.built) throw new ValueError(`${this.describe()} is not built yet: add it to a Sequential model whose first layer has an inputShape`);
    return activate(this.activation, this.preActivation(x));
  }

  /** Number of parameter elements (trainable or not). */
  countParams(): number {
    return this.parameters().reduce((a, p) => a + p.numel, 0);
  }

  /** A shape error for a wrong input, naming this layer and what it expects. */
  protected badInput(got: readonly number[], expected: string): never {
    throw new ShapeError(`${this.describe()} expects input of shape ${expected}, got ${kerasShape(got)}`);
  }
}

// ---------------------------------------------------------------- Dense

export interface DenseOptions extends LayerOptions {
  /** shorthand for inputShape: [inputDim] */
  inputDim?: number;
  /** default 'linear' (none) */
  activation?: ActivationName | ((x: Tensor) => Tensor);
  /** learn a bias (default true) */
  useBias?: boolean;
}

/** A fully connected layer: activation(x Wᵀ + b) over the last axis, W of shape [units, inputDim]. */
export class Dense extends Layer {
  readonly className = 'Dense';
  protected readonly defaultName = 'dense';
  readonly units: number;
  readonly useBias: boolean;
  weight: Parameter | null = null;
  bias: Parameter | null = null;

  constructor(units: number, opts: DenseOptions = {}) {
    if (opts.inputDim !== undefined && !(Number.isInteger(opts.inputDim) && opts.inputDim > 0)) {
      throw new ValueError(`Dense: inputDim must be a positive integer, got ${opts.inputDim}`);
    }
    if (opts.inputDim !== undefined && opts.inputShape !== undefined && !(opts.inputShape.length === 1 && opts.inputShape[0] === opts.inputDim)) {
      throw new ValueError(`Dense: inputDim ${opts.inputDim} contradicts inputShape ${JSON.stringify(opts.inputShape)}; give one of them`);
    }
    super({ ...opts, inputShape: opts.inputShape ?? (opts.inputDim !== undefined ? [opts.inputDim] : undefined) }, 'Dense', ['inputDim', 'activation', 'useBias']);
    if (!Number.isInteger(units) || units < 1) throw new ValueError(`Dense: units must be a positive integer, got ${units}`);
    this.units = units;
    this.useBias = opts.useBias ?? true;
    this.activation = resolveActivation(opts.activation, 'Dense');
  }

  protected buildLayer(inputShape: readonly number[]): readonly number[] {
    const inDim = inputShape[inputShape.length - 1]!;
    this.weight = new Parameter(init.xavierUniform_(zeros([this.units, inDim])));
    this.bias = this.useBias ? new Parameter(zeros([this.units])) : null;
    return [...inputShape.slice(0, -1), this.units];
  }

  preActivation(x: Tensor): Tensor {
    const inDim = this.inputShape![this.inputShape!.length - 1]!;
    if (x.ndim < 2 || x.shape[x.ndim - 1] !== inDim) this.badInput(x.shape.slice(1), `(None, ..., ${inDim})`);
    return NF.linear(x, this.weight!, this.bias);
  }

  override extraRepr(): string {
    const act = activationLabel(this.activation);
    return `units=${this.units}${act === 'linear' ? '' : `, activation=${act}`}${this.useBias ? '' : ', useBias=false'}`;
  }
}

// ---------------------------------------------------------------- Activation

/** Applies an activation: 'relu', 'sigmoid', 'tanh', 'softmax' (last axis), 'linear', … */
export class Activation extends Layer {
  readonly className = 'Activation';
  protected readonly defaultName = 'activation';

  constructor(activation: ActivationName | ((x: Tensor) => Tensor), opts: LayerOptions = {}) {
    super(opts, 'Activation');
    this.activation = resolveActivation(activation, 'Activation');
  }

  protected buildLayer(inputShape: readonly number[]): readonly number[] {
    return inputShape;
  }

  preActivation(x: Tensor): Tensor {
    return x;
  }

  override extraRepr(): string {
    return activationLabel(this.activation);
  }
}

// ---------------------------------------------------------------- Dropout

/** Zeroes a fraction `rate` of its inputs while training (scaling the rest by 1/(1−rate)); identity otherwise. */
export class Dropout extends Layer {
  readonly className = 'Dropout';
  protected readonly defaultName = 'dropout';
  readonly rate: number;

  constructor(rate: number, opts: LayerOptions = {}) {
    super(opts, 'Dropout');
    if (!(typeof rate === 'number' && rate >= 0 && rate < 1)) throw new ValueError(`Dropout: rate must be a number in [0, 1), got ${rate}`);
    this.rate = rate;
  }

  protected buildLayer(inputShape: readonly number[]): readonly number[] {
    return inputShape;
  }

  preActivation(x: Tensor): Tensor {
    return NF.dropout(x, this.rate, this.training);
  }

  override extraRepr(): string {
    return `rate=${this.rate}`;
  }
}

// ---------------------------------------------------------------- Flatten

/** Flattens each sample to one dim: [C, H, W] → [C·H·W] (channel-major, as PyTorch). */
export class Flatten extends Layer {
  readonly className = 'Flatten';
  protected readonly defaultName = 'flatten';

  constructor(opts: LayerOptions = {}) {
    super(opts, 'Flatten');
  }

  protected buildLayer(inputShape: readonly number[]): readonly number[] {
    return [inputShape.reduce((a, d) => a * d, 1)];
  }

  preActivation(x: Tensor): Tensor {
    return F.reshape(x, [x.shape[0]!, this.outputShape![0]!]);
  }
}

// ---------------------------------------------------------------- 2-D windows (Conv2D, MaxPooling2D)

type Pair = number | readonly [number, number];
export type Padding = 'valid' | 'same';

function pairOf(layer: string, what: string, v: Pair): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : Array.isArray(v) && v.length === 2 ? [v[0], v[1]] : [NaN, NaN];
  if (!p.every((x) => Number.isInteger(x) && x >= 1)) {
    throw new ValueError(`${layer}: ${what} must be a positive integer or a pair of them, got ${JSON.stringify(v)}`);
  }
  return p;
}

function paddingOf(layer: string, p: unknown): Padding {
  if (p === undefined) return 'valid';
  if (p !== 'valid' && p !== 'same') throw new ValueError(`${layer}: padding must be 'valid' or 'same', got ${JSON.stringify(p)}`);
  return p;
}

/** One spatial dim of a window sweep, TensorFlow-style: output size and [before, after] padding. */
function sweep(size: number, k: number, stride: number, dilation: number, padding: Padding): { out: number; pad: [number, number] } {
  const span = dilation * (k - 1) + 1;
  if (padding === 'valid') return { out: size >= span ? Math.floor((size - span) / stride) + 1 : 0, pad: [0, 0] };
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + span - size, 0);
  const before = Math.floor(total / 2);
  return { out, pad: [before, total - before] }; // the odd extra pixel goes after, as TensorFlow
}

/** Checks a per-sample [C, H, W] input for a 2-D layer and computes its spatial sweep. */
function planWindows(layer: Layer, inputShape: readonly number[], k: [number, number], s: [number, number], d: [number, number], padding: Padding) {
  if (inputShape.length !== 3) {
    const hint = inputShape.length === 1 ? ' (add a reshape to images first, e.g. inputShape: [1, 28, 28] with X of shape [N, 1, 28, 28])' : '';
    throw new ShapeError(`${layer.describe()} expects input of shape (None, channels, height, width) — channels first — got ${kerasShape(inputShape)}${hint}`);
  }
  const [, H, W] = inputShape as [number, number, number];
  const h = sweep(H, k[0], s[0], d[0], padding), w = sweep(W, k[1], s[1], d[1], padding);
  if (h.out < 1 || w.out < 1) {
    const last = inputShape[2]!;
    const hint = (last === 1 || last === 3) && inputShape[0]! > 4
      ? `; this looks like channels-last [height, width, channels]: tapegrad's Keras layers are channels-first, use inputShape [${last}, ${inputShape[0]}, ${inputShape[1]}]`
      : '';
    throw new ShapeError(`${layer.describe()}: a ${k[0]}×${k[1]} window (dilation ${fmtShape(d)}) with padding '${padding}' does not fit input ${kerasShape(inputShape)}${hint}`);
  }
  return { oh: h.out, ow: w.out, pads: [w.pad[0], w.pad[1], h.pad[0], h.pad[1]] as [number, number, number, number] };
}

/** Pads for 'same' when the two sides differ (conv2d/maxPool2d take symmetric padding only). */
function splitPadding(pads: [number, number, number, number]): { pre: number[] | null; sym: [number, number] } {
  const [l, r, t, b] = pads;
  if (l === r && t === b) return { pre: null, sym: [t, l] };
  return { pre: pads, sym: [0, 0] };
}

export interface Conv2DOptions extends LayerOptions {
  /** default 'valid' (no padding); 'same' keeps height and width (÷ strides) */
  padding?: Padding;
  /** default 1 */
  strides?: Pair;
  /** default 1 */
  dilationRate?: Pair;
  /** default 'linear' (none) */
  activation?: ActivationName | ((x: Tensor) => Tensor);
  /** learn a bias (default true) */
  useBias?: boolean;
}

/**
 * 2-D convolution over channels-first images: input (None, C, H, W), output (None, filters, H', W').
 * Weight [filters, C, kh, kw], Glorot-uniform; bias zeros.
 */
export class Conv2D extends Layer {
  readonly className = 'Conv2D';
  protected readonly defaultName = 'conv2d';
  readonly filters: number;
  readonly kernelSize: [number, number];
  readonly strides: [number, number];
  readonly dilationRate: [number, number];
  readonly padding: Padding;
  readonly useBias: boolean;
  weight: Parameter | null = null;
  bias: Parameter | null = null;
  private plan: { pre: number[] | null; sym: [number, number] } | null = null;

  constructor(filters: number, kernelSize: Pair, opts: Conv2DOptions = {}) {
    super(opts, 'Conv2D', ['padding', 'strides', 'dilationRate', 'activation', 'useBias']);
    if (!Number.isInteger(filters) || filters < 1) throw new ValueError(`Conv2D: filters must be a positive integer, got ${filters}`);
    this.filters = filters;
    this.kernelSize = pairOf('Conv2D', 'kernelSize', kernelSize);
    this.strides = pairOf('Conv2D', 'strides', opts.strides ?? 1);
    this.dilationRate = pairOf('Conv2D', 'dilationRate', opts.dilationRate ?? 1);
    this.padding = paddingOf('Conv2D', opts.padding);
    this.useBias = opts.useBias ?? true;
    this.activation = resolveActivation(opts.activation, 'Conv2D');
  }

  protected buildLayer(inputShape: readonly number[]): readonly number[] {
    const { oh, ow, pads } = planWindows(this, inputShape, this.kernelSize, this.strides, this.dilationRate, this.padding);
    this.plan = splitPadding(pads);
    this.weight = new Parameter(init.xavierUniform_(zeros([this.filters, inputShape[0]!, ...this.kernelSize])));
    this.bias = this.useBias ? new Parameter(zeros([this.filters])) : null;
    return [this.filters, oh, ow];
  }

  preActivation(x: Tensor): Tensor {
    const [C, H, W] = this.inputShape as [number, number, number];
    if (x.ndim !== 4 || x.shape[1] !== C || x.shape[2] !== H || x.shape[3] !== W) this.badInput(x.shape.slice(1), kerasShape([C, H, W]));
    const { pre, sym } = this.plan!;
    const xp = pre ? F.pad(x, pre) : x;
    return NF.conv2d(xp, this.weight!, this.bias, { stride: this.strides, padding: sym, dilation: this.dilationRate });
  }

  override extraRepr(): string {
    const act = activationLabel(this.activation);
    return `filters=${this.filters}, kernelSize=${fmtShape(this.kernelSize)}, strides=${fmtShape(this.strides)}, padding='${this.padding}'${act === 'linear' ? '' : `, activation=${act}`}`;
  }
}

export interface MaxPooling2DOptions extends LayerOptions {
  /** default: poolSize */
  strides?: Pair;
  /** default 'valid' */
  padding?: Padding;
}

/** Max over each poolSize window of channels-first images (default 2×2, stride = poolSize). */
export class MaxPooling2D extends Layer {
  readonly className = 'MaxPooling2D';
  protected readonly defaultName = 'max_pooling2d';
  readonly poolSize: [number, number];
  readonly strides: [number, number];
  readonly padding: Padding;
  private plan: { pre: number[] | null; sym: [number, number] } | null = null;

  constructor(poolSize: Pair = 2, opts: MaxPooling2DOptions = {}) {
    super(opts, 'MaxPooling2D', ['strides', 'padding']);
    this.poolSize = pairOf('MaxPooling2D', 'poolSize', poolSize);
    this.strides = pairOf('MaxPooling2D', 'strides', opts.strides ?? this.poolSize);
    this.padding = paddingOf('MaxPooling2D', opts.padding);
  }

  protected buildLayer(inputShape: readonly number[]): readonly number[] {
    const { oh, ow, pads } = planWindows(this, inputShape, this.poolSize, this.strides, [1, 1], this.padding);
    // 'same' pads with −∞ so padding never wins the max; done explicitly whatever the symmetry
    this.plan = pads.some((p) => p > 0) ? { pre: pads, sym: [0, 0] } : { pre: null, sym: [0, 0] };
    return [inputShape[0]!, oh, ow];
  }

  preActivation(x: Tensor): Tensor {
    const [C, H, W] = this.inputShape as [number, number, number];
    if (x.ndim !== 4 || x.shape[1] !== C || x.shape[2] !== H || x.shape[3] !== W) this.badInput(x.shape.slice(1), kerasShape([C, H, W]));
    const xp = this.plan!.pre ? F.pad(x, this.plan!.pre, -Infinity) : x;
    return NF.maxPool2d(xp, this.poolSize, { stride: this.strides });
  }

  override extraRepr(): string {
    return `poolSize=${fmtShape(this.poolSize)}, strides=${fmtShape(this.strides)}, padding='${this.padding}'`;
  }
}
