/**
 * @file Pooling and the scatterAdd kernel on WebGPU against the CPU, at the shapes the pooling
 * composites produce: the tiled max/avg pool (disjoint windows as views: exact tilings, cropped
 * edges, stride > kernel), the im2col fallback (overlap, padding, dilation), batch 1, unbatched
 * input, odd sizes, ties and NaN; and scatterAdd's single-index (extent 1 along dim) and looping
 * forms, with out-of-range indices. Plus CPU checks that the two-step max picks the same element
 * — hence the same gradient — as one argmax over the flattened window.
 */
import { describe, expect, it } from 'vitest';
import { gpuStatus, expectSameTensor } from './gpu-setup.ts';
import { fromTypedArray, IndexError, nn, type Tensor } from '../src/index.ts';
import * as F from '../src/ops/functional.ts';

const gpu = await gpuStatus();
const NF = nn.functional;

/** Deterministic pseudo-random floats; `levels` > 0 rounds to that many values (to make ties). */
function values(n: number, seed: number, levels = 0): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 2 ** 32;
    a[i] = levels > 0 ? Math.floor(u * levels) : u * 4 - 2;
  }
  return a;
}

interface PoolCase { shape: number[]; k: number | [number, number]; stride?: [number, number]; padding?: [number, number]; dilation?: [number, number]; levels?: number }

const cases: PoolCase[] = [
  { shape: [4, 6, 28, 28], k: 2 }, // LeNet's first pool: exact tiling
  { shape: [1, 1, 4, 4], k: 2 }, // batch 1
  { shape: [2, 3, 7, 9], k: 2 }, // odd sizes: the last row/column is cropped
  { shape: [2, 2, 8, 11], k: [2, 3] }, // non-square kernel
  { shape: [2, 2, 10, 10], k: 2, stride: [3, 3] }, // stride > kernel: gaps between windows
  { shape: [2, 2, 9, 8], k: 2, stride: [3, 2] }, // mixed strides, still disjoint tiles
  { shape: [2, 2, 8, 8], k: 2, stride: [3, 2] }, // the last stride step would overrun H: fallback
  { shape: [1, 2, 7, 7], k: 3, stride: [2, 2] }, // overlapping windows (im2col fallback)
  { shape: [2, 1, 6, 6], k: 2, padding: [1, 1] }, // padding (fallback)
  { shape: [1, 2, 9, 9], k: 2, dilation: [2, 2] }, // dilation (fallback)
  { shape: [3, 4, 8, 8], k: 2, levels: 3 }, // many ties: the gradient goes to the first maximum
  { shape: [3, 5, 6], k: 3 }, // unbatched [C, H, W]
];

const label = (c: PoolCase) => `${c.shape.join('×')} k${c.k}${c.stride ? ` s${c.stride}` : ''}${c.padding ? ` p${c.padding}` : ''}${c.dilation ? ` d${c.dilation}` : ''}${c.levels ? ' ties' : ''}`;

/** y = pool(x) and x̄ for a seeded upstream gradient, on one device. */
function poolAndGrad(kind: 'max' | 'avg', c: PoolCase, device: 'cpu' | 'webgpu', seed: number): [Tensor, Tensor] {
  const n = c.shape.reduce((a, b) => a * b, 1);
  const x = fromTypedArray(values(n, seed, c.levels ?? 0), c.shape, 'float32', device).requiresGrad_();
  const opts = { stride: c.stride ?? null, padding: c.padding ?? [0, 0] as [number, number] };
  const y = kind === 'max' ? NF.maxPool2d(x, c.k, { ...opts, dilation: c.dilation ?? [1, 1] }) : NF.avgPool2d(x, c.k, opts);
  const g = fromTypedArray(values(y.numel, seed + 1), y.shape, 'float32', device);
  y.mul(g).sum().backward();
  return [y, x.grad!];
}

describe.skipIf(!gpu.ok)('webgpu: pooling matches the CPU, values and gradients', () => {
  for (const kind of ['max', 'avg'] as const) {
    for (const [i, c] of cases.entries()) {
      if (kind === 'avg' && c.dilation) continue; // avgPool2d takes no dilation
      it(`${kind}Pool2d ${label(c)}`, async () => {
        const [yc, gc] = poolAndGrad(kind, c, 'cpu', 17 + i);
        const [yg, gg] = poolAndGrad(kind, c, 'webgpu', 17 + i);
        await expectSameTensor(`${kind}Pool2d y`, yg, yc, 1e-6, 1e-6);
        await expectSameTensor(`${kind}Pool2d x̄`, gg, gc, 1e-6, 1e-6);
      });
    }
  }

  it('maxPool2d propagates NaN like the CPU', async () => {
    const data = values(2 * 2 * 6 * 6, 5);
    data[7] = NaN; data[40] = NaN; data[41] = NaN;
    const run = async (device: 'cpu' | 'webgpu') => {
      const x = fromTypedArray(data.slice(), [2, 2, 6, 6], 'float32', device).requiresGrad_();
      const y = NF.maxPool2d(x, 2);
      y.sum().backward();
      return [y, x.grad!] as const;
    };
    const [yc, gc] = await run('cpu'), [yg, gg] = await run('webgpu');
    await expectSameTensor('maxPool2d NaN y', yg, yc);
    await expectSameTensor('maxPool2d NaN x̄', gg, gc);
  });
});

describe.skipIf(!gpu.ok)('webgpu: scatterAdd kernel', () => {
  /** scatterAdd(base, dim, idx, src) on both devices. */
  async function same(baseShape: number[], dim: number, idxData: Int32Array, idxShape: number[], srcShape: number[], transposeSrc = false) {
    const run = (device: 'cpu' | 'webgpu') => {
      const base = fromTypedArray(values(baseShape.reduce((a, b) => a * b, 1), 3), baseShape, 'float32', device);
      const idx = fromTypedArray(idxData, idxShape, 'int32', device);
      let src = fromTypedArray(values(srcShape.reduce((a, b) => a * b, 1), 4), transposeSrc ? [...srcShape].reverse() : srcShape, 'float32', device);
      if (transposeSrc) src = F.permute(src, srcShape.map((_, i) => srcShape.length - 1 - i));
      return F.scatterAdd(base, dim, idx, src);
    };
    await expectSameTensor(`scatterAdd dim ${dim} idx ${idxShape.join('×')}`, run('webgpu'), run('cpu'));
  }
  const idxOf = (n: number, size: number, seed: number) => Int32Array.from(values(n, seed, size));

  it('one index per position along dim (straight-line form), ranks 1 to 5', async () => {
    await same([5], 0, new Int32Array([3]), [1], [1]);
    await same([7, 3], 1, idxOf(7, 3, 1), [7, 1], [7, 1]);
    await same([4, 2, 5], 1, idxOf(20, 2, 2), [4, 1, 5], [4, 1, 5]);
    await same([2, 3, 2, 5, 2], 4, idxOf(60, 2, 3), [2, 3, 2, 5, 1], [2, 3, 2, 5, 1]);
    await same([2, 3, 4, 5, 1], 2, idxOf(30, 4, 4), [2, 3, 1, 5, 1], [2, 3, 1, 5, 1]);
  });
  it('index smaller than the output outside dim, src larger than the index, strided src', async () => {
    await same([4, 6], 1, idxOf(3, 6, 5), [3, 1], [4, 2]);
    await same([5, 3], 0, idxOf(3, 5, 6), [1, 3], [2, 3], true);
  });
  it('several indices per position (loop form), duplicates summed in index order', async () => {
    await same([3, 4], 1, Int32Array.from([0, 0, 3, 1, 1, 1, 2, 0, 3]), [3, 3], [3, 3]);
    await same([6, 2], 0, idxOf(8, 6, 7), [4, 2], [4, 2], true);
  });
  it('an out-of-range index in the straight-line form is an IndexError at readback', async () => {
    const base = fromTypedArray(new Float32Array(6), [3, 2], 'float32', 'webgpu');
    const idx = fromTypedArray(Int32Array.from([0, 2, 1]), [3, 1], 'int32', 'webgpu');
    const src = fromTypedArray(Float32Array.from([1, 2, 3]), [3, 1], 'float32', 'webgpu');
    await expect(F.scatterAdd(base, 1, idx, src).toArray()).rejects.toThrow(IndexError);
    const neg = fromTypedArray(Int32Array.from([0, -1, 1]), [3, 1], 'int32', 'webgpu');
    await expect(F.scatterAdd(base, 1, neg, src).toArray()).rejects.toThrow(/scatterAdd: index -1/);
  });
});

describe('maxPool2d: the two-step max picks the first maximum of the window (CPU)', () => {
  // reference: one argmax over the im2col column of each window (the fallback path)
  function reference(x: Tensor, k: number, s: number): Tensor {
    const [N, C, H, W] = x.shape as [number, number, number, number];
    const cols = F.unfold(F.reshape(x, [N * C, 1, H, W]), { kernel: [k, k], stride: [s, s], padding: [0, 0], dilation: [1, 1], padValue: -Infinity });
    const oh = Math.floor((H - k) / s) + 1, ow = Math.floor((W - k) / s) + 1;
    return F.reshape(F.max(cols, 1).values, [N, C, oh, ow]);
  }
  for (const [shape, k, s] of [[[2, 3, 8, 8], 2, 2], [[1, 2, 9, 7], 3, 3], [[2, 1, 10, 10], 2, 3]] as const) {
    it(`${shape.join('×')} k${k} s${s}, values with many ties`, () => {
      const n = (shape as readonly number[]).reduce((a, b) => a * b, 1);
      const grads = (f: (x: Tensor) => Tensor) => {
        const x = fromTypedArray(Float64Array.from(values(n, 9, 2)), shape, 'float64', 'cpu').requiresGrad_();
        const y = f(x);
        y.mul(fromTypedArray(Float64Array.from(values(y.numel, 10)), y.shape, 'float64', 'cpu')).sum().backward();
        return [y.dataSync(), x.grad!.dataSync()];
      };
      const [y1, g1] = grads((x) => NF.maxPool2d(x, k, { stride: s }));
      const [y2, g2] = grads((x) => reference(x, k, s));
      expect(Array.from(y1!)).toEqual(Array.from(y2!));
      expect(Array.from(g1!)).toEqual(Array.from(g2!));
    });
  }
});
