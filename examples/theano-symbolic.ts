/**
 * @file The tutorial's "Playing with Theano" section, written symbolically as the tutorial does:
 * placeholders, expressions, compiled functions, shared state with updates, symbolic gradients
 * and graph optimisation. Each line prints what the tutorial prints.
 * Run: npx tsx examples/theano-symbolic.ts
 */
import { T, fn, shared, pp, type Tensor } from 'tapegrad';

/** Values as numpy prints them (8 significant digits). */
const show = (t: Tensor | number | boolean | unknown[]): string => {
  const v = typeof t === 'object' && t !== null && !Array.isArray(t) ? (t as Tensor).toArraySync() : t;
  const fmt = (x: unknown): string => (Array.isArray(x) ? `[${x.map(fmt).join(', ')}]` : typeof x === 'number' ? String(Number(x.toPrecision(8))) : String(x));
  return fmt(v);
};

// -- adding two scalars
const x = T.dscalar('x'), y = T.dscalar('y');
const z = x.add(y);
const f = fn([x, y], z);
console.log('f(2, 3) =', show(f(2, 3) as Tensor));
console.log('f(16.3, 12.1) =', show(f(16.3, 12.1) as Tensor));
console.log('z.eval({x: 16.3, y: 12.1}) =', show(z.eval({ x: 16.3, y: 12.1 })));
console.log('pp(z) =', pp(z));

// -- adding two matrices
const mx = T.dmatrix('x'), my = T.dmatrix('y');
const fm = fn([mx, my], mx.add(my));
console.log('f([[1, 2], [3, 4]], [[10, 20], [30, 40]]) =', show(fm([[1, 2], [3, 4]], [[10, 20], [30, 40]]) as Tensor));

// -- exercise: a + a**10 on a vector
const a = T.vector('a');
const out = a.add(a.pow(10));
const fa = fn([a], out);
console.log('a + a**10 at [0, 1, 2] =', show(fa([0, 1, 2]) as Tensor));

// -- a**2 + b**2 + 2ab
const va = T.vector('a'), vb = T.vector('b');
const fab = fn([va, vb], va.pow(2).add(vb.pow(2)).add(va.mul(vb).mul(2)));
console.log('a**2 + b**2 + 2ab at a=[1, 2], b=[4, 5] =', show(fab([1, 2], [4, 5]) as Tensor));

// -- the logistic function, elementwise
const lx = T.dmatrix('x');
const s = T.div(1, T.add(1, T.exp(lx.neg())));
const logistic = fn([lx], s);
console.log('logistic([[0, 1], [-1, -2]]) =', show(logistic([[0, 1], [-1, -2]]) as Tensor));

// -- several outputs at once
const [ma, mb] = T.dmatrices('a', 'b') as [ReturnType<typeof T.dmatrix>, ReturnType<typeof T.dmatrix>];
const diff = ma.sub(mb);
const absDiff = diff.abs();
const diffSquared = diff.pow(2);
const f3 = fn([ma, mb], [diff, absDiff, diffSquared]);
const [d1, d2, d3] = f3([[1, 1], [1, 1]], [[0, 1], [2, 3]]) as Tensor[];
console.log('diff =', show(d1!));
console.log('abs_diff =', show(d2!));
console.log('diff_squared =', show(d3!));

// -- shared variables: an accumulator
const state = shared(0, { name: 'state' });
const inc = T.iscalar('inc');
const accumulator = fn([inc], state, { updates: [[state, state.add(inc)]] });
console.log('state =', show(state.getValue()));
console.log('accumulator(1) returns', show(accumulator(1) as Tensor));
console.log('state =', show(state.getValue()));
console.log('accumulator(300) returns', show(accumulator(300) as Tensor));
console.log('state =', show(state.getValue()));
state.setValue(-1);
console.log('after setValue(-1), accumulator(3) returns', show(accumulator(3) as Tensor), 'and state =', show(state.getValue()));

// -- symbolic differentiation: the gradient of x**2
const gxv = T.dscalar('x');
const gy = T.grad(gxv.pow(2), gxv);
console.log('pp(gy) before optimisation =', pp(gy));
const fg = fn([gxv], gy);
console.log('f(4) =', show(fg(4) as Tensor));
console.log('pp(f) after optimisation =', pp(fg));

// -- graph optimisation: (x*y)/y is x
const ox = T.dscalar('x'), oy = T.dscalar('y');
const fo = fn([ox, oy], ox.mul(oy).div(oy));
console.log('pp((x*y)/y) =', pp(ox.mul(oy).div(oy)));
console.log('after optimisation =', pp(fo));
