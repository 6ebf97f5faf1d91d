import { describe, expect, it } from 'vitest';
import { nn, tensor, randn, manualSeed, zeros, ones, arange, Tensor } from 'tapegrad';

const F = nn.functional;
const flat = (t: Tensor) => Array.from(t.dataSync());

/** Direct 4-loop convolution, the definition. */
function naiveConv(x: Tensor, w: Tensor, stride: number, pad: number, dil: number, groups: number): number[] {
  const [N, C, H, W] = x.shape as number[] as [number, number, number, number];
  const [O, Cg, kh, kw] = w.shape as number[] as [number, number, number, number];
  const xd = x.dataSync(), wd = w.dataSync();
  const oh = Math.floor((H + 2 * pad - dil * (kh - 1) - 1) / stride) + 1;
  const ow = Math.floor((W + 2 * pad - dil * (kw - 1) - 1) / stride) + 1;
  const out: number[] = [];
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let y = 0; y < oh; y++) for (let xx = 0; xx < ow; xx++) {
    const g = Math.floor(o / (O / groups));
    let s = 0;
    for (let c = 0; c < Cg; c++) for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) {
      const iy = y * stride - pad + i * dil, ix = xx * stride - pad + j * dil;
      if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
      s += xd[((n * C + g * Cg + c) * H + iy) * W + ix]! * wd[((o * Cg + c) * kh + i) * kw + j]!;
    }
    out.push(s);
  }
  return out;
}

describe('nn.functional', () => {
  it('linear is x Wᵀ + b', () => {
    const y = F.linear(tensor([[1, 2]]), tensor([[1, 0], [0, 1], [1, 1]]), tensor([0.5, 0, -1]));
    expect(y.toArraySync()).toEqual([[1.5, 2, 2]]);
  });
  it('conv2d matches the direct definition for stride, padding, dilation and groups', () => {
    manualSeed(1);
    for (const [stride, pad, dil, groups] of [[1, 0, 1, 1], [2, 1, 1, 1], [1, 2, 2, 1], [1, 1, 1, 2], [2, 0, 1, 4]] as const) {
      const x = randn([2, 4, 7, 6], { dtype: 'float64' });
      const w = randn([4, 4 / groups, 3, 3], { dtype: 'float64' });
      const y = F.conv2d(x, w, null, { stride, padding: pad, dilation: dil, groups });
      const ref = naiveConv(x, w, stride, pad, dil, groups);
      flat(y).forEach((v, i) => expect(v).toBeCloseTo(ref[i]!, 10));
    }
    // unbatched input [C, H, W]
    expect(F.conv2d(ones([1, 3, 3]), ones([2, 1, 3, 3]), tensor([1, 2])).toArraySync()).toEqual([[[10]], [[11]]]);
  });
  it('maxPool2d and avgPool2d', () => {
    const x = arange(16).reshape(1, 1, 4, 4).float();
    expect(F.maxPool2d(x, 2).toArraySync()).toEqual([[[[5, 7], [13, 15]]]]);
    expect(F.avgPool2d(x, 2).toArraySync()).toEqual([[[[2.5, 4.5], [10.5, 12.5]]]]);
    expect(F.maxPool2d(x, 3, { stride: 1 }).toArraySync()).toEqual([[[[10, 11], [14, 15]]]]);
    expect(F.maxPool2d(x, 2, { stride: 2, padding: 1 }).toArraySync()).toEqual([[[[0, 2, 3], [8, 10, 11], [12, 14, 15]]]]);
    // the max's gradient goes to one element per window
    const xr = tensor([[[[1, 1], [1, 1]]]], { requiresGrad: true });
    F.maxPool2d(xr, 2).sum().backward();
    expect(xr.grad!.toArraySync()).toEqual([[[[1, 0], [0, 0]]]]);
  });
  it('crossEntropy: reductions, label smoothing, probability targets, weights', () => {
    const logits = tensor([[2, 1, 0], [0, 0, 3]], { dtype: 'float64' });
    const y = tensor([0, 2], { dtype: 'int32' });
    const lse = (r: number[]) => Math.log(r.reduce((a, v) => a + Math.exp(v), 0));
    const l0 = lse([2, 1, 0]) - 2, l1 = lse([0, 0, 3]) - 3;
    expect(F.crossEntropy(logits, y).itemSync()).toBeCloseTo((l0 + l1) / 2, 12);
    expect(F.crossEntropy(logits, y, { reduction: 'sum' }).itemSync()).toBeCloseTo(l0 + l1, 12);
    const none = F.crossEntropy(logits, y, { reduction: 'none' }).toArraySync() as number[];
    expect(none[0]).toBeCloseTo(l0, 12);
    const eps = 0.1;
    const smooth = (r: number[], t: number) => (1 - eps) * (lse(r) - r[t]!) + eps * r.reduce((a, v) => a + (lse(r) - v), 0) / r.length;
    expect(F.crossEntropy(logits, y, { labelSmoothing: eps }).itemSync()).toBeCloseTo((smooth([2, 1, 0], 0) + smooth([0, 0, 3], 2)) / 2, 12);
    const probs = tensor([[1, 0, 0], [0, 0, 1]], { dtype: 'float64' });
    expect(F.crossEntropy(logits, probs).itemSync()).toBeCloseTo((l0 + l1) / 2, 12);
    const w = tensor([1, 1, 3], { dtype: 'float64' });
    expect(F.crossEntropy(logits, y, { weight: w }).itemSync()).toBeCloseTo((l0 + 3 * l1) / 4, 12);
    expect(F.nllLoss(F.logSoftmax(logits, 1), y).itemSync()).toBeCloseTo((l0 + l1) / 2, 12);
  });
  it('binary cross-entropy (probabilities and logits), mse, l1', () => {
    const p = tensor([0.9, 0.2], { dtype: 'float64' }), t = tensor([1, 0], { dtype: 'float64' });
    expect(F.binaryCrossEntropy(p, t).itemSync()).toBeCloseTo(-(Math.log(0.9) + Math.log(0.8)) / 2, 12);
    const z = tensor([2, -1], { dtype: 'float64' });
    const s = (v: number) => 1 / (1 + Math.exp(-v));
    expect(F.binaryCrossEntropyWithLogits(z, t).itemSync()).toBeCloseTo(-(Math.log(s(2)) + Math.log(1 - s(-1))) / 2, 12);
    expect(F.binaryCrossEntropyWithLogits(tensor([1000]), tensor([0])).itemSync()).toBe(1000);
    expect(F.binaryCrossEntropy(tensor([0]), tensor([1])).itemSync()).toBe(100);
    expect(F.mseLoss(tensor([1, 2]), tensor([3, 2])).itemSync()).toBe(2);
    expect(F.l1Loss(tensor([1, 2]), tensor([3, 2]), { reduction: 'sum' }).itemSync()).toBe(2);
  });
  it('layerNorm and batchNorm (training updates running stats; eval uses them)', () => {
    const x = tensor([[1, 2, 3], [4, 6, 8]], { dtype: 'float64' });
    const ln = F.layerNorm(x, [3]).toArraySync() as number[][];
    const sd = Math.sqrt(2 / 3 + 1e-5);
    expect(ln[0]![0]).toBeCloseTo(-1 / sd, 6);
    const rm = zeros([3], { dtype: 'float64' }), rv = ones([3], { dtype: 'float64' });
    const bn = F.batchNorm(x, rm, rv, { training: true, momentum: 0.1 });
    expect((bn.toArraySync() as number[][])[0]![0]).toBeCloseTo(-1.5 / Math.sqrt(2.25 + 1e-5), 6);
    expect(rm.toArraySync()).toEqual([0.25, 0.4, 0.55]);
    // running var uses the unbiased batch variance: 4.5, 8, 12.5
    (rv.toArraySync() as number[]).forEach((v, i) => expect(v).toBeCloseTo(0.9 + 0.1 * [4.5, 8, 12.5][i]!, 12));
    const ev = F.batchNorm(x, rm, rv, { training: false }).toArraySync() as number[][];
    expect(ev[0]![0]).toBeCloseTo((1 - 0.25) / Math.sqrt(0.9 + 0.45 + 1e-5), 10);
  });
  it('embedding and dropout', () => {
    const w = tensor([[0, 0], [1, 1], [2, 2]]);
    expect(F.embedding(tensor([[2, 0]], { dtype: 'int32' }), w).toArraySync()).toEqual([[[2, 2], [0, 0]]]);
    manualSeed(0);
    const x = ones([10000]);
    const d = F.dropout(x, 0.3);
    const kept = flat(d).filter((v) => v !== 0);
    expect(kept.length / 10000).toBeCloseTo(0.7, 1);
    kept.forEach((v) => expect(v).toBeCloseTo(1 / 0.7, 5));
    expect(F.dropout(x, 0.3, false)).toBe(x);
    manualSeed(5); const a = flat(F.dropout(x, 0.5));
    manualSeed(5); const b = flat(F.dropout(x, 0.5));
    expect(a).toEqual(b);
  });
});

describe('binaryCrossEntropy at saturated probabilities (PyTorch: logs clamped at −100, a finite backward)', () => {
  const F = nn.functional;
  it('p = 0 or 1: the loss is 0 or 100 and ∂/∂p = (p − y)/max(p(1 − p), 1e−12), never NaN', () => {
    const cases: [number, number, number, number][] = [[0, 0, 0, 0], [0, 1, 100, -1e12], [1, 1, 0, 0], [1, 0, 100, 1e12]];
    for (const [p, y, loss, dp] of cases) {
      const t = tensor([p], { requiresGrad: true, dtype: 'float64' });
      const yt = tensor([y], { requiresGrad: true, dtype: 'float64' });
      const l = F.binaryCrossEntropy(t, yt, { reduction: 'sum' });
      l.backward();
      expect(l.itemSync()).toBe(loss);
      expect(t.grad!.itemSync()).toBeCloseTo(dp, 0);
      // ∂/∂y = max(log(1 − p), −100) − max(log p, −100)
      expect(yt.grad!.itemSync()).toBe(p === 0 ? 100 : -100);
    }
  });

  it('through a sigmoid saturated to exactly 0 and 1 in float32 the gradient is 0, not NaN', () => {
    const z = tensor([20, -120], { requiresGrad: true });
    F.binaryCrossEntropy(F.sigmoid(z), tensor([0, 1]), { reduction: 'sum' }).backward();
    const g = Array.from(z.grad!.dataSync());
    expect(g.every(Number.isFinite)).toBe(true);
  });

  it('inside the domain: the usual values and gradients (mean reduction, weights)', () => {
    const p = tensor([0.2, 0.7, 0.9], { requiresGrad: true, dtype: 'float64' });
    const y = tensor([0, 1, 0.5], { dtype: 'float64' });
    const w = tensor([1, 2, 3], { dtype: 'float64' });
    const l = F.binaryCrossEntropy(p, y, { weight: w });
    const per = [0.2, 0.7, 0.9].map((pi, i) => -([0, 1, 0.5][i]! * Math.log(pi) + (1 - [0, 1, 0.5][i]!) * Math.log(1 - pi)) * [1, 2, 3][i]!);
    expect(l.itemSync()).toBeCloseTo(per.reduce((a, b) => a + b) / 3, 12);
    l.backward();
    const want = [0.2, 0.7, 0.9].map((pi, i) => (([1, 2, 3][i]! * (pi - [0, 1, 0.5][i]!)) / (pi * (1 - pi))) / 3);
    (Array.from(p.grad!.dataSync()) as number[]).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 10));
  });
});
