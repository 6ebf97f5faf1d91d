/**
 * @file The Keras-style Sequential model: add layers, compile, fit, evaluate, predict, summary.
 * @example
 * const model = new Sequential();
 * model.add(new Dense(32, { inputDim: 784 }));
 * model.add(new Activation('relu'));
 * model.compile({ optimizer: 'rmsprop', loss: 'mse' });
 * await model.fit(X, Y, { epochs: 10, batchSize: 32 });
 */
import { tensor, zeros } from '../creation.ts';
import { ShapeError, ValueError } from '../errors.ts';
import { fmtShape } from '../shape.ts';
import { Tensor, type NestedArray } from '../tensor.ts';
import { noGrad } from '../tape.ts';
import { keep, scope } from '../scope.ts';
import * as F from '../ops/functional.ts';
import { Module } from '../nn/module.ts';
import { DataLoader } from '../data/dataloader.ts';
import { jit, type Jitted } from '../jit/jit.ts';
import { TensorDataset } from '../data/dataset.ts';
import { Generator } from '../data/generator.ts';
import type { Optimizer } from '../optim/optimizer.ts';
import { Layer, kerasShape } from './layers.ts';
import {
  accuracyKind, computeLoss, correctCount, prepareTargets, resolveLoss, resolveMetrics,
  type AccuracyKind, type Head, type LossName, type MetricName,
} from './losses.ts';
import { makeOptimizer, type OptimizerName } from './optimizers.ts';
import { checkOptions, optionNames } from '../options.ts';
import { Progbar, defaultStream, formatLogs, formatPerStep, now, renderBar, type OutputStream } from './progbar.ts';

/** Inputs and targets: a tensor, or nested arrays of numbers (converted to float32). */
export type Data = Tensor | NestedArray;

export interface CompileOptions {
  /** 'sgd' (lr 0.01), 'rmsprop' (lr 0.001), 'adam' (lr 0.001) with Keras's defaults; an Optimizer built on model.parameters(); or a function making one from the parameters */
  optimizer: OptimizerName | Optimizer | ((params: Tensor[]) => Optimizer);
  loss: LossName | 'meanSquaredError' | 'meanAbsoluteError' | 'mean_squared_error' | 'categorical_crossentropy' | 'sparse_categorical_crossentropy' | 'binary_crossentropy';
  metrics?: (MetricName | 'acc')[];
  /**
   * Compile the training step — forward, loss, backward and the optimizer's update — with `jit`
   * (Keras's `jit_compile`): `fit` then runs it as a few fused kernels, traced once per batch shape
   * (a smaller last batch is a second trace). 'auto' (the default, as in Keras 3): compile, and if
   * the step cannot be traced (a custom layer that reads values back, say), warn once and train
   * eagerly; true: compile, and throw what tracing throws; false: always eager.
   */
  jitCompile?: boolean | 'auto';
}

/** A metric row: `loss`, and `accuracy` when compiled with metrics ['accuracy']. */
export interface Logs {
  loss: number;
  accuracy?: number;
}

/** One epoch's logs, with validation figures when there was validation data. */
export interface EpochLogs extends Logs {
  valLoss?: number;
  valAccuracy?: number;
}

/** Hooks `fit` calls (Keras callbacks); each may be async. Set `model.stopTraining = true` to stop after the epoch. */
export interface Callback {
  onTrainBegin?(): void | Promise<void>;
  onEpochBegin?(epoch: number): void | Promise<void>;
  onEpochEnd?(epoch: number, logs: EpochLogs): void | Promise<void>;
  onTrainEnd?(history: History): void | Promise<void>;
}

export interface FitOptions {
  /** default 1 */
  epochs?: number;
  /** default 32 */
  batchSize?: number;
  /** [X, Y] evaluated after every epoch */
  validationData?: readonly [Data, Data];
  /** the fraction of X/Y (taken from the end, before shuffling, as Keras) held out for validation */
  validationSplit?: number;
  /** reshuffle the training samples every epoch (default true) */
  shuffle?: boolean;
  /** seeds the shuffle; by default it follows tapegrad's manualSeed stream */
  seed?: number;
  /** 0 silent; 1 a progress bar on a terminal, one line per epoch otherwise (default); 2 one line per epoch */
  verbose?: 0 | 1 | 2;
  callbacks?: Callback[];
  /** where progress goes (default process.stdout; in browsers, the console) */
  stream?: OutputStream;
}

export interface EvaluateOptions {
  /** default 32 */
  batchSize?: number;
  /** 0 silent; 1 or 2: one result line (default 1) */
  verbose?: 0 | 1 | 2;
  stream?: OutputStream;
}

export interface PredictOptions {
  /** default 32 */
  batchSize?: number;
}

const COMPILE_OPTIONS = optionNames<CompileOptions>({ optimizer: true, loss: true, metrics: true, jitCompile: true });
const FIT_OPTIONS = optionNames<FitOptions>({
  epochs: true, batchSize: true, validationData: true, validationSplit: true, shuffle: true, seed: true, verbose: true, callbacks: true, stream: true,
});
const EVALUATE_OPTIONS = optionNames<EvaluateOptions>({ batchSize: true, verbose: true, stream: true });
const PREDICT_OPTIONS = optionNames<PredictOptions>({ batchSize: true });

/** What `fit` returns: per-epoch logs (Keras's History callback). */
export class History {
  /** the epochs run (0-based) */
  readonly epoch: number[] = [];
  /** one value per epoch for each metric */
  readonly history: { loss: number[]; accuracy?: number[]; valLoss?: number[]; valAccuracy?: number[] } = { loss: [] };
  constructor(readonly params: { epochs: number; steps: number; samples: number; batchSize: number; verbose: number }) {}

  /** @internal */
  _record(epoch: number, logs: EpochLogs): void {
    this.epoch.push(epoch);
    for (const [k, v] of Object.entries(logs) as [keyof EpochLogs, number | undefined][]) {
      if (v === undefined) continue;
      (this.history[k] ??= []).push(v);
    }
  }
}

interface Compiled {
  optimizer: Optimizer;
  loss: LossName;
  metrics: MetricName[];
  accuracy: AccuracyKind | null;
  /** the compiled training step (jitCompile), returning the batch's mean loss and, with accuracy, its hit count */
  step: Jitted<[Tensor, Tensor], Tensor[]> | null;
  /** whether a step that fails to compile falls back to eager training (jitCompile 'auto') */
  fallBack: boolean;
}

/** Model properties a layer name must not shadow (layers are stored as fields, like nn.Module). */
const RESERVED = new Set(['layers', 'name', 'training', 'optimizer', 'stopTraining', 'trainFunction']);

function checkInt(op: string, name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new ValueError(`${op}: ${name} must be an integer ≥ ${min}, got ${String(v)}`);
  return v;
}

function checkVerbose(op: string, v: unknown): 0 | 1 | 2 {
  if (v !== 0 && v !== 1 && v !== 2) throw new ValueError(`${op}: verbose must be 0, 1 or 2, got ${String(v)}`);
  return v;
}

function toTensor(op: string, what: string, v: unknown): Tensor {
  if (v instanceof Tensor) return v;
  if (Array.isArray(v) || typeof v === 'number') return tensor(v as NestedArray);
  throw new ValueError(`${op}: ${what} must be a Tensor or nested arrays of numbers, got ${v === null ? 'null' : typeof v}`);
}

/**
 * A linear stack of Keras-style layers. It is an `nn.Module`: layers are its children under their
 * names, so `parameters()`, `stateDict()` ('dense.weight', …) and `loadStateDict()` work as in nn.
 */
export class Sequential extends Module<[Tensor], Tensor> {
  /** the layers in order */
  readonly layers: Layer[] = [];
  /** the model's name, printed by summary() */
  readonly name: string;
  /** the optimizer set by compile() */
  optimizer: Optimizer | null = null;
  /** set to true (e.g. in a callback) to end fit() after the current epoch */
  stopTraining = false;
  private compiled: Compiled | null = null;

  constructor(layers: Layer[] | { layers?: Layer[]; name?: string } = []) {
    super();
    this.training = false;
    const opts = Array.isArray(layers) ? { layers } : layers;
    this.name = opts.name ?? 'sequential';
    for (const l of opts.layers ?? []) this.add(l);
  }

  /**
   * Appends a layer and builds it for the previous layer's output shape. The first layer needs
   * `inputShape` (or `inputDim` for Dense).
   */
  add(layer: Layer): this {
    if (!(layer instanceof Layer)) {
      throw new ValueError(`Sequential.add: expected a Keras layer (Dense, Activation, Dropout, Conv2D, MaxPooling2D, Flatten), got ${layer === null ? 'null' : typeof layer === 'object' ? (layer as object).constructor.name : typeof layer}; for nn modules use nn.Sequential`);
    }
    if (this.layers.includes(layer)) throw new ValueError(`Sequential.add: ${layer.describe()} is already in this model`);
    const prev = this.layers[this.layers.length - 1];
    let inputShape: readonly number[];
    if (prev) {
      inputShape = prev.outputShape!;
      const declared = layer.declaredInputShape;
      if (declared && (declared.length !== inputShape.length || declared.some((d, i) => d !== inputShape[i]))) {
        throw new ShapeError(`Sequential.add: ${layer.describe()} declares inputShape ${kerasShape(declared)}, but the previous layer outputs ${kerasShape(inputShape)}`);
      }
    } else {
      if (!layer.declaredInputShape) {
        const how = layer.className === 'Dense' ? `{inputDim: 784} or {inputShape: [784]}` : `{inputShape: [...]}`;
        throw new ValueError(`Sequential.add: the first layer (${layer.className}) must say what one sample looks like; pass ${how} in its options`);
      }
      inputShape = layer.declaredInputShape;
    }
    const name = layer.layerName ?? this.uniqueName(layer._defaultName);
    if (this.layers.some((l) => l.layerName === name)) throw new ValueError(`Sequential.add: the model already has a layer named '${name}'`);
    if (RESERVED.has(name) || name in this) throw new ValueError(`Sequential.add: a layer cannot be named '${name}' (a property of Sequential)`);
    layer.layerName = name;
    layer.build(inputShape);
    layer.training = this.training;
    this.layers.push(layer);
    this.registerModule(name, layer);
    this.compiled = null; // the optimizer does not know the new parameters
    this.optimizer = null;
    return this;
  }

  private uniqueName(stem: string): string {
    const taken = new Set(this.layers.map((l) => l.layerName));
    if (!taken.has(stem)) return stem;
    for (let i = 1; ; i++) if (!taken.has(`${stem}_${i}`)) return `${stem}_${i}`;
  }

  /** The shape of one input sample. */
  get inputShape(): readonly number[] {
    return this.firstLayer('inputShape').inputShape!;
  }

  /** The shape of one output sample. */
  get outputShape(): readonly number[] {
    return this.lastLayer('outputShape').outputShape!;
  }

  private firstLayer(op: string): Layer {
    const l = this.layers[0];
    if (!l) throw new ValueError(`Sequential.${op}: the model has no layers yet; add some with model.add(new Dense(...))`);
    return l;
  }

  private lastLayer(op: string): Layer {
    this.firstLayer(op);
    return this.layers[this.layers.length - 1]!;
  }

  /** Number of parameter elements. */
  countParams(): number {
    return this.layers.reduce((a, l) => a + l.countParams(), 0);
  }

  /** Checks a batch's per-sample shape against the first layer; returns it as float32. */
  private checkInput(op: string, x: Tensor): Tensor {
    const first = this.firstLayer(op);
    const want = first.inputShape!;
    if (x.ndim !== want.length + 1 || want.some((d, i) => x.shape[i + 1] !== d)) {
      throw new ShapeError(`${op}: X has shape ${fmtShape(x.shape)}, but the first ${first.describe()} expects input of shape ${kerasShape(want)}, i.e. X of shape [N, ${want.join(', ')}]`);
    }
    return x.dtype === 'float32' ? x : F.cast(x, 'float32');
  }

  forward(x: Tensor): Tensor {
    let h = this.checkInput('Sequential.forward', x);
    for (const l of this.layers) h = l.call(h);
    return h;
  }

  /** Runs all layers, keeping the last layer's pre-activation (for stable losses). */
  private head(x: Tensor): Head {
    const last = this.layers[this.layers.length - 1]!;
    let h = x;
    for (let i = 0; i < this.layers.length - 1; i++) h = this.layers[i]!.call(h);
    return { pre: last.preActivation(h), act: last.activation };
  }

  /**
   * Chooses the optimizer, the loss and the metrics. Names are checked here; an unknown one is a
   * ValueError listing the valid names.
   */
  compile(opts: CompileOptions): this {
    if (typeof opts !== 'object' || opts === null) throw new ValueError(`compile: expected {optimizer, loss, metrics?}, got ${String(opts)}`);
    checkOptions('compile', opts, COMPILE_OPTIONS);
    const loss = resolveLoss(opts.loss);
    const metrics = resolveMetrics(opts.metrics);
    this.lastLayer('compile');
    const mode = opts.jitCompile ?? 'auto';
    if (mode !== true && mode !== false && mode !== 'auto') throw new ValueError(`compile: jitCompile must be true, false or 'auto', got ${String(mode)}`);
    const optimizer = makeOptimizer(opts.optimizer, this.parameters());
    const c: Compiled = {
      optimizer, loss, metrics,
      accuracy: metrics.includes('accuracy') ? accuracyKind(loss, this.outputShape) : null,
      step: null,
      fallBack: mode === 'auto',
    };
    if (mode !== false) c.step = jit((x: Tensor, y: Tensor) => this.trainStep(c, x, y), { name: `${this.name}.trainStep` });
    this.compiled = c;
    this.optimizer = optimizer;
    return this;
  }

  /**
   * Runs the compiled step; null when it could not be compiled under jitCompile 'auto' (warned
   * once; the model then trains eagerly until compiled again). Tracing mutates nothing, so the
   * eager step that follows starts from the same state; an error that is not the jit's recurs
   * there and is thrown.
   */
  private compiledStep(c: Compiled, x: Tensor, y: Tensor): Tensor[] | null {
    const step = c.step!;
    const traces = step.stats.traces;
    try {
      return step(x, y);
    } catch (e) {
      if (!c.fallBack || step.stats.traces === traces) throw e;
      console.warn(`fit: the training step of ${this.name} could not be compiled (jitCompile 'auto'), so it runs eagerly: ${(e as Error).message}`);
      c.step = null;
      return null;
    }
  }

  /** One training step as `jitCompile` compiles it: the batch's mean loss and, with accuracy, its hit count. */
  private trainStep(c: Compiled, x: Tensor, y: Tensor): Tensor[] {
    c.optimizer.zeroGrad();
    const h = this.head(x);
    const loss = computeLoss(c.loss, h, y);
    loss.backward();
    c.optimizer.step();
    const hits = c.accuracy ? batchHits(c.accuracy, h, y) : null;
    return hits ? [F.detach(loss), hits] : [F.detach(loss)];
  }

  /**
   * The training step `fit` runs as compiled by `jit` (Keras's `model.train_function`); null
   * before compile(), with `jitCompile: false`, or once 'auto' fell back to eager training. Its
   * `stats` count calls and traces, and `lower(x, y)` shows the compiled graph and kernels.
   */
  get trainFunction(): Jitted<[Tensor, Tensor], Tensor[]> | null {
    return this.compiled?.step ?? null;
  }

  private requireCompiled(op: string): Compiled {
    if (!this.compiled) {
      throw new ValueError(`${op}: the model is not compiled; call model.compile({optimizer, loss}) first${this.layers.length ? ' (and again after adding layers)' : ''}`);
    }
    return this.compiled;
  }

  private outWhere(): string {
    return `the model (last ${this.layers[this.layers.length - 1]!.describe()})`;
  }

  /** Checks and converts X and Y for fit/evaluate. */
  private prepareXY(op: string, x: Data, y: Data, c: Compiled): [Tensor, Tensor] {
    const X = this.checkInput(op, toTensor(op, 'X', x));
    const Y0 = toTensor(op, 'Y', y);
    if (Y0.ndim === 0 || Y0.shape[0] !== X.shape[0]) {
      throw new ShapeError(`${op}: X and Y must have the same number of samples, but X has ${X.shape[0]} (shape ${fmtShape(X.shape)}) and Y has ${Y0.ndim ? Y0.shape[0] : 'none'} (shape ${fmtShape(Y0.shape)})`);
    }
    if (X.shape[0] === 0) throw new ValueError(`${op}: X has no samples (shape ${fmtShape(X.shape)})`);
    const Y = prepareTargets(op, c.loss, Y0, this.outputShape, this.outWhere());
    return [X, Y];
  }

  /**
   * Trains for `epochs` passes over (X, Y) in shuffled mini-batches. Prints Keras's progress bar on
   * a terminal (one line per epoch otherwise) and returns the History.
   */
  async fit(x: Data, y: Data, opts: FitOptions = {}): Promise<History> {
    const op = 'fit';
    checkOptions(op, opts, FIT_OPTIONS);
    const c = this.requireCompiled(op);
    const epochs = checkInt(op, 'epochs', opts.epochs ?? 1, 0);
    const batchSize = checkInt(op, 'batchSize', opts.batchSize ?? 32, 1);
    const verbose = checkVerbose(op, opts.verbose ?? 1);
    const split = opts.validationSplit ?? 0;
    if (typeof split !== 'number' || !(split >= 0 && split < 1)) throw new ValueError(`fit: validationSplit must be a number in [0, 1), got ${String(split)}`);
    let [X, Y] = this.prepareXY(op, x, y, c);
    let val: [Tensor, Tensor] | null = null;
    if (opts.validationData !== undefined) {
      if (!Array.isArray(opts.validationData) || opts.validationData.length !== 2) throw new ValueError('fit: validationData must be a pair [X, Y]');
      val = this.prepareXY('fit (validationData)', opts.validationData[0], opts.validationData[1], c);
    } else if (split > 0) {
      const n = X.shape[0]!, nTrain = Math.floor(n * (1 - split));
      if (nTrain === 0 || nTrain === n) throw new ValueError(`fit: validationSplit ${split} of ${n} samples leaves ${nTrain === 0 ? 'no training' : 'no validation'} samples`);
      val = [F.narrow(X, 0, nTrain, n - nTrain), F.narrow(Y, 0, nTrain, n - nTrain)];
      [X, Y] = [F.narrow(X, 0, 0, nTrain), F.narrow(Y, 0, 0, nTrain)];
    }
    const loader = new DataLoader(new TensorDataset(X, Y), {
      batchSize, shuffle: opts.shuffle ?? true, generator: opts.seed !== undefined ? new Generator(opts.seed) : undefined,
    });
    const steps = loader.length;
    const stream = opts.stream ?? defaultStream();
    const tty = verbose === 1 && stream.isTTY === true;
    const history = new History({ epochs, steps, samples: X.shape[0]!, batchSize, verbose });
    const callbacks = opts.callbacks ?? [];
    const wasTraining = this.training;
    const params = this.parameters();
    this.stopTraining = false;
    for (const cb of callbacks) await cb.onTrainBegin?.();
    try {
      for (let epoch = 0; epoch < epochs && !this.stopTraining; epoch++) {
        for (const cb of callbacks) await cb.onEpochBegin?.(epoch);
        if (tty) stream.write(`Epoch ${epoch + 1}/${epochs}\n`);
        const bar = tty ? new Progbar(steps, stream) : null;
        const start = now();
        this.train();
        const acc = new Accumulator(c);
        let step = 0;
        for (const [xb, yb] of loader) {
          const outs = c.step ? this.compiledStep(c, xb, yb) : null;
          if (outs) {
            scope(() => acc.addSums(outs[0]!, outs[1] ?? null, yb.shape[0]!));
            for (const t of outs) t.dispose();
          } else scope(() => {
            // one scope per step: every intermediate is released at its end (bounded memory on
            // WebGPU without waiting for the garbage collector); gradients, optimizer state and
            // the running sums survive
            releaseGrads(params, c.optimizer);
            c.optimizer.zeroGrad();
            const h = this.head(xb);
            const loss = computeLoss(c.loss, h, yb);
            loss.backward();
            c.optimizer.step();
            keepOptimizerState(c.optimizer);
            return acc.add(loss, h, yb);
          });
          xb.dispose(); // the loader's batches are fresh copies, used only here
          yb.dispose();
          step++;
          if (bar && step < steps && bar.due()) bar.update(step, pairs(await acc.read()));
        }
        this.eval();
        const logs: EpochLogs = await acc.read();
        acc.dispose();
        if (val) {
          const v = await this.evaluateTensors(val[0], val[1], batchSize, c);
          logs.valLoss = v.loss;
          if (v.accuracy !== undefined) logs.valAccuracy = v.accuracy;
        }
        history._record(epoch, logs);
        if (bar) bar.finish(pairs(logs));
        else if (verbose > 0) {
          const secs = now() - start;
          stream.write(`Epoch ${epoch + 1}/${epochs} - ${steps}/${steps} - ${secs.toFixed(1)}s ${formatPerStep(steps ? secs / steps : 0)}${formatLogs(pairs(logs))}\n`);
        }
        for (const cb of callbacks) await cb.onEpochEnd?.(epoch, { ...logs });
      }
    } finally {
      this.train(wasTraining);
    }
    for (const cb of callbacks) await cb.onTrainEnd?.(history);
    return history;
  }

  /** Mean loss (and accuracy) over (X, Y), in inference mode. */
  async evaluate(x: Data, y: Data, opts: EvaluateOptions = {}): Promise<Logs> {
    const op = 'evaluate';
    checkOptions(op, opts, EVALUATE_OPTIONS);
    const c = this.requireCompiled(op);
    const batchSize = checkInt(op, 'batchSize', opts.batchSize ?? 32, 1);
    const verbose = checkVerbose(op, opts.verbose ?? 1);
    const [X, Y] = this.prepareXY(op, x, y, c);
    const start = now();
    const logs = await this.evaluateTensors(X, Y, batchSize, c);
    if (verbose > 0) {
      const steps = Math.ceil(X.shape[0]! / batchSize), secs = now() - start;
      const stream = opts.stream ?? defaultStream();
      stream.write(`${renderBar(steps, steps)} - ${secs.toFixed(0)}s ${formatPerStep(steps ? secs / steps : 0)}${formatLogs(pairs(logs))}\n`);
    }
    return logs;
  }

  private async evaluateTensors(X: Tensor, Y: Tensor, batchSize: number, c: Compiled): Promise<Logs> {
    const n = X.shape[0]!;
    if (n === 0) throw new ValueError('evaluate: X has no samples');
    const wasTraining = this.training;
    this.eval();
    try {
      const acc = new Accumulator(c);
      noGrad(() => {
        for (let s = 0; s < n; s += batchSize) {
          const len = Math.min(batchSize, n - s);
          const xb = F.narrow(X, 0, s, len), yb = F.narrow(Y, 0, s, len);
          scope(() => {
            const h = this.head(xb);
            return acc.add(computeLoss(c.loss, h, yb), h, yb);
          });
        }
      });
      try {
        return await acc.read();
      } finally {
        acc.dispose();
      }
    } finally {
      this.train(wasTraining);
    }
  }

  /** The model's outputs for X, in inference mode, computed `batchSize` samples at a time (default 32). */
  predict(x: Data, opts: PredictOptions = {}): Tensor {
    const op = 'predict';
    checkOptions(op, opts, PREDICT_OPTIONS);
    const batchSize = checkInt(op, 'batchSize', opts.batchSize ?? 32, 1);
    const X = this.checkInput(op, toTensor(op, 'X', x));
    const n = X.shape[0]!;
    const wasTraining = this.training;
    this.eval();
    try {
      return noGrad(() => {
        if (n === 0) return zeros([0, ...this.outputShape]);
        const outs: Tensor[] = [];
        for (let s = 0; s < n; s += batchSize) {
          const xb = F.narrow(X, 0, s, Math.min(batchSize, n - s));
          outs.push(scope(() => {
            let h = xb;
            for (const l of this.layers) h = l.call(h);
            return h;
          }));
        }
        // a new array, as Keras's predict: never a view of X (a model of only reshapes)
        if (outs.length === 1) return outs[0]!._storage === X._storage ? F.clone(outs[0]!) : outs[0]!;
        const out = F.cat(outs, 0);
        // free the per-batch outputs, unless one is a view of X (a model of only reshapes)
        for (const o of outs) if (o._storage !== X._storage) o.dispose();
        return out;
      });
    } finally {
      this.train(wasTraining);
    }
  }

  /**
   * The layer table Keras prints: each layer's name and type, output shape and parameter count,
   * then the totals. Prints it (through `printFn`, default console.log) and returns it.
   */
  summary(opts: { printFn?: (text: string) => void; lineLength?: number } = {}): string {
    const width = opts.lineLength ?? 65;
    const cols = [Math.floor(width * 0.45), Math.floor(width * 0.85), width];
    const row = (fields: string[]) => {
      let line = '';
      fields.forEach((f, i) => {
        line = (line + f).slice(0, cols[i]! - (i < fields.length - 1 ? 1 : 0));
        line = line.padEnd(cols[i]!);
      });
      return line.trimEnd();
    };
    const lines = [`Model: "${this.name}"`, '_'.repeat(width), row(['Layer (type)', 'Output Shape', 'Param #']), '='.repeat(width)];
    this.layers.forEach((l, i) => {
      lines.push(row([`${l.layerName} (${l.className})`, kerasShape(l.outputShape!), String(l.countParams())]));
      lines.push(i < this.layers.length - 1 ? '_'.repeat(width) : '='.repeat(width));
    });
    if (this.layers.length === 0) lines.push('='.repeat(width));
    const params = this.parameters();
    const total = params.reduce((a, p) => a + p.numel, 0);
    const trainable = params.filter((p) => p.requiresGrad).reduce((a, p) => a + p.numel, 0);
    const fmt = (n: number) => n.toLocaleString('en-US');
    lines.push(`Total params: ${fmt(total)}`, `Trainable params: ${fmt(trainable)}`, `Non-trainable params: ${fmt(total - trainable)}`, '_'.repeat(width));
    const text = lines.join('\n');
    (opts.printFn ?? console.log)(text);
    return text;
  }

  override extraRepr(): string {
    return '';
  }
}

/**
 * Disposes the previous step's gradients before zeroGrad drops them (else they wait for the
 * garbage collector), sparing any the optimizer keeps in its state.
 */
function releaseGrads(params: readonly Tensor[], opt: Optimizer): void {
  let held: Set<unknown> | null = null;
  for (const p of params) {
    const g = p.grad;
    if (!g || g._disposed) continue;
    held ??= new Set([...opt.state.values()].flatMap((st) => Object.values(st).map((t) => t._storage)));
    if (!held.has(g._storage)) g.dispose();
  }
}

/** Marks the optimizer's state tensors (momentum buffers, Adam moments, …) as outliving the step's scope. */
function keepOptimizerState(opt: Optimizer): void {
  for (const st of opt.state.values()) for (const t of Object.values(st)) keep(t);
}

/** The number of correct predictions in a batch (a 0-d tensor), without gradients. */
function batchHits(kind: AccuracyKind, h: Head, y: Tensor): Tensor {
  return noGrad(() => correctCount(kind, { pre: F.detach(h.pre), act: h.act, out: h.out && F.detach(h.out) }, y));
}

function pairs(logs: EpochLogs): [string, number][] {
  const out: [string, number][] = [['loss', logs.loss]];
  if (logs.accuracy !== undefined) out.push(['accuracy', logs.accuracy]);
  if (logs.valLoss !== undefined) out.push(['val_loss', logs.valLoss]);
  if (logs.valAccuracy !== undefined) out.push(['val_accuracy', logs.valAccuracy]);
  return out;
}

/**
 * Running sums of loss·batch and correct predictions, kept on the device: reading them back
 * (`await t.item()`) happens only when a progress line is drawn and at the end of an epoch.
 */
class Accumulator {
  private lossSum: Tensor | null = null;
  private correct: Tensor | null = null;
  private seen = 0;
  constructor(private readonly c: Compiled) {}

  /** Adds one batch; returns the new running sums (to keep them alive out of a scope). */
  add(loss: Tensor, h: Head, y: Tensor): Tensor[] {
    return this.addSums(loss, this.c.accuracy ? batchHits(this.c.accuracy, h, y) : null, y.shape[0]!);
  }

  /**
   * Adds one batch of `n` samples given its mean loss and hit count (null without accuracy);
   * returns the new running sums. Call it in a scope (its temporaries are released there).
   */
  addSums(loss: Tensor, correct: Tensor | null, n: number): Tensor[] {
    const prev = [this.lossSum, this.correct];
    noGrad(() => {
      const l = F.mul(F.detach(loss), n);
      this.lossSum = this.lossSum ? F.add(this.lossSum, l) : l;
      if (correct) this.correct = this.correct ? F.add(this.correct, correct) : F.clone(correct);
    });
    for (const t of prev) t?.dispose();
    this.seen += n;
    return [this.lossSum, this.correct].filter((t): t is Tensor => t !== null);
  }

  dispose(): void {
    this.lossSum?.dispose();
    this.correct?.dispose();
    this.lossSum = this.correct = null;
  }

  async read(): Promise<Logs> {
    if (!this.lossSum || this.seen === 0) return { loss: NaN, ...(this.c.accuracy ? { accuracy: NaN } : {}) };
    const logs: Logs = { loss: (await this.lossSum.item()) / this.seen };
    if (this.correct) logs.accuracy = (await this.correct.item()) / this.seen;
    return logs;
  }
}
