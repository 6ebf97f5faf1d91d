import { describe, expect, it, vi } from 'vitest';
import {
  arange, DTypeError, IndexError, manualSeed, noGrad, ones, randn, ShapeError, tensor, Tensor, ValueError,
  type NestedArray,
} from '../src/index.ts';
import {
  AvgPool2d, BatchNorm1d, BatchNorm2d, BCEWithLogitsLoss, Conv2d, CrossEntropyLoss, Dropout, Embedding, Flatten, GELU, Identity,
  LayerNorm, LeakyReLU, Linear, LogSoftmax, MaxPool2d, MSELoss, ReLU, Sequential, Sigmoid, Softmax, Tanh, functional,
} from '../src/nn/index.ts';

const arr = (t: Tensor): NestedArray => t.toArraySync();
const flat = (t: Tensor): number[] => Array.from(t.dataSync());
function close(t: Tensor, expected: number[], tol = 1e-5): void {
  const got = flat(t);
  expect(got.length).toBe(expected.length);
  got.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, -Math.log10(tol)));
}
function set(p: Tensor, values: number[] | number[][] | number[][][][]): void {
  noGrad(() => p.copy_(tensor(values as never)));
}
function throws(fn: () => unknown, Ctor: new (...a: never[]) => Error, msg: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(Ctor);
  expect((err as Error).message).toBe(msg);
}

describe('Linear', () => {
  it('computes x Wᵀ + b', () => {
    const fc = new Linear(2, 3);
    set(fc.weight, [[1, 2], [3, 4], [5, 6]]);
    set(fc.bias!, [0.5, -1, 0]);
    // [1,1]·W rows = 3, 7, 11 (+ b → 3.5, 6, 11); [0,2]·W rows = 4, 8, 12 (+ b → 4.5, 7, 12)
    expect(arr(fc.call(tensor([[1, 1], [0, 2]])))).toEqual([[3.5, 6, 11], [4.5, 7, 12]]);
    expect(fc.call(randn([4, 5, 2])).shape).toEqual([4, 5, 3]);
    expect(new Linear(2, 3, { bias: false }).bias).toBeNull();
  });

  it('uses PyTorch default init: W and b uniform in ±1/√inFeatures', () => {
    manualSeed(0);
    const fc = new Linear(400, 300);
    const w = flat(fc.weight), b = flat(fc.bias!);
    const bound = 1 / Math.sqrt(400);
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...b.map(Math.abs))).toBeLessThanOrEqual(bound);
    const mean = w.reduce((a, v) => a + v, 0) / w.length;
    const std = Math.sqrt(w.reduce((a, v) => a + (v - mean) ** 2, 0) / w.length);
    expect(Math.abs(mean)).toBeLessThan(0.002);
    expect(std).toBeCloseTo(bound / Math.sqrt(3), 3); // U(−a, a) has std a/√3
  });

  it('gets gradients through backward', () => {
    const fc = new Linear(2, 1);
    fc.call(tensor([[1, 2], [3, 4]])).sum().backward();
    expect(arr(fc.weight.grad!)).toEqual([[4, 6]]);
    expect(arr(fc.bias!.grad!)).toEqual([2]);
  });

  it('names itself and the expected shape on bad input', () => {
    throws(() => new Linear(784, 128).call(randn([32, 100])), ShapeError, 'Linear(inFeatures=784, outFeatures=128): expected input [..., 784], got [32, 100]');
    throws(() => new Linear(3, 1).call(tensor(1)), ShapeError, 'Linear(inFeatures=3, outFeatures=1): expected input [..., 3], got []');
    expect(() => new Linear(0.5, 2)).toThrow(ValueError);
  });
});

describe('Conv2d', () => {
  const x = arange(1, 10, 1, { dtype: 'float32' }).reshape([1, 1, 3, 3]); // [[1,2,3],[4,5,6],[7,8,9]]

  it('cross-correlates with weight and bias', () => {
    const conv = new Conv2d(1, 1, 2);
    set(conv.weight, [[[[1, 1], [1, 1]]]]);
    set(conv.bias!, [0.5]);
    // window sums: 1+2+4+5 = 12, 2+3+5+6 = 16, 4+5+7+8 = 24, 5+6+8+9 = 28
    expect(arr(conv.call(x))).toEqual([[[[12.5, 16.5], [24.5, 28.5]]]]);
    expect(arr(conv.call(x.reshape([1, 3, 3])))).toEqual([[[12.5, 16.5], [24.5, 28.5]]]);
  });

  it("pads 'same' like PyTorch (the odd extra on the bottom/right)", () => {
    const conv = new Conv2d(1, 1, 2, { padding: 'same', bias: false });
    set(conv.weight, [[[[1, 1], [1, 1]]]]);
    expect(arr(conv.call(x))).toEqual([[[[12, 16, 9], [24, 28, 15], [15, 17, 9]]]]);
    expect(() => new Conv2d(1, 1, 3, { padding: 'same', stride: 2 })).toThrow(/needs stride 1/);
  });

  it('gives LeNet shapes and PyTorch init bounds', () => {
    manualSeed(3);
    const c1 = new Conv2d(1, 6, 5, { padding: 2 }), c2 = new Conv2d(6, 16, 5);
    const y = c1.call(randn([2, 1, 28, 28]));
    expect(y.shape).toEqual([2, 6, 28, 28]);
    expect(c2.call(new MaxPool2d(2).call(y)).shape).toEqual([2, 16, 10, 10]);
    expect(c2.weight.shape).toEqual([16, 6, 5, 5]);
    const bound = 1 / Math.sqrt(6 * 25);
    expect(Math.max(...flat(c2.weight).map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...flat(c2.bias!).map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(new Conv2d(4, 8, [3, 1], { groups: 2, stride: [2, 1] }).weight.shape).toEqual([8, 2, 3, 1]);
  });

  it('names itself and the expected shape on bad input', () => {
    const conv = new Conv2d(1, 6, 5, { padding: 2 });
    throws(() => conv.call(randn([4, 3, 28, 28])), ShapeError, 'Conv2d(1, 6, kernelSize=[5, 5], stride=[1, 1], padding=[2, 2]): expected input [N, 1, H, W] or [1, H, W], got [4, 3, 28, 28]');
    throws(() => conv.call(randn([28, 28])), ShapeError, 'Conv2d(1, 6, kernelSize=[5, 5], stride=[1, 1], padding=[2, 2]): expected input [N, 1, H, W] or [1, H, W], got [28, 28]');
    expect(() => new Conv2d(1, 6, 5).call(randn([1, 1, 3, 3]))).toThrow(/^Conv2d\(1, 6, kernelSize=\[5, 5\], stride=\[1, 1\]\): conv2d: kernel of extent 5/);
    expect(() => new Conv2d(3, 4, 3, { groups: 2 })).toThrow(/divisible by groups/);
  });
});

describe('pooling', () => {
  const x = arange(1, 17, 1, { dtype: 'float32' }).reshape([1, 1, 4, 4]);
  it('MaxPool2d takes window maxima', () => {
    expect(arr(new MaxPool2d(2).call(x))).toEqual([[[[6, 8], [14, 16]]]]);
    expect(arr(new MaxPool2d(3, { stride: 1 }).call(x))).toEqual([[[[11, 12], [15, 16]]]]);
  });
  it('AvgPool2d takes window means', () => {
    expect(arr(new AvgPool2d(2).call(x))).toEqual([[[[3.5, 5.5], [11.5, 13.5]]]]);
    expect(new AvgPool2d(2).call(randn([3, 8, 8])).shape).toEqual([3, 4, 4]);
  });
  it('names itself on bad input', () => {
    throws(() => new MaxPool2d(2).call(randn([4, 4])), ShapeError, 'MaxPool2d(kernelSize=2, stride=2, padding=0, dilation=1): expected input [N, C, H, W] or [C, H, W], got [4, 4]');
    throws(() => new AvgPool2d([2, 2]).call(randn([1, 1, 1, 1])), ShapeError, 'AvgPool2d(kernelSize=[2, 2], stride=[2, 2], padding=0): avgPool2d: kernel of extent 2 (size 2, dilation 1) does not fit input size 1 with padding 0');
    expect(() => new MaxPool2d(2, { padding: 2 })).toThrow(/at most half the kernel size/);
  });
});

describe('Dropout', () => {
  it('zeroes about p of the elements and scales the rest by 1/(1−p) in training; identity in eval', () => {
    manualSeed(7);
    const d = new Dropout(0.25);
    const x = ones([4000]);
    const y = flat(d.call(x));
    const zeros = y.filter((v) => v === 0).length;
    expect(zeros / y.length).toBeGreaterThan(0.22);
    expect(zeros / y.length).toBeLessThan(0.28);
    expect(y.every((v) => v === 0 || Math.abs(v - 4 / 3) < 1e-6)).toBe(true);
    d.eval();
    expect(d.call(x)).toBe(x);
    expect(() => new Dropout(1.5)).toThrow(/\[0, 1\]/);
  });
});

describe('BatchNorm', () => {
  it('momentum null: the running statistics are the cumulative average of every batch (PyTorch momentum=None)', () => {
    const bn = new BatchNorm1d(1, { momentum: null, affine: false });
    bn.call(tensor([[0], [2]]));
    bn.call(tensor([[10], [12]]));
    bn.call(tensor([[20], [26]]));
    // batch means 1, 11, 23 → 35/3; unbiased variances 2, 2, 18 → 22/3
    expect(bn.runningMean!.dataSync()[0]).toBeCloseTo(35 / 3, 5);
    expect(bn.runningVar!.dataSync()[0]).toBeCloseTo(22 / 3, 5);
    expect(String(bn)).toContain('momentum=null');
  });

  it('functional batchNorm defaults to the running statistics (PyTorch F.batch_norm training=False), leaving them as they were', () => {
    const x = tensor([[1, 10], [3, 20], [5, 60]]);
    const rm = tensor([0, 1]), rv = tensor([1, 4]);
    const y = functional.batchNorm(x, rm, rv, { eps: 0 }).toArraySync() as number[][];
    expect(y).toEqual([[1, 4.5], [3, 9.5], [5, 29.5]]);
    expect(Array.from(rm.dataSync())).toEqual([0, 1]);
    expect(Array.from(rv.dataSync())).toEqual([1, 4]);
  });

  it('BatchNorm1d normalises with batch statistics and updates the running ones', () => {
    const bn = new BatchNorm1d(2, { eps: 0 });
    const x = tensor([[1, 2], [3, 6]]);
    // per channel: mean [2, 4], biased variance [1, 4] → (x − mean)/std = ±1
    close(bn.call(x), [-1, -1, 1, 1]);
    // running = 0.9·init + 0.1·batch; the running variance uses the unbiased variance [2, 8]
    close(bn.runningMean!, [0.2, 0.4]);
    close(bn.runningVar!, [1.1, 1.7]);
    expect(flat(bn.numBatchesTracked!)).toEqual([1]);
    bn.eval();
    // eval: (x − runningMean)/√runningVar
    close(bn.call(tensor([[0.2, 2.1]])), [0, 1.7 / Math.sqrt(1.7)]);
    expect(flat(bn.numBatchesTracked!)).toEqual([1]);
    expect(bn.call(randn([4, 2, 7])).shape).toEqual([4, 2, 7]);
  });

  it('BatchNorm2d normalises over N, H, W and applies weight and bias', () => {
    const bn = new BatchNorm2d(2);
    set(bn.weight!, [2, 1]);
    set(bn.bias!, [1, 0]);
    manualSeed(5);
    const y = bn.call(randn([8, 2, 3, 3]).mul(3).add(1));
    const c0 = y.index(null, 0), c1 = y.index(null, 1);
    expect(c0.mean().itemSync()).toBeCloseTo(1, 5);
    expect(c0.std(null, { correction: 0 }).itemSync()).toBeCloseTo(2, 3);
    expect(c1.mean().itemSync()).toBeCloseTo(0, 5);
    expect(c1.std(null, { correction: 0 }).itemSync()).toBeCloseTo(1, 3);
  });

  it('without tracked statistics uses batch statistics in eval too', () => {
    const bn = new BatchNorm1d(1, { trackRunningStats: false, affine: false, eps: 0 });
    expect(bn.runningMean).toBeNull();
    expect(Object.keys(bn.stateDict())).toEqual([]);
    bn.eval();
    close(bn.call(tensor([[1], [3]])), [-1, 1]);
  });

  it('names itself on bad input', () => {
    throws(() => new BatchNorm2d(16).call(randn([2, 8, 4, 4])), ShapeError, 'BatchNorm2d(16, eps=0.00001, momentum=0.1, affine=true, trackRunningStats=true): expected input [N, 16, H, W], got [2, 8, 4, 4]');
    throws(() => new BatchNorm1d(3).call(randn([2, 3, 4, 5])), ShapeError, 'BatchNorm1d(3, eps=0.00001, momentum=0.1, affine=true, trackRunningStats=true): expected input [N, 3] or [N, 3, L], got [2, 3, 4, 5]');
  });
});

describe('LayerNorm', () => {
  it('normalises the trailing dims (biased variance)', () => {
    const ln = new LayerNorm(3, { eps: 0 });
    // mean 2, variance 2/3 → (x − 2)/√(2/3) = −1.2247, 0, 1.2247
    close(ln.call(tensor([[1, 2, 3]])), [-Math.sqrt(1.5), 0, Math.sqrt(1.5)]);
    set(ln.weight!, [1, 2, 3]);
    set(ln.bias!, [1, 1, 1]);
    close(ln.call(tensor([[1, 2, 3]])), [1 - Math.sqrt(1.5), 1, 1 + 3 * Math.sqrt(1.5)]);
    expect(new LayerNorm([2, 3]).call(randn([4, 2, 3])).shape).toEqual([4, 2, 3]);
  });
  it('names itself on bad input', () => {
    throws(() => new LayerNorm([4, 5]).call(randn([2, 5, 4])), ShapeError, 'LayerNorm([4, 5], eps=0.00001, elementwiseAffine=true): expected input [..., 4, 5], got [2, 5, 4]');
  });
});

describe('Embedding', () => {
  it('looks up rows', () => {
    const emb = new Embedding(4, 2);
    set(emb.weight, [[0, 1], [2, 3], [4, 5], [6, 7]]);
    expect(arr(emb.call(tensor([[3, 0], [1, 1]], { dtype: 'int32' })))).toEqual([[[6, 7], [0, 1]], [[2, 3], [2, 3]]]);
  });
  it('starts the padding row at zero and gives it no gradient', () => {
    const emb = new Embedding(3, 2, { paddingIdx: -1 });
    expect(emb.paddingIdx).toBe(2);
    expect((arr(emb.weight) as number[][])[2]).toEqual([0, 0]);
    emb.call(tensor([0, 2, 2], { dtype: 'int32' })).sum().backward();
    expect(arr(emb.weight.grad!)).toEqual([[1, 1], [0, 0], [0, 0]]);
  });
  it('names itself on bad input', () => {
    throws(() => new Embedding(4, 2).call(tensor([1.5])), DTypeError, 'Embedding(4, 2): expected int32 indices, got float32');
    expect(() => new Embedding(4, 2).call(tensor([4], { dtype: 'int32' }))).toThrow(IndexError);
    expect(() => new Embedding(4, 2).call(tensor([4], { dtype: 'int32' }))).toThrow(/^Embedding\(4, 2\): embedding: index 4/);
  });
});

describe('Flatten and activations', () => {
  it('Flatten keeps the batch dim by default', () => {
    expect(new Flatten().call(randn([2, 3, 4, 5])).shape).toEqual([2, 60]);
    expect(new Flatten(0).call(randn([2, 3, 4])).shape).toEqual([24]);
    expect(new Flatten(1, 2).call(randn([2, 3, 4, 5])).shape).toEqual([2, 12, 5]);
    expect(() => new Flatten(3).call(randn([2, 3]))).toThrow(/^Flatten\(startDim=3, endDim=-1\): flatten: dim 3 is out of range/);
  });

  it('computes the activations', () => {
    const x = tensor([-2, 0, 1]);
    expect(arr(new ReLU().call(x))).toEqual([0, 0, 1]);
    close(new LeakyReLU(0.1).call(x), [-0.2, 0, 1]);
    close(new Sigmoid().call(x), [1 / (1 + Math.exp(2)), 0.5, 1 / (1 + Math.exp(-1))]);
    close(new Tanh().call(x), [Math.tanh(-2), 0, Math.tanh(1)]);
    close(new GELU().call(tensor([0, 1])), [0, 0.8413447]);
    expect(new Identity().call(x)).toBe(x);
  });

  it('Softmax and LogSoftmax along a dim', () => {
    const x = tensor([[0, Math.log(3)], [1, 1]]);
    close(new Softmax(1).call(x), [0.25, 0.75, 0.5, 0.5]);
    close(new Softmax().call(x), [0.25, 0.75, 0.5, 0.5]);
    close(new LogSoftmax(1).call(x), [Math.log(0.25), Math.log(0.75), Math.log(0.5), Math.log(0.5)]);
    close(new Softmax(0).call(tensor([[0, 0], [0, Math.log(3)]])), [0.5, 0.25, 0.5, 0.75]);
    expect(() => new Softmax(2).call(x)).toThrow(/^Softmax\(dim=2\): softmax: dim 2 is out of range/);
  });

  it("Softmax() without a dim picks PyTorch's implicit dim (the channels of [N,C,H,W], not the last), with a warning", () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const x = tensor([[[[0, 0]], [[Math.log(3), 0]]]]); // [1, 2, 1, 2]
      close(new Softmax().call(x), [0.25, 0.5, 0.75, 0.5]);
      close(new LogSoftmax().call(x), [Math.log(0.25), Math.log(0.5), Math.log(0.75), Math.log(0.5)]);
      close(new Softmax().call(tensor([[0, 0], [Math.log(3), 0]]).reshape(2, 1, 2)), [0.25, 0.5, 0.75, 0.5]); // 3-D: dim 0
      expect(warn.mock.calls.some(([m]) => /Softmax: no dim given; using dim=1 for 4-D input/.test(String(m)))).toBe(true);
    } finally {
      warn.mockRestore();
    }
  });
});

describe('what a probe of nn found (thirteenth session)', () => {
  it('softmax, logSoftmax, leakyRelu and the losses refuse int inputs as PyTorch does (they cast silently)', () => {
    const i = tensor([1, 2, 3], { dtype: 'int32' });
    expect(() => functional.softmax(i, 0)).toThrow(DTypeError);
    expect(() => functional.softmax(i, 0)).toThrow(/^softmax: expected a floating-point tensor, got int32/);
    expect(() => functional.logSoftmax(i, 0)).toThrow(/^logSoftmax: expected a floating-point tensor/);
    expect(() => functional.leakyRelu(i)).toThrow(/^leakyRelu: expected a floating-point tensor/);
    expect(() => functional.nllLoss(tensor([[1, 2]], { dtype: 'int32' }), tensor([0], { dtype: 'int32' }), { reduction: 'sum' })).toThrow(/^nllLoss: log-probabilities must be float, got int32/);
    const p = tensor([0.2, 0.7]), y = tensor([0, 1], { dtype: 'int32' });
    expect(() => functional.binaryCrossEntropy(p, y)).toThrow(/^binaryCrossEntropy: target must be float .*\.to\('float32'\)/);
    expect(() => functional.binaryCrossEntropyWithLogits(p, y)).toThrow(/^binaryCrossEntropyWithLogits: target must be float/);
    expect(functional.binaryCrossEntropy(p, y.to('float32')).itemSync()).toBeCloseTo(-(Math.log(0.8) + Math.log(0.7)) / 2, 6);
  });

  it("BCEWithLogitsLoss's positive weight is the buffer pos_weight (PyTorch's key), posWeight reads it", () => {
    const m = new BCEWithLogitsLoss({ posWeight: tensor([3]) });
    expect(Object.keys(m.stateDict())).toEqual(['pos_weight']);
    expect(flat(m.posWeight!)).toEqual([3]);
    const n = new BCEWithLogitsLoss({ posWeight: tensor([1]) });
    n.loadStateDict({ pos_weight: tensor([5]) });
    expect(flat(n.posWeight!)).toEqual([5]);
    // log(1 + e^0) = ln 2 per positive, times the weight
    expect(n.call(tensor([0]), tensor([1])).itemSync()).toBeCloseTo(5 * Math.LN2, 6);
  });

  it('layerNorm takes a single size as the module does, and refuses other shapes clearly', () => {
    const x = tensor([[1, 2, 3, 4]]);
    expect(flat(functional.layerNorm(x, 4))).toEqual(flat(functional.layerNorm(x, [4])));
    expect(() => functional.layerNorm(x, 'a' as never)).toThrow(/^layerNorm: normalizedShape must be a size or a list of sizes/);
  });
});

describe('loss modules', () => {
  it('match the functional losses', () => {
    expect(new MSELoss().call(tensor([1, 2]), tensor([0, 0])).itemSync()).toBeCloseTo(2.5);
    expect(new MSELoss({ reduction: 'sum' }).call(tensor([1, 2]), tensor([0, 0])).itemSync()).toBeCloseTo(5);
    // logits [0, ln 3] → p = [0.25, 0.75]; target 1 → −ln 0.75
    expect(new CrossEntropyLoss().call(tensor([[0, Math.log(3)]]), tensor([1], { dtype: 'int32' })).itemSync()).toBeCloseTo(-Math.log(0.75), 5);
    expect(new BCEWithLogitsLoss().call(tensor([0]), tensor([1])).itemSync()).toBeCloseTo(Math.log(2), 5);
    expect(new CrossEntropyLoss({ reduction: 'sum' }).toString()).toBe("CrossEntropyLoss(reduction='sum')");
  });
});

describe('a whole model', () => {
  it('LeNet-5 runs forward and backward', () => {
    manualSeed(11);
    const lenet = new Sequential(
      new Conv2d(1, 6, 5, { padding: 2 }), new ReLU(), new MaxPool2d(2),
      new Conv2d(6, 16, 5), new ReLU(), new MaxPool2d(2),
      new Flatten(), new Linear(16 * 5 * 5, 120), new ReLU(), new Linear(120, 84), new ReLU(), new Linear(84, 10),
    );
    const logits = lenet.call(randn([3, 1, 28, 28]));
    expect(logits.shape).toEqual([3, 10]);
    new CrossEntropyLoss().call(logits, tensor([1, 2, 3], { dtype: 'int32' })).backward();
    expect(lenet.parameters().every((p) => p.grad !== null && p.grad.shape.join() === p.shape.join())).toBe(true);
    expect(lenet.parameters().reduce((n, p) => n + p.numel, 0)).toBe(61706);
    // the failing layer names itself
    expect(() => lenet.call(randn([3, 1, 32, 32]))).toThrow('Linear(inFeatures=400, outFeatures=120): expected input [..., 400], got [3, 576]');
  });
});
