import { describe, expect, it } from 'vitest';
import {
  AutogradError, DTypeError, cat, enableGrad, fromTypedArray, grad, isGradEnabled, noGrad, ones, pad, stack, tensor, zeros, randn, manualSeed,
  type Tensor,
} from 'tapegrad';

describe('backward and .grad', () => {
  it('accumulates into leaves across calls, summing over broadcasts', () => {
    const w = tensor([1, 2, 3], { requiresGrad: true });
    const b = tensor(0.5, { requiresGrad: true });
    const y = w.mul(w).add(b).sum(); // d/dw = 2w, d/db = 3
    y.backward();
    expect(w.grad!.toArraySync()).toEqual([2, 4, 6]);
    expect(b.grad!.itemSync()).toBe(3);
    w.mul(3).sum().backward();
    expect(w.grad!.toArraySync()).toEqual([5, 7, 9]);
    expect(w.isLeaf).toBe(true);
    expect(y.isLeaf).toBe(false);
  });
  it('relu passes no gradient where it is off, even an infinite or NaN one (as PyTorch)', () => {
    const x = tensor([-1, 0, 2, -3, 4], { requiresGrad: true });
    x.relu().backward(tensor([Infinity, NaN, 5, -Infinity, NaN]));
    expect(Array.from(x.grad!.dataSync())).toEqual([0, 0, 5, 0, NaN]);
  });

  it('takes an explicit gradient for non-scalar outputs', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    x.mul(x).backward(tensor([1, 10]));
    expect(x.grad!.toArraySync()).toEqual([2, 40]);
  });
  it('retainGrad keeps a non-leaf gradient', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const h = x.mul(2).retainGrad();
    h.mul(h).sum().backward();
    expect(h.grad!.toArraySync()).toEqual([4, 8]);
    expect(x.grad!.toArraySync()).toEqual([8, 16]);
  });
  it('detach cuts the graph; noGrad records nothing; enableGrad re-enables', () => {
    const x = tensor([3], { requiresGrad: true });
    expect(x.detach().requiresGrad).toBe(false);
    const y = noGrad(() => x.mul(2));
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
    noGrad(() => {
      expect(isGradEnabled()).toBe(false);
      const z = enableGrad(() => x.mul(2));
      expect(z.requiresGrad).toBe(true);
    });
    expect(isGradEnabled()).toBe(true);
    expect(() => noGrad((async () => 1) as never)).toThrow(TypeError);
  });
  it('shares a gradient between the uses of a tensor (diamond graph)', () => {
    const x = tensor([2], { requiresGrad: true });
    const a = x.mul(3), b = x.pow(2);
    a.mul(b).sum().backward(); // d(3x³)/dx = 9x² = 36
    expect(x.grad!.itemSync()).toBe(36);
  });
});

describe('grad()', () => {
  it('returns gradients without touching .grad', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const [g] = grad(x.pow(3).sum(), [x]);
    expect(g!.toArraySync()).toEqual([3, 12]);
    expect(x.grad).toBeNull();
  });
  it('gradOutputs, several inputs, allowUnused', () => {
    const x = tensor([1, 2], { requiresGrad: true }), y = tensor([3, 4], { requiresGrad: true });
    const u = tensor([5], { requiresGrad: true });
    const [gx, gy, gu] = grad(x.mul(y), [x, y, u], { gradOutputs: [tensor([1, 2])], allowUnused: true });
    expect(gx!.toArraySync()).toEqual([3, 8]);
    expect(gy!.toArraySync()).toEqual([1, 4]);
    expect(gu).toBeNull();
    expect(() => grad(x.mul(2).sum(), [u])).toThrow(AutogradError);
  });
  it('gradients with respect to intermediate tensors', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const h = x.mul(2);
    const [gh] = grad(h.pow(2).sum(), [h]);
    expect(gh!.toArraySync()).toEqual([4, 8]);
  });
  it('higher-order: Hessian-vector products of sum(x³), sum(sigmoid(x)·x) and a logistic cost', () => {
    const x = tensor([0.5, -1, 2], { dtype: 'float64', requiresGrad: true });
    const v = tensor([1, 0.5, -2], { dtype: 'float64' });
    // sum(x³): H = diag(6x)
    const [g1] = grad(x.pow(3).sum(), [x], { createGraph: true });
    const [hv1] = grad(g1!.mul(v).sum(), [x]);
    expect(hv1!.toArraySync()).toEqual([3, -3, -24]);
    // sum(σ(x)x): d/dx = σ + xσ(1−σ); d² = 2σ(1−σ) + xσ(1−σ)(1−2σ)
    const [g2] = grad(x.sigmoid().mul(x).sum(), [x], { createGraph: true });
    const [hv2] = grad(g2!.mul(v).sum(), [x]);
    const xs = [0.5, -1, 2], vs = [1, 0.5, -2];
    const expected = xs.map((xi, i) => {
      const s = 1 / (1 + Math.exp(-xi));
      return (2 * s * (1 - s) + xi * s * (1 - s) * (1 - 2 * s)) * vs[i]!;
    });
    (hv2!.toArraySync() as number[]).forEach((h, i) => expect(h).toBeCloseTo(expected[i]!, 12));
  });
  it('higher-order on the tutorial logistic-regression cost matches finite differences of the gradient', () => {
    manualSeed(3);
    const X = randn([6, 3], { dtype: 'float64' });
    const Y = tensor([1, 0, 1, 1, 0, 0], { dtype: 'float64' });
    const cost = (w: typeof X, b: typeof X) => {
      const p = X.matmul(w).add(b).neg().exp().add(1).reciprocal();
      const xent = Y.neg().mul(p.log()).sub(Y.neg().add(1).mul(p.neg().add(1).log()));
      return xent.mean().add(w.pow(2).sum().mul(0.01));
    };
    const w0 = [0.3, -0.2, 0.1], v = [0.7, -0.4, 1.1];
    const gradAt = (wv: number[]) => {
      const w = tensor(wv, { dtype: 'float64', requiresGrad: true });
      return grad(cost(w, tensor(0.1, { dtype: 'float64' })), [w])[0]!.toArraySync() as number[];
    };
    const w = tensor(w0, { dtype: 'float64', requiresGrad: true });
    const [g] = grad(cost(w, tensor(0.1, { dtype: 'float64' })), [w], { createGraph: true });
    const [hv] = grad(g!.mul(tensor(v, { dtype: 'float64' })).sum(), [w]);
    const eps = 1e-5;
    const gp = gradAt(w0.map((x, i) => x + eps * v[i]!)), gm = gradAt(w0.map((x, i) => x - eps * v[i]!));
    (hv!.toArraySync() as number[]).forEach((h, i) => expect(h).toBeCloseTo((gp[i]! - gm[i]!) / (2 * eps), 7));
  });
});

describe('autograd errors', () => {
  it('requiresGrad on an integer tensor is a DTypeError', () => {
    expect(() => tensor([1], { dtype: 'int32', requiresGrad: true })).toThrow(DTypeError);
    expect(() => tensor([1], { dtype: 'int32', requiresGrad: true })).toThrow(/int32/);
  });
  it('backward on a non-scalar without a gradient names the shape', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    expect(() => x.mul(2).backward()).toThrow(AutogradError);
    expect(() => x.mul(2).backward()).toThrow(/scalar.*\[2\]/);
    expect(() => tensor([1]).sum().backward()).toThrow(/does not require grad/);
  });
  it('a second backward after buffers were released is an error', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const y = x.mul(x).sum();
    y.backward();
    expect(() => y.backward()).toThrow(/second time/);
  });
  it('retainGraph keeps buffers for another backward', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const y = x.mul(x).sum();
    y.backward(undefined, { retainGraph: true });
    y.backward();
    expect(x.grad!.toArraySync()).toEqual([4, 8]);
  });
  it('using a saved tensor modified in place names the op and the tensor, and leaves .grad untouched', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const h = x.mul(2);
    const y = h.mul(h).sum();
    h.add_(1);
    expect(() => y.backward()).toThrow(AutogradError);
    expect(() => y.backward()).toThrow(/'mul'.*shape \[2\].*modified by an in-place/);
    expect(x.grad).toBeNull();
  });
  it('in-place on a leaf that requires grad is refused under grad mode, allowed under noGrad', () => {
    const w = tensor([1, 2], { requiresGrad: true });
    expect(() => w.add_(1)).toThrow(AutogradError);
    noGrad(() => w.sub_(tensor([0.5, 0.5])));
    expect(w.toArraySync()).toEqual([0.5, 1.5]);
    expect(w.requiresGrad).toBe(true);
  });
  it('in-place ops on non-leaves stay differentiable', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const h = x.add(0);
    h.mul_(3);
    h.sum().backward();
    expect(x.grad!.toArraySync()).toEqual([3, 3]);
  });
});

describe('deep graphs', () => {
  it('backpropagates through 100,000 ops without stack overflow', () => {
    const x = tensor([1], { requiresGrad: true, dtype: 'float64' });
    let y = x;
    for (let i = 0; i < 100_000; i++) y = y.add(1e-6);
    y.sum().backward();
    expect(x.grad!.itemSync()).toBe(1);
  });
  it('frees nothing globally: a graph dies with its tensors', () => {
    const x = zeros([2], { requiresGrad: true });
    const y = x.mul(ones([2]));
    expect(y.gradFn!.id).toBeGreaterThan(0);
  });
});

describe('leaf gradients', () => {
  it('each leaf owns its .grad storage, even when a rule hands the same tensor to two operands', () => {
    const a = tensor([1, 2], { requiresGrad: true }), b = tensor([3, 4], { requiresGrad: true });
    a.add(b).sum().backward();
    a.grad!.mul_(2);
    expect(a.grad!.toArraySync()).toEqual([2, 2]);
    expect(b.grad!.toArraySync()).toEqual([1, 1]);
    const g = tensor([5, 6]);
    const c = tensor([0, 0], { requiresGrad: true });
    c.add(0).backward(g);
    c.grad!.zero_();
    expect(g.toArraySync()).toEqual([5, 6]);
  });
});

describe('integer results', () => {
  it('do not require grad, so casting a differentiable tensor to int works', () => {
    const x = tensor([1.5, -2.5], { requiresGrad: true });
    const i = x.int();
    expect(i.requiresGrad).toBe(false);
    expect(i.toArraySync()).toEqual([1, -2]);
    expect(x.gt(0).requiresGrad).toBe(false);
  });
});

describe('matmul gradients of a transposed operand (computed in its layout)', () => {
  it("x·Wᵀ (a Linear layer): W.grad, computed as g'ᵀx, has the bits of (xᵀ g)ᵀ", () => {
    const x = randn([33, 70]), w = randn([20, 70], { requiresGrad: true }), g = randn([33, 20]);
    x.matmul(w.t()).backward(g);
    const ref = x.t().matmul(g).t().contiguous().dataSync();
    expect(Array.from(w.grad!.dataSync())).toEqual(Array.from(ref));
  });
  it('a transposed left operand gets its gradient the same way, with the same bits', () => {
    const a = randn([70, 33], { requiresGrad: true }), b = randn([70, 20]), g = randn([33, 20]);
    a.t().matmul(b).backward(g);
    expect(Array.from(a.grad!.dataSync())).toEqual(Array.from(g.matmul(b.t()).t().contiguous().dataSync()));
  });
});

describe('PyTorch parity of edge cases (each was silently different)', () => {
  const o = { dtype: 'float64' as const, requiresGrad: true }, d = { dtype: 'float64' as const };
  const A = (t: { toArraySync(): unknown } | null) => (t ? t.toArraySync() : t);

  it('copy_ and fill_ from a tensor that requires grad: the destination gets a node of its own', () => {
    const w = tensor([1, 2], o);
    const y = zeros([2], d);
    y.copy_(w);
    expect(y.isLeaf).toBe(false);
    y.mul(tensor([3, 4], d)).sum().backward();
    expect(A(w.grad)).toEqual([3, 4]);
    expect(y.grad).toBeNull();
    // a non-leaf source keeps its own retained gradient
    const a = tensor([1, 2], o);
    const src = a.mul(2);
    const x = zeros([2], d);
    x.copy_(src);
    src.retainGrad();
    x.retainGrad();
    x.mul(10).sum().add(src.sum()).backward();
    expect(A(x.grad)).toEqual([10, 10]);
    expect(A(src.grad)).toEqual([11, 11]);
    const v = tensor(3, o);
    const z = zeros([], d);
    z.fill_(v);
    z.mul(2).backward();
    expect(A(v.grad)).toBe(2);
  });

  it('a retained gradient follows in-place writes: it is the gradient of the current value', () => {
    const a = tensor([1, 2], o);
    const y = a.mul(1);
    y.retainGrad();
    y.mul_(3);
    y.pow(2).sum().backward();
    expect(A(y.grad)).toEqual([6, 12]);
    const b = tensor([1, 2, 3], o);
    const yb = b.mul(1);
    const vb = yb.slice(0, 0, 2);
    vb.retainGrad();
    yb.mul_(2);
    vb.sum().backward();
    expect(A(vb.grad)).toEqual([1, 1]);
    const c = tensor([1, 2], o);
    const yc = c.mul(1);
    yc.retainGrad();
    yc.slice(0, 0, 1).mul_(5);
    yc.sum().backward();
    expect(A(yc.grad)).toEqual([1, 1]);
    expect(A(c.grad)).toEqual([5, 1]);
  });

  it('pow with exponent 0, prod with zeros, std of constant data: 0 gradients where PyTorch gives them, not NaN', () => {
    let x = tensor([0, 1], o);
    x.pow(0).sum().backward();
    expect(A(x.grad)).toEqual([0, 0]);
    x = tensor([0, 3], o);
    x.pow(tensor([0, 0], d)).sum().backward();
    expect(A(x.grad)).toEqual([0, 0]);
    x = tensor([0, 2, 3], o);
    x.prod().backward();
    expect(A(x.grad)).toEqual([6, 0, 0]);
    x = tensor([0, 0, 3], o);
    x.prod().backward();
    expect(A(x.grad)).toEqual([0, 0, 0]);
    x = tensor([[1, 2], [0, 3], [2, 4]], o);
    x.prod(1).sum().backward();
    expect(A(x.grad)).toEqual([[2, 1], [3, 0], [4, 2]]);
    x = tensor([1, 1, 1], o);
    x.std().backward();
    expect(A(x.grad)).toEqual([0, 0, 0]);
    x = tensor([[1, 1], [1, 3]], o);
    const s = x.std(1);
    expect(A(s)).toEqual([0, Math.SQRT2]);
    s.sum().backward();
    const g = x.grad!.toArraySync() as number[][];
    expect(g[0]).toEqual([0, 0]);
    expect(g[1]![0]).toBeCloseTo(-1 / Math.SQRT2, 12);
  });

  it('a leaf whose requiresGrad is turned off before backward gets no gradient', () => {
    const x = tensor([1, 2], o), w = tensor([3, 4], o);
    const y = x.mul(w);
    x.requiresGrad = false;
    y.sum().backward();
    expect(x.grad).toBeNull();
    expect(A(w.grad)).toEqual([1, 2]);
  });

  it('backward with createGraph keeps the graph (retainGraph defaults to createGraph)', () => {
    const z = tensor([1, 2], o);
    const l = z.pow(3).sum();
    l.backward(undefined, { createGraph: true });
    l.backward();
    expect(A(z.grad)).toEqual([6, 24]);
  });

  it('cat and stack of one tensor, pad with no padding left: new tensors, never the operand or a view of it', () => {
    const a = tensor([1, 2, 3], d);
    cat([a]).add_(10);
    stack([a]).add_(10);
    pad(a, [0, 0]).add_(10);
    pad(a, [-1, 0]).add_(10);
    expect(A(a)).toEqual([1, 2, 3]);
    const a0 = tensor([1, 2], o);
    const b = a0.mul(1);
    cat([b]).mul_(3);
    b.sum().backward();
    expect(A(a0.grad)).toEqual([1, 1]);
  });
});

describe('what a probe of eager autograd found (thirteenth session)', () => {
  it('the second derivative of prod is right with zeros in the slice (the gradient was a constant 0 there)', () => {
    // Σ_i ∂Πx/∂x_i = x1x2 + x0x2 + x0x1: its gradient at [0, 2, 3] is [5, 3, 2]
    const x = tensor([0, 2, 3], { dtype: 'float64', requiresGrad: true });
    const [g] = grad(x.prod(), [x], { createGraph: true });
    expect(g!.toArraySync()).toEqual([6, 0, 0]);
    expect(grad(g!.sum(), [x])[0]!.toArraySync()).toEqual([5, 3, 2]);
    // two zeros, over two dims: H_kl = Π_{j≠k,l} x_j off the diagonal, 0 on it; H·1 checked
    const v = [0, 0, 3, 2, 0.5, 5];
    const y = tensor(v, { dtype: 'float64', requiresGrad: true, shape: [2, 3] });
    const [gy] = grad(y.prod(), [y], { createGraph: true });
    const hv = grad(gy!.sum(), [y])[0]!.dataSync();
    const want = v.map((_, k) => v.reduce((acc, _x, l) => acc + (l === k ? 0 : v.reduce((p, xj, j) => (j === k || j === l ? p : p * xj), 1)), 0));
    Array.from(hv).forEach((h, k) => expect(h).toBeCloseTo(want[k]!, 12));
    // and along one dim with keepdim, against the first-order formula
    const z = tensor([[1, 0, 2], [3, 4, 0.5]], { dtype: 'float64', requiresGrad: true });
    const [gz] = grad(z.prod(1, true).sum(), [z], { createGraph: true });
    expect(gz!.toArraySync()).toEqual([[0, 2, 0], [2, 1.5, 12]]);
  });

  it('a view taken inside noGrad of a tensor that requires grad cannot be written with gradients on (the gradient went wrong)', () => {
    const a = tensor([1, 2], { requiresGrad: true });
    const y = a.mul(1);
    const v = noGrad(() => y.narrow(0, 0, 1));
    expect(() => v.mul_(5)).toThrow(AutogradError);
    expect(() => v.mul_(5)).toThrow(/mul_: the tensor written to \(shape \[1\]\) is a view taken inside noGrad\(\) of a tensor that requires grad/);
    const w = tensor([1, 2], { requiresGrad: true });
    expect(() => noGrad(() => w.narrow(0, 0, 1)).fill_(0)).toThrow(/view taken inside noGrad/);
    noGrad(() => v.mul_(5)); // inside noGrad it is an ordinary write
    expect(y.toArraySync()).toEqual([5, 2]);
    const plain = tensor([1, 2]);
    noGrad(() => plain.narrow(0, 0, 1)).mul_(3); // nothing requires grad: fine
    expect(plain.toArraySync()).toEqual([3, 2]);
  });

  it("remainder's gradient in the divisor is −(a // b), the floor division the remainder used (floor(a/b) gave −10 for 1 % 0.1)", () => {
    const a = tensor([1], { dtype: 'float64' }), b = tensor([0.1], { dtype: 'float64', requiresGrad: true });
    a.remainder(b).sum().backward();
    expect(b.grad!.toArraySync()).toEqual([-9]);
  });

  it('copy_ from a tensor that requires grad still gives the overwritten history a zero gradient, as PyTorch (it was none)', () => {
    const a = tensor([1, 2], { requiresGrad: true }), b = tensor([5, 6], { requiresGrad: true });
    const y = a.mul(1);
    y.copy_(b.mul(2));
    y.sum().backward();
    expect(a.grad!.toArraySync()).toEqual([0, 0]);
    expect(b.grad!.toArraySync()).toEqual([2, 2]);
  });

  it('view ops that change nothing still return a new view (requiresGrad_/detach_ on it acted on the base)', () => {
    const base = zeros([2]);
    for (const make of [(t: Tensor) => t.reshape([2]), (t: Tensor) => t.squeeze(), (t: Tensor) => t.narrow(0, 0, 2), (t: Tensor) => t.expand([2]),
      (t: Tensor) => t.permute([0]), (t: Tensor) => t.transpose(0, 0), (t: Tensor) => t.index(null), (t: Tensor) => t.t()]) {
      const v = make(base);
      expect(v).not.toBe(base);
      v.fill_(1);
      expect(base.toArraySync()).toEqual([1, 1]); // still a view
      base.zero_();
    }
    const s = zeros([3]).squeeze().requiresGrad_();
    expect(s.requiresGrad).toBe(true);
    const x = zeros([3]);
    x.squeeze().requiresGrad_();
    expect(x.requiresGrad).toBe(false);
    const y = tensor([1, 2], { requiresGrad: true }).mul(2);
    expect(() => y.narrow(0, 0, 2).detach_()).toThrow(/views cannot be detached in place/);
    expect(y.gradFn).not.toBeNull();
    expect(x.flatten()).toBe(x); // PyTorch: flatten returns the input when nothing is flattened
  });

  it('fromTypedArray refuses bool bytes other than 0 and 1; errors name the op', () => {
    expect(() => fromTypedArray(new Uint8Array([2, 0, 1]), [3], 'bool')).toThrow(/fromTypedArray: element 0 of the Uint8Array is 2; bool storage holds 0 or 1/);
    expect(fromTypedArray(new Uint8Array([1, 0, 1]), [3], 'bool').toArraySync()).toEqual([true, false, true]);
    expect(() => zeros([2, 3]).matmul(2 as never)).toThrow(/^matmul: the second operand is number 2, expected a tensor/);
    expect(() => tensor([1], { dtype: 'int32' }).add(2 ** 31)).toThrow(/^add: the number 2147483648 does not fit the int32 operand's dtype/);
    expect(tensor([1], { dtype: 'int32' }).add(-(2 ** 31)).toArraySync()).toEqual([-(2 ** 31) + 1]);
    const x = tensor([1, 2], { requiresGrad: true });
    const y = x.exp().sum();
    y.backward();
    expect(() => grad(y, [x])).toThrow(/^grad: trying to backward through the graph a second time/);
  });
});
