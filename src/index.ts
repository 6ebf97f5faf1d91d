/**
 * @file The public API of tapegrad.
 * @example
 * import { tensor } from 'tapegrad';
 * const x = tensor([1, 2, 3], { requiresGrad: true });
 * x.pow(2).sum().backward(); // x.grad = [2, 4, 6]
 */
import './cpu/backend.ts';

export { Tensor, type NestedArray } from './tensor.ts';
export type { DType, TypedArray } from './dtype.ts';
export type { Device, MemoryInfo } from './backend.ts';
export {
  TapegradError, ShapeError, DTypeError, DeviceError, AutogradError, IndexError, UseAfterDisposeError, ValueError,
} from './errors.ts';
export {
  tensor, fromTypedArray, zeros, ones, full, zerosLike, onesLike, fullLike, arange, linspace, eye,
  rand, randn, randint, manualSeed, type CreateOptions,
} from './creation.ts';
export { noGrad, enableGrad, isGradEnabled, grad, type BackwardOptions, type GradOptions } from './tape.ts';
export { getDefaultDevice, setDefaultDevice } from './ops/dispatch.ts';
export { prims, type PrimName } from './ops/prims.ts';
export { memory } from './memory.ts';
export { getNumThreads, setNumThreads } from './cpu/threads.ts';
export { scope, keep } from './scope.ts';
/** WebGPU backend; `precompileWebGPU(fn)` compiles the pipelines `fn` needs asynchronously (see src/gpu/index.ts). */
export {
  initWebGPU, isWebGPUReady, webgpuStats, webgpuPipelineKeys, precompileWebGPU, reclaimWebGPUMemory, syncWebGPU, destroyWebGPU,
  type InitWebGPUOptions, type WebGPUInfo,
} from './gpu/index.ts';
export {
  add, sub, mul, div, pow, remainder, maximum, minimum, neg, abs, sign, exp, log, log1p, expm1, sqrt, rsqrt,
  square, reciprocal, sin, cos, tanh, sigmoid, relu, leakyRelu, gelu, softplus, erf, floor, ceil, round, trunc,
  clamp, lerp, addcmul, addcdiv, where, gt, ge, lt, le, eq, ne, logicalAnd, logicalOr, logicalNot, isnan,
  sum, mean, prod, amax, amin, max, min, argmax, argmin, logsumexp, var, std, softmax, logSoftmax,
  reshape, view, transpose, t, permute, expand, squeeze, unsqueeze, flatten, narrow, slice, index, cat, stack,
  split, chunk, pad, indexSelect, gather, scatterAdd, matmul, contiguous, clone, detach, cast,
  type TensorLike, type IndexSpec, type MaxResult,
} from './ops/functional.ts';
export * as nn from './nn/index.ts';
export * as optim from './optim/index.ts';
export {
  save, load, loadWithMetadata, saveToBytes, loadFromBytes, loadFromBytesWithMetadata,
  type TensorDict, type SaveOptions, type LoadOptions, type LoadedTensors,
} from './io/serialization.ts';
export { FormatError, IOError } from './io/errors.ts';
export {
  TensorDataset, DataLoader, Generator, datasets, defaultCollate,
  type Dataset, type DataLoaderOptions, type Collated, type GeneratorState, type MnistDataset, type MnistOptions,
} from './data/index.ts';
export * as keras from './keras/index.ts';
export {
  jit, warmup, T, fn, shared, pp, ppGraph, toDot, Var, lift, simplifyRules,
  type Jitted, type JitOptions, type JitStats, type Lowering, type TheanoFunction,
} from './jit/index.ts';
