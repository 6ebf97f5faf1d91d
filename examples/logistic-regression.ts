/**
 * @file The tutorial's logistic-regression exercise, in eager tapegrad: 784 features, w from
 * randn, b = 0, p₁ = 1/(1+exp(−x·w − b)), prediction p₁ > 0.5, cross-entropy + 0.01‖w‖², gradient
 * step 0.1 — first on random data D (400 examples, random 0/1 labels) for 10,000 steps as in the
 * original, then the same model telling two MNIST digits apart.
 * Run: npx tsx examples/logistic-regression.ts [--steps 10000] [--digits 3,8] [--limit 2000]
 *      npx tsx examples/logistic-regression.ts --symbolic [--steps 1000]   (Theano's style: T, fn, shared)
 */
import { datasets, grad, manualSeed, noGrad, randint, randn, softplus, tensor, zeros, type Tensor } from 'tapegrad';
import { arg, flag, knownArgs, numArg } from './args.ts';

knownArgs('steps', 'symbolic', 'digits', 'limit');

const steps = numArg('steps', 10_000);

/** Trains the tutorial's model on (X, Y) and returns its accuracy on them. */
function train(X: Tensor, Y: Tensor, nSteps: number, label: string): number {
  const feats = X.shape[1]!;
  const w = randn([feats], { dtype: 'float64', requiresGrad: true });
  const b = zeros([], { dtype: 'float64', requiresGrad: true });
  const logit = () => X.matmul(w).add(b);
  const model = () => logit().neg().exp().add(1).reciprocal(); // p₁ = 1/(1+exp(−x·w − b))
  for (let i = 0; i < nSteps; i++) {
    const z = logit();
    // xent = −y log p₁ − (1−y) log(1−p₁). NOTE: written through softplus (log p₁ = −softplus(−z),
    // log(1−p₁) = −softplus(z)): the same value, but finite where p₁ rounds to 0 or 1. Theano made
    // this rewrite automatically when it optimised the tutorial's graph.
    const xent = Y.mul(softplus(z.neg())).add(Y.neg().add(1).mul(softplus(z)));
    const cost = xent.mean().add(w.pow(2).sum().mul(0.01));
    const [gw, gb] = grad(cost, [w, b]);
    noGrad(() => {
      w.sub_(gw!.mul(0.1));
      b.sub_(gb!.mul(0.1));
    });
    if (i % Math.max(1, Math.floor(nSteps / 5)) === 0) console.log(`${label} step ${i}: cost ${cost.itemSync().toFixed(4)}`);
  }
  const prediction = noGrad(() => model().gt(0.5));
  return prediction.eq(Y.bool()).float().mean().itemSync();
}

if (flag('symbolic')) {
  // the same model as the tutorial writes it: placeholders, shared w and b, T.grad, one compiled train function with update pairs
  await import('./theano-logistic-regression.ts');
} else {
  manualSeed(0);
  // D = (random inputs, random 0/1 labels)
  const N = 400, feats = 784;
  const D: [Tensor, Tensor] = [randn([N, feats], { dtype: 'float64' }), randint(0, 2, [N]).double()];
  console.log('target values for D:', Array.from(D[1].dataSync().slice(0, 20)).join(' '), '…');
  const accRandom = train(D[0], D[1], steps, 'random D');
  console.log(`accuracy on D: ${(accRandom * 100).toFixed(1)}%`);

  // the same model on two MNIST digits
  const [d0, d1] = arg('digits', '3,8').split(',').map(Number) as [number, number];
  const { images, labels } = await datasets.mnist({ split: 'train', limit: numArg('limit', 2000) });
  const lab = labels.dataSync();
  const keep: number[] = [];
  lab.forEach((v, i) => { if (v === d0 || v === d1) keep.push(i); });
  const idx = tensor(keep, { dtype: 'int32' });
  const Xm = images.reshape(images.shape[0]!, 784).indexSelect(0, idx).double();
  const Ym = labels.indexSelect(0, idx).eq(d1).double();
  const accMnist = train(Xm, Ym, Math.min(steps, 300), `MNIST ${d0} vs ${d1}`);
  console.log(`accuracy telling ${d0} from ${d1} (${keep.length} images): ${(accMnist * 100).toFixed(1)}%`);
}
