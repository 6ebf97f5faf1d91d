/**
 * @file The data namespace: datasets, batching and host-side random numbers. Browser-safe: the
 * Node-only file reading behind `datasets.mnist` is loaded on demand (see datasets.ts).
 */
export { TensorDataset, type Dataset } from './dataset.ts';
export { DataLoader, defaultCollate, type DataLoaderOptions, type Collated } from './dataloader.ts';
export { Generator, type GeneratorState } from './generator.ts';
export * as datasets from './datasets.ts';
export type { MnistDataset, MnistOptions } from './datasets.ts';
