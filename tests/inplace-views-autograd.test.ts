/**
 * @file In-place writes into views while gradients are recorded: the viewed tensor's gradient
 * reaches the written values inside the view and its old history outside it (PyTorch's
 * CopySlices), eagerly and inside jit, matching the same program written out of place.
 */
import { describe, expect, it } from 'vitest';
import { cat, grad, noGrad, tensor, type Tensor } from '../src/index.ts';
import { jit } from '../src/jit/index.ts';

const arr = (t: Tensor | null | undefined) => t!.toArraySync();
const weights = tensor([1, 10, 100]);

describe('in-place writes into views carry gradients to the viewed tensor', () => {
  it('a slice of an intermediate scaled in place: the base sees the write', () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    const y = x.mul(1);
    y.index([0, 2]).mul_(3);
    expect(arr(y)).toEqual([3, 6, 3]);
    y.mul(weights).sum().backward();
    // out of place: [3x₀, 3x₁, x₂]·w
    expect(arr(x.grad)).toEqual([3, 30, 100]);
  });

  it('a copy into a column through t(): old values outside, the source inside', () => {
    const x = tensor([[1, 2], [3, 4]], { requiresGrad: true });
    const w = tensor([5, 6], { requiresGrad: true });
    const y = x.mul(2);
    y.t().index(0).copy_(w);
    expect(arr(y)).toEqual([[5, 4], [6, 8]]);
    const [gx, gw] = grad(y.mul(tensor([[1, 2], [3, 4]])).sum(), [x, w]);
    expect(arr(gx)).toEqual([[0, 4], [0, 8]]);
    expect(arr(gw)).toEqual([1, 3]);
  });

  it('a tensor without grad written with a value that has one starts to require grad', () => {
    const w = tensor([5, 6], { requiresGrad: true });
    const z = tensor([0, 0, 0, 0]);
    z.index([1, 3]).copy_(w.mul(2));
    expect(z.requiresGrad).toBe(true);
    const [gw] = grad(z.mul(tensor([1, 2, 3, 4])).sum(), [w]);
    expect(arr(gw)).toEqual([4, 6]);
  });

  it('a constant written into a view stops the gradient there (zero_, fill_)', () => {
    const x = tensor([1, 2, 3, 4], { requiresGrad: true });
    const y = x.mul(3);
    y.index([1, 3]).zero_();
    y.reshape(2, 2).index(1, [1, 2]).fill_(7);
    expect(arr(y)).toEqual([3, 0, 0, 7]);
    y.sum().backward();
    expect(arr(x.grad)).toEqual([3, 0, 0, 0]);
  });

  it('equals the out-of-place program, values and gradients, eagerly and compiled', () => {
    // (add_, whose backward needs neither operand: a write into a tensor that an op saved would
    // be refused at backward by the version check, as in PyTorch)
    const inPlace = (x: Tensor) => {
      const y = x.mul(x).add(1);
      y.reshape(2, 3).index(null, [1, 3]).add_(x.reshape(2, 3).index(null, [0, 2]).exp());
      return y.mul(tensor([1, 2, 3, 4, 5, 6])).sum();
    };
    const outOfPlace = (x: Tensor) => {
      const e = x.mul(x).add(1).reshape(2, 3), xs = x.reshape(2, 3);
      const y = cat([e.index(null, [0, 1]), e.index(null, [1, 3]).add(xs.index(null, [0, 2]).exp())], 1).reshape(6);
      return y.mul(tensor([1, 2, 3, 4, 5, 6])).sum();
    };
    const x0 = [0.1, -0.2, 0.3, 0.4, -0.5, 0.6];
    const gradOf = (f: (x: Tensor) => Tensor) => (x: Tensor) => {
      const l = f(x);
      return [l, grad(l, [x])[0]!];
    };
    const want = gradOf(outOfPlace)(tensor(x0, { requiresGrad: true }));
    const eager = gradOf(inPlace)(tensor(x0, { requiresGrad: true }));
    const compiled = jit(gradOf(inPlace), { eagerFirstCall: false })(tensor(x0, { requiresGrad: true }));
    for (const got of [eager, compiled]) {
      expect(got[0]!.itemSync()).toBeCloseTo(want[0]!.itemSync(), 5);
      (arr(got[1]!) as number[]).forEach((v, i) => expect(v).toBeCloseTo((arr(want[1]!) as number[])[i]!, 5));
    }
  });

  it('writes through a detach() stay outside autograd; views of a leaf that requires grad are refused', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const y = x.mul(2);
    y.detach().index([0, 1]).fill_(9);
    expect(arr(y)).toEqual([9, 4]);
    y.sum().backward();
    expect(arr(x.grad)).toEqual([2, 2]);
    expect(() => x.index([0, 1]).mul_(3)).toThrow(/view of a leaf tensor that requires grad/);
    expect(() => jit((p: Tensor) => p.index([0, 1]).mul_(3), { eagerFirstCall: false })(tensor([1, 2], { requiresGrad: true })))
      .toThrow(/view of a leaf tensor that requires grad/);
  });
});

describe('views taken before a write into the elements they share (PyTorch regenerates their grad_fn)', () => {
  // each program: a view made first, then a write into the same elements elsewhere, then the view used
  const overlapping = (x: Tensor) => {
    const y = x.mul(1);
    const v1 = y.slice(0, 0, 2);
    y.slice(0, 1, 3).mul_(3);
    return v1.mul(tensor([1, 10])).sum();
  };
  const throughBase = (x: Tensor) => {
    const y = x.mul(1);
    const v = y.reshape(2, 2).t();
    y.mul_(2);
    return v.mul(tensor([[1, 10], [100, 1000]])).sum();
  };
  const disjoint = (x: Tensor) => {
    const y = x.mul(1);
    const v = y.index([0, 2]);
    y.index([2, 4]).mul_(5);
    return v.mul(tensor([1, 10])).sum().add(y.sum());
  };
  const cases: [string, (x: Tensor) => Tensor, number[], number[]][] = [
    // v1 = [x₀, 3x₁]: d/dx = [1, 30, 0, 0]
    ['overlapping slices', overlapping, [1, 2, 3, 4], [1, 30, 0, 0]],
    // v = 2·[[x₀, x₂], [x₁, x₃]]: d/dx = 2·[1, 100, 10, 1000]
    ['a view of the base, the base written', throughBase, [1, 2, 3, 4], [2, 200, 20, 2000]],
    // v = [x₀, x₁] (its elements unwritten), plus Σ y with y₂, y₃ scaled by 5
    ['a view whose own elements stay unwritten', disjoint, [1, 2, 3, 4], [2, 11, 5, 5]],
  ];
  for (const [name, f, x0, want] of cases) {
    it(`${name}: the gradient follows the write, eagerly and compiled`, () => {
      const g = (x: Tensor) => grad(f(x), [x])[0]!;
      expect(arr(g(tensor(x0, { requiresGrad: true })))).toEqual(want);
      expect(arr(jit(g, { eagerFirstCall: false })(tensor(x0, { requiresGrad: true })))).toEqual(want);
    });
  }

  it('a view of a tensor that starts to require grad through a write requires grad too', () => {
    const w = tensor([5, 6, 7], { requiresGrad: true });
    const z = tensor([1, 1, 1]);
    const v = z.slice(0, 1, 3);
    expect(v.requiresGrad).toBe(false);
    z.mul_(w);
    expect(v.requiresGrad).toBe(true);
    expect(v.gradFn).not.toBeNull();
    v.mul(tensor([2, 3])).sum().backward();
    expect(arr(w.grad)).toEqual([0, 2, 3]);
  });

  it('a view taken without gradients stays outside autograd after the write', () => {
    const w = tensor([5, 6], { requiresGrad: true });
    const z = tensor([1, 1]);
    const v = noGrad(() => z.slice(0, 0, 1));
    z.mul_(w);
    expect(v.requiresGrad).toBe(false);
    expect(v.gradFn).toBeNull();
  });

  it('detach_() of a view that requires grad is refused (PyTorch too); of a view without grad it holds', () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    const y = x.mul(1);
    expect(() => y.slice(0, 0, 2).detach_()).toThrow(/views cannot be detached in place, use detach\(\) instead/);
    const z = tensor([1, 2, 3]);
    const v = z.slice(0, 0, 2).detach_();
    z.mul_(x);
    expect(v.requiresGrad).toBe(false);
  });

  it('writes without gradients leave the view\'s gradient as before (an optimizer step between uses)', () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    const y = x.mul(2);
    const v = y.slice(0, 0, 2);
    noGrad(() => y.add_(1));
    v.sum().backward();
    expect(arr(x.grad)).toEqual([2, 2, 0]);
  });
});

describe('in-place ops whose backward needs the old values (PyTorch saves original_self)', () => {
  const setup = () => ({ x: tensor([1, 2, 3], { requiresGrad: true }), z: tensor([4, 5, 6], { requiresGrad: true }) });

  it('mul_ and div_ by a tensor that requires grad', () => {
    let { x, z } = setup();
    let y = x.mul(2);
    y.mul_(z);
    y.sum().backward();
    expect([arr(x.grad), arr(z.grad)]).toEqual([[8, 10, 12], [2, 4, 6]]);
    ({ x, z } = setup());
    y = x.mul(2);
    y.div_(z);
    y.sum().backward();
    // d(2x/z)/dx = 2/z, d/dz = −2x/z²
    (arr(x.grad) as number[]).forEach((v, i) => expect(v).toBeCloseTo(2 / [4, 5, 6][i]!, 6));
    (arr(z.grad) as number[]).forEach((v, i) => expect(v).toBeCloseTo(-2 * (i + 1) / [4, 5, 6][i]! ** 2, 6));
  });

  it('lerp_ with a weight that requires grad, and the same step compiled', () => {
    const f = (x: Tensor, w: Tensor) => {
      const y = x.mul(2);
      y.lerp_(tensor([0, 0, 0]), w);
      const [gx, gw] = grad(y.sum(), [x, w]);
      return [gx!, gw!];
    };
    const args = () => [tensor([1, 2, 3], { requiresGrad: true }), tensor([0.25], { requiresGrad: true })] as const;
    for (const [gx, gw] of [f(...args()), jit(f, { eagerFirstCall: false })(...args())]) {
      expect(arr(gx)).toEqual([1.5, 1.5, 1.5]);
      expect(arr(gw)).toEqual([-12]);
    }
  });

  it('a write into a tensor an earlier op saved is still refused at backward (exp saves its result)', () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    const y = x.exp();
    y.mul_(2);
    expect(() => y.sum().backward()).toThrow(/output of 'exp'.*modified by an in-place operation/);
  });
});
