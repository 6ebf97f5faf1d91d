/**
 * @file Embedding: a lookup table of learnable vectors indexed by int32 ids.
 * @example new Embedding(10, 3).call(tensor([[1, 2], [4, 9]], { dtype: 'int32' })).shape; // [2, 2, 3]
 */
import { arange, randn } from '../creation.ts';
import { DTypeError, ValueError } from '../errors.ts';
import { where } from '../ops/functional.ts';
import { noGrad } from '../tape.ts';
import type { Tensor } from '../tensor.ts';
import * as F from './functional.ts';
import type { FactoryOptions } from './linear.ts';
import { Module } from './module.ts';
import { Parameter } from './parameter.ts';
import { checkSize } from './checks.ts';
import { checkOptions } from '../options.ts';

export interface EmbeddingOptions extends FactoryOptions {
  /** this row starts at zero and gets no gradient (PyTorch's padding_idx; negative counts from the end) */
  paddingIdx?: number | null;
}

/** Rows of a [numEmbeddings, embeddingDim] weight (initialised N(0, 1)) picked by int32 indices. */
export class Embedding extends Module {
  weight: Parameter;
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  readonly paddingIdx: number | null;

  constructor(numEmbeddings: number, embeddingDim: number, opts: EmbeddingOptions = {}) {
    super();
    checkOptions('Embedding', opts, ['paddingIdx', 'dtype', 'device']);
    this.numEmbeddings = checkSize('Embedding', 'numEmbeddings', numEmbeddings);
    this.embeddingDim = checkSize('Embedding', 'embeddingDim', embeddingDim);
    let pad = opts.paddingIdx ?? null;
    if (pad !== null) {
      if (!Number.isInteger(pad) || pad < -numEmbeddings || pad >= numEmbeddings) {
        throw new ValueError(`Embedding: paddingIdx must be an integer in [${-numEmbeddings}, ${numEmbeddings - 1}], got ${pad}`);
      }
      if (pad < 0) pad += numEmbeddings;
    }
    this.paddingIdx = pad;
    this.weight = new Parameter(randn([numEmbeddings, embeddingDim], { dtype: opts.dtype ?? 'float32', device: opts.device }));
    this.resetParameters();
  }

  /** Re-draws the weight from N(0, 1) and zeroes the padding row. */
  resetParameters(): void {
    const w = this.weight, pad = this.paddingIdx;
    noGrad(() => {
      w.copy_(randn(w.shape, { dtype: w.dtype, device: w.device }));
      if (pad !== null) w.copy_(w.mul(this.rowMask(pad).logicalNot()));
    });
  }

  /** [numEmbeddings, 1] bool, true at row `i`. */
  private rowMask(i: number): Tensor {
    return arange(0, this.numEmbeddings, 1, { device: this.weight.device }).eq(i).reshape([this.numEmbeddings, 1]);
  }

  override extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}${this.paddingIdx !== null ? `, paddingIdx=${this.paddingIdx}` : ''}`;
  }

  forward(indices: Tensor): Tensor {
    if (indices.dtype !== 'int32') throw new DTypeError(`${this.label()}: expected int32 indices, got ${indices.dtype}`);
    // the padding row keeps its value but gets no gradient
    const w = this.paddingIdx === null ? this.weight : where(this.rowMask(this.paddingIdx), this.weight.detach(), this.weight);
    return this.guard(() => F.embedding(indices, w));
  }
}
