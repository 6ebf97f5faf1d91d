/**
 * @file The tutorial's multi-layer perceptron: its `Layer` and `MLP` classes, `squaredError`, and
 * `gradientUpdatesMomentum` (learning rate 0.01, momentum 0.9) on its two-class toy problem.
 * Run: npx tsx examples/mlp-momentum.ts [--epochs 20] [--lr 0.01] [--momentum 0.9]
 *      npx tsx examples/mlp-momentum.ts --symbolic [--epochs 20]   (Theano's style: T, fn, shared)
 */
import { grad, manualSeed, noGrad, ones, rand, randint, randn, stack, tensor, zeros, type Tensor } from 'tapegrad';
import { flag, knownArgs, numArg } from './args.ts';

knownArgs('symbolic', 'lr', 'momentum', 'epochs');

/** One layer: output = activation(W x + b), with x as columns (the tutorial's layout). */
class Layer {
  readonly W: Tensor;
  readonly b: Tensor;
  constructor(Winit: Tensor, binit: Tensor, readonly activation: ((x: Tensor) => Tensor) | null) {
    this.W = Winit.requiresGrad_();
    this.b = binit.reshape(-1, 1).requiresGrad_(); // a column, broadcast across examples
  }
  get params(): Tensor[] { return [this.W, this.b]; }
  output(x: Tensor): Tensor {
    const lin = this.W.matmul(x).add(this.b);
    return this.activation ? this.activation(lin) : lin;
  }
}

class MLP {
  readonly layers: Layer[] = [];
  constructor(Winit: Tensor[], binit: Tensor[], activations: (((x: Tensor) => Tensor) | null)[]) {
    Winit.forEach((W, i) => this.layers.push(new Layer(W, binit[i]!, activations[i]!)));
  }
  get params(): Tensor[] { return this.layers.flatMap((l) => l.params); }
  output(x: Tensor): Tensor {
    return this.layers.reduce((h, l) => l.output(h), x);
  }
  squaredError(x: Tensor, y: Tensor): Tensor {
    return this.output(x).sub(y).pow(2).sum();
  }
}

/**
 * The tutorial's momentum rule, as update pairs: param ← param − lr·v, then v ← μ·v + (1−μ)·∂cost/∂param.
 * Returns a function that applies one step given the cost.
 */
function gradientUpdatesMomentum(params: Tensor[], learningRate: number, momentum: number) {
  if (momentum < 0 || momentum >= 1) throw new Error('momentum must be in [0, 1)');
  const velocities = params.map((p) => zeros(p.shape, { dtype: p.dtype }));
  return (cost: Tensor) => {
    const grads = grad(cost, params);
    noGrad(() => params.forEach((p, i) => {
      const v = velocities[i]!;
      p.sub_(v.mul(learningRate));
      v.mul_(momentum).add_(grads[i]!.mul(1 - momentum));
    }));
  };
}

if (flag('symbolic')) {
  // the same MLP as the tutorial writes it: shared parameters, T.grad, update pairs from gradientUpdatesMomentum, one compiled train function
  await import('./theano-mlp-momentum.ts');
} else {
  manualSeed(0);
  // the toy problem: two classes of 2-D points; row r of X is randn·covariances[r, y] + means[r, y]
  const N = 1000;
  const y = randint(0, 2, [N]);
  const means = tensor([[-1, 1], [-1, 1]]);
  const covariances = rand([2, 2]).add(1);
  const row = (r: number) => randn([N]).mul(covariances.index(r).gather(0, y)).add(means.index(r).gather(0, y));
  const X = stack([row(0), row(1)]); // [2, N]: examples are columns, as in the tutorial
  const Y = y.float().unsqueeze(0);

  // layer sizes [2, 4, 1], sigmoid activations; W from randn, b = 1, as in the tutorial
  const sizes = [X.shape[0]!, X.shape[0]! * 2, 1];
  const Winit: Tensor[] = [], binit: Tensor[] = [];
  for (let i = 0; i < sizes.length - 1; i++) {
    Winit.push(randn([sizes[i + 1]!, sizes[i]!]));
    binit.push(ones([sizes[i + 1]!]));
  }
  const mlp = new MLP(Winit, binit, [(x) => x.sigmoid(), (x) => x.sigmoid()]);
  const step = gradientUpdatesMomentum(mlp.params, numArg('lr', 0.01), numArg('momentum', 0.9));

  const epochs = numArg('epochs', 20);
  let accuracy = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    const cost = mlp.squaredError(X, Y);
    step(cost);
    const prediction = noGrad(() => mlp.output(X).gt(0.5));
    accuracy = prediction.eq(Y.bool()).float().mean().itemSync();
    console.log(`iteration ${epoch + 1}: cost ${cost.itemSync().toFixed(3)}, accuracy ${(accuracy * 100).toFixed(1)}%`);
  }
  console.log(`final accuracy ${(accuracy * 100).toFixed(1)}%`);
}
