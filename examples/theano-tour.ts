/**
 * @file The tutorial's "Playing with Theano" section, in eager tapegrad, then the same examples
 * written symbolically as the tutorial writes them (`T`, `fn`, `shared`, `pp`, `T.grad`), each
 * printing what the tutorial prints (examples/theano-symbolic.ts is that section on its own).
 * Run: npx tsx examples/theano-tour.ts
 */
import { T, fn, grad, noGrad, pp, shared, tensor, zeros, type Tensor } from 'tapegrad';

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

// ---------------------------------------------------------------- the same, symbolically
// Placeholders, expressions, compiled functions, shared state with updates, symbolic gradients
// and graph optimisation, as in the tutorial (printed indented, after a heading).
console.log('\nsymbolically, as the tutorial writes it:');
const say = (...parts: unknown[]) => console.log(' ', ...parts);
/** Values as numpy prints them (8 significant digits). */
const show = (v: unknown): string => {
  const x = v instanceof Object && 'toArraySync' in v ? (v as Tensor).toArraySync() : v;
  const fmt = (e: unknown): string => (Array.isArray(e) ? `[${e.map(fmt).join(', ')}]` : typeof e === 'number' ? String(Number(e.toPrecision(8))) : String(e));
  return fmt(x);
};

const sx = T.dscalar('x'), sy = T.dscalar('y');
const sz = sx.add(sy);
const f = fn([sx, sy], sz);
say('f(2, 3) =', show(f(2, 3)));
say('f(16.3, 12.1) =', show(f(16.3, 12.1)));
say('z.eval({x: 16.3, y: 12.1}) =', show(sz.eval({ x: 16.3, y: 12.1 })));
say('pp(z) =', pp(sz));

const sa = T.vector('a');
say('a + a**10 at [0, 1, 2] =', show(fn([sa], sa.add(sa.pow(10)))([0, 1, 2])));
const sb = T.vector('b');
say('a**2 + b**2 + 2ab at a=[1, 2], b=[4, 5] =', show(fn([sa, sb], sa.pow(2).add(sb.pow(2)).add(sa.mul(sb).mul(2)))([1, 2], [4, 5])));

const lx = T.dmatrix('x');
const logistic = fn([lx], T.div(1, T.add(1, T.exp(lx.neg()))));
say('logistic([[0, 1], [-1, -2]]) =', show(logistic([[0, 1], [-1, -2]])));

const [ma, mb] = T.dmatrices('a', 'b') as [ReturnType<typeof T.dmatrix>, ReturnType<typeof T.dmatrix>];
const sdiff = ma.sub(mb);
const [d1, d2, d3] = fn([ma, mb], [sdiff, sdiff.abs(), sdiff.pow(2)])([[1, 1], [1, 1]], [[0, 1], [2, 3]]) as Tensor[];
say('diff =', show(d1), '; abs_diff =', show(d2), '; diff_squared =', show(d3));

const sstate = shared(0, { name: 'state' });
const inc = T.iscalar('inc');
const sacc = fn([inc], sstate, { updates: [[sstate, sstate.add(inc)]] });
say('state =', show(sstate.getValue()));
say('accumulator(1) returns', show(sacc(1)));
say('state =', show(sstate.getValue()));
say('accumulator(300) returns', show(sacc(300)));
say('state =', show(sstate.getValue()));

const gxs = T.dscalar('x');
const gy = T.grad(gxs.pow(2), gxs);
say('pp(gy) before optimisation =', pp(gy));
const fg = fn([gxs], gy);
say('f(4) =', show(fg(4)), '; f(94.2) =', show(fg(94.2)));
say('pp(f) after optimisation =', pp(fg));

const ox = T.dscalar('x'), oy = T.dscalar('y');
const fo = fn([ox, oy], ox.mul(oy).div(oy));
say('pp((x*y)/y) =', pp(ox.mul(oy).div(oy)), '; after optimisation =', pp(fo));
