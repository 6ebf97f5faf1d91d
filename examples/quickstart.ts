/**
 * @file The smallest tour: tensors, broadcasting, autograd and a few steps of gradient descent.
 * Run: npx tsx examples/quickstart.ts
 */
import { tensor, grad, noGrad, manualSeed, randn } from 'tapegrad';

const a = tensor([0, 1, 2]);
console.log('a + a**10 =', a.add(a.pow(10)).toString());

const x = tensor([[0, 1], [-1, -2]]);
console.log('logistic  =', x.neg().exp().add(1).reciprocal().toString());

const w = tensor([1, 2, 3], { requiresGrad: true });
const [g] = grad(w.pow(2).sum(), [w]);
console.log('d/dw sum(w**2) =', g!.toString());

// fit y = 3x - 1 by gradient descent
manualSeed(0);
const xs = randn([64, 1]);
const ys = xs.mul(3).sub(1);
const p = tensor([[0]], { requiresGrad: true });
const b = tensor([0], { requiresGrad: true });
for (let step = 0; step < 200; step++) {
  const loss = xs.matmul(p).add(b).sub(ys).pow(2).mean();
  p.grad = null;
  b.grad = null;
  loss.backward();
  noGrad(() => {
    p.sub_(p.grad!.mul(0.1));
    b.sub_(b.grad!.mul(0.1));
  });
  if (step % 50 === 0) console.log(`step ${step}: loss ${loss.itemSync().toFixed(5)}`);
}
console.log(`fitted slope ${p.itemSync().toFixed(3)}, intercept ${b.itemSync().toFixed(3)} (true: 3, -1)`);
