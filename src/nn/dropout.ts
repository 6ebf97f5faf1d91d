/**
 * @file Dropout: zeroes elements with probability p while training, scaling the rest by 1/(1−p).
 * @example const drop = new Dropout(0.5); drop.eval(); // now the identity
 */
import type { Tensor } from '../tensor.ts';
import * as F from './functional.ts';
import { Module } from './module.ts';
import { checkProb } from './checks.ts';

/** Zeroes each element with probability `p` in training mode; the identity in eval mode. */
export class Dropout extends Module {
  readonly p: number;

  constructor(p = 0.5) {
    super();
    this.p = checkProb('Dropout', p);
  }

  override extraRepr(): string {
    return `p=${this.p}`;
  }

  forward(x: Tensor): Tensor {
    return F.dropout(x, this.p, this.training);
  }
}
