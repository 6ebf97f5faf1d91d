/**
 * @file BatchNorm1d, BatchNorm2d and LayerNorm.
 * @example
 * const bn = new BatchNorm2d(16);
 * bn.call(randn([8, 16, 5, 5])); // training: batch statistics, running ones updated
 * bn.eval();                      // now normalises with runningMean / runningVar
 */
import { ones, zeros } from '../creation.ts';
import { ValueError } from '../errors.ts';
import { boolArg, checkOptions } from '../options.ts';
import { fmtShape } from '../shape.ts';
import { noGrad } from '../tape.ts';
import type { Tensor } from '../tensor.ts';
import * as F from './functional.ts';
import * as init from './init.ts';
import type { FactoryOptions } from './linear.ts';
import { Module } from './module.ts';
import { Parameter } from './parameter.ts';
import { checkSize } from './checks.ts';

export interface BatchNormOptions extends FactoryOptions {
  /** added to the variance (default 1e-5) */
  eps?: number;
  /**
   * running = (1 − momentum)·running + momentum·batch (default 0.1); null: the cumulative average
   * of every batch so far (momentum 1/numBatchesTracked), as PyTorch's momentum=None
   */
  momentum?: number | null;
  /** learn a per-channel scale and shift (default true) */
  affine?: boolean;
  /** keep running statistics for eval mode (default true) */
  trackRunningStats?: boolean;
}

/**
 * Shared by BatchNorm1d and BatchNorm2d, which differ only in the input ranks they accept. The
 * running statistics are buffers named as in PyTorch (`running_mean`, `running_var`,
 * `num_batches_tracked`) so state dicts load in both directions; `runningMean` etc. access them.
 */
abstract class BatchNormBase extends Module {
  weight: Parameter | null;
  bias: Parameter | null;
  // buffers under PyTorch's names, so state dicts match PyTorch's key for key
  declare running_mean: Tensor | null;
  declare running_var: Tensor | null;
  declare num_batches_tracked: Tensor | null;
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;

  constructor(layer: string, numFeatures: number, opts: BatchNormOptions) {
    super();
    checkOptions(layer, opts, ['eps', 'momentum', 'affine', 'trackRunningStats', 'dtype', 'device']);
    this.numFeatures = checkSize(layer, 'numFeatures', numFeatures);
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
    // (numbers: a string '1e-5' compared as one and failed only at the first call, naming `add`)
    if (typeof this.eps !== 'number' || !(this.eps >= 0)) throw new ValueError(`${layer}: eps must be a number ≥ 0, got ${typeof this.eps === 'number' ? this.eps : `${typeof this.eps} ${JSON.stringify(this.eps)}`}`);
    if (this.momentum !== null && (typeof this.momentum !== 'number' || !(this.momentum >= 0 && this.momentum <= 1))) {
      throw new ValueError(`${layer}: momentum must be in [0, 1] or null (a cumulative average), got ${String(this.momentum)}`);
    }
    this.affine = opts.affine ?? true;
    this.trackRunningStats = opts.trackRunningStats ?? true;
    const f = { dtype: opts.dtype ?? 'float32', device: opts.device };
    this.weight = this.affine ? new Parameter(ones([numFeatures], f)) : null;
    this.bias = this.affine ? new Parameter(zeros([numFeatures], f)) : null;
    const track = this.trackRunningStats;
    this.registerBuffer('running_mean', track ? zeros([numFeatures], f) : null);
    this.registerBuffer('running_var', track ? ones([numFeatures], f) : null);
    this.registerBuffer('num_batches_tracked', track ? zeros([], { dtype: 'int32', device: opts.device }) : null);
  }

  /** the running mean (buffer `running_mean` in the state dict, as in PyTorch) */
  get runningMean(): Tensor | null { return this.running_mean; }
  set runningMean(t: Tensor | null) { this.running_mean = t; }
  /** the running (unbiased) variance (buffer `running_var`) */
  get runningVar(): Tensor | null { return this.running_var; }
  set runningVar(t: Tensor | null) { this.running_var = t; }
  /** the number of training batches seen, int32 (buffer `num_batches_tracked`) */
  get numBatchesTracked(): Tensor | null { return this.num_batches_tracked; }
  set numBatchesTracked(t: Tensor | null) { this.num_batches_tracked = t; }

  /** Resets running mean to 0, running variance to 1 and the batch count to 0. */
  resetRunningStats(): void {
    noGrad(() => {
      this.runningMean?.zero_();
      this.runningVar?.fill_(1);
      this.numBatchesTracked?.zero_();
    });
  }

  /** Resets the running statistics, the scale to 1 and the shift to 0. */
  resetParameters(): void {
    this.resetRunningStats();
    if (this.weight) init.ones_(this.weight);
    if (this.bias) init.zeros_(this.bias);
  }

  protected abstract checkInput(x: Tensor): void;

  override extraRepr(): string {
    return `${this.numFeatures}, eps=${this.eps}, momentum=${this.momentum}, affine=${this.affine}, trackRunningStats=${this.trackRunningStats}`;
  }

  forward(x: Tensor): Tensor {
    this.checkInput(x);
    if (this.training && this.trackRunningStats && this.numBatchesTracked) {
      const n = this.numBatchesTracked;
      noGrad(() => n.add_(1));
    }
    // as PyTorch: batch statistics in training, or when there are no running ones
    const useBatch = this.training || (!this.runningMean && !this.runningVar);
    const keepRunning = !this.training || this.trackRunningStats;
    // momentum null: each batch weighs 1/(batches so far), the running statistics their average
    const n = this.numBatchesTracked;
    const momentum = this.momentum === null && n ? noGrad(() => n.to(x.dtype).reciprocal()) : this.momentum ?? 0;
    return this.guard(() => F.batchNorm(x, keepRunning ? this.runningMean : null, keepRunning ? this.runningVar : null, {
      weight: this.weight, bias: this.bias, training: useBatch, momentum, eps: this.eps,
    }));
  }
}

/** Batch normalisation of [N, C] or [N, C, L] inputs over the batch (and length) dims. */
export class BatchNorm1d extends BatchNormBase {
  constructor(numFeatures: number, opts: BatchNormOptions = {}) {
    super('BatchNorm1d', numFeatures, opts);
  }
  protected checkInput(x: Tensor): void {
    const C = this.numFeatures;
    if ((x.ndim !== 2 && x.ndim !== 3) || x.shape[1] !== C) this.shapeError(`expected input [N, ${C}] or [N, ${C}, L], got ${fmtShape(x.shape)}`);
  }
}

/** Batch normalisation of [N, C, H, W] inputs over the batch and spatial dims. */
export class BatchNorm2d extends BatchNormBase {
  constructor(numFeatures: number, opts: BatchNormOptions = {}) {
    super('BatchNorm2d', numFeatures, opts);
  }
  protected checkInput(x: Tensor): void {
    const C = this.numFeatures;
    if (x.ndim !== 4 || x.shape[1] !== C) this.shapeError(`expected input [N, ${C}, H, W], got ${fmtShape(x.shape)}`);
  }
}

export interface LayerNormOptions extends FactoryOptions {
  /** added to the variance (default 1e-5) */
  eps?: number;
  /** learn an elementwise scale (and shift) of normalizedShape (default true) */
  elementwiseAffine?: boolean;
  /** with elementwiseAffine, also learn the shift (default true) */
  bias?: boolean;
}

/** Normalises over the trailing `normalizedShape` dims of each sample, then scales and shifts. */
export class LayerNorm extends Module {
  weight: Parameter | null;
  bias: Parameter | null;
  readonly normalizedShape: readonly number[];
  readonly eps: number;
  readonly elementwiseAffine: boolean;

  constructor(normalizedShape: number | readonly number[], opts: LayerNormOptions = {}) {
    super();
    checkOptions('LayerNorm', opts, ['eps', 'elementwiseAffine', 'bias', 'dtype', 'device']);
    const shape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    if (shape.length === 0) throw new ValueError('LayerNorm: normalizedShape must have at least one dim');
    shape.forEach((d) => checkSize('LayerNorm', 'normalizedShape', d));
    this.normalizedShape = shape;
    this.eps = opts.eps ?? 1e-5;
    if (typeof this.eps !== 'number' || !(this.eps >= 0)) throw new ValueError(`LayerNorm: eps must be a number ≥ 0, got ${typeof this.eps === 'number' ? this.eps : `${typeof this.eps} ${JSON.stringify(this.eps)}`}`);
    this.elementwiseAffine = opts.elementwiseAffine ?? true;
    const f = { dtype: opts.dtype ?? 'float32', device: opts.device };
    this.weight = this.elementwiseAffine ? new Parameter(ones(shape, f)) : null;
    this.bias = boolArg('LayerNorm', 'bias', opts.bias ?? true) && this.elementwiseAffine ? new Parameter(zeros(shape, f)) : null;
  }

  override extraRepr(): string {
    return `${fmtShape(this.normalizedShape)}, eps=${this.eps}, elementwiseAffine=${this.elementwiseAffine}`;
  }

  forward(x: Tensor): Tensor {
    const k = this.normalizedShape.length;
    if (x.ndim < k || this.normalizedShape.some((d, i) => x.shape[x.ndim - k + i] !== d)) {
      this.shapeError(`expected input [..., ${this.normalizedShape.join(', ')}], got ${fmtShape(x.shape)}`);
    }
    return F.layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }
}
