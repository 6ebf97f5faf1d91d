/**
 * @file The CPU backend's compiled elementwise kernels are keyed by expression structure: a JS
 * number operand (a 0-d tensor made by `full`) or a refilled 0-d tensor (an optimizer's lr when a
 * schedule steps) must not compile, and keep, a kernel per value.
 */
import { describe, expect, it } from 'vitest';
import { full, noGrad, optim, randn, nn } from '../src/index.ts';
import { elementwiseKernelCount } from '../src/cpu/elementwise.ts';

describe('cpu elementwise kernels: one per structure, not per value', () => {
  it('0-d fills and scalar operands with a new value each call add no kernels', () => {
    const t = full([], 1), x = randn([3]), y = randn([2, 3]).t();
    // warm: the structures once
    noGrad(() => { t.fill_(0.5); x.mul(0.5).dispose(); y.add(0.5).dispose(); });
    const before = elementwiseKernelCount();
    for (let i = 0; i < 200; i++) {
      const v = 0.25 + i * 0.0137;
      noGrad(() => t.fill_(v));
      expect(t.itemSync()).toBeCloseTo(v, 5);
      const m = x.mul(v), a = y.add(v);
      expect(m.dataSync()[1]).toBeCloseTo(x.dataSync()[1]! * v, 5);
      m.dispose();
      a.dispose();
    }
    expect(elementwiseKernelCount()).toBe(before);
  });

  it('a learning-rate schedule stepping every batch adds none either', () => {
    const model = new nn.Linear(4, 2);
    const opt = new optim.Adam(model.parameters(), { lr: 0.01 });
    const sched = new optim.CosineAnnealingLR(opt, { tMax: 1000 });
    const x = randn([5, 4]);
    const step = () => { opt.zeroGrad(); model.forward(x).sum().backward(); opt.step(); sched.step(); };
    for (let i = 0; i < 3; i++) step();
    const before = elementwiseKernelCount();
    for (let i = 0; i < 100; i++) step();
    expect(elementwiseKernelCount()).toBe(before);
  });
});
