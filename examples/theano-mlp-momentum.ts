/**
 * @file The tutorial's multi-layer perceptron trained with momentum, written symbolically as in
 * Theano: `Layer` and `MLP` classes over shared variables, `squaredError`, and
 * `gradientUpdatesMomentum` building (shared, new value) update pairs; one compiled `train` and
 * one compiled `mlpOutput`. (The eager version is examples/mlp-momentum.ts.)
 * Run: npx tsx examples/theano-mlp-momentum.ts [--epochs 20] [--lr 0.01] [--momentum 0.9]
 */
import { T, fn, shared, manualSeed, ones, rand, randint, randn, stack, tensor, zerosLike, type Tensor, type Var } from 'tapegrad';
import { knownArgs, numArg } from './args.ts';

knownArgs('lr', 'momentum', 'epochs', 'symbolic'); // (also run by mlp-momentum.ts --symbolic)

type Activation = ((x: Var) => Var) | null;

class Layer {
  readonly W: Var;
  readonly b: Var;
  constructor(Winit: Tensor, binit: Tensor, readonly activation: Activation) {
    this.W = shared(Winit, { name: 'W' });
    this.b = shared(binit.reshape(-1, 1), { name: 'b' }); // a column, broadcast across examples
  }
  get params(): Var[] { return [this.W, this.b]; }
  output(x: Var): Var {
    const lin = T.dot(this.W, x).add(this.b);
    return this.activation ? this.activation(lin) : lin;
  }
}

class MLP {
  readonly layers: Layer[];
  constructor(Winit: Tensor[], binit: Tensor[], activations: Activation[]) {
    this.layers = Winit.map((W, i) => new Layer(W, binit[i]!, activations[i]!));
  }
  get params(): Var[] { return this.layers.flatMap((l) => l.params); }
  output(x: Var): Var { return this.layers.reduce((h, l) => l.output(h), x); }
  squaredError(x: Var, y: Var): Var { return T.sum(T.sqr(this.output(x).sub(y))); }
}

/** param ← param − lr·v and v ← μ·v + (1−μ)·∂cost/∂param, as update pairs. */
function gradientUpdatesMomentum(cost: Var, params: Var[], learningRate: number, momentum: number): [Var, Var][] {
  if (momentum < 0 || momentum >= 1) throw new Error('momentum must be in [0, 1)');
  const updates: [Var, Var][] = [];
  for (const param of params) {
    const paramUpdate = shared(zerosLike(param.value), { name: `v_${param.name}` });
    updates.push([param, param.sub(paramUpdate.mul(learningRate))]);
    updates.push([paramUpdate, paramUpdate.mul(momentum).add(T.grad(cost, param).mul(1 - momentum))]);
  }
  return updates;
}

manualSeed(0);
// the toy problem: two classes of 2-D points (examples are columns, as in the tutorial)
const N = 1000;
const yv = randint(0, 2, [N]);
const means = tensor([[-1, 1], [-1, 1]]);
const covariances = rand([2, 2]).add(1);
const row = (r: number) => randn([N]).mul(covariances.index(r).gather(0, yv)).add(means.index(r).gather(0, yv));
const X = stack([row(0), row(1)]);
const Y = yv.float();

const sizes = [2, 4, 1];
const Winit: Tensor[] = [], binit: Tensor[] = [];
for (let i = 0; i < sizes.length - 1; i++) {
  Winit.push(randn([sizes[i + 1]!, sizes[i]!]));
  binit.push(ones([sizes[i + 1]!]));
}
const mlp = new MLP(Winit, binit, [T.nnet.sigmoid, T.nnet.sigmoid]);

const mlpInput = T.matrix('mlp_input');
const mlpTarget = T.vector('mlp_target');
const cost = mlp.squaredError(mlpInput, mlpTarget);
const train = fn([mlpInput, mlpTarget], cost, { updates: gradientUpdatesMomentum(cost, mlp.params, numArg('lr', 0.01), numArg('momentum', 0.9)) });
const mlpOutput = fn([mlpInput], mlp.output(mlpInput));

const epochs = numArg('epochs', 20);
let accuracy = 0;
for (let epoch = 0; epoch < epochs; epoch++) {
  const c = (train(X, Y) as Tensor).itemSync();
  const out = mlpOutput(X) as Tensor;
  accuracy = out.gt(0.5).squeeze(0).eq(Y.bool()).float().mean().itemSync();
  console.log(`iteration ${epoch + 1}: cost ${c.toFixed(3)}, accuracy ${(accuracy * 100).toFixed(1)}%`);
}
console.log(`final accuracy ${(accuracy * 100).toFixed(1)}%`);
const L = train.lower(X, Y);
console.log(`train compiled: ${L.passes[0]!.nodes} traced nodes → ${L.passes.filter((p) => p.name === 'dce').at(-1)!.nodes} after optimisation (the four T.grad calls share one backward after CSE) → ${L.kernels.length} kernels`);
