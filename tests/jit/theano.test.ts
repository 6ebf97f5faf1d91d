/** @file The Theano-style front end: the tutorial's examples, printing, and bad input. */
import { describe, expect, it, vi } from 'vitest';
import { DTypeError, ShapeError, Tensor, tensor } from '../../src/index.ts';
import { T, fn, shared, pp } from '../../src/jit/index.ts';

const val = (t: unknown) => (t as Tensor).toArraySync();

describe('the tutorial, symbolically', () => {
  it('adds two scalars, evaluates and prints', () => {
    const x = T.dscalar('x'), y = T.dscalar('y');
    const z = x.add(y);
    const f = fn([x, y], z);
    expect(val(f(2, 3))).toBe(5);
    expect(val(f(16.3, 12.1))).toBeCloseTo(28.4, 12);
    expect(val(z.eval({ x: 16.3, y: 12.1 }))).toBeCloseTo(28.4, 12);
    expect(pp(z)).toBe('(x + y)');
    expect((f(2, 3) as Tensor).dtype).toBe('float64');
  });

  it('adds matrices, computes a + a**10 and a**2 + b**2 + 2ab on vectors of any length', () => {
    const x = T.dmatrix('x'), y = T.dmatrix('y');
    expect(val(fn([x, y], x.add(y))([[1, 2], [3, 4]], [[10, 20], [30, 40]]))).toEqual([[11, 22], [33, 44]]);
    const a = T.vector('a');
    const f = fn([a], a.add(a.pow(10)));
    expect(val(f([0, 1, 2]))).toEqual([0, 2, 1026]);
    expect(val(f([3]))).toEqual([3 + 3 ** 10]);
    const b = T.vector('b');
    expect(val(fn([a, b], a.pow(2).add(b.pow(2)).add(a.mul(b).mul(2)))([1, 2], [4, 5]))).toEqual([25, 49]);
  });

  it('computes the logistic on [[0, 1], [-1, -2]] and three matrix differences from one function', () => {
    const x = T.dmatrix('x');
    const logistic = fn([x], T.div(1, T.add(1, T.exp(x.neg()))));
    const got = val(logistic([[0, 1], [-1, -2]])) as number[][];
    const want = [[0.5, 0.7310585786300049], [0.2689414213699951, 0.11920292202211755]];
    got.flat().forEach((v, i) => expect(v).toBeCloseTo(want.flat()[i]!, 14));
    // the same with T.nnet.sigmoid
    expect((val(fn([x], T.nnet.sigmoid(x))([[0, 1], [-1, -2]])) as number[][]).flat()[1]).toBeCloseTo(0.7310585786300049, 14);

    const [a, b] = T.dmatrices('a', 'b') as [ReturnType<typeof T.dmatrix>, ReturnType<typeof T.dmatrix>];
    const diff = a.sub(b);
    const f = fn([a, b], [diff, diff.abs(), diff.pow(2)]);
    const [d, ad, sq] = f([[1, 1], [1, 1]], [[0, 1], [2, 3]]) as Tensor[];
    expect(val(d)).toEqual([[1, 0], [-1, -2]]);
    expect(val(ad)).toEqual([[1, 0], [1, 2]]);
    expect(val(sq)).toEqual([[1, 0], [1, 4]]);
  });

  it('runs the accumulator: outputs are values before the updates', () => {
    const state = shared(0, { name: 'state' });
    const inc = T.iscalar('inc');
    const accumulator = fn([inc], state, { updates: [[state, state.add(inc)]] });
    expect(state.getValue()).toBe(0);
    expect(val(accumulator(1))).toBe(0);
    expect(state.getValue()).toBe(1);
    expect(val(accumulator(300))).toBe(1);
    expect(state.getValue()).toBe(301);
    state.setValue(-1);
    expect(val(accumulator(3))).toBe(-1);
    expect(state.getValue()).toBe(2);
    // a function without outputs, only updates
    const decrementor = fn([inc], null, { updates: [[state, state.sub(inc)]] });
    expect(decrementor(2)).toBeUndefined();
    expect(state.getValue()).toBe(0);
  });

  it('takes every update value before writing any (a swap, through views and arguments)', () => {
    const a = shared([1, 2], { name: 'a' }), b = shared([10, 20], { name: 'b' });
    const swap = fn([], null, { updates: [[a, b], [b, a]] });
    swap();
    expect([a.getValue(), b.getValue()]).toEqual([[10, 20], [1, 2]]);
    swap();
    expect([a.getValue(), b.getValue()]).toEqual([[1, 2], [10, 20]]);
    fn([], null, { updates: [[a, a.add(b)], [b, a]] })();
    expect([a.getValue(), b.getValue()]).toEqual([[11, 22], [1, 2]]);
    const m = shared([[1, 2], [3, 4]], { name: 'm' }), n = shared([[10, 20], [30, 40]], { name: 'n' });
    fn([], null, { updates: [[m, n.t()], [n, m.t()]] })();
    expect([m.getValue(), n.getValue()]).toEqual([[[10, 30], [20, 40]], [[1, 3], [2, 4]]]);
    const c = shared([1, 2], { name: 'c' }), d = shared([5, 6], { name: 'd' });
    const x = T.vector('x');
    const g = fn([x], c.add(x), { updates: [[c, x], [d, c]] });
    expect(val(g([7, 8]))).toEqual([8, 10]);
    expect([c.getValue(), d.getValue()]).toEqual([[7, 8], [1, 2]]);
  });

  it('prints a bare placeholder by its name (a scalar, a shaped one; they had crashed pp)', () => {
    expect(pp(T.dscalar('x'))).toBe('x');
    expect(pp(T.vector('v', { shape: [3] }))).toBe('v');
    expect(pp(T.vector('w'))).toBe('w');
  });

  it('prints the gradient of x**2 before and after simplification, and evaluates it', () => {
    const x = T.dscalar('x');
    const gy = T.grad(x.pow(2), x);
    expect(pp(gy)).toBe('(1 * (2 * (x ** (2 - 1))))');
    const f = fn([x], gy);
    expect(val(f(4))).toBe(8);
    expect(val(f(94.2))).toBeCloseTo(188.4, 12);
    expect(pp(f)).toBe('(2 * x)');
  });

  it('T.grad with respect to an intermediate expression, alone and beside a shared variable', () => {
    const x = T.dvector('x');
    const e = x.mul(2);
    const [ge] = T.grad(e.pow(2).sum(), [e]);
    expect(val(fn([x], ge!)([1, 2]))).toEqual([4, 8]); // d/de Σe² = 2e = 4x
    const w = shared([3, 4], { name: 'w', dtype: 'float64' });
    const h = x.mul(w);
    const [gh, gw] = T.grad(h.pow(2).sum(), [h, w]);
    expect((fn([x], [gh!, gw!])([1, 2]) as Tensor[]).map(val)).toEqual([[6, 16], [6, 32]]);
    expect(val(gh!.eval({ x: [1, 2] }))).toEqual([6, 16]);
  });

  it('optimises (x*y)/y to x', () => {
    const x = T.dscalar('x'), y = T.dscalar('y');
    const e = x.mul(y).div(y);
    expect(pp(e)).toBe('((x * y) / y)');
    const f = fn([x, y], e);
    expect(pp(f)).toBe('x');
    expect(val(f(3, 7))).toBe(3);
  });

  it('trains logistic regression with T.grad and shared weights, as the tutorial writes it', () => {
    const N = 40, feats = 5;
    let seed = 1;
    const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const X = Array.from({ length: N }, () => Array.from({ length: feats }, () => rnd() * 2 - 1));
    const Y = X.map((r) => (r[0]! + r[1]! > 0 ? 1 : 0));
    const x = T.matrix('x'), y = T.vector('y');
    const w = shared(Array.from({ length: feats }, () => rnd() * 0.1), { name: 'w' });
    const b = shared(0.0, { name: 'b', dtype: 'float32' });
    const p1 = T.div(1, T.add(1, T.exp(T.dot(x, w).neg().sub(b))));
    const prediction = p1.gt(0.5);
    const xent = y.neg().mul(T.log(p1)).sub(T.sub(1, y).mul(T.log(T.sub(1, p1))));
    const cost = xent.mean().add(w.pow(2).sum().mul(0.01));
    const [gw, gb] = T.grad(cost, [w, b]);
    const train = fn([x, y], [prediction, xent.mean()], { updates: [[w, w.sub(gw!.mul(0.1))], [b, b.sub(gb!.mul(0.1))]] });
    const predict = fn([x], prediction);
    const first = (train(X, Y) as Tensor[])[1]!.itemSync();
    let last = first;
    for (let i = 0; i < 200; i++) last = (train(X, Y) as Tensor[])[1]!.itemSync();
    expect(last).toBeLessThan(first);
    const acc = (val(predict(X)) as boolean[]).filter((p, i) => Number(p) === Y[i]).length / N;
    expect(acc).toBeGreaterThan(0.9);
    expect(train.jitted.stats.traces).toBe(1);
  });
});

describe('bad input', () => {
  it('names an unbound placeholder in eval', () => {
    const x = T.dscalar('x'), y = T.dscalar('y');
    expect(() => x.add(y).eval({ x: 1 })).toThrow(/placeholder 'y'.*no value/);
  });

  it('names the argument on wrong arity, dims and dtype', () => {
    const x = T.dmatrix('x'), k = T.iscalar('k');
    const f = fn([x, k], x.mul(k));
    expect(() => f([[1]])).toThrow(/expected 2 argument\(s\) \('x', 'k'\), got 1/);
    expect(() => f([1, 2], 3)).toThrow(/argument 0 \('x', float64 matrix\): expected 2 dims, got shape \[2\]/);
    expect(() => f(tensor([[1]]), 3)).toThrow(/argument 0 \('x', float64 matrix\): expected float64, got a float32 tensor/);
    expect(() => f([[1]], 'a')).toThrow(/argument 1 \('k', int32 scalar\)/);
    // nothing is cast with a loss: Theano refuses 1.5 for an integer input too
    expect(() => f([[1]], 1.5)).toThrow(DTypeError);
    expect(() => f([[1]], 1.5)).toThrow(/argument 1 \('k', int32 scalar\): 1.5 is not an int32 integer/);
    expect(() => f([[1]], 2 ** 31)).toThrow(/2147483648 is not an int32 integer/);
    expect(val(f([[1.5]], 2))).toEqual([[3]]);
  });

  it('rejects outputs that need a placeholder missing from the inputs', () => {
    const x = T.scalar('x'), y = T.scalar('y');
    expect(() => fn([x], x.add(y))).toThrow(/placeholder 'y'.*not among the inputs/);
  });

  it('rejects an update whose shape or dtype differs from its shared variable when compiling', () => {
    const w = shared([1, 2, 3], { name: 'w', dtype: 'float32' });
    const x = T.vector('x');
    const f = fn([x], null, { updates: [[w, x.sum()]] });
    expect(() => f([1, 2])).toThrow(/update of shared variable 'w' \(float32\[3\]\) has a value of float32\[\]/);
    const g = fn([x], null, { updates: [[w, w.double()]] });
    expect(() => g([1])).toThrow(DTypeError);
    expect(() => g([1])).toThrow(/update of shared variable 'w' \(float32\[3\]\) has a value of float64\[3\].*cast with \.to\('float32'\)/);
    expect(() => f([1, 2])).toThrow(ShapeError);
    expect(() => fn([x], null, { updates: [[x, x]] })).toThrow(/update target must be a shared variable/);
    expect(() => fn([x], null, { updates: [[w, w.add(1)], [w, w.mul(2)]] })).toThrow(/shared variable 'w' is updated twice \(updates 0 and 1\)/);
  });

  it('eval refuses values for names the expression does not use', () => {
    const x = T.dscalar('x'), y = T.dscalar('y');
    expect(() => x.add(1).eval({ x: 1, y: 2 })).toThrow(/eval: 'y' is not a placeholder of this expression \(its placeholders: 'x'\)/);
    expect(() => x.add(1).eval({ X: 1 } as Record<string, number>)).toThrow(/'X' is not a placeholder/);
    expect(val(x.add(1).eval({ x: 1 }))).toBe(2);
  });

  it('casts nothing with a loss: setValue, number updates, integer shared values', () => {
    const s = shared([1, 2], { name: 's', dtype: 'int32' });
    expect(() => s.setValue([1.5, 2])).toThrow(DTypeError);
    expect(() => s.setValue([1.5, 2])).toThrow(/setValue: shared variable 's' \(int32\[2\]\): 1.5 is not an int32 integer/);
    // float typed arrays are checked as plain arrays are (their fractions were truncated)
    expect(() => s.setValue(new Float64Array([1.5, -2.7]))).toThrow(/1.5 is not an int32 integer/);
    const iv = T.ivector('iv');
    expect(() => fn([iv], iv.add(0))(new Float32Array([2.5]))).toThrow(/argument 0 \('iv', int32 vector\): 2.5 is not an int32 integer/);
    expect(val(fn([iv], iv.add(0))(new Float64Array([1, -2])))).toEqual([1, -2]);
    expect(() => s.setValue(tensor([1, 2]))).toThrow(/got a float32 tensor; convert it with \.to\('int32'\) first/);
    s.setValue([3, 4]);
    expect(s.getValue()).toEqual([3, 4]);
    const k = shared(1, { name: 'k' });
    expect(() => fn([], null, { updates: [[k, 2.5]] })()).toThrow(/update of shared variable 'k' \(int32\[\]\) is 2.5, which int32 cannot hold/);
    fn([], null, { updates: [[k, 7]] })();
    expect(k.getValue()).toBe(7);
    expect(() => shared(3e9)).toThrow(/shared: the integer 3000000000 does not fit int32/);
    expect(shared(3e9, { dtype: 'float64' }).getValue()).toBe(3e9);
  });

  it('keeps a shared variable\'s shape fixed', () => {
    const w = shared([1, 2], { name: 'w' });
    expect(() => w.setValue([1, 2, 3])).toThrow(/'w' has shape \[2\]/);
  });
});

/** Runs an example in this process with `args`, returning what it printed. */
async function runExample(file: string, args: string[] = []): Promise<string> {
  const lines: string[] = [];
  const argv = process.argv;
  process.argv = [...argv, ...args];
  const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  try {
    await import(/* @vite-ignore */ `../../examples/${file}`);
  } finally {
    spy.mockRestore();
    process.argv = argv;
  }
  return lines.join('\n');
}

describe('examples', () => {
  it("theano-symbolic.ts prints the tutorial's values", async () => {
    const out = await runExample('theano-symbolic.ts');
    for (const line of [
      'f(2, 3) = 5', 'f(16.3, 12.1) = 28.4', 'z.eval({x: 16.3, y: 12.1}) = 28.4', 'pp(z) = (x + y)',
      'a + a**10 at [0, 1, 2] = [0, 2, 1026]', 'a**2 + b**2 + 2ab at a=[1, 2], b=[4, 5] = [25, 49]',
      'logistic([[0, 1], [-1, -2]]) = [[0.5, 0.73105858], [0.26894142, 0.11920292]]',
      'diff = [[1, 0], [-1, -2]]', 'abs_diff = [[1, 0], [1, 2]]', 'diff_squared = [[1, 0], [1, 4]]',
      'state = 0', 'accumulator(1) returns 0', 'state = 1', 'accumulator(300) returns 1', 'state = 301',
      'pp(gy) before optimisation = (1 * (2 * (x ** (2 - 1))))', 'f(4) = 8', 'pp(f) after optimisation = (2 * x)',
      'after optimisation = x',
    ]) expect(out).toContain(line);
  });

  it('theano-logistic-regression.ts fits the random data D as the tutorial does (finite cross-entropy throughout)', async () => {
    const out = await runExample('theano-logistic-regression.ts', ['--steps', '300']);
    expect(out).not.toContain('NaN');
    expect(Number(/accuracy on D: ([\d.]+)%/.exec(out)![1])).toBeGreaterThan(95);
  });

  it('theano-mlp-momentum.ts trains the toy problem with momentum update pairs', async () => {
    const out = await runExample('theano-mlp-momentum.ts', ['--epochs', '20']);
    expect(out).toContain('iteration 20: cost 216.454, accuracy 77.3%'); // the eager example's figures
  });

  it('jit-training.ts trains the same as eager and prints its kernels', async () => {
    const out = await runExample('jit-training.ts', ['--limit', '640']);
    expect(out).toContain('same losses: true');
    // the compiled step ran after its first (eager) call: the parameters after 10 steps agree
    expect(Number(/largest parameter difference after training: (\S+)/.exec(out)![1])).toBeLessThan(1e-5);
    expect(out).toMatch(/\d+ kernels \(\d+ launches per step/);
  });
});
