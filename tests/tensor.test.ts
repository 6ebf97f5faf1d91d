import { describe, expect, it } from 'vitest';
import {
  arange, DTypeError, eye, full, fullLike, linspace, manualSeed, ones, onesLike, rand, randint, randn, ShapeError, ValueError,
  tensor, zeros, zerosLike, Tensor, cat, stack,
} from 'tapegrad';

describe('creation', () => {
  it('tensor() from numbers, nested arrays and typed arrays', () => {
    expect(tensor(3).shape).toEqual([]);
    expect(tensor(3).itemSync()).toBe(3);
    const t = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('float32');
    expect(t.ndim).toBe(2);
    expect(t.numel).toBe(6);
    expect(tensor(new Int32Array([1, 2])).dtype).toBe('int32');
    expect(tensor(new Float64Array([1, 2])).dtype).toBe('float64');
    expect(tensor([true, false]).dtype).toBe('bool');
    expect(tensor([1, 2], { dtype: 'int32' }).toArraySync()).toEqual([1, 2]);
    expect(tensor(new Float32Array([1, 2, 3, 4]), { shape: [2, 2] }).toArraySync()).toEqual([[1, 2], [3, 4]]);
  });
  it('ragged nested arrays are a ShapeError naming the element', () => {
    expect(() => tensor([[1, 2], [3]])).toThrow(ShapeError);
    expect(() => tensor([[1, 2], [3]])).toThrow(/ragged.*\[1\]/);
    expect(() => tensor([[1, 2], 3] as never)).toThrow(ShapeError);
  });
  it('zeros, ones, full, *Like, eye, arange, linspace', () => {
    expect(zeros([2, 2]).toArraySync()).toEqual([[0, 0], [0, 0]]);
    expect(ones(3, { dtype: 'int32' }).toArraySync()).toEqual([1, 1, 1]);
    expect(full([2], 7).toArraySync()).toEqual([7, 7]);
    const x = tensor([[1, 2]], { dtype: 'float64' });
    expect(zerosLike(x).dtype).toBe('float64');
    expect(onesLike(x).toArraySync()).toEqual([[1, 1]]);
    expect(fullLike(x, 2).toArraySync()).toEqual([[2, 2]]);
    expect(eye(2, 3).toArraySync()).toEqual([[1, 0, 0], [0, 1, 0]]);
    expect(arange(5).toArraySync()).toEqual([0, 1, 2, 3, 4]);
    expect(arange(5).dtype).toBe('int32');
    expect(arange(1, 2, 0.25).toArraySync()).toEqual([1, 1.25, 1.5, 1.75]);
    expect(arange(5, 0, -2).toArraySync()).toEqual([5, 3, 1]);
    expect(linspace(0, 1, 5).toArraySync()).toEqual([0, 0.25, 0.5, 0.75, 1]);
  });
  it('negative sizes are ShapeErrors; zero sizes make empty tensors', () => {
    expect(() => zeros([2, -1])).toThrow(ShapeError);
    expect(() => zeros([2, -1])).toThrow(/-1/);
    expect(() => rand([1.5])).toThrow(ShapeError);
    const e = zeros([0, 3]);
    expect(e.numel).toBe(0);
    expect(e.sum().itemSync()).toBe(0);
    expect(e.sum(0).toArraySync()).toEqual([0, 0, 0]);
  });
  it('manualSeed makes every random function deterministic', () => {
    manualSeed(42);
    const a = [rand([5]).toArraySync(), randn([5]).toArraySync(), randint(0, 10, [5]).toArraySync()];
    manualSeed(42);
    const b = [rand([5]).toArraySync(), randn([5]).toArraySync(), randint(0, 10, [5]).toArraySync()];
    expect(a).toEqual(b);
    manualSeed(43);
    expect(rand([5]).toArraySync()).not.toEqual(a[0]);
  });
  it('random distributions have the right moments and ranges', () => {
    manualSeed(7);
    const u = rand([100000]);
    expect(u.mean().itemSync()).toBeCloseTo(0.5, 2);
    expect(u.amin().itemSync()).toBeGreaterThanOrEqual(0);
    expect(u.amax().itemSync()).toBeLessThan(1);
    const n = randn([100000]);
    expect(n.mean().itemSync()).toBeCloseTo(0, 1);
    expect(n.std().itemSync()).toBeCloseTo(1, 1);
    const r = randint(3, 6, [10000]);
    expect(r.dtype).toBe('int32');
    expect(r.amin().itemSync()).toBe(3);
    expect(r.amax().itemSync()).toBe(5);
  });
  it('randint over ranges wider than a float32 draw covers every integer: odd ones, and near ±2^31', () => {
    manualSeed(11);
    const moments = (lo: number, hi: number) => {
      const d = randint(lo, hi, [60000]).dataSync() as Int32Array;
      let odd = 0, sum = 0, mn = Infinity, mx = -Infinity;
      for (const v of d) { odd += v & 1; sum += v; mn = Math.min(mn, v); mx = Math.max(mx, v); }
      return { odd: odd / d.length, mean: sum / d.length, mn, mx };
    };
    // floor(u·2^31) with a 24-bit u was always a multiple of 128
    const a = moments(0, 2 ** 31);
    expect(a.odd).toBeGreaterThan(0.48);
    expect(a.odd).toBeLessThan(0.52);
    expect(Math.abs(a.mean - 2 ** 30) / 2 ** 30).toBeLessThan(0.02);
    const b = moments(-(2 ** 31), 2 ** 31);
    expect(b.mn).toBeLessThan(-(2 ** 30));
    expect(b.mx).toBeGreaterThan(2 ** 30);
    expect(Math.abs(b.mean) / 2 ** 31).toBeLessThan(0.02);
    expect(b.odd).toBeGreaterThan(0.48);
    // low was added in float32, where 1e9 + 1 … 1e9 + 4 round to 1e9
    const c = randint(1e9, 1e9 + 5, [5000]).dataSync();
    expect(new Set(c)).toEqual(new Set([1e9, 1e9 + 1, 1e9 + 2, 1e9 + 3, 1e9 + 4]));
    const d = randint(2 ** 31 - 3, 2 ** 31, [3000]).dataSync();
    expect(new Set(d)).toEqual(new Set([2 ** 31 - 3, 2 ** 31 - 2, 2 ** 31 - 1]));
    expect(randint(-(2 ** 24) - 1, 2 ** 24, [10], { dtype: 'float32' }).dtype).toBe('float32');
    expect(() => randint(0, 2 ** 31 + 1, [2])).toThrow(/randint: low and high must lie in \[-2\*\*31, 2\*\*31\].*high=2147483649/);
    expect(() => randint(-(2 ** 31) - 1, 0, [2])).toThrow(ValueError);
  });
  it('float64 rand has 48 random bits (two draws), float32 rand 24', () => {
    manualSeed(5);
    const u = rand([4000], { dtype: 'float64' }).dataSync();
    let below = 0, mn = 1, mx = 0;
    for (const v of u) { if (v * 2 ** 24 !== Math.floor(v * 2 ** 24)) below++; mn = Math.min(mn, v); mx = Math.max(mx, v); }
    expect(below / u.length).toBeGreaterThan(0.99);
    expect(mn).toBeGreaterThanOrEqual(0);
    expect(mx).toBeLessThan(1);
    for (const v of u) expect(v * 2 ** 48).toBe(Math.floor(v * 2 ** 48));
    const f = rand([1000]).dataSync();
    for (const v of f) expect(v * 2 ** 24).toBe(Math.floor(v * 2 ** 24));
  });
});

describe('dtypes and promotion', () => {
  it("follows PyTorch's rules", () => {
    const f = tensor([1.5]), d = tensor([1], { dtype: 'float64' }), i = tensor([2], { dtype: 'int32' }), b = tensor([true]);
    expect(f.add(d).dtype).toBe('float64');
    expect(i.add(f).dtype).toBe('float32');
    expect(i.add(b).dtype).toBe('int32');
    expect(i.add(2).dtype).toBe('int32');
    expect(i.add(2.5).dtype).toBe('float32');
    expect(i.add(2.5).toArraySync()).toEqual([4.5]);
    // a JS number never widens a float32 tensor
    expect(f.mul(1e-300).dtype).toBe('float32');
    // a 0-d float64 tensor does not promote a dimensioned float32 one
    expect(f.add(tensor(1, { dtype: 'float64' })).dtype).toBe('float32');
    // integer true division gives float
    expect(tensor([7], { dtype: 'int32' }).div(2).toArraySync()).toEqual([3.5]);
    expect(tensor([7, -7], { dtype: 'int32' }).div(2, { roundingMode: 'floor' }).toArraySync()).toEqual([3, -4]);
    expect(tensor([7, -7], { dtype: 'int32' }).div(2, { roundingMode: 'trunc' }).toArraySync()).toEqual([3, -3]);
    expect(tensor([1, 2]).gt(1).dtype).toBe('bool');
  });
  it('to(), float(), double(), int(), bool()', () => {
    const x = tensor([1.7, -1.7, 0]);
    expect(x.int().toArraySync()).toEqual([1, -1, 0]);
    expect(x.bool().toArraySync()).toEqual([true, true, false]);
    expect(x.double().dtype).toBe('float64');
    expect(x.to('int32').float().toArraySync()).toEqual([1, -1, 0]);
    expect(x.to('float32')).toBe(x);
  });
  it('float32 rounds like float32', () => {
    expect(tensor([0.1]).itemSync()).toBe(Math.fround(0.1));
    expect(tensor([0.1], { dtype: 'float64' }).itemSync()).toBe(0.1);
  });
});

describe('views', () => {
  it('share storage and track strides', () => {
    const x = arange(6).float().reshape(2, 3);
    const t = x.t();
    expect(t.shape).toEqual([3, 2]);
    expect(t.strides).toEqual([1, 3]);
    expect(t.isContiguous).toBe(false);
    expect(t.toArraySync()).toEqual([[0, 3], [1, 4], [2, 5]]);
    expect(t.contiguous().isContiguous).toBe(true);
    const n = x.narrow(1, 1, 2);
    expect(n.offset).toBe(1);
    expect(n.toArraySync()).toEqual([[1, 2], [4, 5]]);
    x.add_(10);
    expect(n.toArraySync()).toEqual([[11, 12], [14, 15]]);
  });
  it('expand broadcasts with stride 0; clone copies', () => {
    const x = tensor([[1], [2]]);
    const e = x.expand(2, 3);
    expect(e.strides).toEqual([1, 0]);
    expect(e.toArraySync()).toEqual([[1, 1, 1], [2, 2, 2]]);
    const c = x.clone();
    c.add_(1);
    expect(x.toArraySync()).toEqual([[1], [2]]);
  });
  it('reshape of a non-contiguous tensor copies, view refuses', () => {
    const t = arange(6).float().reshape(2, 3).t();
    expect(t.reshape(6).toArraySync()).toEqual([0, 3, 1, 4, 2, 5]);
    expect(() => t.view(6)).toThrow(ShapeError);
    expect(arange(6).reshape(-1, 2).shape).toEqual([3, 2]);
  });
  it('squeeze, unsqueeze, flatten, permute, slicing and index', () => {
    const x = arange(24).reshape(2, 3, 4);
    expect(x.unsqueeze(1).shape).toEqual([2, 1, 3, 4]);
    expect(x.unsqueeze(-1).shape).toEqual([2, 3, 4, 1]);
    expect(x.unsqueeze(0).squeeze().shape).toEqual([2, 3, 4]);
    expect(x.flatten(1).shape).toEqual([2, 12]);
    expect(x.permute(2, 0, 1).shape).toEqual([4, 2, 3]);
    expect(x.slice(2, 1, null, 2).toArraySync()).toEqual([[[1, 3], [5, 7], [9, 11]], [[13, 15], [17, 19], [21, 23]]]);
    expect(x.index(1, [0, 2], -1).toArraySync()).toEqual([15, 19]);
    expect(x.index(null, 0).toArraySync()).toEqual([[0, 1, 2, 3], [12, 13, 14, 15]]);
    expect(x.slice(-1, -2).toArraySync()).toEqual([[[2, 3], [6, 7], [10, 11]], [[14, 15], [18, 19], [22, 23]]]);
  });
  it('cat, stack, split, chunk', () => {
    const a = tensor([[1, 2]]), b = tensor([[3, 4]]);
    expect(cat([a, b]).toArraySync()).toEqual([[1, 2], [3, 4]]);
    expect(cat([a, b], 1).toArraySync()).toEqual([[1, 2, 3, 4]]);
    expect(stack([a, b], 1).shape).toEqual([1, 2, 2]);
    const x = arange(7);
    expect(x.split(3).map((p) => p.toArraySync())).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
    expect(x.split([2, 5]).map((p) => p.numel)).toEqual([2, 5]);
    expect(x.chunk(2).map((p) => p.numel)).toEqual([4, 3]);
    expect(() => x.split([2, 2])).toThrow(ShapeError);
  });
});

describe('readback and printing', () => {
  it('async and sync readers agree', async () => {
    const x = tensor([[1, 2], [3, 4]]);
    expect(await x.toArray()).toEqual(x.toArraySync());
    expect(Array.from(await x.data())).toEqual([1, 2, 3, 4]);
    expect(await x.sum().item()).toBe(10);
    expect(() => x.itemSync()).toThrow(ShapeError);
  });
  it('toString prints like PyTorch', () => {
    expect(tensor([[0.5, 0.7310586], [0.26894142, 0.11920292]], { requiresGrad: true }).toString()).toBe(
      'tensor([[0.5000, 0.7311],\n        [0.2689, 0.1192]], requiresGrad=true)',
    );
    expect(tensor([0, 2, 1026]).toString()).toBe('tensor([   0.,    2., 1026.])');
    expect(tensor([1, 2], { dtype: 'int32' }).toString()).toBe('tensor([1, 2])');
    expect(tensor([1.5], { dtype: 'float64' }).toString()).toBe('tensor([1.5000], dtype=float64)');
    expect(tensor(3).toString()).toBe('tensor(3.)');
    expect(tensor([true, false]).toString()).toBe('tensor([ true, false])');
    const y = tensor([1], { requiresGrad: true }).mul(2);
    expect(y.toString()).toBe('tensor([2.], gradFn=<MulBackward>)');
    expect(tensor([1e-8, 1]).toString()).toBe('tensor([1.0000e-08, 1.0000e+00])');
    expect(tensor([NaN, Infinity, 0.5]).toString()).toBe('tensor([   nan,    inf, 0.5000])');
    // released tensors print so (console.log must not throw), a view of a released base included
    const b = tensor([[1, 2], [3, 4]]);
    const v = b.t();
    b.dispose();
    expect(String(b)).toBe('tensor(<disposed>, shape=[2, 2])');
    expect(String(v)).toBe('tensor(<disposed>, shape=[2, 2])');
  });
});

describe('in-place ops', () => {
  it('add_, sub_, mul_, div_, zero_, fill_, copy_ modify storage and bump the version', () => {
    const x = tensor([1, 2, 3]);
    const v0 = x._version;
    x.add_(1).mul_(2).sub_(1).div_(2);
    expect(x.toArraySync()).toEqual([1.5, 2.5, 3.5]);
    expect(x._version).toBe(v0 + 4);
    x.copy_(tensor([7]));
    expect(x.toArraySync()).toEqual([7, 7, 7]);
    x.fill_(2);
    expect(x.toArraySync()).toEqual([2, 2, 2]);
    x.zero_();
    expect(x.toArraySync()).toEqual([0, 0, 0]);
  });
  it('writes through views into the base', () => {
    const x = zeros([2, 3]);
    x.index(null, 1).fill_(5);
    expect(x.toArraySync()).toEqual([[0, 5, 0], [0, 5, 0]]);
    x.t().index(2).add_(tensor([1, 2]));
    expect(x.toArraySync()).toEqual([[0, 5, 1], [0, 5, 2]]);
  });
  it('refuses to change shape or to cast float into int in place', () => {
    const x = zeros([2]);
    expect(() => x.add_(zeros([3, 2]))).toThrow(ShapeError);
    expect(() => tensor([1], { dtype: 'int32' }).mul_(1.5)).toThrow(DTypeError);
  });
});

it('Tensor is exported as a class', () => {
  expect(tensor([1])).toBeInstanceOf(Tensor);
});

it('console.log (util.inspect) prints the PyTorch-style form', async () => {
  const { inspect } = await import('node:util');
  expect(inspect(tensor([1, 2]))).toBe('tensor([1., 2.])');
  expect(inspect({ values: tensor([3]) })).toBe('{ values: tensor([3.]) }');
});
