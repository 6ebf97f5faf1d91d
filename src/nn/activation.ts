/**
 * @file Activation layers: ReLU, LeakyReLU, GELU, Sigmoid, Tanh, Softmax, LogSoftmax.
 * @example new Sequential(new Linear(4, 8), new ReLU(), new Linear(8, 3), new Softmax(1));
 */
import type { Tensor } from '../tensor.ts';
import * as F from './functional.ts';
import { Module } from './module.ts';
import { checkOptions } from '../options.ts';

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
    this.negativeSlope = negativeSlope;
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
    this.approximate = opts.approximate ?? 'none';
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

/** Softmax along `dim` (default −1, the last dim). */
export class Softmax extends Module {
  readonly dim: number;
  constructor(dim = -1) {
    super();
    this.dim = dim;
  }
  override extraRepr(): string {
    return `dim=${this.dim}`;
  }
  forward(x: Tensor): Tensor {
    return this.guard(() => F.softmax(x, this.dim));
  }
}

/** log(softmax(x)) along `dim` (default −1), computed stably. */
export class LogSoftmax extends Module {
  readonly dim: number;
  constructor(dim = -1) {
    super();
    this.dim = dim;
  }
  override extraRepr(): string {
    return `dim=${this.dim}`;
  }
  forward(x: Tensor): Tensor {
    return this.guard(() => F.logSoftmax(x, this.dim));
  }
}
