/**
 * @file Linear (y = x Wᵀ + b) and Identity.
 * @example
 * const fc = new Linear(784, 128);
 * fc.call(randn([32, 784])).shape; // [32, 128]
 */
import type { Device } from '../backend.ts';
import type { DType } from '../dtype.ts';
import { zeros } from '../creation.ts';
import { fmtShape } from '../shape.ts';
import type { Tensor } from '../tensor.ts';
import * as F from './functional.ts';
import * as init from './init.ts';
import { Module } from './module.ts';
import { Parameter } from './parameter.ts';
import { checkSize } from './checks.ts';
import { boolArg, checkOptions, optionNames } from '../options.ts';

/** Options shared by layers that create parameters. */
export interface FactoryOptions {
  dtype?: DType;
  device?: Device;
}

export interface LinearOptions extends FactoryOptions {
  /** learn an additive bias (default true) */
  bias?: boolean;
}

const LINEAR_OPTIONS = optionNames<LinearOptions>({ bias: true, dtype: true, device: true });

/**
 * y = x Wᵀ + b with W of shape [outFeatures, inFeatures]; input [..., inFeatures]. Initialised as
 * PyTorch does: W and b uniform in (−1/√inFeatures, 1/√inFeatures).
 */
export class Linear extends Module {
  weight: Parameter;
  bias: Parameter | null;
  readonly inFeatures: number;
  readonly outFeatures: number;

  constructor(inFeatures: number, outFeatures: number, opts: LinearOptions = {}) {
    super();
    checkOptions('Linear', opts, LINEAR_OPTIONS);
    this.inFeatures = checkSize('Linear', 'inFeatures', inFeatures, 0);
    this.outFeatures = checkSize('Linear', 'outFeatures', outFeatures, 0);
    const f = { dtype: opts.dtype ?? 'float32', device: opts.device };
    this.weight = new Parameter(zeros([outFeatures, inFeatures], f));
    this.bias = boolArg('Linear', 'bias', opts.bias ?? true) ? new Parameter(zeros([outFeatures], f)) : null;
    this.resetParameters();
  }

  /** Re-draws W with kaimingUniform_(a = √5) and b from U(−1/√fanIn, 1/√fanIn). */
  resetParameters(): void {
    init.kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const bound = this.inFeatures > 0 ? 1 / Math.sqrt(this.inFeatures) : 0;
      init.uniform_(this.bias, -bound, bound);
    }
  }

  override extraRepr(): string {
    return `inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}, bias=${this.bias !== null}`;
  }

  protected override label(): string {
    return `Linear(inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures})`;
  }

  forward(x: Tensor): Tensor {
    if (x.ndim < 1 || x.shape[x.ndim - 1] !== this.inFeatures) {
      this.shapeError(`expected input [..., ${this.inFeatures}], got ${fmtShape(x.shape)}`);
    }
    return F.linear(x, this.weight, this.bias);
  }
}

/** Returns its input unchanged (a placeholder layer). */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}
