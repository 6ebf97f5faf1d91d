/**
 * @file The optim namespace: optimizers, learning-rate schedulers and gradient clipping.
 * @example
 * import { optim } from 'tapegrad';
 * const opt = new optim.Adam(model.parameters(), { lr: 1e-3 });
 * const sched = new optim.CosineAnnealingLR(opt, { tMax: 10 });
 */
export {
  Optimizer, type BaseOptions, type ParamGroup, type ParamGroupInput, type ParamsInput, type ParamState, type OptimizerStateDict,
} from './optimizer.ts';
export { SGD, type SGDOptions } from './sgd.ts';
export { RMSprop, type RMSpropOptions } from './rmsprop.ts';
export { Adam, AdamW, type AdamOptions } from './adam.ts';
export {
  LRScheduler, StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LambdaLR, type SchedulerStateDict,
} from './lr-scheduler.ts';
export { clipGradNorm_, clipGradValue_ } from '../nn/clip-grad.ts';
