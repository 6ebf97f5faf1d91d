import { describe, expect, it } from 'vitest';
import { manualSeed, ShapeError, tensor, Tensor, zeros, ValueError } from '../src/index.ts';
import { init, Parameter } from '../src/nn/index.ts';

function stats(t: Tensor) {
  const v = Array.from(t.dataSync());
  const mean = v.reduce((a, x) => a + x, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, x) => a + (x - mean) ** 2, 0) / v.length);
  return { mean, std, min: v.reduce((a, x) => Math.min(a, x), Infinity), max: v.reduce((a, x) => Math.max(a, x), -Infinity) };
}
// 200 000 samples: the sample std is within ~0.3% of the true std (3σ), the mean within ~0.007·std
const SHAPE = [400, 500] as const; // fanIn 500, fanOut 400

describe('nn.init', () => {
  it('calculateGain and fans follow PyTorch', () => {
    expect(init.calculateGain('linear')).toBe(1);
    expect(init.calculateGain('sigmoid')).toBe(1);
    expect(init.calculateGain('tanh')).toBeCloseTo(5 / 3);
    expect(init.calculateGain('relu')).toBeCloseTo(Math.SQRT2);
    expect(init.calculateGain('leakyRelu')).toBeCloseTo(Math.sqrt(2 / (1 + 0.01 ** 2)));
    expect(init.calculateGain('leaky_relu', 0.2)).toBeCloseTo(Math.sqrt(2 / 1.04));
    expect(init.calculateGain('selu')).toBe(0.75);
    expect(() => init.calculateGain('swish' as never)).toThrow(ValueError);
    expect(init.calculateFanInAndFanOut(zeros([16, 6, 5, 5]))).toEqual({ fanIn: 150, fanOut: 400 });
    expect(() => init.calculateFanInAndFanOut(zeros([3]))).toThrow(ShapeError);
  });

  it('uniform_ and normal_ have the asked-for range and moments', () => {
    manualSeed(0);
    const u = stats(init.uniform_(zeros([...SHAPE]), -2, 4));
    expect(u.min).toBeGreaterThanOrEqual(-2);
    expect(u.max).toBeLessThan(4);
    expect(u.mean).toBeCloseTo(1, 1);
    expect(u.std).toBeCloseTo(6 / Math.sqrt(12), 2);
    const n = stats(init.normal_(zeros([...SHAPE]), 3, 0.5));
    expect(n.mean).toBeCloseTo(3, 2);
    expect(n.std).toBeCloseTo(0.5, 2);
  });

  it('xavier: bound gain·√(6/(fanIn+fanOut)), std gain·√(2/(fanIn+fanOut))', () => {
    manualSeed(1);
    const a = Math.sqrt(6 / 900);
    const xu = stats(init.xavierUniform_(zeros([...SHAPE])));
    expect(xu.max).toBeLessThanOrEqual(a);
    expect(xu.min).toBeGreaterThanOrEqual(-a);
    expect(xu.std / (a / Math.sqrt(3))).toBeCloseTo(1, 2);
    const xn = stats(init.xavierNormal_(zeros([...SHAPE]), 2));
    expect(xn.std / (2 * Math.sqrt(2 / 900))).toBeCloseTo(1, 2);
    expect(Math.abs(xn.mean)).toBeLessThan(0.01 * xn.std + 1e-4);
  });

  it('kaiming: std gain/√fan, uniform bound √3·std, fanIn or fanOut', () => {
    manualSeed(2);
    const kn = stats(init.kaimingNormal_(zeros([...SHAPE]), { nonlinearity: 'relu' }));
    expect(kn.std / Math.sqrt(2 / 500)).toBeCloseTo(1, 2);
    const ko = stats(init.kaimingNormal_(zeros([...SHAPE]), { mode: 'fanOut', nonlinearity: 'relu' }));
    expect(ko.std / Math.sqrt(2 / 400)).toBeCloseTo(1, 2);
    // PyTorch's Linear default: a = √5 → gain √(2/6), bound = gain·√(3/fanIn) = 1/√fanIn
    const ku = stats(init.kaimingUniform_(zeros([...SHAPE]), { a: Math.sqrt(5) }));
    expect(ku.max).toBeLessThanOrEqual(1 / Math.sqrt(500));
    expect(ku.min).toBeGreaterThanOrEqual(-1 / Math.sqrt(500));
    expect(ku.max).toBeGreaterThan(0.99 / Math.sqrt(500));
    expect(() => init.kaimingUniform_(zeros([2, 2]), { mode: 'fanSideways' as never })).toThrow(/fanIn' or 'fanOut/);
  });

  it('constant_, zeros_, ones_, eye_', () => {
    expect(init.constant_(zeros([2]), 0.5).toArraySync()).toEqual([0.5, 0.5]);
    expect(init.ones_(zeros([2])).toArraySync()).toEqual([1, 1]);
    expect(init.zeros_(tensor([3, 4])).toArraySync()).toEqual([0, 0]);
    expect(init.eye_(zeros([2, 3])).toArraySync()).toEqual([[1, 0, 0], [0, 1, 0]]);
  });

  it('works on parameters (under noGrad) and records no graph', () => {
    const p = new Parameter(zeros([3, 4]));
    init.xavierUniform_(p);
    expect(p.isLeaf).toBe(true);
    expect(p.gradFn).toBeNull();
    expect(p.requiresGrad).toBe(true);
  });

  it('is deterministic under manualSeed', () => {
    manualSeed(42);
    const a = init.kaimingNormal_(zeros([10, 10])).toArraySync();
    manualSeed(42);
    const b = init.kaimingNormal_(zeros([10, 10])).toArraySync();
    expect(a).toEqual(b);
    expect(init.kaimingNormal_(zeros([10, 10])).toArraySync()).not.toEqual(a);
  });

  it('refuses integer tensors for random init', () => {
    expect(() => init.normal_(zeros([2], { dtype: 'int32' }))).toThrow(/floating-point/);
  });
});

describe('init arguments are checked (a misspelt option fell back to the default gain)', () => {
  it('kaiming refuses unknown options; gains and bounds must be numbers', () => {
    const w = zeros([3, 300]);
    expect(() => init.kaimingUniform_(w, { nonlinerity: 'tanh' } as never)).toThrow(/^kaimingUniform_: unknown option 'nonlinerity' \(did you mean 'nonlinearity'\?\)/);
    expect(() => init.kaimingNormal_(w, { fanMode: 'fanOut' } as never)).toThrow(/^kaimingNormal_: unknown option 'fanMode'/);
    expect(() => init.kaimingNormal_(w, { a: 'x' } as never)).toThrow(/^kaimingNormal_: a must be a number/);
    expect(() => init.xavierUniform_(w, { gain: 2 } as never)).toThrow(/^xavierUniform_: gain must be a number, got \{"gain":2\}/);
    expect(() => init.xavierNormal_(w, NaN)).toThrow(/^xavierNormal_: gain must be a number/);
    expect(() => init.uniform_(w, 0, '1' as never)).toThrow(/^uniform_: b must be a number/);
    expect(() => init.constant_(w, undefined as never)).toThrow(/^constant_: value must be a number/);
    init.kaimingUniform_(w, { nonlinearity: 'tanh' });
    const bound = (5 / 3) * Math.sqrt(3 / 300);
    expect(Math.max(...Array.from(w.dataSync()).map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...Array.from(w.dataSync()).map(Math.abs))).toBeGreaterThan(0.9 * bound);
  });
});
