/**
 * @file The classification training step the suites compare eagerly and compiled: zero the
 * gradients, forward, cross-entropy, backward, optimizer step — as a user writes it.
 */
import type { Tensor } from '../../src/index.ts';
import { jit, type JitOptions } from '../../src/jit/index.ts';
import { functional as F } from '../../src/nn/index.ts';

/** The step over `model` and `opt`, compiled by `jit` when `useJit` (with `opts`). */
export function classifierStep(
  model: { forward(x: Tensor): Tensor }, opt: { zeroGrad(): void; step(): void }, useJit: boolean, opts?: JitOptions,
): (x: Tensor, y: Tensor) => Tensor {
  const body = (x: Tensor, y: Tensor): Tensor => {
    opt.zeroGrad();
    const loss = F.crossEntropy(model.forward(x), y);
    loss.backward();
    opt.step();
    return loss;
  };
  return useJit ? jit(body, opts) : body;
}
