/**
 * @file The tutorial's logistic regression, written symbolically line by line as in Theano:
 * placeholders x, y; shared w, b; p₁, prediction, cross-entropy, cost; T.grad; one compiled
 * `train` function with update pairs, and a compiled `predict`. (The eager version is
 * examples/logistic-regression.ts.) Float64, as Theano's default floatX.
 * Run: npx tsx examples/theano-logistic-regression.ts [--steps 10000]
 */
import { T, fn, shared, pp, manualSeed, randn, randint, type Tensor } from 'tapegrad';
import { knownArgs, numArg } from './args.ts';

knownArgs('steps', 'symbolic'); // (also run by logistic-regression.ts --symbolic)

manualSeed(0);
const N = 400, feats = 784;
const D: [Tensor, Tensor] = [randn([N, feats], { dtype: 'float64' }), randint(0, 2, [N]).double()];
const trainingSteps = numArg('steps', 1000);

// declare the symbolic variables
const x = T.dmatrix('x');
const y = T.dvector('y');
const w = shared(randn([feats], { dtype: 'float64' }), { name: 'w' });
const b = shared(0, { name: 'b', dtype: 'float64' });
console.log('initial model: b =', b.getValue());

// construct the expression graph
const p1 = T.div(1, T.add(1, T.exp(T.dot(x, w).neg().sub(b)))); // probability that target = 1
const prediction = p1.gt(0.5); // the prediction thresholded
const xent = y.neg().mul(T.log(p1)).sub(T.sub(1, y).mul(T.log(T.sub(1, p1)))); // cross-entropy loss
const cost = xent.mean().add(w.pow(2).sum().mul(0.01)); // the cost to minimize
const [gw, gb] = T.grad(cost, [w, b]); // the gradient of the cost w.r.t. w and b

// compile
const train = fn([x, y], [prediction, xent.mean()], { updates: [[w, w.sub(gw!.mul(0.1))], [b, b.sub(gb!.mul(0.1))]] });
const predict = fn([x], prediction);

// train
for (let i = 0; i < trainingSteps; i++) {
  const [, err] = train(D[0], D[1]) as Tensor[];
  if (i % Math.max(1, Math.floor(trainingSteps / 5)) === 0) console.log(`step ${i}: mean cross-entropy ${err!.itemSync().toFixed(5)}`);
}
const target = Array.from(D[1].dataSync()).map(Number);
const pred = Array.from((predict(D[0]) as Tensor).dataSync()).map(Number);
console.log('final model: b =', (b.getValue() as number).toFixed(5), ', |w| =', Math.sqrt((w.getValue() as number[]).reduce((s, v) => s + v * v, 0)).toFixed(3));
console.log('target values for D:', target.slice(0, 20).join(' '), '…');
console.log('prediction on D:    ', pred.slice(0, 20).join(' '), '…');
console.log(`accuracy on D: ${((pred.filter((p, i) => p === target[i]).length / N) * 100).toFixed(1)}%`);

// what was compiled: one graph for forward, gradient and update; a few fused kernels
const L = train.lower(D[0], D[1]);
console.log(`train: ${L.passes[0]!.nodes} traced nodes → ${L.passes.filter((p) => p.name === 'dce').at(-1)!.nodes} after optimisation → ${L.kernels.length} kernels`);
console.log('prediction, symbolically:', pp(prediction).slice(0, 120) + (pp(prediction).length > 120 ? '…' : ''));
