/**
 * @file A whole training step compiled by `jit`: zeroGrad, forward, crossEntropy, backward and the
 * optimizer's update trace to one graph, which the passes shrink and fusion turns into a few
 * kernels. Trains an MLP on MNIST eagerly and compiled from the same initial weights, prints both
 * losses, the speed-up, and what was compiled (node counts per pass, kernels, generated code).
 * Run: npx tsx examples/jit-training.ts [--limit 4000] [--batch 64] [--epochs 1] [--optimizer sgd|rmsprop|adam]
 */
import { DataLoader, datasets, jit, manualSeed, nn, optim, type Tensor } from 'tapegrad';
import { choiceArg, knownArgs, numArg } from './args.ts';

knownArgs('limit', 'batch', 'epochs', 'optimizer');
const limit = numArg('limit', 4000), batchSize = numArg('batch', 64), epochs = numArg('epochs', 1);
const optName = choiceArg('optimizer', 'sgd', ['sgd', 'rmsprop', 'adam']);
const F = nn.functional;

const train = await datasets.mnist({ split: 'train', limit });

function setup() {
  manualSeed(0);
  const model = new nn.Sequential(new nn.Flatten(), new nn.Linear(784, 128), new nn.ReLU(), new nn.Linear(128, 10));
  const params = model.parameters();
  const opt = optName === 'adam' ? new optim.Adam(params, { lr: 1e-3 })
    : optName === 'rmsprop' ? new optim.RMSprop(params, { lr: 1e-3 })
    : new optim.SGD(params, { lr: 0.1, momentum: 0.9 });
  const step = (x: Tensor, y: Tensor) => {
    opt.zeroGrad();
    const loss = F.crossEntropy(model.forward(x), y);
    loss.backward();
    opt.step();
    return loss;
  };
  return { model, step };
}

function run(step: (x: Tensor, y: Tensor) => Tensor, label: string): { seconds: number; last: number } {
  const t0 = performance.now();
  let loss: Tensor | null = null;
  for (let e = 0; e < epochs; e++) {
    for (const [x, y] of new DataLoader(train, { batchSize, shuffle: true, seed: e })) loss = step(x, y);
  }
  // the last batch's loss (read once: a readback per step would time the synchronisation)
  const last = loss ? loss.itemSync() : NaN;
  const seconds = (performance.now() - t0) / 1000;
  console.log(`${label}: ${epochs} epoch(s) of ${limit} images in ${seconds.toFixed(2)} s, loss ${last.toFixed(4)}`);
  return { seconds, last };
}

const eager = setup();
const e = run(eager.step, 'eager');
const compiled = setup();
const step = jit(compiled.step, { name: 'trainStep' });
const j = run(step, 'jit  ');
console.log(`speed-up: ${(e.seconds / j.seconds).toFixed(2)}×; same losses: ${Math.abs(e.last - j.last) < 1e-4}`);
const diff = eager.model.parameters().reduce((m, p, i) => {
  const a = p.dataSync(), b = compiled.model.parameters()[i]!.dataSync();
  return Math.max(m, ...Array.from(a, (v, k) => Math.abs(v - b[k]!)));
}, 0);
console.log(`largest parameter difference after training: ${diff.toExponential(2)}`);

// what was compiled
const [x0, y0] = new DataLoader(train, { batchSize })[Symbol.iterator]().next().value as [Tensor, Tensor];
const L = step.lower(x0, y0);
console.log(`\ncompiled ${step.stats.traces} signature(s); node counts per pass: ${L.passes.map((p) => `${p.name} ${p.nodes}`).join(', ')}`);
console.log(`${L.kernels.length} kernels (${L.launches} launches per step, ${(L.tempBytes / 1024).toFixed(0)} KiB of planned temporaries, nothing allocated per step but the loss)`);
for (const k of L.kernels) console.log(`  ${k.kind.padEnd(11)} ${k.fused ? `(${k.fused} ops fused) ` : ''}${k.label}`);
const biggest = [...L.kernels].filter((k) => k.kind === 'elementwise').sort((a, b) => b.fused - a.fused)[0];
if (biggest) console.log(`\nthe most fused elementwise kernel (${biggest.label}), as generated JavaScript:\n${biggest.source}`);
console.log(`\nthe optimized graph:\n${L.text()}`);
