/**
 * @file Loss modules over nn.functional's losses: forward(input, target).
 * @example
 * const lossFn = new CrossEntropyLoss();
 * const loss = lossFn.call(logits, labels); // logits [N, C], labels [N] int32
 */
import type { Tensor } from '../tensor.ts';
import * as F from './functional.ts';
import { Module } from './module.ts';
import { checkOptions, optionValue } from '../options.ts';
import { ValueError } from '../errors.ts';

/** An ignoreIndex option: undefined or an integer. */
function checkIgnoreIndex(layer: string, v: unknown): number | undefined {
  if (v !== undefined && !Number.isInteger(v)) throw new ValueError(`${layer}: ignoreIndex must be an integer, got ${JSON.stringify(v)}`);
  return v as number | undefined;
}

type Reduction = F.Reduction;

abstract class Loss extends Module<[Tensor, Tensor], Tensor> {
  readonly reduction: Reduction;
  /** @param known the option names this loss accepts (checked, so a misspelled one is an error) */
  constructor(opts: { reduction?: Reduction }, known: readonly string[] = ['reduction']) {
    super();
    checkOptions(this.constructor.name, opts, known);
    // (checked now: 'MEAN' failed only at the first call)
    this.reduction = optionValue(this.constructor.name, opts, 'reduction', ['none', 'mean', 'sum'], "'mean'") ?? 'mean';
  }
  override extraRepr(): string {
    return this.reduction === 'mean' ? '' : `reduction='${this.reduction}'`;
  }
}

/** Mean squared error. */
export class MSELoss extends Loss {
  constructor(opts: { reduction?: Reduction } = {}) { super(opts); }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.mseLoss(input, target, { reduction: this.reduction });
  }
}

/** Mean absolute error. */
export class L1Loss extends Loss {
  constructor(opts: { reduction?: Reduction } = {}) { super(opts); }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.l1Loss(input, target, { reduction: this.reduction });
  }
}

/** Softmax cross-entropy of logits against class indices (int32) or class probabilities. */
export class CrossEntropyLoss extends Loss {
  declare weight: Tensor | null;
  readonly labelSmoothing: number;
  readonly ignoreIndex: number | undefined;
  constructor(opts: { reduction?: Reduction; weight?: Tensor | null; labelSmoothing?: number; ignoreIndex?: number } = {}) {
    super(opts, ['reduction', 'weight', 'labelSmoothing', 'ignoreIndex']);
    this.labelSmoothing = opts.labelSmoothing ?? 0;
    if (typeof this.labelSmoothing !== 'number' || !(this.labelSmoothing >= 0 && this.labelSmoothing <= 1)) {
      throw new ValueError(`CrossEntropyLoss: labelSmoothing must be a number in [0, 1], got ${JSON.stringify(opts.labelSmoothing)}`);
    }
    this.ignoreIndex = checkIgnoreIndex('CrossEntropyLoss', opts.ignoreIndex);
    this.registerBuffer('weight', opts.weight ?? null);
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.crossEntropy(input, target, {
      reduction: this.reduction, weight: this.weight, labelSmoothing: this.labelSmoothing, ...(this.ignoreIndex !== undefined ? { ignoreIndex: this.ignoreIndex } : {}),
    });
  }
}

/** Negative log-likelihood of class indices, given log-probabilities. */
export class NLLLoss extends Loss {
  declare weight: Tensor | null;
  readonly ignoreIndex: number | undefined;
  constructor(opts: { reduction?: Reduction; weight?: Tensor | null; ignoreIndex?: number } = {}) {
    super(opts, ['reduction', 'weight', 'ignoreIndex']);
    this.ignoreIndex = checkIgnoreIndex('NLLLoss', opts.ignoreIndex);
    this.registerBuffer('weight', opts.weight ?? null);
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.nllLoss(input, target, { reduction: this.reduction, weight: this.weight, ...(this.ignoreIndex !== undefined ? { ignoreIndex: this.ignoreIndex } : {}) });
  }
}

/** Binary cross-entropy of probabilities. */
export class BCELoss extends Loss {
  declare weight: Tensor | null;
  constructor(opts: { reduction?: Reduction; weight?: Tensor | null } = {}) {
    super(opts, ['reduction', 'weight']);
    this.registerBuffer('weight', opts.weight ?? null);
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.binaryCrossEntropy(input, target, { reduction: this.reduction, weight: this.weight });
  }
}

/**
 * Binary cross-entropy of logits (numerically stable). The positive-class weight is the buffer
 * `pos_weight` (PyTorch's name, so state dicts load in both directions); `posWeight` accesses it.
 */
export class BCEWithLogitsLoss extends Loss {
  declare weight: Tensor | null;
  declare pos_weight: Tensor | null;
  constructor(opts: { reduction?: Reduction; weight?: Tensor | null; posWeight?: Tensor | null } = {}) {
    super(opts, ['reduction', 'weight', 'posWeight']);
    this.registerBuffer('weight', opts.weight ?? null);
    this.registerBuffer('pos_weight', opts.posWeight ?? null);
  }
  /** the positive-class weight (buffer `pos_weight` in the state dict, as in PyTorch) */
  get posWeight(): Tensor | null { return this.pos_weight; }
  set posWeight(t: Tensor | null) { this.pos_weight = t; }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.binaryCrossEntropyWithLogits(input, target, { reduction: this.reduction, weight: this.weight, posWeight: this.posWeight });
  }
}
