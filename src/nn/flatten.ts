/**
 * @file Flatten: merges dims startDim..endDim (by default every dim but the batch dim).
 * @example new Flatten().call(randn([64, 16, 4, 4])).shape; // [64, 256]
 */
import type { Tensor } from '../tensor.ts';
import { Module } from './module.ts';
import { checkDim } from './checks.ts';

/** Merges dims startDim..endDim into one (default 1..−1: keeps the batch dim). */
export class Flatten extends Module {
  readonly startDim: number;
  readonly endDim: number;

  constructor(startDim = 1, endDim = -1) {
    super();
    this.startDim = checkDim('Flatten', 'startDim', startDim);
    this.endDim = checkDim('Flatten', 'endDim', endDim);
  }

  override extraRepr(): string {
    return `startDim=${this.startDim}, endDim=${this.endDim}`;
  }

  forward(x: Tensor): Tensor {
    return this.guard(() => x.flatten(this.startDim, this.endDim));
  }
}
