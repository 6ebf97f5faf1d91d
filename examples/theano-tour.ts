/**
 * @file The tutorial's "Playing with Theano" section, in eager tapegrad.
 * Run: npx tsx examples/theano-tour.ts
 */
import { grad, noGrad, tensor, zeros } from 'tapegrad';

// x + y on two scalars
const x = tensor(2, { dtype: 'float64' }), y = tensor(3, { dtype: 'float64' });
console.log('f(2, 3) =', x.add(y).itemSync());

// a + a**10, elementwise on a vector
const a = tensor([0, 1, 2]);
console.log('a + a**10 =', a.add(a.pow(10)).toString());

// a**2 + 2ab + b**2
const va = tensor([1, 2]), vb = tensor([4, 5]);
console.log('a**2 + 2ab + b**2 =', va.pow(2).add(va.mul(vb).mul(2)).add(vb.pow(2)).toString());

// the logistic function, elementwise on a matrix
const m = tensor([[0, 1], [-1, -2]]);
console.log('logistic =', m.neg().exp().add(1).reciprocal().toString());

// several outputs at once: difference, absolute difference and squared difference
const diffs = (p: ReturnType<typeof tensor>, q: ReturnType<typeof tensor>) => {
  const d = p.sub(q);
  return [d, d.abs(), d.pow(2)] as const;
};
const [diff, absDiff, sqDiff] = diffs(tensor([[1, 1], [1, 1]]), tensor([[0, 1], [2, 3]]));
console.log('diff =', diff.toString());
console.log('abs diff =', absDiff.toString());
console.log('squared diff =', sqDiff.toString());

// an accumulator: state held in a tensor, updated in place; the call returns the old state
const state = zeros([], { dtype: 'int32' });
const accumulator = (inc: number) => {
  const old = state.clone();
  noGrad(() => state.add_(inc));
  return old;
};
console.log('state =', state.itemSync());
console.log('accumulator(1) returns', accumulator(1).itemSync());
console.log('state =', state.itemSync());
console.log('accumulator(300) returns', accumulator(300).itemSync());
console.log('state =', state.itemSync());

// the gradient of x**2 is 2x
const gx = tensor([4], { dtype: 'float64', requiresGrad: true });
const [g] = grad(gx.pow(2).sum(), [gx]);
console.log('d(x**2)/dx at x = 4:', g!.itemSync());
