/**
 * @file Gradients backward made and the program never read are released when zeroGrad() or a
 * second backward replaces them (their arrays go back to the pool instead of waiting for the
 * garbage collector); gradients the program read, or set itself, are left alone.
 */
import { describe, expect, it } from 'vitest';
import { nn, optim, tensor, type Tensor } from '../src/index.ts';
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

  it('accumulating backward releases the unread gradient it replaces; Module.zeroGrad releases too', () => {
    const lin = new nn.Linear(3, 2);
    const x = tensor([[1, 2, 3]]);
    lin.forward(x).sum().backward();
    const first = lin.weight._grad!;
    lin.forward(x).sum().backward();
    expect(first._disposed).toBe(true);
    const second = lin.weight._grad!;
    expect(second.toArraySync()).toEqual([[2, 4, 6], [2, 4, 6]]);
    lin.zeroGrad();
    expect(second._disposed).toBe(true);
    expect(lin.weight.grad).toBeNull();
  });

  it('zeroGrad(false) gives fresh zeros and releases the unread gradient', () => {
    const w = tensor([1, 2], { requiresGrad: true });
    const opt = new optim.SGD([w], { lr: 1 });
    lossOf(w, tensor([3, 4])).backward();
    const made = w._grad!;
    opt.zeroGrad(false);
    expect(made._disposed).toBe(true);
    expect(w.grad!.toArraySync()).toEqual([0, 0]);
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
