import { describe, expect, it } from 'vitest';
import * as tg from 'tapegrad';
import { tensor, arange, zeros } from 'tapegrad';
import { jit } from '../src/jit/index.ts';

const close = (a: unknown, b: number[] | number[][], digits = 4) => {
  const fa = (Array.isArray(a) ? (a as unknown[]).flat(3) : [a]) as number[];
  const fb = (b as unknown[]).flat(3) as number[];
  expect(fa.length).toBe(fb.length);
  fa.forEach((v, i) => expect(v).toBeCloseTo(fb[i]!, digits));
};

describe('elementwise', () => {
  const x = tensor([-2, -0.5, 0, 0.5, 2], { dtype: 'float64' });
  it('unary functions', () => {
    const xs = [-2, -0.5, 0, 0.5, 2];
    close(x.abs().toArraySync(), [xs.map(Math.abs)]);
    close(x.sign().toArraySync(), [xs.map(Math.sign)]);
    close(x.exp().toArraySync(), [xs.map(Math.exp)]);
    close(x.add(3).log().toArraySync(), [xs.map((v) => Math.log(v + 3))]);
    close(x.add(2.5).log1p().toArraySync(), [xs.map((v) => Math.log1p(v + 2.5))]);
    close(x.expm1().toArraySync(), [xs.map(Math.expm1)]);
    close(x.abs().sqrt().toArraySync(), [xs.map((v) => Math.sqrt(Math.abs(v)))]);
    close(x.add(3).rsqrt().toArraySync(), [xs.map((v) => 1 / Math.sqrt(v + 3))]);
    close(x.square().toArraySync(), [xs.map((v) => v * v)]);
    close(x.add(3).reciprocal().toArraySync(), [xs.map((v) => 1 / (v + 3))]);
    close(x.sin().toArraySync(), [xs.map(Math.sin)]);
    close(x.cos().toArraySync(), [xs.map(Math.cos)]);
    close(x.tanh().toArraySync(), [xs.map(Math.tanh)]);
    close(x.relu().toArraySync(), [[0, 0, 0, 0.5, 2]]);
    close(tg.leakyRelu(x, 0.1).toArraySync(), [[-0.2, -0.05, 0, 0.5, 2]]);
    close(x.erf().toArraySync(), [[-0.9953222650189527, -0.5204998778130465, 0, 0.5204998778130465, 0.9953222650189527]], 12);
    // gelu(x) = x Φ(x)
    close(tg.gelu(x).toArraySync(), [[-0.0455002639, -0.1542687694, 0, 0.3457312306, 1.9544997361]], 8);
    close(tg.gelu(x, { approximate: 'tanh' }).toArraySync(), [[-0.0454023, -0.1542859, 0, 0.3457141, 1.9545977]], 6);
    close(tg.softplus(x).toArraySync(), [xs.map((v) => Math.log1p(Math.exp(v)))], 10);
    close(tg.softplus(tensor([100])).toArraySync(), [[100]]);
    close(x.clamp(-1, 1).toArraySync(), [[-1, -0.5, 0, 0.5, 1]]);
    close(x.clamp(null, 0).toArraySync(), [[-2, -0.5, 0, 0, 0]]);
    close(tensor([0.5, 1.5, 2.5, -0.5, -1.7]).round().toArraySync(), [[0, 2, 2, -0, -2]]);
    close(tensor([1.5, -1.5]).floor().toArraySync(), [[1, -2]]);
    close(tensor([1.5, -1.5]).ceil().toArraySync(), [[2, -1]]);
    close(tensor([1.5, -1.5]).trunc().toArraySync(), [[1, -1]]);
  });
  it('binary functions, comparisons and where', () => {
    const a = tensor([1, 5, 3]), b = tensor([4, 2, 3]);
    expect(a.maximum(b).toArraySync()).toEqual([4, 5, 3]);
    expect(a.minimum(b).toArraySync()).toEqual([1, 2, 3]);
    expect(a.gt(b).toArraySync()).toEqual([false, true, false]);
    expect(a.ge(b).toArraySync()).toEqual([false, true, true]);
    expect(a.lt(b).toArraySync()).toEqual([true, false, false]);
    expect(a.le(b).toArraySync()).toEqual([true, false, true]);
    expect(a.eq(b).toArraySync()).toEqual([false, false, true]);
    expect(a.ne(b).toArraySync()).toEqual([true, true, false]);
    expect(tg.where(a.gt(b), a, b).toArraySync()).toEqual([4, 5, 3]);
    expect(tg.where(a.gt(2), a, 0).toArraySync()).toEqual([0, 5, 3]);
    expect(a.pow(b).toArraySync()).toEqual([1, 25, 27]);
    expect(tensor([2], { dtype: 'int32' }).pow(10).toArraySync()).toEqual([1024]);
    expect(tensor([-7, 7], { dtype: 'int32' }).remainder(3).toArraySync()).toEqual([2, 1]);
    expect(tensor([-7.5, 7.5]).remainder(2).toArraySync()).toEqual([0.5, 1.5]);
    expect(tensor([[1], [2]]).add(tensor([10, 20])).toArraySync()).toEqual([[11, 21], [12, 22]]);
    expect(tensor([5]).sub(tensor([[1], [2]])).toArraySync()).toEqual([[4], [3]]);
    expect(tg.logicalAnd(a.gt(1), b.gt(2)).toArraySync()).toEqual([false, false, true]);
    expect(tg.logicalOr(a.gt(4), b.gt(3)).toArraySync()).toEqual([true, true, false]);
    expect(a.gt(2).logicalNot().toArraySync()).toEqual([true, false, false]);
    expect(tensor([2 ** 30], { dtype: 'int32' }).mul(4).toArraySync()).toEqual([0]); // int32 wraps like PyTorch's int32
  });
});

describe('reductions', () => {
  const x = arange(24).reshape(2, 3, 4).double();
  it('sum/mean/prod over none, one, several and negative dims, with keepdim', () => {
    expect(x.sum().itemSync()).toBe(276);
    expect(x.sum(0).toArraySync()).toEqual([[12, 14, 16, 18], [20, 22, 24, 26], [28, 30, 32, 34]]);
    expect(x.sum(-1).toArraySync()).toEqual([[6, 22, 38], [54, 70, 86]]);
    expect(x.sum([0, 2]).toArraySync()).toEqual([60, 92, 124]);
    expect(x.sum([0, 2], true).shape).toEqual([1, 3, 1]);
    expect(x.mean(1).toArraySync()).toEqual([[4, 5, 6, 7], [16, 17, 18, 19]]);
    expect(tensor([[1, 2], [3, 4]]).prod(1).toArraySync()).toEqual([2, 12]);
    expect(tensor([true, true, false]).sum().itemSync()).toBe(2);
    expect(tensor([true, true, false]).sum().dtype).toBe('int32');
  });
  it('max/min: full, along a dim with indices, amax over several dims', () => {
    const y = tensor([[1, 7, 3], [9, 2, 9]]);
    expect(y.max().itemSync()).toBe(9);
    expect(y.min().itemSync()).toBe(1);
    const m = y.max(1);
    expect(m.values.toArraySync()).toEqual([7, 9]);
    expect(m.indices.toArraySync()).toEqual([1, 0]);
    expect(m.indices.dtype).toBe('int32');
    const mk = y.min(0, true);
    expect(mk.values.toArraySync()).toEqual([[1, 2, 3]]);
    expect(mk.indices.toArraySync()).toEqual([[0, 1, 0]]);
    expect(x.amax([1, 2]).toArraySync()).toEqual([11, 23]);
    expect(y.argmax().itemSync()).toBe(3);
    expect(y.argmin(1).toArraySync()).toEqual([0, 1]);
    expect(y.argmax(0, true).toArraySync()).toEqual([[1, 0, 1]]);
  });
  it('var and std are unbiased by default; correction 0 is biased', () => {
    const v = tensor([1, 2, 3, 4], { dtype: 'float64' });
    expect(v.var().itemSync()).toBeCloseTo(5 / 3, 12);
    expect(v.var(null, { correction: 0 }).itemSync()).toBeCloseTo(1.25, 12);
    expect(v.std().itemSync()).toBeCloseTo(Math.sqrt(5 / 3), 12);
    expect(x.var(-1).toArraySync()).toEqual([[5 / 3, 5 / 3, 5 / 3], [5 / 3, 5 / 3, 5 / 3]].map((r) => r.map((q) => q)));
  });
  it('logsumexp, softmax, logSoftmax', () => {
    const l = tensor([[1, 2, 3]], { dtype: 'float64' });
    expect(l.logsumexp(1).itemSync()).toBeCloseTo(Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)), 12);
    const sm = tg.softmax(l, -1).toArraySync() as number[][];
    const z = Math.exp(1) + Math.exp(2) + Math.exp(3);
    sm[0]!.forEach((p, i) => expect(p).toBeCloseTo(Math.exp(i + 1) / z, 12));
    (tg.logSoftmax(l, 1).toArraySync() as number[][])[0]!.forEach((p, i) => expect(p).toBeCloseTo(i + 1 - Math.log(z), 12));
  });
});

describe('shape and indexing ops', () => {
  it('pad in PyTorch order, with value and negative pads', () => {
    const x = tensor([[1, 2], [3, 4]]);
    expect(tg.pad(x, [1, 0]).toArraySync()).toEqual([[0, 1, 2], [0, 3, 4]]);
    expect(tg.pad(x, [0, 1, 1, 0], 9).toArraySync()).toEqual([[9, 9, 9], [1, 2, 9], [3, 4, 9]]);
    expect(tg.pad(x, [-1, 1]).toArraySync()).toEqual([[2, 0], [4, 0]]);
  });
  it('gather, scatterAdd, indexSelect', () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]]);
    const idx = tensor([[2, 0], [1, 1]], { dtype: 'int32' });
    expect(x.gather(1, idx).toArraySync()).toEqual([[3, 1], [5, 5]]);
    expect(zeros([2, 3]).scatterAdd(1, idx, tensor([[1, 2], [3, 4]])).toArraySync()).toEqual([[2, 0, 1], [0, 7, 0]]);
    expect(x.indexSelect(1, tensor([2, 2, 0], { dtype: 'int32' })).toArraySync()).toEqual([[3, 3, 1], [6, 6, 4]]);
    expect(x.indexSelect(0, tensor([1], { dtype: 'int32' })).toArraySync()).toEqual([[4, 5, 6]]);
  });
  it('indexSelect copies whole blocks where it can (contiguous source, blocks of 16+), with the element loop\'s values and errors', () => {
    const base = arange(5 * 4 * 3 * 8).reshape(5, 4, 3, 8);
    const idx = tensor([3, 0, 3, 1], { dtype: 'int32' });
    for (const dt of ['float32', 'int32', 'bool'] as const) {
      const x = dt === 'bool' ? base.remainder(3).eq(0) : base.to(dt === 'float32' ? 'float32' : 'int32');
      for (const dim of [0, 1, 2, 3]) {
        const i = dim === 2 ? tensor([2, 0], { dtype: 'int32' }) : idx;
        const got = x.indexSelect(dim, i);
        // the element loop: the same gather over a non-contiguous copy of x
        const strided = x.transpose(0, 3).contiguous().transpose(0, 3);
        expect(got.toArraySync(), `${dt} dim ${dim}`).toEqual(strided.indexSelect(dim, i).toArraySync());
        expect(got.dtype).toBe(dt);
      }
      // a view at an offset
      const v = x.narrow(0, 1, 3);
      expect(v.indexSelect(0, tensor([2, 0], { dtype: 'int32' })).toArraySync()).toEqual([x.index(3).toArraySync(), x.index(1).toArraySync()]);
    }
    const x = base.float();
    expect(() => x.indexSelect(0, tensor([1, 5], { dtype: 'int32' }))).toThrow(/indexSelect: index 5 is out of range for dim 0 of size 5/);
    expect(() => x.indexSelect(1, tensor([-1], { dtype: 'int32' }))).toThrow(/indexSelect: index -1 is out of range for dim 1 of size 4/);
  });
  it('matmul for 1-D, 2-D, batched and broadcast operands', () => {
    const v = tensor([1, 2]), m = tensor([[1, 2], [3, 4]]);
    expect(v.matmul(v).itemSync()).toBe(5);
    expect(v.matmul(m).toArraySync()).toEqual([7, 10]);
    expect(m.matmul(v).toArraySync()).toEqual([5, 11]);
    expect(m.matmul(m).toArraySync()).toEqual([[7, 10], [15, 22]]);
    const b = arange(8).reshape(2, 2, 2).float();
    expect(b.matmul(m).toArraySync()).toEqual([[[3, 4], [11, 16]], [[19, 28], [27, 40]]]);
    expect(m.matmul(b).shape).toEqual([2, 2, 2]);
    expect(zeros([3, 1, 2, 5]).matmul(zeros([4, 5, 6])).shape).toEqual([3, 4, 2, 6]);
    expect(tensor([[1, 2]], { dtype: 'int32' }).matmul(tensor([[3], [4]], { dtype: 'int32' })).toArraySync()).toEqual([[11]]);
    // transposed operands without copies
    expect(m.t().matmul(m.t()).toArraySync()).toEqual([[7, 15], [10, 22]]);
  });
});

describe('PyTorch semantics a probe found silently different (each fixed)', () => {
  const I = (a: number[]) => tensor(a, { dtype: 'int32' });
  const A = (t: tg.Tensor) => Array.from(t.dataSync() as ArrayLike<number>);

  it('float floor division is (a − a mod b)/b rounded, consistent with remainder (1 // 0.1 is 9)', () => {
    const a = tensor([1, 0.7, 2, Infinity, -5, 7, -7, 0, -0.5]), b = tensor([0.1, 0.1, 0.1, 2, Infinity, 2, 2, 3, 3]);
    const q = A(a.div(b, { roundingMode: 'floor' }));
    expect(q.slice(0, 3)).toEqual([9, 6, 19]);
    expect(q[3]).toBeNaN();
    expect(q.slice(4)).toEqual([-1, 3, -4, 0, -1]);
    // a = b·(a // b) + a mod b
    const r = A(tensor([1, 0.7, 2]).remainder(0.1));
    [1, 0.7, 2].forEach((x, i) => expect(Math.fround(0.1) * q[i]! + r[i]!).toBeCloseTo(x, 6));
    expect(A(tensor([1, -1]).div(tensor([0, 0]), { roundingMode: 'floor' }))).toEqual([Infinity, -Infinity]);
  });

  it('type promotion over three operands does not depend on their order', () => {
    expect(tg.clamp(I([1, 5]), tensor(2, { dtype: 'float64' }), tensor([4])).dtype).toBe('float32');
    expect(tg.clamp(I([1, 5]), tensor([2]), tensor(4, { dtype: 'float64' })).dtype).toBe('float32');
    expect(tg.addcmul(I([1, 2]), tensor(2, { dtype: 'float64' }), tensor([1, 2])).dtype).toBe('float32');
    expect(I([1, 2]).add(tensor(1.5, { dtype: 'float64' })).dtype).toBe('float64');
  });

  it('linspace ends exactly at end and is symmetric (an exact 0 in the middle of [−1, 1])', () => {
    expect(A(tg.linspace(0.1, 0.7, 2))).toEqual([Math.fround(0.1), Math.fround(0.7)]);
    expect(A(tg.linspace(-1, 1, 11))[5]).toBe(0);
    expect(A(tg.linspace(-1, 1, 7))[3]).toBe(0);
    expect(A(tg.linspace(0, 1, 5))).toEqual([0, 0.25, 0.5, 0.75, 1]);
  });

  it('floor/ceil/round/trunc of integers, and where of two booleans', () => {
    const x = I([1, 2]);
    for (const f of ['floor', 'ceil', 'round', 'trunc'] as const) {
      const y = x[f]();
      expect(y).not.toBe(x);
      y.add_(10);
    }
    expect(A(x)).toEqual([1, 2]);
    expect(tg.where(tensor([true, false]), true, false).dtype).toBe('bool');
  });

  it('narrow and split of a 0-d tensor are errors; chunk of an empty dim gives chunks empty pieces', () => {
    expect(() => tensor(1).narrow(0, 0, 1)).toThrow(/narrow: cannot be applied to a 0-d tensor/);
    expect(() => tensor(1).split(1)).toThrow(/split: expected a tensor of at least 1 dim/);
    const parts = tensor([]).chunk(3);
    expect(parts.map((p) => p.shape)).toEqual([[0], [0], [0]]);
  });

  it('int32 pow and prod wrap as int32 arithmetic (they lost low bits in double)', () => {
    expect(A(tg.pow(I([3, 7, 123456789]), I([40, 30, 3])))).toEqual([689956897, 1878557649, 75731757]);
    expect(A(tg.pow(I([3, 7]), 30))).toEqual([-1010140999, 1878557649]);
    const x = tensor([[2147483647, 2147483647], [-5, 7]], { dtype: 'int32' });
    expect(A(x.prod())).toEqual([-35]);
    expect(A(x.prod(1))).toEqual([1, -35]);
  });

  it('sign(−0) is +0 (as PyTorch and WebGPU) in the JS, WebAssembly and float64 kernels; NaN stays NaN', () => {
    const bits = (t: tg.Tensor) => Array.from(t.dataSync()).map((v) => (Object.is(v, -0) ? '-0' : String(v)));
    expect(bits(tensor([-0, 0, -2, 3, NaN]).sign())).toEqual(['0', '0', '-1', '1', 'NaN']);
    expect(bits(tensor([-0, 0, -2.5, NaN], { dtype: 'float64' }).sign())).toEqual(['0', '0', '-1', 'NaN']);
    // 4096 elements: the WebAssembly SIMD kernel
    const big = bits(tensor(new Float32Array(4096).fill(-0)).sign());
    expect(new Set(big)).toEqual(new Set(['0']));
  });

  it('copy_ from a source that overlaps the destination in another layout reads it whole first', () => {
    const x = arange(9).float().reshape([3, 3]);
    x.copy_(x.t());
    expect(A(x)).toEqual([0, 3, 6, 1, 4, 7, 2, 5, 8]);
    const y = arange(9).float().reshape([3, 3]);
    y.t().copy_(y);
    expect(A(y)).toEqual([0, 3, 6, 1, 4, 7, 2, 5, 8]);
  });
});

describe('PyTorch semantics a twelfth-session probe found silently different (each fixed)', () => {
  const I = (a: number[]) => tensor(a, { dtype: 'int32' });
  const A = (t: tg.Tensor) => Array.from(t.dataSync() as ArrayLike<number>);
  const F = tg.nn.functional;

  it('maxPool2d of int32 with padding: the padding never wins the max (it read as 0)', () => {
    const xi = tensor([[[[-1, -2, -3], [-4, -5, -6], [-7, -8, -9]]]], { dtype: 'int32' });
    expect(A(F.maxPool2d(xi, 2, { stride: 2, padding: 1 }))).toEqual([-1, -2, -4, -5]);
    expect(A(F.maxPool2d(xi, 2, { stride: 2, padding: 1 }))).toEqual(A(F.maxPool2d(xi.float(), 2, { stride: 2, padding: 1 })));
  });

  it('pad and unfold convert the fill value as full() does: out of int32 range or NaN is an error, a bool fill is non-zero', () => {
    expect(() => tg.pad(I([1, 2]), [1, 1], 1e10)).toThrow(/pad: value 10000000000.*cannot be converted to int32/);
    expect(() => tg.pad(I([1, 2]), [1, 0], NaN)).toThrow(tg.ValueError);
    expect(A(tg.pad(I([1, 2]), [1, 0], 2.7))).toEqual([2, 1, 2]);
    expect(A(tg.pad(tensor([true]), [1, 0], 0.5))).toEqual([1, 1]);
    expect(() => F.unfold(I([1, 2, 3, 4]).reshape([1, 1, 2, 2]), { kernel: 2, padding: 1, padValue: -Infinity })).toThrow(/unfold \(padValue\)/);
  });

  it('argmax/argmin over all elements with keepdim have shape [1, …, 1]', () => {
    const x = tensor([[1, 5], [7, 2]]);
    expect(x.argmax(undefined, true).shape).toEqual([1, 1]);
    expect(A(x.argmax(undefined, true))).toEqual([2]);
    expect(x.argmin(null, true).shape).toEqual([1, 1]);
    expect(x.argmax().shape).toEqual([]);
  });

  it('layerNorm weight/bias must have normalizedShape; a linear bias must broadcast to the output, not enlarge it', () => {
    const x = tensor([[1, 2, 4], [2, 0, 1]]);
    expect(() => F.layerNorm(x, [3], tensor([[2], [3]]))).toThrow(/layerNorm: weight of shape \[2, 1\] must have the shape of normalizedShape \[3\]/);
    expect(() => F.layerNorm(x, [3], null, tg.ones([2, 3]))).toThrow(/bias/);
    expect(F.layerNorm(x, [3], tg.ones([3]), tg.zeros([3])).shape).toEqual([2, 3]);
    expect(() => F.linear(tg.ones([2, 3]), tg.ones([4, 3]), tg.ones([5, 1, 4]))).toThrow(/linear: bias of shape \[5, 1, 4\] does not broadcast to the output shape \[2, 4\]/);
    expect(A(F.linear(tg.ones([2, 3]), tg.ones([4, 3]), tg.ones([4])))).toEqual([4, 4, 4, 4, 4, 4, 4, 4]);
  });

  it('dropout refuses integer inputs (the dtype depended on p) and a non-boolean training flag', () => {
    expect(() => F.dropout(I([1, 2, 3, 4]), 0.5)).toThrow(tg.DTypeError);
    expect(() => F.dropout(tensor([1, 2]), 0.5, 'false' as unknown as boolean)).toThrow(/training must be a boolean/);
    expect(A(F.dropout(I([1, 2]), 0.5, false))).toEqual([1, 2]);
  });

  it('flatten of a 0-d tensor takes only dims -1 and 0; batchNorm out of training needs running statistics', () => {
    expect(tensor(1).flatten().shape).toEqual([1]);
    expect(tensor(1).flatten(-1, 0).shape).toEqual([1]);
    expect(() => tensor(1).flatten(1)).toThrow(/flatten/);
    expect(() => F.batchNorm(tensor([[1, 2, 4], [2, 0, 1]]), null, null)).toThrow(/runningMean and runningVar are required when training is false/);
    expect(F.batchNorm(tensor([[1, 2, 4], [2, 0, 1]]), null, null, { training: true }).shape).toEqual([2, 3]);
  });
});

describe('products need one dtype (as PyTorch; they promoted silently)', () => {
  it('matmul, linear and conv2d refuse mixed dtypes', () => {
    const F = tg.nn.functional;
    expect(() => tg.matmul(tensor([[1, 2]]), tensor([[3], [4]], { dtype: 'float64' }))).toThrow(/matmul: both operands must have the same dtype, got float32\[1, 2\] and float64\[2, 1\]/);
    expect(() => tg.matmul(tensor([[1, 2]], { dtype: 'int32' }), tensor([[0.5], [4]]))).toThrow(tg.DTypeError);
    expect(() => F.linear(tg.ones([1, 2], { dtype: 'float64' }), tg.ones([3, 2]))).toThrow(tg.DTypeError);
    expect(() => F.conv2d(tg.zeros([1, 1, 2, 2], { dtype: 'float64' }), tg.zeros([1, 1, 1, 1]))).toThrow(/conv2d: input, weight and bias must have one dtype/);
    expect(tg.matmul(tensor([[1, 2]], { dtype: 'int32' }), tensor([[3], [4]], { dtype: 'int32' })).toArraySync()).toEqual([[11]]);
  });
});

describe('crossEntropy / nllLoss ignoreIndex (PyTorch ignore_index)', () => {
  const F = tg.nn.functional;
  const x = tensor([[1, 2, 0.5], [0.3, -1, 2], [2, 2, 2], [0, 1, 0]]);
  const t = tensor([0, -100, 2, 1], { dtype: 'int32' });
  // −log softmax(row)[target], by hand
  const nll = (row: number[], c: number) => { const m = Math.max(...row); return m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0)) - row[c]!; };
  const rows = [[1, 2, 0.5], [0.3, -1, 2], [2, 2, 2], [0, 1, 0]];
  const kept = [nll(rows[0]!, 0), nll(rows[2]!, 2), nll(rows[3]!, 1)];

  it('ignored targets add nothing and leave the mean\'s count; the gradient of their rows is zero', () => {
    expect(F.crossEntropy(x, t, { ignoreIndex: -100 }).itemSync()).toBeCloseTo((kept[0]! + kept[1]! + kept[2]!) / 3, 5);
    expect(F.crossEntropy(x, t, { ignoreIndex: -100, reduction: 'sum' }).itemSync()).toBeCloseTo(kept[0]! + kept[1]! + kept[2]!, 5);
    const none = Array.from(F.crossEntropy(x, t, { ignoreIndex: -100, reduction: 'none' }).dataSync());
    expect(none[1]).toBe(0);
    const xg = x.clone().requiresGrad_();
    F.crossEntropy(xg, t, { ignoreIndex: -100 }).backward();
    expect(Array.from(xg.grad!.dataSync()).slice(3, 6)).toEqual([0, 0, 0]);
    const lp = F.logSoftmax(x, 1);
    expect(F.nllLoss(lp, t, { ignoreIndex: -100 }).itemSync()).toBeCloseTo(F.crossEntropy(x, t, { ignoreIndex: -100 }).itemSync(), 6);
    expect(new tg.nn.CrossEntropyLoss({ ignoreIndex: -100 }).forward(x, t).itemSync()).toBeCloseTo((kept[0]! + kept[1]! + kept[2]!) / 3, 5);
  });

  it('with class weights and label smoothing: PyTorch\'s formula over the kept targets (eager and compiled)', () => {
    const w = [1, 2, 3], eps = 0.1, C = 3;
    const keepRows = [[0, 0], [2, 2], [3, 1]] as const;
    let num = 0, den = 0;
    for (const [r, c] of keepRows) {
      const row = rows[r]!;
      const smooth = w.reduce((a, wc, k) => a + wc * nll(row, k), 0) * eps / C;
      num += (1 - eps) * w[c]! * nll(row, c) + smooth;
      den += w[c]!;
    }
    const opts = { ignoreIndex: -100, labelSmoothing: eps, weight: tensor(w) };
    expect(F.crossEntropy(x, t, opts).itemSync()).toBeCloseTo(num / den, 5);
    const f = jit((a: tg.Tensor, b: tg.Tensor) => F.crossEntropy(a, b, opts), { eagerFirstCall: false });
    expect(f(x, t).itemSync()).toBeCloseTo(num / den, 5);
  });

  it('without ignoreIndex a negative target is an IndexError that says how to skip it', () => {
    expect(() => F.crossEntropy(x, t)).toThrow(/target -100 at position 1 is out of range.*ignoreIndex/);
    expect(() => F.crossEntropy(x, t, { ignoreIndex: 0.5 })).toThrow(/ignoreIndex must be an integer/);
  });
});
