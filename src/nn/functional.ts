/** @file nn.functional: layers and losses as plain functions of primitives. */
export { relu, sigmoid, tanh, softmax, logSoftmax, leakyRelu, gelu, softplus } from '../ops/functional.ts';
