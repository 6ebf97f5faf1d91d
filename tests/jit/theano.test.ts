/** @file The Theano-style front end: the tutorial's examples, printing, and bad input. */
import { describe, expect, it, vi } from 'vitest';
import { AutogradError, DTypeError, ShapeError, Tensor, ValueError, tensor } from '../../src/index.ts';
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
    const g = fn([x], null, { updates: [[w, w.double()]], onUnusedInput: 'ignore' });
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

describe('what a probe of the front end found (thirteenth session)', () => {
  it('T.grad with respect to a shared variable does not leave it requiring grad', () => {
    const x = T.dvector('x');
    const w = shared(new Float64Array([0.5, -0.5]), { name: 'w' });
    const predict = fn([x], T.dot(x, w));
    const train = fn([x], null, { updates: [[w, w.sub(T.grad(T.sum(T.dot(x, w).pow(2)), w).mul(0.1))]] });
    predict([1, 2]);
    train([1, 2]);
    train([1, 2]);
    expect(w.value.requiresGrad).toBe(false);
    const p = predict([1, 2]) as Tensor;
    expect(p.requiresGrad).toBe(false);
    expect(p.gradFn).toBeNull();
    expect(predict.jitted.stats.traces).toBe(1);
    expect(train.jitted.stats.traces).toBe(1);
    // w ← w − 0.1·2(x·w)x twice from [0.5, −0.5]: x·w = −0.5 → w = [0.6, −0.3]; x·w = 0 → same
    expect(w.getValue()).toEqual([0.6, -0.3]);
    // eager code on the variable records no tape
    expect(w.value.mul(2).sum().requiresGrad).toBe(false);
    x.add(w).eval({ x: [1, 1] });
    expect(T.grad(T.sum(w.pow(2)), w).eval({}).toArraySync()).toEqual([1.2, -0.6]);
    expect(w.value.requiresGrad).toBe(false);
  });

  it('pp of a function before its first call prints every output and the updates', () => {
    const state = shared(0, { name: 'state' }), inc = T.iscalar('inc');
    const acc = fn([inc], state, { updates: [[state, state.add(inc)]] });
    expect(pp(acc)).toBe('state\nstate ← (inc + state)');
    acc(1);
    expect(pp(acc)).toBe('state\nstate ← (inc + state)');
    const a = shared(1, { name: 'a', dtype: 'float64' }), x = T.dscalar('x');
    expect(pp(fn([x], [a, x.mul(2)], { updates: [[a, a.add(x)]] }))).toBe('a\n(2 * x)\na ← (x + a)');
    expect(pp(fn([x], [x, x.mul(2)]))).toBe('x\n(2 * x)');
    expect(pp(fn([], null, { updates: [[a, 3]] }))).toBe('a ← 3');
  });

  it('pp brackets a negative base, rounds float32 constants and does not print a truncating division as /', () => {
    const x = T.scalar('x'), i = T.iscalar('i'), j = T.iscalar('j');
    expect(pp(T.pow(-2, x))).toBe('((-2) ** x)');
    expect(val(fn([x], T.pow(-2, x))(2))).toBe(4);
    expect(pp(T.pow(x, -2))).toBe('(x ** -2)');
    expect(pp(x.add(16777217))).toBe('(x + 16777216)');
    expect(pp(T.dscalar('d').add(16777217))).toBe('(d + 16777217)');
    expect(pp(i.div(j, { roundingMode: 'trunc' }))).toMatch(/^trunc_div\(i, /);
    expect(pp(T.vector('v').mul(tensor([1, 2])))).toBe('(v * tensor([1,2], float32))');
  });

  it('shared refuses a dtype its value cannot hold and keeps booleans', () => {
    expect(() => shared(tensor([0.1], { dtype: 'float64' }), { dtype: 'float32' })).toThrow(DTypeError);
    expect(() => shared(tensor([0.1], { dtype: 'float64' }), { dtype: 'float32' })).toThrow(/float64 tensor but dtype 'float32'.*\.to\('float32'\)/);
    expect(() => shared(3.7, { dtype: 'int32' })).toThrow(/3\.7 is not an int32 integer/);
    expect(() => shared(new Float64Array([1.7, -2.5]), { dtype: 'int32' })).toThrow(/1\.7 is not an int32 integer/);
    expect(() => shared([0, 2], { dtype: 'bool' })).toThrow(/2 is not a boolean/);
    expect(() => shared(1, { dtyp: 'int32' } as never)).toThrow(/unknown option 'dtyp' \(did you mean 'dtype'\?\)/);
    expect(shared(new Int32Array([1, 2]), { dtype: 'float64' }).dtype).toBe('float64');
    expect(shared(true).dtype).toBe('bool');
    expect(shared([[true, false]]).dtype).toBe('bool');
    expect(shared(3, { dtype: 'float32' }).getValue()).toBe(3);
  });

  it('eval by name refuses two placeholders of one name, and a name shadowing Object.prototype is not bound', () => {
    const x1 = T.dscalar('x'), x2 = T.dscalar('x');
    expect(() => x1.sub(x2).eval({ x: 1 })).toThrow(ValueError);
    expect(() => x1.sub(x2).eval({ x: 1 })).toThrow(/several placeholders named 'x'.*Map/);
    expect(val(x1.sub(x2).eval(new Map([[x1, 5], [x2, 2]])))).toBe(3);
    expect(() => T.dscalar('toString').add(1).eval({})).toThrow(/placeholder 'toString' \(float64 scalar\) has no value/);
  });

  it('T.grad: a target the cost does not contain is an error unless asked; one reached only through a comparison gets zeros', () => {
    const x = T.dvector('x'), y = T.dvector('y');
    const cost = T.sum(x.pow(2));
    expect(() => T.grad(cost, [x, y])).toThrow(AutogradError);
    expect(() => T.grad(cost, y)).toThrow(/the cost does not depend on 'y'.*DisconnectedInputError.*disconnectedInputs: 'ignore'/);
    const [gx, gy] = T.grad(cost, [x, y], { disconnectedInputs: 'ignore' });
    const r = fn([x, y], [gx!, gy!])([1, 2], [3, 4]) as Tensor[];
    expect(r.map((t) => t.toArraySync())).toEqual([[2, 4], [0, 0]]);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      T.grad(cost, y, { disconnectedInputs: 'warn' });
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/does not depend on 'y'; its gradient is zero/));
    } finally {
      warn.mockRestore();
    }
    // connected only through a comparison: zeros (Theano's), not an error about the cost
    const step = T.sum(T.cast(x.gt(0), 'float64'));
    expect(val(fn([x], T.grad(step, x))([1, -2]))).toEqual([0, 0]);
    expect(() => T.grad(cost, x, { disconnected: 'ignore' } as never)).toThrow(/unknown option 'disconnected'/);
    expect(() => T.grad(cost, x, { disconnectedInputs: 'skip' } as never)).toThrow(/disconnectedInputs must be 'raise' or 'warn' or 'ignore'/);
  });

  it('fn refuses an input the outputs do not use unless told, and a Float64Array for a float32 input unless downcasting is allowed', () => {
    const x = T.scalar('x'), y = T.scalar('y'), v = T.vector('v');
    expect(() => fn([x, y], x.mul(2))).toThrow(ValueError);
    expect(() => fn([x, y], x.mul(2))).toThrow(/input 1 \('y'\) is not used by the outputs or updates.*onUnusedInput: 'ignore'/);
    expect(val(fn([x, y], x.mul(2), { onUnusedInput: 'ignore' })(3, 4))).toBe(6);
    const messages: string[] = [];
    expect(val(fn([x, y], x.mul(2), { onUnusedInput: 'warn', jit: { onWarn: (m) => messages.push(m) } })(3, 4))).toBe(6);
    expect(messages).toEqual([expect.stringMatching(/input 1 \('y'\) is not used/)]);
    const f = fn([v], v.mul(1));
    expect(() => f(new Float64Array([0.1, 1e40]))).toThrow(DTypeError);
    expect(() => f(new Float64Array([0.1]))).toThrow(/got a Float64Array, which float32 would round.*allowInputDowncast/);
    expect(val(f([0.5, 2]))).toEqual([0.5, 2]);
    expect(val(fn([v], v.mul(1), { allowInputDowncast: true })(new Float64Array([0.1, 1e40])))).toEqual([Math.fround(0.1), Infinity]);
    expect(() => fn([v], v, { allowDowncast: true } as never)).toThrow(/unknown option 'allowDowncast'/);
  });
});
