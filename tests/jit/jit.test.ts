/** @file jit(): tracing, caching, retracing, state updates, gradients, training steps (CPU). */
import { describe, expect, it } from 'vitest';
import { Tensor, tensor, zeros, randn, randint, manualSeed, noGrad, memory, exp, matmul, rand } from '../../src/index.ts';
import { jit } from '../../src/jit/index.ts';
import type { CpuStorage } from '../../src/cpu/backend.ts';
import * as F from '../../src/ops/functional.ts';

const arr = (t: Tensor) => Array.from(t.dataSync());
const close = (a: Tensor, b: Tensor, tol = 1e-6) => {
  expect(a.shape).toEqual(b.shape);
  const x = arr(a), y = arr(b);
  x.forEach((v, i) => expect(Math.abs(v - y[i]!)).toBeLessThanOrEqual(tol * (1 + Math.abs(y[i]!))));
};

describe('jit: values', () => {
  it('matches eager for an elementwise chain with broadcasting and a reduction', () => {
    const f = (x: Tensor, y: Tensor) => exp(x.neg()).add(1).reciprocal().mul(y).sum(1);
    const x = randn([4, 5]), y = randn([5]);
    const jf = jit(f, { eagerFirstCall: false });
    // NOTE: 1/(1+exp(-x)) is rewritten to sigmoid(x), equal to the last bit or two
    close(jf(x, y), f(x, y), 1e-6);
    close(jf(x, y), f(x, y), 1e-6);
    const exact = jit(f, { eagerFirstCall: false, simplify: false });
    expect(arr(exact(x, y))).toEqual(arr(f(x, y)));
  });

  it('reductions with a fused prologue, several outputs at a time, equal eager bit for bit', () => {
    manualSeed(3);
    const cases: [number[], number[], (x: Tensor, b: Tensor) => Tensor][] = [
      [[8, 6, 7, 7], [0, 2, 3], (x, b) => x.mul(b).exp().sum([0, 2, 3])],
      [[9, 13], [0], (x, b) => x.mul(b).abs().amax(0)],
      [[5, 11], [1], (x, b) => x.add(b).square().sum(1)],
      [[3, 7, 5], [1], (x, b) => x.sub(b).relu().amin(1)],
      [[4, 3, 10], [0], (x, b) => x.mul(b).tanh().prod(0)],
    ];
    for (const [shape, , f] of cases) {
      const x = randn(shape), b = randn([shape[shape.length - 1]!]);
      const g = jit(f, { eagerFirstCall: false });
      expect(g.lower(x, b).kernels.filter((k) => k.kind === 'reduce').length, `[${shape}]`).toBe(1);
      const got = Array.from(g(x, b).dataSync()), want = Array.from(f(x, b).dataSync());
      expect(got, `[${shape}]`).toEqual(want);
    }
  });

  it('fuses the logistic into one kernel and a + a**10 into one kernel', () => {
    const x = randn([1000]);
    const logistic = jit((a: Tensor) => F.div(1, F.add(1, exp(a.neg()))), { eagerFirstCall: false });
    expect(logistic.lower(x).kernels).toHaveLength(1);
    const ps = jit((a: Tensor) => a.add(a.pow(10)), { eagerFirstCall: false });
    expect(ps.lower(x).kernels).toHaveLength(1);
    close(ps(x), x.add(x.pow(10)), 1e-6);
    close(logistic(x), F.div(1, F.add(1, exp(x.neg()))), 1e-6);
    expect(logistic.lower(x).text()).toContain('sigmoid');
  });

  it('handles views: transpose, reshape, slices, expand feeding elementwise ops and matmul', () => {
    const f = (a: Tensor, b: Tensor) => {
      const t = a.t().mul(2).add(b.reshape(3, 2));
      const m = matmul(t, a.slice(1, 0, 2).exp());
      return [m.relu(), t.sum(0, true).expand(4, 2), a.narrow(1, 1, 2).t()];
    };
    const a = randn([2, 3]), b = randn([6]);
    const jf = jit(f, { eagerFirstCall: false });
    const got = jf(a, b), want = f(a, b);
    got.forEach((g, i) => close(g, want[i]!, 1e-6));
  });

  it('returns nested arrays and objects of tensors, and passes through non-tensor leaves', () => {
    const f = (x: Tensor) => ({ a: [x.add(1), { b: x.mul(2) }], n: 3, s: 'hi' });
    const x = randn([3]);
    const r = jit(f, { eagerFirstCall: false })(x);
    expect(r.n).toBe(3);
    expect(r.s).toBe('hi');
    expect(arr(r.a[0] as Tensor)).toEqual(arr(x.add(1)));
    expect(arr((r.a[1] as { b: Tensor }).b)).toEqual(arr(x.mul(2)));
  });

  it('returns an argument or a concrete tensor it was given unchanged, as the same object', () => {
    const w = randn([3]);
    const f = jit((x: Tensor) => [x, w, x.add(w)], { eagerFirstCall: false });
    const x = randn([3]);
    const [a, b, c] = f(x);
    expect(a).toBe(x);
    expect(b).toBe(w);
    close(c!, x.add(w));
  });

  it('runs the first call eagerly and traces on the second by default', () => {
    let traces = 0;
    const f = jit((x: Tensor) => {
      traces++;
      return x.mul(2);
    });
    const x = randn([3]);
    f(x);
    expect(f.stats.eagerCalls).toBe(1);
    expect(f.stats.traces).toBe(0);
    f(x);
    f(x);
    expect(f.stats.traces).toBe(1);
    expect(traces).toBe(2); // one eager run, one trace
  });
});

describe('jit: cache and retracing', () => {
  it('does not retrace for the same shapes and retraces for new ones (never silent reuse)', () => {
    const f = jit((x: Tensor) => x.sum(0), { eagerFirstCall: false });
    f(randn([3, 4]));
    f(randn([3, 4]));
    expect(f.stats.traces).toBe(1);
    const r = f(randn([5, 2]));
    expect(r.shape).toEqual([2]);
    expect(f.stats.traces).toBe(2);
    f(randn([3, 4]));
    expect(f.stats.traces).toBe(2);
  });

  it('retraces on dtype, static arguments and grad mode', () => {
    const f = jit((x: Tensor, k: number) => x.mul(k), { eagerFirstCall: false });
    const x = randn([2]);
    expect(arr(f(x, 2))).toEqual(arr(x.mul(2)));
    expect(arr(f(x, 3))).toEqual(arr(x.mul(3)));
    expect(f.stats.traces).toBe(2);
    f(x.double(), 3);
    expect(f.stats.traces).toBe(3);
    noGrad(() => f(x, 3));
    expect(f.stats.traces).toBe(4);
  });

  it('warns after repeated retraces, naming what changed', () => {
    const msgs: string[] = [];
    const f = jit((x: Tensor) => x.add(1), { eagerFirstCall: false, warnAfter: 2, onWarn: (m) => msgs.push(m) });
    for (let n = 1; n <= 4; n++) f(zeros([n]));
    expect(msgs.length).toBeGreaterThan(0);
    expect(msgs[0]).toContain('args[0]');
    expect(msgs[0]).toContain('float32[2]');
    expect(msgs[0]).toContain('float32[3]');
  });
});

describe('jit: state and updates', () => {
  it('binds concrete tensors read inside by reference at every call', () => {
    const w = tensor([1, 2, 3]);
    const f = jit((x: Tensor) => x.mul(w), { eagerFirstCall: false });
    const x = tensor([1, 1, 1]);
    expect(arr(f(x))).toEqual([1, 2, 3]);
    noGrad(() => w.copy_(tensor([4, 5, 6])));
    expect(arr(f(x))).toEqual([4, 5, 6]);
    expect(f.stats.traces).toBe(1);
  });

  it('applies in-place writes as updates computed from pre-update values', () => {
    const a = tensor([1, 2]), b = tensor([10, 20]);
    // swap: both reads see the values from before the call
    const swap = jit(() => {
      const olda = a.clone(), oldb = b.clone();
      a.copy_(oldb);
      b.copy_(olda);
      return a.add(b);
    }, { eagerFirstCall: false });
    const s = swap();
    expect(arr(a)).toEqual([10, 20]);
    expect(arr(b)).toEqual([1, 2]);
    expect(arr(s)).toEqual([11, 22]);
    swap();
    expect(arr(a)).toEqual([1, 2]);
    expect(arr(b)).toEqual([10, 20]);
  });

  it('reads after an in-place write inside the function see the new value (program order)', () => {
    const s = tensor([1]);
    const f = jit(() => {
      const before = s.mul(1);
      s.add_(5);
      return [before, s.mul(2)];
    }, { eagerFirstCall: false });
    const [before, after] = f();
    expect(arr(before!)).toEqual([1]);
    expect(arr(after!)).toEqual([12]);
    expect(arr(s)).toEqual([6]);
    const [b2, a2] = f();
    expect(arr(b2!)).toEqual([6]);
    expect(arr(a2!)).toEqual([22]);
  });

  it('writes to arguments in place', () => {
    const f = jit((x: Tensor) => {
      x.mul_(2);
      return x.sum();
    }, { eagerFirstCall: false });
    const x = tensor([1, 2, 3]);
    expect(f(x).itemSync()).toBe(12);
    expect(arr(x)).toEqual([2, 4, 6]);
  });

  it('refuses to write in place through one binding of memory another binding reads', () => {
    const f = jit((a: Tensor, b: Tensor) => {
      a.add_(1);
      return b.mul(2);
    }, { eagerFirstCall: false });
    const x = tensor([1, 2]);
    expect(() => f(x, x)).toThrow(/argument args\[0\] is written in place but shares memory with argument args\[1\]/);
    expect(arr(f(x, x.clone()))).toEqual([2, 4]);
  });

  it('redraws random numbers at every call, consuming the seed stream like eager', () => {
    const f = (x: Tensor) => x.add(rand([4]));
    const jf = jit(f, { eagerFirstCall: false });
    const x = zeros([4]);
    manualSeed(7);
    const e1 = arr(f(x)), e2 = arr(f(x));
    manualSeed(7);
    const j1 = arr(jf(x)), j2 = arr(jf(x));
    expect(j1).toEqual(e1);
    expect(j2).toEqual(e2);
    expect(j1).not.toEqual(j2);
  });

  it('compiles wide-range randint and float64 rand (several draws each) to the eager numbers', () => {
    const f = (x: Tensor) => randint(-(2 ** 31), 2 ** 31, [64]).add(x);
    const g = (x: Tensor) => rand([64], { dtype: 'float64' }).add(x);
    const jf = jit(f, { eagerFirstCall: false }), jg = jit(g, { eagerFirstCall: false });
    const xi = zeros([64], { dtype: 'int32' }), xd = zeros([64], { dtype: 'float64' });
    manualSeed(9);
    const e = [arr(f(xi)), arr(g(xd)), arr(f(xi))];
    manualSeed(9);
    const j = [arr(jf(xi)), arr(jg(xd)), arr(jf(xi))];
    expect(j).toEqual(e);
    expect(e[0]!.some((v) => v % 2 !== 0)).toBe(true);
  });
});

describe('jit: gradients', () => {
  it('computes .grad of arguments like eager backward', () => {
    const f = (x: Tensor) => {
      const y = x.mul(x).sin().sum();
      y.backward();
      return y;
    };
    const jf = jit(f, { eagerFirstCall: false });
    const x1 = randn([5]).requiresGrad_(), x2 = tensor(x1.dataSync()).requiresGrad_();
    const y1 = f(x1), y2 = jf(x2);
    expect(arr(y2)).toEqual(arr(y1));
    close(x2.grad!, x1.grad!, 1e-6);
    // accumulation into an existing .grad
    f(x1);
    jf(x2);
    close(x2.grad!, x1.grad!, 1e-6);
  });

  it('makes a pure compiled function differentiable from outside (backward through jit)', () => {
    const w = randn([3, 4]).requiresGrad_();
    const f = (x: Tensor) => matmul(x, w).tanh().mul(x.sum(1, true));
    const jf = jit(f, { eagerFirstCall: false });
    const x1 = randn([2, 3]).requiresGrad_(), x2 = tensor(x1.dataSync(), { shape: [2, 3] }).requiresGrad_();
    f(x1).pow(2).sum().backward();
    const gw = w.grad!.clone();
    w.grad = null;
    const y = jf(x2);
    expect(y.requiresGrad).toBe(true);
    y.pow(2).sum().backward();
    close(x2.grad!, x1.grad!, 1e-5);
    close(w.grad!, gw, 1e-5);
    w.grad = null;
  });

  it('trains with hand-written parameters and SGD, matching the eager loop', () => {
    const init = () => {
      manualSeed(3);
      return { w: randn([4, 3]).requiresGrad_(), b: zeros([3]).requiresGrad_() };
    };
    const data = randn([8, 4]), target = randn([8, 3]);
    const makeStep = (p: { w: Tensor; b: Tensor }) => (x: Tensor, y: Tensor) => {
      p.w.grad = null;
      p.b.grad = null;
      const loss = matmul(x, p.w).add(p.b).tanh().sub(y).pow(2).mean();
      loss.backward();
      noGrad(() => {
        p.w.sub_(p.w.grad!.mul(0.1));
        p.b.sub_(p.b.grad!.mul(0.1));
      });
      return loss;
    };
    const pe = init(), pj = init();
    const eager = makeStep(pe), step = jit(makeStep(pj));
    const le: number[] = [], lj: number[] = [];
    for (let i = 0; i < 20; i++) {
      le.push(eager(data, target).itemSync());
      lj.push(step(data, target).itemSync());
    }
    expect(step.stats.traces).toBe(1);
    lj.forEach((v, i) => expect(v).toBeCloseTo(le[i]!, 5));
    close(pj.w, pe.w, 1e-5);
    close(pj.b, pe.b, 1e-5);
    close(pj.w.grad!, pe.w.grad!, 1e-5);
    expect(lj[19]).toBeLessThan(lj[0]!);
  });

  it('does not grow memory over 1,000 calls of a compiled step', () => {
    const w = randn([16, 16]).requiresGrad_();
    const step = jit((x: Tensor) => {
      w.grad = null;
      const loss = matmul(x, w).relu().sum();
      loss.backward();
      noGrad(() => w.sub_(w.grad!.mul(1e-4)));
      return loss;
    });
    const x = randn([8, 16]);
    for (let i = 0; i < 5; i++) step(x).dispose();
    const before = memory().bytesInUse;
    for (let i = 0; i < 1000; i++) step(x).dispose();
    expect(memory().bytesInUse).toBeLessThanOrEqual(before);
    expect(step.stats.traces).toBe(1);
  });

  it('recycles the arrays of disposed outputs (CPU pool), and never one a live tensor holds', () => {
    const f = jit((x: Tensor) => [x.mul(2), x.add(1)]);
    const x = randn([64, 64]); // 16 KiB per output: pooled sizes
    const [a, b] = f(x) as [Tensor, Tensor];
    const arrA = (a._storage as CpuStorage).data;
    a.dispose();
    const pooled = memory().bytesPooled;
    expect(pooled).toBeGreaterThanOrEqual(64 * 64 * 4);
    const [c, d] = f(x) as [Tensor, Tensor];
    // one of the new outputs took the disposed array; the live b kept its own
    expect([(c._storage as CpuStorage).data, (d._storage as CpuStorage).data]).toContain(arrA);
    expect((b._storage as CpuStorage).data).not.toBe(arrA);
    const xs = x.dataSync();
    for (const [t, g] of [[b, (v: number) => v + 1], [c, (v: number) => v * 2], [d, (v: number) => v + 1]] as const) {
      const got = t.dataSync();
      for (let i = 0; i < xs.length; i += 97) expect(got[i]).toBe(Math.fround(g(xs[i]!)));
    }
    // an output returned twice is one tensor over one storage: disposing it pools the array once
    const twice = jit((y: Tensor) => { const z = y.mul(3); return [z, z]; });
    const [p, q] = twice(x) as [Tensor, Tensor];
    expect(p).toBe(q);
    const before = memory().bytesPooled;
    p.dispose();
    q.dispose();
    expect(memory().bytesPooled - before).toBe(64 * 64 * 4);
  });
});
