/**
 * @file Activation layers: ReLU, LeakyReLU, GELU, Sigmoid, Tanh, Softmax, LogSoftmax.
 * @example new Sequential(new Linear(4, 8), new ReLU(), new Linear(8, 3), new Softmax(1));
 */
import type { Tensor } from '../tensor.ts';
import * as F from './functional.ts';
import { Module } from './module.ts';
import { checkOptions, optionValue } from '../options.ts';
import { checkDim, checkNumber } from './checks.ts';

/** max(x, 0). */
export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return F.relu(x);
  }
}

/** x for x > 0, negativeSlope·x otherwise. */
export class LeakyReLU extends Module {
  readonly negativeSlope: number;
  constructor(negativeSlope = 0.01) {
    super();
    this.negativeSlope = checkNumber('LeakyReLU', 'negativeSlope', negativeSlope);
  }
  override extraRepr(): string {
    return `negativeSlope=${this.negativeSlope}`;
  }
  forward(x: Tensor): Tensor {
    return F.leakyRelu(x, this.negativeSlope);
  }
}

/** x·Φ(x) (or its tanh approximation). */
export class GELU extends Module {
  readonly approximate: 'none' | 'tanh';
  constructor(opts: { approximate?: 'none' | 'tanh' } = {}) {
    super();
    checkOptions('GELU', opts, ['approximate']);
    this.approximate = optionValue('GELU', opts, 'approximate', ['none', 'tanh'], "'none'") ?? 'none';
  }
  override extraRepr(): string {
    return `approximate='${this.approximate}'`;
  }
  forward(x: Tensor): Tensor {
    return F.gelu(x, { approximate: this.approximate });
  }
}

/** 1 / (1 + e^−x). */
export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return F.sigmoid(x);
  }
}

/** tanh(x). */
export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return F.tanh(x);
  }
}

const warnedImplicitDim = new Set<string>();
/**
 * The dim `nn.Softmax()`/`nn.LogSoftmax()` use when none is given, as PyTorch's (deprecated)
 * implicit choice: 0 for 0-, 1- and 3-D input, 1 otherwise — for [N, C, H, W] the channels, not
 * the last dim. Warns once per class, as PyTorch does, since the choice is rarely what is meant.
 */
function implicitSoftmaxDim(name: string, ndim: number): number {
  const dim = ndim === 0 || ndim === 1 || ndim === 3 ? 0 : 1;
  if (!warnedImplicitDim.has(name)) {
    warnedImplicitDim.add(name);
    console.warn(`${name}: no dim given; using dim=${dim} for ${ndim}-D input, as PyTorch's implicit choice does (0 for 0-, 1- and 3-D input, else 1). Pass the dim, e.g. new ${name}(-1)`);
  }
  return dim;
}

/** Softmax along `dim` (default: PyTorch's implicit choice — 0 for 0-, 1- and 3-D input, else 1 — with a warning; pass it). */
export class Softmax extends Module {
  /** null: PyTorch's implicit choice (see implicitSoftmaxDim), with a warning */
  readonly dim: number | null;
  constructor(dim: number | null = null) {
    super();
    this.dim = dim === null ? null : checkDim(this.constructor.name, 'dim', dim);
  }
  override extraRepr(): string {
    return `dim=${this.dim}`;
  }
  forward(x: Tensor): Tensor {
    return this.guard(() => F.softmax(x, this.dim ?? implicitSoftmaxDim('Softmax', x.ndim)));
  }
}

/** log(softmax(x)) along `dim` (default: PyTorch's implicit choice, with a warning), computed stably. */
export class LogSoftmax extends Module {
  /** null: PyTorch's implicit choice (see implicitSoftmaxDim), with a warning */
  readonly dim: number | null;
  constructor(dim: number | null = null) {
    super();
    this.dim = dim === null ? null : checkDim(this.constructor.name, 'dim', dim);
  }
  override extraRepr(): string {
    return `dim=${this.dim}`;
  }
  forward(x: Tensor): Tensor {
    return this.guard(() => F.logSoftmax(x, this.dim ?? implicitSoftmaxDim('LogSoftmax', x.ndim)));
  }
}
