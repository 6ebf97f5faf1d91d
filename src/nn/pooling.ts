/**
 * @file MaxPool2d and AvgPool2d over [N, C, H, W] (or [C, H, W]) inputs.
 * @example new MaxPool2d(2).call(randn([1, 6, 28, 28])).shape; // [1, 6, 14, 14]
 */
import { ValueError } from '../errors.ts';
import { fmtShape } from '../shape.ts';
import type { Tensor } from '../tensor.ts';
import * as F from './functional.ts';
import { Module } from './module.ts';
import { checkPair, fmtPair, type Pair } from './checks.ts';
import { checkOptions } from '../options.ts';

export interface MaxPool2dOptions {
  /** default: the kernel size */
  stride?: Pair | null;
  padding?: Pair;
  dilation?: Pair;
}

function checkPoolPadding(layer: string, kernel: Pair, padding: Pair): void {
  const k = checkPair(layer, 'kernelSize', kernel), p = checkPair(layer, 'padding', padding, 0);
  if (p[0] > k[0] / 2 || p[1] > k[1] / 2) throw new ValueError(`${layer}: padding ${fmtPair(padding)} must be at most half the kernel size ${fmtPair(kernel)}`);
}

/** Abstract base: input-shape check shared by the pools. */
abstract class Pool2d extends Module {
  protected checkInput(x: Tensor): void {
    if (x.ndim !== 3 && x.ndim !== 4) this.shapeError(`expected input [N, C, H, W] or [C, H, W], got ${fmtShape(x.shape)}`);
  }
}

/** The maximum over each kernel window (windows step by `stride`, default the kernel size). */
export class MaxPool2d extends Pool2d {
  readonly kernelSize: Pair;
  readonly stride: Pair;
  readonly padding: Pair;
  readonly dilation: Pair;

  constructor(kernelSize: Pair, opts: MaxPool2dOptions = {}) {
    super();
    checkOptions('MaxPool2d', opts, ['stride', 'padding', 'dilation']);
    this.kernelSize = kernelSize;
    this.stride = opts.stride ?? kernelSize;
    this.padding = opts.padding ?? 0;
    this.dilation = opts.dilation ?? 1;
    checkPair('MaxPool2d', 'stride', this.stride);
    checkPair('MaxPool2d', 'dilation', this.dilation);
    checkPoolPadding('MaxPool2d', kernelSize, this.padding);
  }

  override extraRepr(): string {
    return `kernelSize=${fmtPair(this.kernelSize)}, stride=${fmtPair(this.stride)}, padding=${fmtPair(this.padding)}, dilation=${fmtPair(this.dilation)}`;
  }

  forward(x: Tensor): Tensor {
    this.checkInput(x);
    return this.guard(() => F.maxPool2d(x, this.kernelSize, { stride: this.stride, padding: this.padding, dilation: this.dilation }));
  }
}

export interface AvgPool2dOptions {
  /** default: the kernel size */
  stride?: Pair | null;
  /** zero padding, counted in the average (PyTorch's countIncludePad=true) */
  padding?: Pair;
}

/** The mean over each kernel window. */
export class AvgPool2d extends Pool2d {
  readonly kernelSize: Pair;
  readonly stride: Pair;
  readonly padding: Pair;

  constructor(kernelSize: Pair, opts: AvgPool2dOptions = {}) {
    super();
    checkOptions('AvgPool2d', opts, ['stride', 'padding']);
    this.kernelSize = kernelSize;
    this.stride = opts.stride ?? kernelSize;
    this.padding = opts.padding ?? 0;
    checkPair('AvgPool2d', 'stride', this.stride);
    checkPoolPadding('AvgPool2d', kernelSize, this.padding);
  }

  override extraRepr(): string {
    return `kernelSize=${fmtPair(this.kernelSize)}, stride=${fmtPair(this.stride)}, padding=${fmtPair(this.padding)}`;
  }

  forward(x: Tensor): Tensor {
    this.checkInput(x);
    return this.guard(() => F.avgPool2d(x, this.kernelSize, { stride: this.stride, padding: this.padding }));
  }
}
