/**
 * @file Keras losses and the accuracy metric, computed from the model's last pre-activation so
 * that "softmax then cross-entropy" and "sigmoid then binary cross-entropy" are evaluated in the
 * stable log-sum-exp / logits forms rather than as log(softmax(z)).
 */
import { DTypeError, ShapeError, ValueError } from '../errors.ts';
import { isFloat } from '../dtype.ts';
import { fmtShape } from '../shape.ts';
import type { Tensor } from '../tensor.ts';
import * as F from '../ops/functional.ts';
import { binaryCrossEntropyWithLogits } from '../nn/functional.ts';
import { activate, type ActivationSpec } from './activations.ts';

export const LOSSES = ['mse', 'mae', 'categoricalCrossentropy', 'sparseCategoricalCrossentropy', 'binaryCrossentropy'] as const;
export type LossName = (typeof LOSSES)[number];

// Keras's snake_case spellings and long names are accepted too, so snippets port unchanged.
const LOSS_ALIASES: Readonly<Record<string, LossName>> = {
  mse: 'mse', meanSquaredError: 'mse', mean_squared_error: 'mse',
  mae: 'mae', meanAbsoluteError: 'mae', mean_absolute_error: 'mae',
  categoricalCrossentropy: 'categoricalCrossentropy', categorical_crossentropy: 'categoricalCrossentropy',
  sparseCategoricalCrossentropy: 'sparseCategoricalCrossentropy', sparse_categorical_crossentropy: 'sparseCategoricalCrossentropy',
  binaryCrossentropy: 'binaryCrossentropy', binary_crossentropy: 'binaryCrossentropy',
};

export function resolveLoss(name: unknown): LossName {
  const loss = typeof name === 'string' && Object.hasOwn(LOSS_ALIASES, name) ? LOSS_ALIASES[name] : undefined;
  if (loss === undefined) {
    throw new ValueError(`compile: unknown loss ${JSON.stringify(name)}; expected one of ${LOSSES.map((l) => `'${l}'`).join(', ')} (Keras's snake_case names work too)`);
  }
  return loss;
}

export const METRICS = ['accuracy'] as const;
export type MetricName = (typeof METRICS)[number];

export function resolveMetrics(metrics: unknown): MetricName[] {
  if (metrics === undefined) return [];
  if (!Array.isArray(metrics)) throw new ValueError(`compile: metrics must be an array such as ['accuracy'], got ${JSON.stringify(metrics)}`);
  const out: MetricName[] = [];
  for (const m of metrics) {
    if (m !== 'accuracy' && m !== 'acc') {
      throw new ValueError(`compile: unknown metric ${JSON.stringify(m)}; expected one of ${METRICS.map((x) => `'${x}'`).join(', ')}`);
    }
    if (!out.includes('accuracy')) out.push('accuracy');
  }
  return out;
}

/** The model's output as the losses see it: `act(pre)`, with `out` filled in if already computed. */
export interface Head {
  pre: Tensor;
  act: ActivationSpec;
  out?: Tensor;
}

function output(h: Head): Tensor {
  return (h.out ??= activate(h.act, h.pre));
}

// Keras clips probabilities to [ε, 1 − ε] before taking logs (backend.epsilon()).
const EPS = 1e-7;

/** The mean loss over the batch (a 0-d tensor). `y` has been checked and converted by `prepareTargets`. */
export function computeLoss(loss: LossName, h: Head, y: Tensor): Tensor {
  switch (loss) {
    case 'mse': {
      const d = F.sub(output(h), y);
      return F.mean(F.mul(d, d));
    }
    case 'mae':
      return F.mean(F.abs(F.sub(output(h), y)));
    case 'categoricalCrossentropy': {
      // −Σ y·log p over the last axis; with a softmax head, log p = logSoftmax(z) exactly
      const logp = h.act === 'softmax' ? F.logSoftmax(h.pre, -1) : probLog(output(h));
      return F.mean(F.neg(F.sum(F.mul(y, logp), -1)));
    }
    case 'sparseCategoricalCrossentropy': {
      const logp = h.act === 'softmax' ? F.logSoftmax(h.pre, -1) : probLog(output(h));
      return F.mean(F.neg(F.gather(logp, -1, F.unsqueeze(y, -1))));
    }
    case 'binaryCrossentropy': {
      if (h.act === 'sigmoid') return binaryCrossEntropyWithLogits(h.pre, y);
      const p = F.clamp(output(h), EPS, 1 - EPS);
      return F.mean(F.neg(F.add(F.mul(y, F.log(p)), F.mul(F.rsub(y, 1), F.log(F.rsub(p, 1))))));
    }
    default:
      return loss satisfies never;
  }
}

/** log of probabilities that did not come from a softmax head: renormalised and clipped, as Keras does. */
function probLog(p: Tensor): Tensor {
  const q = F.div(p, F.sum(p, -1, true));
  return F.log(F.clamp(q, EPS, 1 - EPS));
}

/** Which accuracy Keras means by 'accuracy' for this loss and output shape. */
export type AccuracyKind = 'binary' | 'categorical' | 'sparse';

export function accuracyKind(loss: LossName, outputShape: readonly number[]): AccuracyKind {
  // by shape, as Keras 3 chooses (compile_utils.get_metric): one output unit is binary, class
  // indices against several are sparse, several against several categorical (argmax), a
  // multi-label sigmoid head with binary cross-entropy included
  if (outputShape[outputShape.length - 1] === 1) return 'binary';
  if (loss === 'sparseCategoricalCrossentropy') return 'sparse';
  return 'categorical';
}

/** The number of correctly predicted samples in the batch (a 0-d float32 tensor). */
export function correctCount(kind: AccuracyKind, h: Head, y: Tensor): Tensor {
  const n = h.pre.shape[0] ?? 1;
  let hits: Tensor;
  switch (kind) {
    case 'binary': {
      // the prediction (the model's output, as predict() gives it) thresholded, the target as it
      // is (Keras's binary_accuracy: a soft label such as 0.9 is never hit)
      // NOTE: not z > 0 for a sigmoid head: float32 sigmoid rounds to exactly 0.5 for 0 < z < ~1.2e-7,
      // which predict() shows as 0.5 and Keras counts as class 0
      const pred = F.gt(output(h), 0.5);
      hits = F.eq(F.cast(pred, y.dtype), y);
      break;
    }
    case 'categorical':
    case 'sparse': {
      // softmax is monotonic, so the argmax of the logits is the argmax of the probabilities
      const scores = h.act === 'softmax' ? h.pre : output(h);
      const truth = kind === 'sparse' ? y : F.argmax(y, -1);
      hits = F.eq(F.argmax(scores, -1), truth);
      break;
    }
    default:
      return kind satisfies never;
  }
  const perSample = Math.max(1, hits.numel / Math.max(1, n));
  return F.div(F.sum(F.cast(hits, 'float32')), perSample);
}

/**
 * Checks targets against the loss and the model's output shape and converts them: float32 for
 * regression and probability targets, int32 class indices [N] for the sparse loss.
 * `op` and `outWhere` name the call and the output layer in errors.
 */
export function prepareTargets(op: string, loss: LossName, y: Tensor, outputShape: readonly number[], outWhere: string): Tensor {
  const n = y.shape[0]!;
  const want = [n, ...outputShape];
  if (loss === 'sparseCategoricalCrossentropy') {
    let t = y;
    if (t.ndim === 2 && t.shape[1] === 1) t = F.reshape(t, [n]);
    if (t.ndim !== 1) {
      throw new ShapeError(`${op}: loss 'sparseCategoricalCrossentropy' needs Y of class indices with shape [${n}] (or [${n}, 1]), got ${fmtShape(y.shape)}; for one-hot targets use loss 'categoricalCrossentropy'`);
    }
    if (outputShape.length !== 1) {
      throw new ShapeError(`${op}: loss 'sparseCategoricalCrossentropy' needs a model output of shape [N, classes], but ${outWhere} outputs [N, ${outputShape.join(', ')}]`);
    }
    if (t.dtype === 'bool') throw new DTypeError(`${op}: class indices must be integers, got a bool tensor`);
    const classes = outputShape[0]!;
    if (t.device === 'cpu' && !t.isSymbolic) {
      const data = t.dataSync();
      for (let i = 0; i < data.length; i++) {
        const c = data[i]!;
        if (!Number.isInteger(c) || c < 0 || c >= classes) {
          throw new ValueError(`${op}: Y[${i}] is ${c}, not a class index for the model's ${classes} outputs (expected integers 0..${classes - 1})`);
        }
      }
    }
    return F.cast(t, 'int32');
  }
  let t = y;
  if (t.ndim === 1 && outputShape.length === 1 && outputShape[0] === 1) t = F.reshape(t, [n, 1]);
  if (t.ndim !== want.length || t.shape.some((d, i) => d !== want[i])) {
    const hint = loss === 'categoricalCrossentropy' && t.ndim === 1
      ? `; Y looks like class indices: use loss 'sparseCategoricalCrossentropy', or one-hot encode Y`
      : '';
    throw new ShapeError(`${op}: Y has shape ${fmtShape(y.shape)}, but ${outWhere} outputs ${fmtShape(want)} and loss '${loss}' needs Y of that shape${hint}`);
  }
  return isFloat(t.dtype) ? t : F.cast(t, 'float32');
}
