/**
 * @file Gradients backward made and the program never read are released when zeroGrad() or a
 * second backward replaces them (their arrays go back to the pool instead of waiting for the
 * garbage collector); gradients the program read, or set itself, are left alone.
 */
import { describe, expect, it } from 'vitest';
import { grad, memory, nn, noGrad, optim, tensor, type Tensor } from '../src/index.ts';
import { jit } from '../src/jit/index.ts';

const lossOf = (w: Tensor, x: Tensor) => w.mul(x).sum();

describe('gradient release', () => {
  it('Optimizer.zeroGrad() releases an unread gradient, and the next step still trains', () => {
    const w = tensor([1, 2, 3], { requiresGrad: true });
    const x = tensor([4, 5, 6]);
    const opt = new optim.SGD([w], { lr: 0.1 });
    lossOf(w, x).backward();
    const made = w._grad!; // the library's own view of it: not a read by the program
    expect(made._gradUnread).toBe(true);
    opt.step();
    opt.zeroGrad();
    expect(w.grad).toBeNull();
    expect(made._disposed).toBe(true);
    lossOf(w, x).backward();
    expect(w.grad!.toArraySync()).toEqual([4, 5, 6]);
    expect((w.toArraySync() as number[]).map((v) => Math.round(v * 10) / 10)).toEqual([0.6, 1.5, 2.4]);
  });

  it('leaves a gradient the program read alone (it may hold it)', () => {
    const w = tensor([1, 2, 3], { requiresGrad: true });
    const opt = new optim.Adam([w]);
    lossOf(w, tensor([1, 1, 2])).backward();
    const g = w.grad!;
    opt.step();
    opt.zeroGrad();
    expect(g._disposed).toBe(false);
    expect(g.toArraySync()).toEqual([1, 1, 2]);
  });

  it('leaves a gradient the program set itself alone', () => {
    const w = tensor([1, 2], { requiresGrad: true });
    const mine = tensor([5, 5]);
    w.grad = mine;
    new optim.SGD([w], { lr: 1 }).zeroGrad();
    expect(mine._disposed).toBe(false);
  });

  it('accumulating backward adds into .grad in place (as PyTorch); Module.zeroGrad releases the unread gradient', () => {
    const lin = new nn.Linear(3, 2);
    const x = tensor([[1, 2, 3]]);
    lin.forward(x).sum().backward();
    const first = lin.weight._grad!;
    lin.forward(x).sum().backward();
    const second = lin.weight._grad!;
    expect(second).toBe(first);
    expect(second.toArraySync()).toEqual([[2, 4, 6], [2, 4, 6]]);
    lin.zeroGrad();
    expect(second._disposed).toBe(true);
    expect(lin.weight.grad).toBeNull();
  });

  it('zeroGrad(false) zeroes .grad in place (as PyTorch), so a reference taken before sees the zeros', () => {
    const w = tensor([1, 2], { requiresGrad: true });
    const opt = new optim.SGD([w], { lr: 1 });
    lossOf(w, tensor([3, 4])).backward();
    const made = w.grad!;
    expect(made.toArraySync()).not.toEqual([0, 0]);
    opt.zeroGrad(false);
    expect(made._disposed).toBe(false);
    expect(w.grad).toBe(made);
    expect(made.toArraySync()).toEqual([0, 0]);
    // an expand()ed gradient the program assigned cannot be zeroed in place: it is replaced
    const e = tensor([7]).expand([2]);
    w.grad = e;
    opt.zeroGrad(false);
    expect(w.grad).not.toBe(e);
    expect(w.grad!.toArraySync()).toEqual([0, 0]);
    expect(e.toArraySync()).toEqual([7, 7]);
  });

  it('a compiled step keeps its gradients (nothing is released while jit traces)', () => {
    const w = tensor([1, 2, 3], { requiresGrad: true });
    const opt = new optim.SGD([w], { lr: 0.1 });
    const step = jit((x: Tensor) => {
      opt.zeroGrad();
      const l = lossOf(w, x);
      l.backward();
      opt.step();
      return l;
    });
    const x = tensor([1, 1, 1]);
    for (let i = 0; i < 4; i++) step(x);
    expect(w.grad!.toArraySync()).toEqual([1, 1, 1]);
    expect((w.toArraySync() as number[]).map((v) => Math.round(v * 10) / 10)).toEqual([0.6, 1.6, 2.6]);
  });
});

describe('backward temporaries and composites\' own tensors', () => {
  const F = nn.functional;
  const storages = () => memory().storages;

  it('backward releases what it made besides the gradients it stores (rules\' intermediates, node-to-node gradients)', () => {
    const w1 = tensor([[1, -2, 3], [0.5, 1, -1], [2, 0, 1], [-1, 1, 1]], { requiresGrad: true });
    const w2 = tensor([[1, 2, -1, 0.5], [0, 1, 1, -2]], { requiresGrad: true });
    const x = tensor([[1, 2, 3], [-1, 0, 2], [0.5, -0.5, 1]]);
    const loss = x.matmul(w1.t()).relu().matmul(w2.t()).sum();
    const before = storages();
    loss.backward();
    // the root gradient (ones) and the two .grad tensors; the relu mask, the masked gradient, the
    // gradients between the products and the transposed gradient's copy are gone (10 live
    // storages before backward released them)
    expect(storages() - before).toBe(3);
    const h = [[1, 2, 3], [-1, 0, 2], [0.5, -0.5, 1]].map((r) => [0, 1, 2, 3].map((j) => [[1, -2, 3], [0.5, 1, -1], [2, 0, 1], [-1, 1, 1]][j]!.reduce((s, v, k) => s + v * r[k]!, 0)));
    // d/dh = (w2 columns summed) where h > 0
    const colSum = [1, 3, 0, -1.5];
    const dW1 = [0, 1, 2, 3].map((j) => [0, 1, 2].map((k) => h.reduce((s, hr, i) => s + (hr[j]! > 0 ? colSum[j]! * [[1, 2, 3], [-1, 0, 2], [0.5, -0.5, 1]][i]![k]! : 0), 0)));
    expect(w1.grad!.toArraySync()).toEqual(dW1);
    const relu = h.map((r) => r.map((v) => Math.max(v, 0)));
    expect(w2.grad!.toArraySync()).toEqual([0, 1].map(() => [0, 1, 2, 3].map((j) => relu.reduce((s, r) => s + r[j]!, 0))));
  });

  it('keeps what retainGrad and grad() hand back', () => {
    const w = tensor([1, -2, 3], { requiresGrad: true });
    const h = w.mul(2);
    h.retainGrad();
    h.relu().sum().backward();
    expect(h.grad!.toArraySync()).toEqual([1, 0, 1]);
    expect(w.grad!.toArraySync()).toEqual([2, 0, 2]);
    const [g] = grad(w.relu().mul(w).sum(), [w]); // relu'(w)·w + relu(w)
    expect(g!.toArraySync()).toEqual([2, 0, 6]);
  });

  it('conv2d disposes its columns and its product before the bias when nothing saved them, else after backward', () => {
    // x: [1, 1, 3, 3] = 1..9; w: [2, 1, 2, 2]; bias [2]; outputs [1, 2, 2, 2]
    const x = tensor([[[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]]);
    const w = tensor([[[[1, 0], [0, 1]]], [[[0, 2], [-1, 0]]]], { requiresGrad: true });
    const b = tensor([10, -10], { requiresGrad: true });
    const expected = [[[[16, 18], [22, 24]], [[-10, -9], [-7, -6]]]];
    let before = storages();
    const inference = noGrad(() => F.conv2d(x, w, b));
    expect(storages() - before).toBe(1); // the output alone (3 before the change)
    expect(inference.toArraySync()).toEqual(expected);
    before = storages();
    const y = F.conv2d(x, w, b);
    expect(storages() - before).toBe(2); // the output, and the columns the weight's gradient needs
    expect(y.toArraySync()).toEqual(expected);
    before = storages();
    y.sum().backward();
    // the sum, its root gradient, w.grad and b.grad, less the columns (7 before the change)
    expect(storages() - before).toBe(3);
    // dL/dw[o] = the sum of the 2×2 windows' entries at each kernel position
    expect(w.grad!.toArraySync()).toEqual([[[[12, 16], [24, 28]]], [[[12, 16], [24, 28]]]]);
    expect(b.grad!.toArraySync()).toEqual([4, 4]);
  });

  it('linear releases its product before the bias once the add has read it', () => {
    const x = tensor([[1, 2], [3, 4], [5, 6]]);
    const w = tensor([[1, 0], [0, 1], [1, 1]], { requiresGrad: true });
    const b = tensor([1, 2, 3], { requiresGrad: true });
    let before = storages();
    const y = noGrad(() => F.linear(x, w, b));
    expect(storages() - before).toBe(1); // the output alone
    expect(y.toArraySync()).toEqual([[2, 4, 6], [4, 6, 10], [6, 8, 14]]);
    before = storages();
    const z = F.linear(x, w, b); // (the transposed weight is a view: no storage)
    expect(storages() - before).toBe(1);
    z.sum().backward();
    expect(w.grad!.toArraySync()).toEqual([[9, 12], [9, 12], [9, 12]]);
    expect(b.grad!.toArraySync()).toEqual([3, 3, 3]);
  });

  it('maxPool2d releases its row maxima once the second step has read them', () => {
    const x = tensor([[[[1, 5, 2, 0], [3, 4, 8, 1], [0, 2, 6, 7], [9, 1, 3, 2]]]], { requiresGrad: true });
    let before = storages();
    const y = F.maxPool2d(x, 2);
    // the output and each step's argmax indices (saved for backward); not the row maxima
    expect(storages() - before).toBe(3);
    expect(y.toArraySync()).toEqual([[[[5, 8], [9, 7]]]]);
    before = storages();
    const z = noGrad(() => F.maxPool2d(x, 2));
    expect(storages() - before).toBe(3);
    expect(z.toArraySync()).toEqual([[[[5, 8], [9, 7]]]]);
    y.sum().backward();
    expect(x.grad!.toArraySync()).toEqual([[[[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0]]]]);
  });
});
