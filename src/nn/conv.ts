/**
 * @file Conv2d: 2-D convolution over [N, C, H, W] (or unbatched [C, H, W]) inputs.
 * @example
 * const conv = new Conv2d(1, 6, 5, { padding: 2 });
 * conv.call(randn([64, 1, 28, 28])).shape; // [64, 6, 28, 28]
 */
import { zeros } from '../creation.ts';
import { ValueError } from '../errors.ts';
import { fmtShape } from '../shape.ts';
import type { Tensor } from '../tensor.ts';
import { pad } from '../ops/functional.ts';
import * as F from './functional.ts';
import * as init from './init.ts';
import type { FactoryOptions } from './linear.ts';
import { Module } from './module.ts';
import { Parameter } from './parameter.ts';
import { checkPair, checkSize, type Pair } from './checks.ts';
import { boolArg, checkOptions, optionNames } from '../options.ts';

export interface Conv2dOptions extends FactoryOptions {
  stride?: Pair;
  /** zero padding per side, or 'valid' (none) or 'same' (output size = input size; stride 1 only) */
  padding?: Pair | 'valid' | 'same';
  dilation?: Pair;
  groups?: number;
  /** learn an additive bias (default true) */
  bias?: boolean;
}

const CONV2D_OPTIONS = optionNames<Conv2dOptions>({ stride: true, padding: true, dilation: true, groups: true, bias: true, dtype: true, device: true });

/**
 * 2-D convolution (cross-correlation) with weight [outChannels, inChannels/groups, kh, kw],
 * initialised as PyTorch does: weight and bias uniform in (−1/√fanIn, 1/√fanIn), fanIn = inChannels/groups·kh·kw.
 */
export class Conv2d extends Module {
  weight: Parameter;
  bias: Parameter | null;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number] | 'same';
  readonly dilation: [number, number];
  readonly groups: number;

  constructor(inChannels: number, outChannels: number, kernelSize: Pair, opts: Conv2dOptions = {}) {
    super();
    checkOptions('Conv2d', opts, CONV2D_OPTIONS);
    this.inChannels = checkSize('Conv2d', 'inChannels', inChannels);
    this.outChannels = checkSize('Conv2d', 'outChannels', outChannels);
    this.kernelSize = checkPair('Conv2d', 'kernelSize', kernelSize);
    this.stride = checkPair('Conv2d', 'stride', opts.stride ?? 1);
    this.dilation = checkPair('Conv2d', 'dilation', opts.dilation ?? 1);
    this.groups = checkSize('Conv2d', 'groups', opts.groups ?? 1);
    const pad = opts.padding ?? 0;
    if (pad === 'same') {
      if (this.stride[0] !== 1 || this.stride[1] !== 1) throw new ValueError(`Conv2d: padding 'same' needs stride 1, got stride ${fmtShape(this.stride)}`);
      this.padding = 'same';
    } else this.padding = pad === 'valid' ? [0, 0] : checkPair('Conv2d', 'padding', pad, 0);
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new ValueError(`Conv2d: inChannels (${inChannels}) and outChannels (${outChannels}) must both be divisible by groups (${this.groups})`);
    }
    const f = { dtype: opts.dtype ?? 'float32', device: opts.device };
    this.weight = new Parameter(zeros([outChannels, inChannels / this.groups, ...this.kernelSize], f));
    this.bias = boolArg('Conv2d', 'bias', opts.bias ?? true) ? new Parameter(zeros([outChannels], f)) : null;
    this.resetParameters();
  }

  /** Re-draws weight with kaimingUniform_(a = √5) and bias from U(−1/√fanIn, 1/√fanIn). */
  resetParameters(): void {
    init.kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const { fanIn } = init.calculateFanInAndFanOut(this.weight);
      const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
      init.uniform_(this.bias, -bound, bound);
    }
  }

  override extraRepr(): string {
    const parts = [`${this.inChannels}, ${this.outChannels}, kernelSize=${fmtShape(this.kernelSize)}, stride=${fmtShape(this.stride)}`];
    if (this.padding === 'same') parts.push(`padding='same'`);
    else if (this.padding[0] || this.padding[1]) parts.push(`padding=${fmtShape(this.padding)}`);
    if (this.dilation[0] !== 1 || this.dilation[1] !== 1) parts.push(`dilation=${fmtShape(this.dilation)}`);
    if (this.groups !== 1) parts.push(`groups=${this.groups}`);
    if (!this.bias) parts.push('bias=false');
    return parts.join(', ');
  }

  forward(x: Tensor): Tensor {
    const C = this.inChannels;
    if ((x.ndim !== 3 && x.ndim !== 4) || x.shape[x.ndim - 3] !== C) {
      this.shapeError(`expected input [N, ${C}, H, W] or [${C}, H, W], got ${fmtShape(x.shape)}`);
    }
    let padding: [number, number] = [0, 0];
    if (this.padding === 'same') {
      // total padding d·(k−1) per dim; PyTorch puts the odd extra element on the bottom/right
      const tot = this.kernelSize.map((k, i) => this.dilation[i]! * (k - 1));
      const lo = tot.map((t) => Math.floor(t / 2));
      if (tot.every((t, i) => t === 2 * lo[i]!)) padding = [lo[0]!, lo[1]!];
      else x = pad(x, [lo[1]!, tot[1]! - lo[1]!, lo[0]!, tot[0]! - lo[0]!]);
    } else padding = this.padding;
    return this.guard(() => F.conv2d(x, this.weight, this.bias, { stride: this.stride, padding, dilation: this.dilation, groups: this.groups }));
  }
}
