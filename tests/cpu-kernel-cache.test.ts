/**
 * @file The CPU backend's compiled elementwise kernels are keyed by expression structure: a JS
 * number operand (a 0-d tensor made by `full`) or a refilled 0-d tensor (an optimizer's lr when a
 * schedule steps) must not compile, and keep, a kernel per value.
 */
import { describe, expect, it } from 'vitest';
import { full, manualSeed, noGrad, optim, rand, randn, randint, nn } from '../src/index.ts';
import { elementwiseKernelCount, runElementwise } from '../src/cpu/elementwise.ts';
import { E } from '../src/ops/expr.ts';

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

  it('random tensors and dropout masks read their seeds at run time: no kernel per call, the same streams', () => {
    const x = randn([300]);
    const draw = () => [rand([300]).dataSync()[17]!, randn([40]).dataSync()[3]!, randint(0, 9, [50]).dataSync()[7]!, nn.functional.dropout(x, 0.3, true).dataSync()[5]!];
    manualSeed(5);
    draw();
    const before = elementwiseKernelCount();
    const seen = new Set<number>();
    for (let i = 0; i < 30; i++) seen.add(draw()[0]!);
    expect(elementwiseKernelCount()).toBe(before);
    expect(seen.size).toBe(30); // every call a new stream
    manualSeed(5);
    const a = draw();
    manualSeed(5);
    expect(draw()).toEqual(a); // seeded streams unchanged
  });

  it('constants read at run time keep their places: a shared node and two equal-looking ones', () => {
    const run = (e: ReturnType<typeof E.const>) => {
      const out = new Float32Array(4);
      runElementwise(e, [4], { data: out, offset: 0, strides: [1] }, []);
      return Array.from(out);
    };
    const c = E.const(0.3, 'float32');
    expect(run(E.bin('add', c, c))).toEqual(Array(4).fill(Math.fround(Math.fround(0.3) + Math.fround(0.3))));
    expect(run(E.bin('add', E.const(0.3, 'float32'), E.const(0.7, 'float32')))).toEqual(Array(4).fill(Math.fround(Math.fround(0.3) + Math.fround(0.7))));
    expect(run(E.bin('add', c, c))).toEqual(Array(4).fill(Math.fround(0.6)));
  });
});
