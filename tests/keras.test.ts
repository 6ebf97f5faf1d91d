import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  DeviceError, ShapeError, ValueError, datasets, keras, manualSeed, memory, nn, noGrad, rand, randn, tensor, type MnistDataset, type Tensor,
} from '../src/index.ts';
import { Adam, SGD } from '../src/optim/index.ts';

const { Sequential, Dense, Activation, Dropout, Conv2D, MaxPooling2D, Flatten } = keras;

/** A stream that records what fit/evaluate write. */
function capture(isTTY: boolean) {
  const chunks: string[] = [];
  return { isTTY, write: (s: string) => { chunks.push(s); return true; }, text: () => chunks.join(''), chunks };
}

function expectThrows(fn: () => unknown, cls: new (...a: never[]) => Error, ...parts: (string | RegExp)[]): Error {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(cls);
  for (const p of parts) {
    if (typeof p === 'string') expect((err as Error).message).toContain(p);
    else expect((err as Error).message).toMatch(p);
  }
  return err as Error;
}

async function expectRejects(p: Promise<unknown>, cls: new (...a: never[]) => Error, ...parts: string[]): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(cls);
  for (const s of parts) expect((err as Error).message).toContain(s);
}

/** The tutorial's model: Dense(32, inputDim 784) then relu. */
function tutorialModel() {
  const model = new Sequential();
  model.add(new Dense(32, { inputDim: 784 }));
  model.add(new Activation('relu'));
  return model;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('keras.Sequential: the tutorial snippet', () => {
  it('summary() prints Keras\'s table and returns it', () => {
    const model = tutorialModel();
    const printed: string[] = [];
    const text = model.summary({ printFn: (s) => printed.push(s) });
    expect(printed).toEqual([text]);
    expect(text).toBe([
      'Model: "sequential"',
      '_________________________________________________________________',
      'Layer (type)                 Output Shape              Param #',
      '=================================================================',
      'dense (Dense)                (None, 32)                25120',
      '_________________________________________________________________',
      'activation (Activation)      (None, 32)                0',
      '=================================================================',
      'Total params: 25,120',
      'Trainable params: 25,120',
      'Non-trainable params: 0',
      '_________________________________________________________________',
    ].join('\n'));
  });

  it('runs as written, prints one line per epoch off a terminal, and the loss goes down', async () => {
    manualSeed(1);
    const X = rand([256, 784]);
    const Y = rand([256, 32]);
    const writes: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => { writes.push(String(s)); return true; });
    Object.defineProperty(process.stdout, 'isTTY', { value: false, configurable: true });
    // --- the tutorial, verbatim ---
    const model = new Sequential();
    model.add(new Dense(32, { inputDim: 784 }));
    model.add(new Activation('relu'));
    model.compile({ optimizer: 'rmsprop', loss: 'mse' });
    const history = await model.fit(X, Y, { epochs: 10, batchSize: 32 });
    // ------------------------------
    vi.restoreAllMocks();
    const lines = writes.join('').split('\n').filter(Boolean);
    expect(lines).toHaveLength(10);
    lines.forEach((l, i) => expect(l).toMatch(new RegExp(`^Epoch ${i + 1}/10 - 8/8 - \\d+\\.\\ds \\d+(s|ms|us)/step - loss: \\d\\.\\d{4}$`)));
    const loss = history.history.loss;
    expect(loss).toHaveLength(10);
    expect(loss[9]!).toBeLessThan(loss[0]! * 0.9);
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(loss.slice(7))).toBeLessThan(mean(loss.slice(0, 3)));
    expect(history.history.accuracy).toBeUndefined();
    expect(history.epoch).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(history.params).toEqual({ epochs: 10, steps: 8, samples: 256, batchSize: 32, verbose: 1 });
  });

  it('uses Keras\'s default learning rates', () => {
    const lr = (optimizer: 'sgd' | 'rmsprop' | 'adam') => {
      const m = tutorialModel().compile({ optimizer, loss: 'mse' });
      return m.optimizer!.paramGroups[0]!.lr;
    };
    expect(lr('sgd')).toBe(0.01);
    expect(lr('rmsprop')).toBe(0.001);
    expect(lr('adam')).toBe(0.001);
  });
});

describe('keras.Sequential on MNIST', () => {
  let train: MnistDataset, test: MnistDataset;
  beforeAll(async () => {
    train = await datasets.mnist({ split: 'train', limit: 3000 });
    test = await datasets.mnist({ split: 'test', limit: 1000 });
  });

  it('an MLP classifier reaches a sane accuracy in a few epochs', async () => {
    manualSeed(0);
    const model = new Sequential({ name: 'mnist_mlp' });
    model.add(new Flatten({ inputShape: [1, 28, 28] }));
    model.add(new Dense(64, { activation: 'relu' }));
    model.add(new Dropout(0.1));
    model.add(new Dense(10, { activation: 'softmax' }));
    model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const t0 = performance.now();
    const h = await model.fit(train.images, train.labels, {
      epochs: 3, batchSize: 32, validationData: [test.images, test.labels], verbose: 0, seed: 0,
    });
    const secs = (performance.now() - t0) / 1000;
    console.log(`keras MNIST MLP: 3 epochs × 3000 images in ${secs.toFixed(1)} s; history`, h.history);
    const { loss, accuracy, valLoss, valAccuracy } = h.history;
    expect(loss).toHaveLength(3);
    expect(accuracy).toHaveLength(3);
    expect(valLoss).toHaveLength(3);
    expect(valAccuracy).toHaveLength(3);
    expect(loss[2]!).toBeLessThan(loss[0]!);
    expect(accuracy![2]!).toBeGreaterThan(0.88);
    expect(valAccuracy![2]!).toBeGreaterThan(0.85);
    // evaluate on the validation data reproduces the last epoch's validation figures
    const ev = await model.evaluate(test.images, test.labels, { verbose: 0 });
    expect(ev.loss).toBeCloseTo(valLoss![2]!, 5);
    expect(ev.accuracy).toBeCloseTo(valAccuracy![2]!, 10);
    // predict: probabilities [N, 10] whose argmax gives the same accuracy, whatever the batch size
    const p = model.predict(test.images, { batchSize: 128 });
    expect(p.shape).toEqual([1000, 10]);
    const p7 = model.predict(test.images.narrow(0, 0, 7), { batchSize: 3 });
    expect(p7.shape).toEqual([7, 10]);
    const rows = p.dataSync(), r7 = p7.dataSync();
    for (let i = 0; i < 70; i++) expect(r7[i]!).toBeCloseTo(rows[i]!, 5);
    const sums = p.sum(-1).dataSync();
    for (const s of sums) expect(s).toBeCloseTo(1, 5);
    const hits = p.argmax(-1).eq(test.labels).float().mean().itemSync();
    expect(hits).toBeCloseTo(ev.accuracy!, 6); // (a float32 mean)
  });

  it('a small convnet (channels-first) trains on one-hot targets with categoricalCrossentropy', async () => {
    manualSeed(0);
    const model = new Sequential();
    model.add(new Conv2D(4, 5, { inputShape: [1, 28, 28], activation: 'relu', padding: 'same', strides: 2 }));
    model.add(new MaxPooling2D(2));
    model.add(new Flatten());
    model.add(new Dense(10));
    model.add(new Activation('softmax'));
    const text = model.summary({ printFn: () => {} });
    expect(text).toContain('conv2d (Conv2D)              (None, 4, 14, 14)         104');
    expect(text).toContain('max_pooling2d (MaxPooling2D) (None, 4, 7, 7)           0');
    expect(text).toContain('flatten (Flatten)            (None, 196)               0');
    expect(text).toContain('dense (Dense)                (None, 10)                1970');
    expect(text).toContain('Total params: 2,074');
    const n = 1000;
    const x = train.images.narrow(0, 0, n);
    const oneHot = tensor(Array.from(train.labels.dataSync().subarray(0, n), (l) => Array.from({ length: 10 }, (_, k) => (k === l ? 1 : 0))));
    model.compile({ optimizer: (params) => new Adam(params, { lr: 0.005 }), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const h = await model.fit(x, oneHot, { epochs: 2, batchSize: 32, verbose: 0, validationSplit: 0.2 });
    console.log('keras convnet history', h.history);
    expect(h.params.samples).toBe(800);
    expect(h.history.valAccuracy).toHaveLength(2);
    expect(h.history.loss[1]!).toBeLessThan(h.history.loss[0]!);
    expect(h.history.accuracy![1]!).toBeGreaterThan(0.6);
    expect(h.history.valAccuracy![1]!).toBeGreaterThan(0.6);
  });
});

describe('keras.Sequential: training details', () => {
  it('evaluates softmax + cross-entropy stably (no overflow, no clipping)', async () => {
    const model = new Sequential([new Dense(3, { inputDim: 1, activation: 'softmax', useBias: false })]);
    model.loadStateDict({ 'dense.weight': tensor([[1000], [0], [-1000]]) });
    model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    // logits [1000, 0, −1000], target class 1: −log softmax = logsumexp − 0 = 1000 exactly
    const r = await model.evaluate(tensor([[1]]), tensor([[0, 1, 0]]), { verbose: 0 });
    expect(r.loss).toBeCloseTo(1000, 3);
    expect(r.accuracy).toBe(0);
    model.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy' });
    expect((await model.evaluate(tensor([[1]]), tensor([0]), { verbose: 0 })).loss).toBeCloseTo(0, 6);
    expect((await model.evaluate(tensor([[1]]), tensor([2]), { verbose: 0 })).loss).toBeCloseTo(2000, 2);
  });

  it('binaryCrossentropy with a sigmoid output learns a separable problem (Y [N] accepted); optimizers as objects or factories', async () => {
    manualSeed(4);
    const x = randn([400, 2]);
    const y = x.index(null, 0).add(x.index(null, 1)).gt(0).float(); // [400]
    const model = new Sequential([new Dense(1, { inputDim: 2, activation: 'sigmoid' })]);
    model.compile({ optimizer: new SGD(model.parameters(), { lr: 0.5 }), loss: 'binaryCrossentropy', metrics: ['accuracy'] });
    const h = await model.fit(x, y, { epochs: 20, batchSize: 40, verbose: 0 });
    expect(h.history.accuracy![19]!).toBeGreaterThan(0.95);
    const m2 = new Sequential([new Dense(1, { inputDim: 2 })]);
    m2.compile({ optimizer: (params) => new SGD(params, { lr: 0.1, momentum: 0.9 }), loss: 'mse' });
    expect(m2.optimizer).toBeInstanceOf(SGD);
  });

  it('takes nested arrays as X and Y (the XOR problem)', async () => {
    manualSeed(7);
    const model = new Sequential([new Dense(8, { inputDim: 2, activation: 'tanh' }), new Dense(1, { activation: 'sigmoid' })]);
    model.compile({ optimizer: (p) => new Adam(p, { lr: 0.05 }), loss: 'binaryCrossentropy', metrics: ['accuracy'] });
    const X = [[0, 0], [0, 1], [1, 0], [1, 1]], Y = [0, 1, 1, 0];
    const h = await model.fit(X, Y, { epochs: 150, batchSize: 4, verbose: 0 });
    expect(h.history.accuracy![149]).toBe(1);
    expect(model.predict(X).shape).toEqual([4, 1]);
    expect(Array.from(model.predict(X).gt(0.5).dataSync())).toEqual([0, 1, 1, 0]);
  });

  it('frees every per-step tensor: memory stays flat across fit, evaluate and predict', async () => {
    manualSeed(8);
    const model = new Sequential([new Dense(16, { inputDim: 20, activation: 'relu' }), new Dropout(0.2), new Dense(4, { activation: 'softmax' })]);
    model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const x = rand([300, 20]), y = rand([300]).mul(4).floor().int();
    const round = async () => {
      await model.fit(x, y, { epochs: 2, batchSize: 25, verbose: 0, validationSplit: 0.2 });
      await model.evaluate(x, y, { verbose: 0 });
      model.predict(x, { batchSize: 64 }).dispose();
    };
    await round(); // optimizer state and gradients now exist
    const before = memory().storages;
    for (let i = 0; i < 3; i++) await round();
    expect(memory().storages).toBeLessThanOrEqual(before);
  });

  it('the same seeds give the same training run', async () => {
    const run = async () => {
      manualSeed(11);
      const model = new Sequential([new Dense(8, { inputDim: 5, activation: 'tanh' }), new Dropout(0.3), new Dense(2)]);
      model.compile({ optimizer: 'adam', loss: 'mse' });
      manualSeed(12);
      const x = randn([64, 5]), y = randn([64, 2]);
      return (await model.fit(x, y, { epochs: 3, batchSize: 16, verbose: 0, seed: 5 })).history.loss;
    };
    expect(await run()).toEqual(await run());
  });

  it('Dropout acts only while fitting; predict is deterministic', () => {
    manualSeed(2);
    const model = new Sequential([new Dense(16, { inputDim: 4 }), new Dropout(0.5)]);
    const x = randn([3, 4]);
    const a = model.predict(x).dataSync(), b = model.predict(x).dataSync();
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(model.training).toBe(false);
    model.train();
    const dropped = model.call(x).dataSync();
    expect(dropped.filter((v) => v === 0).length).toBeGreaterThan(5);
    model.eval();
  });

  it('callbacks see each epoch; stopTraining ends fit', async () => {
    manualSeed(3);
    const model = tutorialModel();
    model.compile({ optimizer: 'sgd', loss: 'mse' });
    const seen: [number, number][] = [];
    const h = await model.fit(rand([20, 784]), rand([20, 32]), {
      epochs: 5, verbose: 0,
      callbacks: [{ onEpochEnd: (e, logs) => { seen.push([e, logs.loss]); if (e === 1) model.stopTraining = true; } }],
    });
    expect(seen.map(([e]) => e)).toEqual([0, 1]);
    expect(h.history.loss).toEqual(seen.map(([, l]) => l));
  });

  it('its stateDict has nn-style keys and loads into nn.Linear', () => {
    manualSeed(5);
    const model = new Sequential([new Dense(3, { inputDim: 4 })]);
    expect(Object.keys(model.stateDict())).toEqual(['dense.weight', 'dense.bias']);
    const lin = new nn.Linear(4, 3);
    lin.loadStateDict({ weight: model.stateDict()['dense.weight']!, bias: model.stateDict()['dense.bias']! });
    const x = randn([2, 4]);
    const a = model.predict(x).dataSync(), b = lin.call(x).dataSync();
    for (let i = 0; i < a.length; i++) expect(a[i]!).toBeCloseTo(b[i]!, 6);
  });
});

describe('keras output', () => {
  it('off a terminal: one line per epoch (verbose 1 and 2), nothing with verbose 0', async () => {
    manualSeed(0);
    const model = tutorialModel();
    model.compile({ optimizer: 'sgd', loss: 'mse', metrics: ['accuracy'] });
    const x = rand([50, 784]), y = rand([50, 32]);
    for (const verbose of [1, 2] as const) {
      const out = capture(false);
      await model.fit(x, y, { epochs: 2, batchSize: 16, verbose, stream: out, validationData: [x, y] });
      const lines = out.text().split('\n');
      expect(lines.pop()).toBe('');
      expect(lines).toHaveLength(2);
      lines.forEach((l, i) => expect(l).toMatch(new RegExp(
        `^Epoch ${i + 1}/2 - 4/4 - \\d+\\.\\ds \\d+(s|ms|us)/step - loss: \\d\\.\\d{4} - accuracy: \\d\\.\\d{4} - val_loss: \\d\\.\\d{4} - val_accuracy: \\d\\.\\d{4}$`)));
      expect(out.text()).not.toContain('\r');
    }
    const silent = capture(false);
    await model.fit(x, y, { epochs: 2, verbose: 0, stream: silent });
    expect(silent.text()).toBe('');
    const ev = capture(false);
    await model.evaluate(x, y, { stream: ev });
    expect(ev.text()).toMatch(/^2\/2 \[={30}\] - \d+s \d+(s|ms|us)\/step - loss: \d\.\d{4} - accuracy: \d\.\d{4}\n$/);
  });

  it('on a terminal: Keras\'s progress bar, redrawn in place', async () => {
    manualSeed(0);
    const model = tutorialModel();
    model.compile({ optimizer: 'sgd', loss: 'mse', metrics: ['accuracy'] });
    const out = capture(true);
    await model.fit(rand([40, 784]), rand([40, 32]), { epochs: 2, batchSize: 4, stream: out });
    const text = out.text();
    expect(text.startsWith('Epoch 1/2\n')).toBe(true);
    expect(text).toContain('\nEpoch 2/2\n');
    const finals = text.split('\n').filter((l) => l.includes('[=============================='));
    expect(finals).toHaveLength(2);
    const last = finals[1]!.split('\r').pop()!;
    expect(last).toMatch(/^10\/10 \[={30}\] - \d+s \d+(s|ms|us)\/step - loss: \d\.\d{4} - accuracy: \d\.\d{4}\s*$/);
  });

  it('formats values as Keras does', async () => {
    const { formatValue, formatEta, renderBar, formatPerStep } = await import('../src/keras/progbar.ts');
    expect(formatValue(0.123456)).toBe('0.1235');
    expect(formatValue(12.5)).toBe('12.5000');
    expect(formatValue(0.0000123)).toBe('1.2300e-05');
    expect(formatValue(0)).toBe('0.0000e+00');
    expect(formatEta(42)).toBe('42s');
    expect(formatEta(187)).toBe('3:07');
    expect(formatEta(3723)).toBe('1:02:03');
    expect(formatPerStep(0.035)).toBe('35ms/step');
    expect(formatPerStep(0.00012)).toBe('120us/step');
    expect(formatPerStep(2)).toBe('2s/step');
    expect(renderBar(1, 10)).toBe(' 1/10 [==>...........................]');
    expect(renderBar(10, 10)).toBe('10/10 [==============================]');
    expect(renderBar(0, 3)).toBe('0/3 [..............................]');
  });
});

describe('keras errors', () => {
  it('fit with X and Y of different lengths', async () => {
    const model = tutorialModel().compile({ optimizer: 'sgd', loss: 'mse' });
    await expectRejects(model.fit(rand([10, 784]), rand([9, 32]), { verbose: 0 }), ShapeError,
      'X and Y must have the same number of samples', 'X has 10 (shape [10, 784])', 'Y has 9 (shape [9, 32])');
  });

  it('unknown optimizer, loss, metric or activation names list the valid ones', () => {
    const model = tutorialModel();
    expectThrows(() => model.compile({ optimizer: 'adagrad' as 'sgd', loss: 'mse' }), ValueError,
      'unknown optimizer "adagrad"', "'sgd', 'rmsprop', 'adam'");
    expectThrows(() => model.compile({ optimizer: 'sgd', loss: 'hinge' as 'mse' }), ValueError,
      'unknown loss "hinge"', "'mse'", "'categoricalCrossentropy'", "'sparseCategoricalCrossentropy'", "'binaryCrossentropy'");
    expectThrows(() => model.compile({ optimizer: 'sgd', loss: 'mse', metrics: ['f1' as 'accuracy'] }), ValueError, 'unknown metric "f1"', "'accuracy'");
    expectThrows(() => new Activation('swish' as 'relu'), ValueError, 'unknown activation "swish"', "'relu', 'sigmoid', 'tanh', 'softmax'");
  });

  it('a first layer without an input shape', () => {
    expectThrows(() => new Sequential().add(new Dense(32)), ValueError, 'first layer (Dense)', 'inputDim: 784');
    expectThrows(() => new Sequential().add(new Conv2D(8, 3)), ValueError, 'first layer (Conv2D)', 'inputShape');
  });

  it('a wrong input shape names the layer and the shape it expects', async () => {
    const model = tutorialModel().compile({ optimizer: 'sgd', loss: 'mse' });
    await expectRejects(model.fit(rand([10, 100]), rand([10, 32]), { verbose: 0 }), ShapeError,
      "layer 'dense' (Dense) expects input of shape (None, 784)", 'X has shape [10, 100]');
    expectThrows(() => model.predict(rand([2, 28, 28])), ShapeError, "layer 'dense' (Dense)", 'X of shape [N, 784]');
    // a layer whose input does not fit the previous output
    const conv = new Sequential().add(new Dense(10, { inputDim: 4 }));
    expectThrows(() => conv.add(new Conv2D(2, 3)), ShapeError, "layer 'conv2d' (Conv2D) expects input of shape (None, channels, height, width)", '(None, 10)');
    // channels-last images get a hint
    expectThrows(() => new Sequential().add(new Conv2D(8, 3, { inputShape: [28, 28, 1] })), ShapeError, 'channels-first', 'inputShape [1, 28, 28]');
  });

  it('targets that do not fit the loss or the output', async () => {
    const model = tutorialModel().compile({ optimizer: 'sgd', loss: 'mse' });
    await expectRejects(model.fit(rand([4, 784]), rand([4, 10]), { verbose: 0 }), ShapeError, 'Y has shape [4, 10]', 'outputs [4, 32]');
    const clf = new Sequential([new Dense(3, { inputDim: 2, activation: 'softmax' })]);
    clf.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
    await expectRejects(clf.fit(rand([4, 2]), tensor([0, 1, 2, 1]), { verbose: 0 }), ShapeError, "use loss 'sparseCategoricalCrossentropy'");
    clf.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy' });
    await expectRejects(clf.fit(rand([4, 2]), tensor([0, 1, 3, 1]), { verbose: 0 }), ValueError, 'Y[2] is 3', '0..2');
  });

  it('fit before compile, bad options, and misuse of add', async () => {
    const model = tutorialModel();
    await expectRejects(model.fit(rand([2, 784]), rand([2, 32])), ValueError, 'not compiled', 'model.compile');
    model.compile({ optimizer: 'sgd', loss: 'mse' });
    await expectRejects(model.fit(rand([2, 784]), rand([2, 32]), { batchSize: 0 }), ValueError, 'batchSize must be an integer ≥ 1');
    await expectRejects(model.fit(rand([2, 784]), rand([2, 32]), { validationSplit: 1 }), ValueError, 'validationSplit');
    expectThrows(() => model.add(new nn.Linear(2, 2) as never), ValueError, 'expected a Keras layer', 'nn.Sequential');
    const d = new Dense(2);
    model.add(d);
    expectThrows(() => model.add(d), ValueError, 'already in this model');
    await expectRejects(model.fit(rand([2, 784]), rand([2, 2])), ValueError, 'not compiled', 'again after adding layers');
    expectThrows(() => model.add(new Dense(2, { name: 'fit' })), ValueError, "cannot be named 'fit'");
    expectThrows(() => new Dense(0), ValueError, 'units');
    expectThrows(() => new Dropout(1), ValueError, 'rate');
    expectThrows(() => new Sequential([]).compile({ optimizer: 'sgd', loss: 'mse' }), ValueError, 'no layers');
    const early = new Sequential([new Dense(2, { inputDim: 2 })]);
    const opt = new SGD(early.parameters(), { lr: 0.1 });
    early.add(new Dense(2));
    expectThrows(() => early.compile({ optimizer: opt, loss: 'mse' }), ValueError, 'does not hold 2 of the model');
  });
});

describe('keras.Sequential: compile({ jitCompile: true })', () => {
  const data = () => {
    manualSeed(21);
    const x = randn([90, 6]);
    const y = x.index(null, 0).sub(x.index(null, 1).mul(0.5)).gt(0).int(); // [90], two classes
    return { x, y };
  };
  const model = (jitCompile: boolean, dropout = 0) => {
    manualSeed(22);
    const m = new Sequential([
      new Dense(12, { inputDim: 6, activation: 'relu' }), ...(dropout ? [new Dropout(dropout)] : []), new Dense(2, { activation: 'softmax' }),
    ]);
    m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], jitCompile });
    return m;
  };

  it('fit runs the compiled step and trains as the eager step does (losses, accuracies, weights)', async () => {
    const { x, y } = data();
    const eager = model(false), compiled = model(true);
    expect(eager.trainFunction).toBeNull();
    // batches of 32 over 90 samples: a last batch of 26 is a second signature
    const he = await eager.fit(x, y, { epochs: 4, batchSize: 32, verbose: 0, seed: 3 });
    const hj = await compiled.fit(x, y, { epochs: 4, batchSize: 32, verbose: 0, seed: 3 });
    const step = compiled.trainFunction!;
    expect(step.stats.calls).toBe(12);
    expect(step.stats.traces).toBe(2);
    expect(step.lower(x.narrow(0, 0, 32), y.narrow(0, 0, 32)).kernels.length).toBeGreaterThan(0);
    for (let e = 0; e < 4; e++) {
      expect(hj.history.loss[e]!).toBeCloseTo(he.history.loss[e]!, 5);
      expect(hj.history.accuracy![e]!).toBeCloseTo(he.history.accuracy![e]!, 10);
    }
    expect(he.history.loss[3]!).toBeLessThan(he.history.loss[0]!);
    const we = eager.stateDict(), wj = compiled.stateDict();
    for (const k of Object.keys(we)) {
      const a = we[k]!.dataSync(), b = wj[k]!.dataSync();
      for (let i = 0; i < a.length; i++) expect(b[i]!).toBeCloseTo(a[i]!, 5);
    }
    // evaluate and predict run eagerly on the trained weights either way
    expect((await compiled.evaluate(x, y, { verbose: 0 })).loss).toBeCloseTo((await eager.evaluate(x, y, { verbose: 0 })).loss, 5);
  });

  it('runs Dropout inside the compiled step with the eager step\'s random stream, and frees its per-step tensors', async () => {
    const { x, y } = data();
    const he = await model(false, 0.2).fit(x, y, { epochs: 30, batchSize: 30, verbose: 0, seed: 4 });
    const m = model(true, 0.2);
    const h = await m.fit(x, y, { epochs: 30, batchSize: 30, verbose: 0, seed: 4 });
    expect(m.trainFunction!.stats.traces).toBe(1);
    expect(h.history.loss[29]!).toBeLessThan(h.history.loss[0]! * 0.7);
    for (let e = 0; e < 30; e++) {
      expect(h.history.loss[e]!).toBeCloseTo(he.history.loss[e]!, 5);
      expect(h.history.accuracy![e]!).toBeCloseTo(he.history.accuracy![e]!, 10);
    }
    const before = memory().storages;
    await m.fit(x, y, { epochs: 3, batchSize: 30, verbose: 0 });
    expect(memory().storages).toBeLessThanOrEqual(before);
  });

  it('is the default (\'auto\'); jitCompile must be true, false or \'auto\'', () => {
    const m = new Sequential([new Dense(2, { inputDim: 3 })]);
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    expect(m.trainFunction).not.toBeNull();
    expectThrows(() => m.compile({ optimizer: 'sgd', loss: 'mse', jitCompile: 'yes' as unknown as boolean }), ValueError, "jitCompile must be true, false or 'auto'");
  });

  it('\'auto\' trains eagerly, with one warning, a model whose step cannot be traced; true throws', async () => {
    /** A custom layer that reads a value back on the host: fine eagerly, not traceable. */
    class HostScale extends keras.Layer {
      readonly className = 'HostScale';
      protected readonly defaultName = 'host_scale';
      protected buildLayer(inputShape: readonly number[]): readonly number[] {
        return inputShape;
      }
      preActivation(x: Tensor): Tensor {
        return x.mul(1 / (1 + Math.abs(x.mean().itemSync())));
      }
    }
    const { x, y } = data();
    const make = (jitCompile: boolean | 'auto') => {
      manualSeed(22);
      const m = new Sequential([new Dense(12, { inputDim: 6, activation: 'relu' }), new HostScale(), new Dense(2, { activation: 'softmax' })]);
      m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], jitCompile });
      return m;
    };
    const eager = await make(false).fit(x, y, { epochs: 3, batchSize: 30, verbose: 0, seed: 6 });
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const auto = make('auto');
    const h = await auto.fit(x, y, { epochs: 3, batchSize: 30, verbose: 0, seed: 6 });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toMatch(/could not be compiled \(jitCompile 'auto'\), so it runs eagerly/);
    expect(auto.trainFunction).toBeNull();
    for (let e = 0; e < 3; e++) expect(h.history.loss[e]!).toBeCloseTo(eager.history.loss[e]!, 6);
    await expectRejects(make(true).fit(x, y, { epochs: 1, batchSize: 30, verbose: 0 }), DeviceError, 'symbolic (inside jit tracing)');
  });
});

describe("keras optimizer names follow Keras 3's formulas, not only its defaults", () => {
  // one weight w = 0, x = 1, target −g/2 under mse: dL/dw = g; one step of the named optimizer
  const oneStep = async (name: 'rmsprop' | 'adam', g: number) => {
    const m = new keras.Sequential();
    m.add(new keras.Dense(1, { inputDim: 1, useBias: false }));
    noGrad(() => m.layers[0]!.parameters()[0]!.fill_(0));
    m.compile({ optimizer: name, loss: 'mse', jitCompile: false });
    await m.fit(tensor([[1]]), tensor([[-g / 2]]), { epochs: 1, batchSize: 1, verbose: 0 });
    return m.layers[0]!.parameters()[0]!.itemSync();
  };
  it("'rmsprop' divides by √(v + ε) and 'adam' adds ε before the bias correction", async () => {
    for (const g of [1e-2, 1e-4, 1e-6]) {
      // Keras 3: rmsprop v = 0.1·g², w = −lr·g/√(v + ε); adam w = −lr·√(1 − β₂)/(1 − β₁)·m/(√v + ε)
      const rms = -0.001 * g / Math.sqrt(0.1 * g * g + 1e-7);
      const adam = -0.001 * Math.sqrt(1 - 0.999) / (1 - 0.9) * (0.1 * g) / (Math.sqrt(0.001 * g * g) + 1e-7);
      expect((await oneStep('rmsprop', g)) / rms).toBeCloseTo(1, 5);
      expect((await oneStep('adam', g)) / adam).toBeCloseTo(1, 5);
    }
  });
});

describe('predict and binary accuracy follow the output (a probe of the Keras layer)', () => {
  it("binary accuracy thresholds the sigmoid's output, not the logit (sigmoid rounds to 0.5 for tiny positive logits)", async () => {
    const m = new Sequential();
    const d = new Dense(1, { inputDim: 1, activation: 'sigmoid' });
    m.add(d);
    noGrad(() => {
      d.weight!.fill_(0);
      d.bias!.fill_(1e-8);
    });
    m.compile({ optimizer: 'sgd', loss: 'binaryCrossentropy', metrics: ['accuracy'] });
    const X = tensor([[1], [2]]);
    expect(m.predict(X).toArraySync()).toEqual([[0.5], [0.5]]);
    expect((await m.evaluate(X, tensor([[1], [1]]), { verbose: 0 })).accuracy).toBe(0);
    expect((await m.evaluate(X, tensor([[0], [0]]), { verbose: 0 })).accuracy).toBe(1);
  });

  it('predict returns a new tensor, never a view of X (a model of only reshapes)', () => {
    const m = new Sequential();
    m.add(new Flatten({ inputShape: [1, 3] }));
    const X = tensor([[[1, 2, 3]]]);
    const p = m.predict(X);
    p.fill_(9);
    p.dispose();
    expect(X.toArraySync()).toEqual([[[1, 2, 3]]]);
  });
});

describe("'accuracy' as Keras 3 chooses and computes it", () => {
  const model = (units: number, w: number[][]) => {
    const m = new keras.Sequential();
    const d = new keras.Dense(units, { inputDim: 1, activation: 'sigmoid', useBias: false });
    m.add(d);
    noGrad(() => d.weight!.copy_(tensor(w)));
    m.compile({ optimizer: 'sgd', loss: 'binaryCrossentropy', metrics: ['accuracy'] });
    return m;
  };
  it('several sigmoid outputs with binary cross-entropy: categorical accuracy (argmax), by shape', async () => {
    // x = 1 → p = [0.73, 0.73, 0.27]: argmax 0 for both samples; targets' argmax 0 and 1
    const ev = await model(3, [[1], [1], [-1]]).evaluate(tensor([[1], [1]]), tensor([[1, 1, 0], [0, 1, 1]]), { verbose: 0 });
    expect(ev.accuracy).toBe(0.5);
  });
  it('binary accuracy thresholds the prediction only: a soft target of 0.9 is not hit', async () => {
    const ev = await model(1, [[1]]).evaluate(tensor([[1], [1]]), tensor([[0.9], [1]]), { verbose: 0 });
    expect(ev.accuracy).toBe(0.5);
  });
});
