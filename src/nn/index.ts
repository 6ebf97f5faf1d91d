/**
 * @file The nn namespace: Module and Parameter, layers, containers, losses, init and functional.
 * @example
 * import { nn } from 'tapegrad';
 * const model = new nn.Sequential(new nn.Linear(784, 128), new nn.ReLU(), new nn.Linear(128, 10));
 */
export * as functional from './functional.ts';
export * as init from './init.ts';
export * as utils from './utils.ts';
export { Module, StateDictError, type AnyModule, type StateDict, type LoadStateDictResult } from './module.ts';
export { Parameter } from './parameter.ts';
export { Sequential, ModuleList, type TensorModule } from './container.ts';
export { Linear, Identity, type LinearOptions, type FactoryOptions } from './linear.ts';
export { Conv2d, type Conv2dOptions } from './conv.ts';
export { MaxPool2d, AvgPool2d, type MaxPool2dOptions, type AvgPool2dOptions } from './pooling.ts';
export { Dropout } from './dropout.ts';
export { BatchNorm1d, BatchNorm2d, LayerNorm, type BatchNormOptions, type LayerNormOptions } from './normalization.ts';
export { Embedding, type EmbeddingOptions } from './embedding.ts';
export { Flatten } from './flatten.ts';
export { ReLU, LeakyReLU, GELU, Sigmoid, Tanh, Softmax, LogSoftmax } from './activation.ts';
export { MSELoss, L1Loss, CrossEntropyLoss, NLLLoss, BCELoss, BCEWithLogitsLoss } from './loss.ts';
export { clipGradNorm_, clipGradValue_ } from './clip-grad.ts';
