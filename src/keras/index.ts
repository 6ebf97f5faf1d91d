/**
 * @file The keras namespace: a Keras-style Sequential model on top of nn and optim.
 * @example
 * import { keras } from 'tapegrad';
 * const { Sequential, Dense, Activation } = keras;
 * const model = new Sequential();
 * model.add(new Dense(32, { inputDim: 784 }));
 * model.add(new Activation('relu'));
 * model.compile({ optimizer: 'rmsprop', loss: 'mse' });
 * await model.fit(X, Y, { epochs: 10, batchSize: 32 });
 */
export {
  Sequential, History,
  type CompileOptions, type FitOptions, type EvaluateOptions, type PredictOptions, type Logs, type EpochLogs, type Callback, type Data,
} from './model.ts';
export {
  Layer, Dense, Activation, Dropout, Flatten, Conv2D, MaxPooling2D,
  type LayerOptions, type DenseOptions, type Conv2DOptions, type MaxPooling2DOptions, type Padding,
} from './layers.ts';
export { ACTIVATIONS, type ActivationName } from './activations.ts';
export { LOSSES, METRICS, type LossName, type MetricName } from './losses.ts';
export { OPTIMIZERS, type OptimizerName } from './optimizers.ts';
export type { OutputStream } from './progbar.ts';
