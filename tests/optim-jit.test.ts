// The optimizers under jit: a whole training step (forward, backward, clipGradNorm_, step, with
// BatchNorm's running statistics) traces to in-place updates of parameters and optimizer state and
// gives the eager result. Adam's step count is a tensor, so its bias correction stays right on
// every compiled call (a JS number would be frozen at trace time).
import { describe, expect, it } from 'vitest';
import { manualSeed, randn, tensor, Tensor } from '../src/index.ts';
import { jit } from '../src/jit/index.ts';
import { BatchNorm1d, functional as F, Linear, ReLU, Sequential } from '../src/nn/index.ts';
import { Adam, AdamW, clipGradNorm_, Optimizer, RMSprop, SGD, type BaseOptions } from '../src/optim/index.ts';

const makers: [string, (ps: Tensor[]) => Optimizer<BaseOptions>][] = [
  ['SGD', (ps) => new SGD(ps, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 })],
  ['RMSprop', (ps) => new RMSprop(ps, { lr: 0.01, momentum: 0.5, centered: true })],
  ['Adam', (ps) => new Adam(ps, { lr: 0.05, amsgrad: true })],
  ['AdamW', (ps) => new AdamW(ps, { lr: 0.05 })],
];

function train(make: (ps: Tensor[]) => Optimizer<BaseOptions>, useJit: boolean): number[] {
  manualSeed(3);
  const model = new Sequential(new Linear(4, 8), new ReLU(), new BatchNorm1d(8), new Linear(8, 3));
  const x = randn([16, 4]), y = tensor(Array.from({ length: 16 }, (_, i) => i % 3), { dtype: 'int32' });
  const opt = make(model.parameters());
  const stepFn = (xx: Tensor, yy: Tensor) => {
    opt.zeroGrad();
    const loss = F.crossEntropy(model.forward(xx), yy);
    loss.backward();
    clipGradNorm_(model.parameters(), 1);
    opt.step();
    return loss;
  };
  const step = useJit ? jit(stepFn) : stepFn;
  const losses: number[] = [];
  for (let i = 0; i < 5; i++) losses.push(step(x, y).itemSync());
  const state = Object.values(model.stateDict()).flatMap((t) => Array.from(t.dataSync()));
  return [...losses, ...state];
}

describe('optimizers under jit', () => {
  for (const [name, make] of makers) {
    it(`${name}: 5 jitted steps equal 5 eager steps`, () => {
      const eager = train(make, false), jitted = train(make, true);
      expect(jitted.length).toBe(eager.length);
      jitted.forEach((v, i) => expect(Math.abs(v - eager[i]!)).toBeLessThan(1e-6));
      // training did something
      expect(eager[4]!).toBeLessThan(eager[0]!);
    });
  }
});
