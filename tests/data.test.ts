import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DataLoader, Generator, IndexError, ShapeError, TensorDataset, ValueError, arange, datasets, defaultCollate, manualSeed, memory, tensor, type Tensor,
} from '../src/index.ts';
import { DatasetNotFoundError } from '../src/io/errors.ts';

function expectThrows(fn: () => unknown, cls: new (...a: never[]) => Error, ...parts: string[]): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(cls);
  for (const p of parts) expect((err as Error).message).toContain(p);
}

/** x = [[0, 0.5], [1, 1.5], …] and y = [0, 10, 20, …]: row i of x and y both encode i. */
function toyData(n: number): [Tensor, Tensor] {
  const x = tensor(Array.from({ length: n }, (_, i) => [i, i + 0.5]));
  const y = arange(0, 10 * n, 10);
  return [x, y];
}

function rowsOf(x: Tensor): number[] {
  return Array.from(x.dataSync()).filter((_, k) => k % 2 === 0);
}

describe('Generator', () => {
  it('gives the same stream for the same seed and a different one for another seed', () => {
    const a = new Generator(123), b = new Generator(123), c = new Generator(124);
    const sa = Array.from({ length: 8 }, () => a.nextUint32());
    const sb = Array.from({ length: 8 }, () => b.nextUint32());
    const sc = Array.from({ length: 8 }, () => c.nextUint32());
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
    for (const v of sa) expect(Number.isInteger(v) && v >= 0 && v < 2 ** 32).toBe(true);
  });

  it('randperm is a permutation, reproducible from the seed', () => {
    const p = new Generator(5).randperm(1000);
    expect([...p].sort((u, v) => u - v)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect([...p]).not.toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(new Generator(5).randperm(1000)).toEqual(p);
    expect(new Generator(0).randperm(0)).toEqual(new Int32Array(0));
  });

  it('random() lies in [0, 1) with mean ≈ 0.5; randint(n) covers 0..n-1 evenly', () => {
    const g = new Generator(1);
    let s = 0;
    for (let i = 0; i < 20000; i++) {
      const u = g.random();
      expect(u >= 0 && u < 1).toBe(true);
      s += u;
    }
    expect(s / 20000).toBeCloseTo(0.5, 1);
    const counts = new Array(6).fill(0);
    for (let i = 0; i < 6000; i++) counts[g.randint(6)]++;
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThan(150);
  });

  it('getState/setState replays the stream; bad arguments are ValueErrors', () => {
    const g = new Generator(9);
    g.nextUint32();
    const st = g.getState();
    const next = [g.nextUint32(), g.nextUint32()];
    g.setState(st);
    expect([g.nextUint32(), g.nextUint32()]).toEqual(next);
    expect(g.initialSeed()).toBe(9);
    expectThrows(() => g.manualSeed(0.5), ValueError, 'safe integer');
    expectThrows(() => g.randint(0), ValueError, 'randint');
  });

  it('without a seed, it follows manualSeed', () => {
    manualSeed(42);
    const a = new Generator().randperm(20);
    manualSeed(42);
    expect(new Generator().randperm(20)).toEqual(a);
  });
});

describe('TensorDataset', () => {
  it('has a length and returns samples and batches', () => {
    const [x, y] = toyData(5);
    const ds = new TensorDataset(x, y);
    expect(ds.length).toBe(5);
    const [xi, yi] = ds.get(3);
    expect(xi.shape).toEqual([2]);
    expect(xi.toArraySync()).toEqual([3, 3.5]);
    expect(yi.shape).toEqual([]);
    expect(yi.itemSync()).toBe(30);
    const [xb, yb] = ds.getBatch(Int32Array.from([4, 0, 2]));
    expect(xb.toArraySync()).toEqual([[4, 4.5], [0, 0.5], [2, 2.5]]);
    expect(yb.toArraySync()).toEqual([40, 0, 20]);
    expect(yb.dtype).toBe('int32');
  });

  it('rejects tensors of different lengths, scalars, nothing, and bad indices', () => {
    expectThrows(() => new TensorDataset(tensor([[1, 2], [3, 4], [5, 6]]), tensor([1, 2])), ShapeError,
      'same size in dim 0', 'tensor 0: [3, 2]', 'tensor 1: [2]');
    expectThrows(() => new TensorDataset(tensor(1)), ShapeError, '0-d');
    expectThrows(() => new TensorDataset(), ValueError, 'at least one tensor');
    expectThrows(() => new TensorDataset(tensor([1]), 3 as unknown as Tensor), ValueError, 'argument 1 is number');
    expectThrows(() => new TensorDataset(tensor([1, 2])).get(2), IndexError, 'index 2 is out of range', '0..1');
  });
});

describe('DataLoader', () => {
  it('batches in order, with the last batch short unless dropLast', () => {
    const ds = new TensorDataset(...toyData(10));
    const loader = new DataLoader(ds, { batchSize: 3 });
    expect(loader.length).toBe(4);
    const batches = [...loader];
    expect(batches.map(([x]) => x.shape)).toEqual([[3, 2], [3, 2], [3, 2], [1, 2]]);
    expect(batches.map(([, y]) => y.toArraySync())).toEqual([[0, 10, 20], [30, 40, 50], [60, 70, 80], [90]]);
    const dropped = new DataLoader(ds, { batchSize: 3, dropLast: true });
    expect(dropped.length).toBe(3);
    expect([...dropped].map(([, y]) => y.shape[0])).toEqual([3, 3, 3]);
    expect(new DataLoader(ds).length).toBe(10); // batchSize defaults to 1
    expect(new DataLoader(ds, { batchSize: 20, dropLast: true }).length).toBe(0);
    expect([...new DataLoader(ds, { batchSize: 20 })].map(([x]) => x.shape)).toEqual([[10, 2]]);
  });

  it('shuffles every sample exactly once per epoch, keeping x and y rows together', () => {
    const ds = new TensorDataset(...toyData(50));
    const loader = new DataLoader(ds, { batchSize: 8, shuffle: true, seed: 1 });
    const seen: number[] = [];
    for (const [x, y] of loader) {
      const xi = rowsOf(x), yi = Array.from(y.dataSync());
      expect(yi).toEqual(xi.map((i) => 10 * i));
      seen.push(...xi);
    }
    expect(seen).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('two loaders with the same seed give the same order; epochs differ', () => {
    const ds = new TensorDataset(...toyData(40));
    const order = (l: DataLoader<[Tensor, Tensor]>) => [...l].flatMap(([x]) => rowsOf(x));
    const a = new DataLoader(ds, { batchSize: 16, shuffle: true, seed: 7 });
    const b = new DataLoader(ds, { batchSize: 16, shuffle: true, generator: new Generator(7) });
    const a1 = order(a), a2 = order(a);
    expect(order(b)).toEqual(a1);
    expect(order(b)).toEqual(a2);
    expect(a2).not.toEqual(a1);
    expect(order(new DataLoader(ds, { batchSize: 16, shuffle: true, seed: 8 }))).not.toEqual(a1);
    // without a seed, manualSeed makes the shuffle reproducible
    manualSeed(3);
    const c1 = order(new DataLoader(ds, { batchSize: 16, shuffle: true }));
    manualSeed(3);
    expect(order(new DataLoader(ds, { batchSize: 16, shuffle: true }))).toEqual(c1);
  });

  it('returns copies: writing to a batch leaves the dataset alone', () => {
    const [x, y] = toyData(6);
    for (const shuffle of [false, true]) {
      for (const [xb] of new DataLoader(new TensorDataset(x, y), { batchSize: 4, shuffle, seed: 0 })) xb.fill_(-1);
      expect(rowsOf(x)).toEqual([0, 1, 2, 3, 4, 5]);
    }
  });

  it('leaves nothing behind once the batches are disposed', () => {
    const ds = new TensorDataset(...toyData(100));
    const before = memory().storages;
    for (const shuffle of [false, true]) {
      for (const [x, y] of new DataLoader(ds, { batchSize: 16, shuffle, seed: 2 })) {
        x.dispose();
        y.dispose();
      }
    }
    expect(memory().storages).toBeLessThanOrEqual(before);
  });

  it('collates a plain dataset by stacking samples', () => {
    const plain = {
      length: 5,
      get: (i: number) => ({ x: tensor([i, -i]), label: i % 2, w: i / 4 }),
    };
    const batches = [...new DataLoader(plain, { batchSize: 2 })];
    expect(batches.length).toBe(3);
    expect(batches[0]!.x.toArraySync()).toEqual([[0, -0], [1, -1]]);
    expect(batches[0]!.label.dtype).toBe('int32');
    expect(batches[0]!.w.dtype).toBe('float32');
    expect(batches[2]!.label.toArraySync()).toEqual([0]);
  });

  it('rejects bad options', () => {
    const ds = new TensorDataset(...toyData(4));
    expectThrows(() => new DataLoader(ds, { batchSize: 0 }), ValueError, 'batchSize must be a positive integer, got 0');
    expectThrows(() => new DataLoader(ds, { batchSize: 2.5 }), ValueError, 'batchSize');
    expectThrows(() => new DataLoader(ds, { seed: 1.5 }), ValueError, 'seed');
    expectThrows(() => new DataLoader({} as never), ValueError, 'dataset');
  });
});

describe('datasets.mnist', () => {
  it('loads the real test split: shape, dtype, value range, first labels', async () => {
    const test = await datasets.mnist({ split: 'test' });
    expect(test.length).toBe(10000);
    expect(test.images.shape).toEqual([10000, 1, 28, 28]);
    expect(test.images.dtype).toBe('float32');
    expect(test.labels.shape).toEqual([10000]);
    expect(test.labels.dtype).toBe('int32');
    const px = test.images.dataSync();
    let lo = Infinity, hi = -Infinity;
    for (const v of px) { if (v < lo) lo = v; if (v > hi) hi = v; }
    expect(lo).toBe(0);
    expect(hi).toBe(1);
    // the first test digits of MNIST are 7, 2, 1, 0, 4
    expect(Array.from(test.labels.dataSync().subarray(0, 5))).toEqual([7, 2, 1, 0, 4]);
    const counts = new Array(10).fill(0);
    for (const l of test.labels.dataSync()) counts[l]++;
    expect(counts).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  });

  it('limit keeps the first N training digits and works with a DataLoader', async () => {
    const train = await datasets.mnist({ split: 'train', limit: 100 });
    expect(train.images.shape).toEqual([100, 1, 28, 28]);
    expect(Array.from(train.labels.dataSync().subarray(0, 5))).toEqual([5, 0, 4, 1, 9]);
    const batches = [...new DataLoader(train, { batchSize: 32 })];
    expect(batches.map(([x]) => x.shape[0])).toEqual([32, 32, 32, 4]);
    expect(batches[3]![1].toArraySync()).toEqual(Array.from(train.labels.dataSync().subarray(96)));
  });

  it('reports a missing folder clearly, and rejects bad options', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tapegrad-mnist-'));
    try {
      const err = await datasets.mnist({ split: 'test', root: dir }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DatasetNotFoundError);
      expect((err as Error).message).toContain(join(dir, 't10k-images-idx3-ubyte'));
      expect((err as Error).message).toContain('download the four MNIST IDX files');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    await expect(datasets.mnist({ split: 'val' as 'test' })).rejects.toThrow(/split is "val", expected 'train' or 'test'/);
    await expect(datasets.mnist({ limit: -1 })).rejects.toThrow(ValueError);
  });
});

describe('defaultCollate: typed arrays and other objects (a probe found them split into columns or dropped)', () => {
  it('stacks typed-array samples into one tensor of their dtype', () => {
    const b = defaultCollate([{ x: new Float32Array([1, 2, 3]), y: 1 }, { x: new Float32Array([4, 5, 6]), y: 0 }]) as { x: Tensor; y: Tensor };
    expect(b.x.shape).toEqual([2, 3]);
    expect(b.x.dtype).toBe('float32');
    expect(b.x.toArraySync()).toEqual([[1, 2, 3], [4, 5, 6]]);
    const c = defaultCollate([new Int32Array([1, 2]), new Int32Array([3, 4])]) as unknown as Tensor;
    expect(c.dtype).toBe('int32');
    expect(c.toArraySync()).toEqual([[1, 2], [3, 4]]);
    expectThrows(() => defaultCollate([new Float32Array([1]), new Float64Array([2])]), ValueError, 'sample 1 is a Float64Array, but sample 0 is a Float32Array');
    expectThrows(() => defaultCollate([new Float32Array([1]), new Float32Array([2, 3])]), ShapeError, 'sample 1 is of shape [2], but sample 0 is of shape [1]');
  });

  it('refuses a Map, Set or Date instead of collating it to {}', () => {
    expectThrows(() => defaultCollate([new Map([[1, 2]]), new Map([[1, 3]])]), ValueError, 'cannot collate samples of type Map', 'pass a collateFn');
    expectThrows(() => defaultCollate([{ when: new Date(0) }, { when: new Date(1) }]), ValueError, 'samples field when of type Date');
  });
});
