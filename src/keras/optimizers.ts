/**
 * @file Keras's optimizer names, mapped onto tapegrad's optimizers with Keras's default settings
 * (learning rates: sgd 0.01, rmsprop 0.001, adam 0.001; rmsprop ρ = 0.9 and Keras's ε = 1e-7) and
 * Keras's formulas where they differ from PyTorch's: RMSprop divides by √(v + ε), not √v + ε, and
 * Adam adds ε to √v before the bias correction (ε̂ = ε·√(1 − β₂ᵗ)). With Keras's ε = 1e-7 the
 * PyTorch forms took steps up to ~760× larger for gradients of 1e-6 (RMSprop).
 */
import { ValueError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { Optimizer } from '../optim/optimizer.ts';
import { SGD } from '../optim/sgd.ts';
import { RMSprop } from '../optim/rmsprop.ts';
import { Adam, AdamW } from '../optim/adam.ts';

export const OPTIMIZERS = ['sgd', 'rmsprop', 'adam', 'adamw'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

/** RMSprop as Keras 3 computes it: p ← p − lr·g/√(v + ε). */
class KerasRMSprop extends RMSprop {
  protected override readonly epsInsideSqrt = true;
}
/** Adam as Keras 3 computes it: p ← p − lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)·m/(√v + ε). */
class KerasAdam extends Adam {
  protected override readonly epsHat = true;
}
/** AdamW as Keras 3 computes it (Adam's ε̂, decoupled weight decay). */
class KerasAdamW extends AdamW {
  protected override readonly epsHat = true;
}

const FACTORIES: Readonly<Record<OptimizerName, (params: Tensor[]) => Optimizer>> = {
  sgd: (p) => new SGD(p, { lr: 0.01 }),
  rmsprop: (p) => new KerasRMSprop(p, { lr: 0.001, alpha: 0.9, eps: 1e-7 }),
  adam: (p) => new KerasAdam(p, { lr: 0.001, betas: [0.9, 0.999], eps: 1e-7 }),
  adamw: (p) => new KerasAdamW(p, { lr: 0.001, betas: [0.9, 0.999], eps: 1e-7, weightDecay: 0.004 }),
};

/** Resolves compile's `optimizer` option for a model's parameters. */
export function makeOptimizer(spec: unknown, params: Tensor[]): Optimizer {
  if (params.length === 0) throw new ValueError('compile: the model has no parameters to train (add a Dense or Conv2D layer)');
  let opt: unknown;
  if (typeof spec === 'string') {
    const make = Object.hasOwn(FACTORIES, spec.toLowerCase()) ? FACTORIES[spec.toLowerCase() as OptimizerName] : undefined;
    if (!make) throw new ValueError(`compile: unknown optimizer ${JSON.stringify(spec)}; expected one of ${OPTIMIZERS.map((o) => `'${o}'`).join(', ')}, an Optimizer such as new optim.SGD(model.parameters(), {lr: 0.1}), or a function (params) => Optimizer`);
    opt = make(params);
  } else if (typeof spec === 'function') {
    opt = (spec as (p: Tensor[]) => unknown)(params);
  } else opt = spec;
  if (!(opt instanceof Optimizer)) {
    throw new ValueError(`compile: optimizer must be one of ${OPTIMIZERS.map((o) => `'${o}'`).join(', ')}, an Optimizer or a function returning one, got ${opt === null ? 'null' : typeof opt}`);
  }
  const held = new Set(opt.paramGroups.flatMap((g) => g.params));
  const missing = params.filter((p) => !held.has(p)).length;
  if (missing > 0) {
    throw new ValueError(`compile: the optimizer does not hold ${missing} of the model's ${params.length} parameters; build it from model.parameters() after adding every layer`);
  }
  return opt;
}
