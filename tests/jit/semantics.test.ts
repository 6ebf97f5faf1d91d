/**
 * @file jit(f) behaves as f where a fuzzing review found it did not (each case a former bug):
 * distinct tensors stay distinct, fused CPU kernels round as eager does, outputs require grad
 * only where eager's would, updates land at a state's offset, gradients from outside see the
 * call's own arguments and random numbers, and NaN/Inf-changing rules are marked unsafe.
 */
import { describe, expect, it } from 'vitest';
import { AutogradError, eye, fromTypedArray, full, manualSeed, nn, noGrad, ones, optim, rand, randn, scope, tensor, zeros, type Tensor } from '../../src/index.ts';
import * as F from '../../src/ops/functional.ts';
import { dispatch } from '../../src/ops/dispatch.ts';
import { prims } from '../../src/ops/prims.ts';
import { fn, jit, pp, shared, T } from '../../src/jit/index.ts';

const J = <A extends unknown[], R>(f: (...a: A) => R) => jit(f, { eagerFirstCall: false });
const arr = (t: Tensor) => Array.from(t.dataSync());

describe('jit semantics', () => {
  it('hands out two equal gradients (or a gradient and an equal output) as two tensors', () => {
    const f = (a: Tensor, b: Tensor) => {
      const y = F.add(a, b);
      F.mul(y, 2).sum().backward();
      return y;
    };
    const g = J(f);
    const a = tensor([1, 2]).requiresGrad_(), b = tensor([3, 4]).requiresGrad_();
    g(a, b);
    expect(a.grad).not.toBe(b.grad);
    g(a, b); // the second call writes both in place: they must not share memory
    expect(arr(a.grad!)).toEqual([4, 4]);
    expect(arr(b.grad!)).toEqual([4, 4]);
    // an output equal to a gradient is a tensor of its own
    const h = J((x: Tensor, w: Tensor) => {
      F.mul(x, w).sum().backward();
      return F.mul(w, 1);
    });
    const x = tensor([1, 2]).requiresGrad_(), w = tensor([5, 6]);
    const out = h(x, w);
    noGrad(() => out.add_(100));
    expect(arr(x.grad!)).toEqual([5, 6]);
    // the same tensor returned twice is one tensor, as eagerly
    const [p, q] = J((v: Tensor) => { const e = v.exp(); return [e, e]; })(tensor([0]));
    expect(p).toBe(q);
  });

  it('rounds every op of a fused CPU kernel to float32 where the wasm path declines the expression (sin)', () => {
    const f = (a: Tensor, b: Tensor, c: Tensor) => F.add(F.sub(F.add(a, b), a), F.sin(c));
    const a = full([1024], 1e8), b = full([1024], 1), c = zeros([1024]);
    // (1e8 + 1) rounds to 1e8 in float32: 0, as eager; double arithmetic would give 1
    expect(arr(J(f)(a, b, c))).toEqual(arr(f(a, b, c)));
    expect(f(a, b, c).dataSync()[0]).toBe(0);
  });

  it('outputs require grad, and leaves get gradients, only as eager would', () => {
    const f = (x: Tensor) => F.mul(F.detach(x), 2);
    const x = tensor([1, -2, 3]).requiresGrad_();
    const y = J(f)(x);
    expect(y.requiresGrad).toBe(false);
    F.sum(F.add(y, F.mul(x, 3))).backward();
    expect(arr(x.grad!)).toEqual([3, 3, 3]);
    const h = (a: Tensor, b: Tensor) => F.mul(a, F.cast(F.gt(b, 0), 'float32'));
    const a = tensor([1, 2, 3]).requiresGrad_(), b = tensor([1, -2, 3]).requiresGrad_();
    F.sum(J(h)(a, b)).backward();
    expect(arr(a.grad!)).toEqual([1, 0, 1]);
    expect(b.grad).toBeNull();
  });

  it('writes updates from template kernels (matmul, cat) at the offset where a state starts in its storage', () => {
    const mkP = () => F.narrow(fromTypedArray(Float32Array.from([0, 0, 1, 2, 3, 4, 0, 0]), [4, 2], 'float32'), 0, 1, 2);
    const m = fromTypedArray(Float32Array.from([1, 2, 3, 4]), [2, 2], 'float32');
    const store = (t: Tensor) => Array.from(F.reshape(t._base ?? t, [-1]).dataSync());
    for (const f of [
      (p: Tensor) => noGrad(() => { p.copy_(F.matmul(m, m)); }),
      (p: Tensor) => noGrad(() => { p.mul_(2); p.narrow(0, 0, 1).fill_(7); }),
    ]) {
      const pe = mkP(), pj = mkP();
      f(pe);
      J(f)(pj);
      expect(arr(pj)).toEqual(arr(pe));
      expect(store(pj)).toEqual(store(pe));
    }
  });

  it('a backward through an output after an argument was changed in place is an AutogradError (not a silently different gradient)', () => {
    const f = J((x: Tensor, c: Tensor) => F.mul(F.mul(x, x), c));
    const x = tensor([1, 2, 3]).requiresGrad_(), c = tensor([1, 1, 1]);
    const y = f(x, c);
    noGrad(() => c.add_(10));
    expect(() => F.sum(y).backward()).toThrow(AutogradError);
    expect(() => F.sum(f(x, c)).backward()).not.toThrow();
    expect(arr(x.grad!)).toEqual([22, 44, 66]);
  });

  it('a backward through an output recomputes it from the random numbers the call drew, and draws none', () => {
    const f = (x: Tensor) => nn.functional.dropout(x, 0.5);
    const run = (g: (x: Tensor) => Tensor) => {
      manualSeed(123);
      const x = ones([12]).requiresGrad_();
      const y = g(x);
      F.sum(y).backward();
      return { y: arr(y), grad: arr(x.grad!), next: rand([1]).dataSync()[0] };
    };
    const e = run(f), j = run(J(f));
    expect(j.y).toEqual(e.y);
    expect(j.grad).toEqual(e.grad);
    expect(j.grad).toEqual(j.y);
    expect(j.next).toBe(e.next);
  });

  it('links an output to the leaves that required grad at the call, as eager\'s tape does', () => {
    // requiresGrad turned off between the call and backward: that leaf gets no gradient (PyTorch's
    // AccumulateGrad skips it), the others theirs, eagerly and compiled alike
    for (const J2 of [<A extends Tensor[]>(g: (...a: A) => Tensor) => g, J]) {
      const p = tensor([1, 2]).requiresGrad_(), q = tensor([5, 6]).requiresGrad_();
      const f = J2((x: Tensor) => x.mul(p).add(x.mul(q).mul(10)));
      const o = f(tensor([1, 2]));
      q.requiresGrad = false;
      o.sum().backward();
      expect(arr(p.grad!)).toEqual([1, 2]);
      expect(q.grad).toBeNull();
      expect(q.requiresGrad).toBe(false);
      const h = J2((x: Tensor, y: Tensor) => x.mul(2).add(y.mul(3)));
      const x = tensor([1, 1]).requiresGrad_(), y = tensor([1, 1]).requiresGrad_();
      const o2 = h(x, y);
      x.requiresGrad = false;
      o2.sum().backward();
      expect(x.grad).toBeNull();
      expect(arr(y.grad!)).toEqual([3, 3]);
    }
  });

  it('a returned view of an argument or of another result aliases it, as eagerly (writes show through both)', () => {
    for (const wrap of [<A extends unknown[], R>(g: (...a: A) => R) => g, J]) {
      const f = wrap((x: Tensor) => x.view([2, 2]));
      const x = tensor([1, 2, 3, 4]);
      for (let i = 0; i < 3; i++) f(x).add_(10);
      expect(arr(x)).toEqual([31, 32, 33, 34]);
      const h = wrap((x: Tensor) => {
        const y = x.mul(2);
        return [y, y.view([2, 2]).t()] as const;
      });
      const [y, v] = h(tensor([1, 2, 3, 4]));
      y.fill_(0);
      expect(arr(v)).toEqual([0, 0, 0, 0]);
      // written in place inside, then a narrowed view returned: it is the caller's tensor's
      const k = wrap((x: Tensor) => {
        x.add_(1);
        return x.narrow(0, 1, 2);
      });
      const z = tensor([1, 2, 3, 4]);
      k(z).mul_(100);
      expect(arr(z)).toEqual([2, 300, 400, 5]);
      // and gradients reach the argument through the view
      const w = tensor([[1, 2], [3, 4]], { requiresGrad: true });
      wrap((x: Tensor) => x.t())(w).mul(tensor([[1, 2], [3, 4]])).sum().backward();
      expect(w.grad!.toArraySync()).toEqual([[1, 3], [2, 4]]);
    }
  });

  it('a compiled forward that writes state (BatchNorm in training): backward through its output is an error, not missing gradients', () => {
    const model = new nn.Sequential(new nn.Linear(3, 4), new nn.BatchNorm1d(4), new nn.Linear(4, 1));
    const fwd = J((x: Tensor) => model.forward(x));
    const x = randn([8, 3]);
    const out = fwd(x);
    expect(out.requiresGrad).toBe(true);
    expect(() => out.pow(2).mean().backward()).toThrow(/jit\(fn\) writes state in place .*a BatchNorm in training mode/);
    // in eval mode it writes nothing: gradients flow
    model.eval();
    fwd(x).pow(2).mean().backward();
    expect(model.parameters().every((p) => p.grad !== null)).toBe(true);
  });

  it('a captured tensor that starts requiring grad (a layer unfrozen) gets its gradient: the function retraces', () => {
    const w = tensor([1, 2]);
    const f = jit((x: Tensor) => x.mul(w));
    f(tensor([3, 4]));
    f(tensor([3, 4]));
    w.requiresGrad_();
    const o = f(tensor([3, 4]));
    expect(o.requiresGrad).toBe(true);
    o.sum().backward();
    expect(arr(w.grad!)).toEqual([3, 4]);
  });

  it('a backward recomputes from the call\'s arguments, not from the caller\'s array changed since', () => {
    const f = J((xs: Tensor[]) => xs[0]!.square().add(xs[1]!));
    const a = tensor([1, 2]).requiresGrad_(), b = tensor([3, 4]).requiresGrad_();
    const xs = [a, b];
    const y = f(xs);
    xs[0] = tensor([10, 10]);
    y.sum().backward();
    expect(arr(a.grad!)).toEqual([2, 4]);
    expect(arr(b.grad!)).toEqual([1, 1]);
  });

  it('a .grad the function reads, replaced or written in place before backward, is an AutogradError', () => {
    const p = tensor([1, 1, 1]).requiresGrad_();
    p.grad = tensor([2, 2, 2]);
    const f = J((x: Tensor) => x.mul(p.grad!));
    const x = tensor([1, 2, 3]).requiresGrad_();
    const o1 = f(x);
    p.grad = tensor([7, 7, 7]);
    expect(() => o1.sum().backward()).toThrow(AutogradError);
    const o2 = f(x);
    noGrad(() => p.grad!.mul_(5));
    expect(() => o2.sum().backward()).toThrow(AutogradError);
    const o3 = f(x);
    o3.sum().backward();
    expect(arr(x.grad!)).toEqual([35, 35, 35]);
  });

  it('log(exp x) → x is an unsafe rule: skipped with {unsafe: false}', () => {
    const f = (x: Tensor) => F.log(F.exp(x));
    const x = tensor([100, -120, 1]);
    expect(arr(jit(f, { eagerFirstCall: false, simplify: { unsafe: false } })(x))).toEqual(arr(f(x)));
    expect(arr(J(f)(x))).toEqual([100, -120, 1]);
  });
});

describe('jit semantics: a twelfth-session probe (each case was silently different or crashed)', () => {
  it('a tensor the function makes with tensor()/eye() starts from its made value at every call, and is returned as a new tensor', () => {
    const f = J((x: Tensor) => { const acc = tensor([0, 0]); acc.add_(x); acc.add_(x); return acc; });
    const x = tensor([1, 2]);
    for (let i = 0; i < 4; i++) expect(arr(f(x))).toEqual([2, 4]);
    const g = J((a: Tensor) => { const k = tensor([5, 5]); return [k, a.add(k)] as const; });
    const [k1] = g(x);
    k1.fill_(100);
    const [k2, s2] = g(x);
    expect(k2).not.toBe(k1);
    expect(arr(k2)).toEqual([5, 5]);
    expect(arr(s2)).toEqual([6, 7]);
    const h = J((a: Tensor) => eye(2).mul_(a).sum());
    for (let i = 0; i < 3; i++) expect(h(tensor([[1, 2], [3, 4]])).itemSync()).toBe(5);
  });

  it('a write through detach() of a captured tensor made while tracing still lands in that tensor', () => {
    const run = (compiled: boolean) => {
      const p = tensor([1, 2], { requiresGrad: true });
      const body = (x: Tensor) => { noGrad(() => p.detach().mul_(2)); return p.add(x); };
      const f = compiled ? J(body) : body;
      const outs = [0, 1, 2].map(() => arr(f(tensor([0, 0]))));
      return [outs, arr(p)];
    };
    expect(run(true)).toEqual(run(false));
  });

  it('optimizer state made lazily while tracing (eagerFirstCall: false) still carries over between calls', () => {
    const w = tensor([1, 2], { requiresGrad: true }), v = tensor([1, 2], { requiresGrad: true });
    const step = (p: Tensor, opt: InstanceType<typeof optim.Adam>) => (x: Tensor) => { opt.zeroGrad(); p.mul(x).sum().backward(); opt.step(); return p.sum(); };
    const eager = step(w, new optim.Adam([w], { lr: 0.1 }));
    const compiled = J(step(v, new optim.Adam([v], { lr: 0.1 })));
    for (let i = 0; i < 4; i++) {
      eager(tensor([1, -1]));
      compiled(tensor([1, -1]));
    }
    expect(arr(v)).toEqual(arr(w));
  });

  it('a backward inside that reaches an argument which is not a leaf is an AutogradError (its gradient went nowhere)', () => {
    const f = J((a: Tensor) => { const l = a.pow(2).sum(); l.backward(); return l; });
    const x = tensor([1, 2], { requiresGrad: true });
    expect(() => f(x.mul(3))).toThrow(AutogradError);
    expect(() => f(x.mul(3))).toThrow(/args\[0\].*not a leaf/);
    expect(x.grad).toBeNull();
    f(x);
    expect(arr(x.grad!)).toEqual([2, 4]);
  });

  it('a tensor made from values inside the function survives the scope() around the call: no retrace per call, no entry kept per call', () => {
    const f = J((x: Tensor) => x.exp().matmul(x.t()).add(tensor([1])).relu().sum(1));
    const g = J((x: Tensor) => x.indexSelect(0, [0, 2, 5]).sum());
    const x = randn([8, 8]);
    for (let i = 0; i < 20; i++) {
      scope(() => f(x)).dispose();
      scope(() => g(x)).dispose();
    }
    expect([f.stats.traces, f.stats.entries, g.stats.traces, g.stats.entries]).toEqual([1, 1, 1, 1]);
    // an entry bound to a tensor disposed since is dropped, not kept beside the retrace
    let w = randn([8]);
    const h = J((y: Tensor) => y.mul(w).sum());
    for (let i = 0; i < 5; i++) {
      h(x);
      w.dispose();
      w = randn([8]);
    }
    expect(h.stats.entries).toBe(1);
  });

  it('one leaf passed as several arguments gets the sum of their gradients', () => {
    const f = J((a: Tensor, b: Tensor) => { const l = a.mul(b).sum(); l.backward(); return l; });
    const x = tensor([1, 2], { requiresGrad: true });
    f(x, x);
    expect(arr(x.grad!)).toEqual([2, 4]);
    const g = J((l: Tensor[]) => { l.map((t) => t.pow(2).sum()).reduce((p, q) => p.add(q)).backward(); return l[0]!.sum(); });
    const y = tensor([1, 2], { requiresGrad: true });
    g([y, y, y]);
    expect(arr(y.grad!)).toEqual([6, 12]);
  });

  it("an argument's existing .grad written in place is updated (the write was lost), and zeroed then replaced by backward (it crashed)", () => {
    const f = J((a: Tensor) => { a.grad!.mul_(2); return a.sum(); });
    const x = tensor([1, 2], { requiresGrad: true });
    x.grad = tensor([1, 1]);
    f(x);
    f(x);
    expect(arr(x.grad)).toEqual([4, 4]);
    const g = jit((a: Tensor) => { if (a.grad) a.grad.zero_(); a.pow(2).sum().backward(); return a.sum(); });
    const y = tensor([1, 2], { requiresGrad: true });
    for (let i = 0; i < 4; i++) {
      g(y);
      expect(arr(y.grad!)).toEqual([2, 4]);
    }
  });

  it('two leaves sharing one .grad tensor both add into it (one contribution was lost)', () => {
    const run = (compiled: boolean) => {
      const p = tensor([1, 2], { requiresGrad: true }), q = tensor([3, 4], { requiresGrad: true });
      const g = zeros([2]);
      p.grad = g;
      q.grad = g;
      const body = (a: Tensor) => { a.mul(p).add(a.mul(q).mul(10)).sum().backward(); return a.sum(); };
      const f = compiled ? jit(body) : body;
      for (let i = 0; i < 3; i++) f(tensor([1, 2]));
      return arr(g);
    };
    expect(run(true)).toEqual(run(false));
    expect(run(false)).toEqual([33, 66]);
  });

  it('CPU tensors over one JavaScript array (fromTypedArray) count as sharing memory when one is written', () => {
    const f = J((a: Tensor, b: Tensor) => { a.add_(1); return b.mul(1); });
    const buf = new Float32Array([1, 2, 3, 4]);
    expect(() => f(fromTypedArray(buf, [4], 'float32'), fromTypedArray(buf, [4], 'float32'))).toThrow(/args\[0\] is written in place but shares memory with argument args\[1\]/);
    const big = new Float32Array(8);
    expect(() => f(fromTypedArray(big.subarray(0, 5), [5], 'float32'), fromTypedArray(big.subarray(4, 9), [4], 'float32').narrow(0, 0, 4))).toThrow(/shares memory/);
    // disjoint parts of one array are fine
    const c = fromTypedArray(big.subarray(0, 4), [4], 'float32'), d = fromTypedArray(big.subarray(4), [4], 'float32');
    expect(arr(f(c, d))).toEqual([0, 0, 0, 0]);
    expect(Array.from(big)).toEqual([1, 1, 1, 1, 0, 0, 0, 0]);
  });

  it('mul-div-cancel leaves int32 alone: the product wraps and the division truncates', () => {
    // (the primitive itself: F.div's divisor check puts a node between y and the division)
    const f = (x: Tensor, y: Tensor) => dispatch(prims.div, [F.mul(x, y), y], {});
    const a = tensor([10, 2147483647, 7, -17], { dtype: 'int32' }), b = tensor([2147483647, 2, 3, -5], { dtype: 'int32' });
    expect(arr(J(f)(a, b))).toEqual(arr(f(a, b)));
  });

  it('fused CPU kernels: int32 abs wraps, int32 remainder gives +0, float32 x**k rounds once (as eager)', () => {
    const a = tensor([-2147483648, -5, 3], { dtype: 'int32' });
    const f = (x: Tensor) => x.abs().to('float32');
    expect(arr(J(f)(a))).toEqual(arr(f(a)));
    expect(arr(J(f)(a))[0]).toBe(-2147483648);
    const g = (x: Tensor) => x.remainder(2).to('float32').reciprocal();
    expect(arr(J(g)(tensor([-4, 4], { dtype: 'int32' })))).toEqual([Infinity, Infinity]);
    const big = tensor(Float32Array.from({ length: 4096 }, (_, i) => Math.sin(i) * 3));
    for (const k of [-2, 3, -3, 13]) {
      const h = (x: Tensor) => x.pow(k);
      for (const x of [tensor([2e19, 1e20, 1e-7, 1.2345, -3.3]), big]) {
        const e = arr(h(x)), c = arr(J(h)(x));
        expect(c.every((v, i) => Object.is(v, e[i]))).toBe(true);
      }
    }
    expect(arr(J((x: Tensor) => x.pow(-2))(tensor([2e19])))[0]).toBeGreaterThan(0);
  });
});

describe('jit semantics: returned views of captured tensors, and the Theano-style API (twelfth-session probe)', () => {
  it('a returned view of a captured tensor aliases it, as eagerly (it was a copy)', () => {
    const c = tensor([1, 2, 3]);
    const h = J(() => c.narrow(0, 0, 2));
    h();
    const z = h();
    c.fill_(5);
    expect(arr(z)).toEqual([5, 5]);
    z.fill_(9);
    expect(arr(c)).toEqual([9, 9, 5]);
    const d = tensor([1, 2, 3]);
    const k = J((a: Tensor) => { d.add_(a); return d.narrow(0, 1, 2); });
    const r = k(tensor([1, 1, 1]));
    expect(arr(r)).toEqual([3, 4]);
    r.fill_(0);
    expect(arr(d)).toEqual([2, 0, 0]);
    const p = tensor([[1, 2], [3, 4]], { requiresGrad: true });
    J((x: Tensor) => p.t().mul(x))(tensor(2)).sum().backward();
    expect(arr(p.grad!)).toEqual([2, 2, 2, 2]);
  });

  it('pp prints a float64 constant in full (1 + 1e-12 printed as 1 hid a real multiply); a number update of a non-scalar shared variable is an error', () => {
    const x = T.dscalar('x');
    expect(pp(x.mul(1 + 1e-12))).toBe('(x * 1.000000000001)');
    expect(pp(x.add(1 / 3))).toBe('(x + 0.3333333333333333)');
    const f = fn([x], x.mul(1 + 1e-12));
    f(2);
    expect(pp(f)).toBe('(1.000000000001 * x)');
    expect(pp(T.scalar('y').add(1 / 3))).toBe('(y + 0.33333333)');
    const v = shared([1, 2, 3], { name: 'v' });
    expect(() => fn([], null, { updates: [[v, 7]] })()).toThrow(/update of shared variable 'v' \(float32\[3\]\) is the number 7.*never broadcast/);
    expect(v.getValue()).toEqual([1, 2, 3]);
    const s = shared(1, { name: 's' });
    fn([], null, { updates: [[s, 7]] })();
    expect(s.getValue()).toBe(7);
  });
});

describe('jit semantics: optimizer state, overlapping and returned .grad (thirteenth-session probe)', () => {
  const sgdRun = (prepare: (step: ReturnType<typeof jit>, x: Tensor) => void) => {
    const w = tensor([1, 2, 3], { requiresGrad: true });
    const opt = new optim.SGD([w], { lr: 1, momentum: 0.9, dampening: 0.5 });
    const step = jit((x: Tensor) => {
      opt.zeroGrad();
      w.mul(x).sum().backward();
      opt.step();
      return w;
    });
    const x = tensor([1, 1, 1]);
    prepare(step as ReturnType<typeof jit>, x);
    const stateAfterPrepare = opt.state.size;
    const out: number[][] = [];
    for (let i = 0; i < 3; i++) {
      step(x);
      out.push(arr(w));
    }
    return { out, stateAfterPrepare, buf: arr(opt.state.get(w)!.momentumBuffer!) };
  };

  it('warmup() and lower() leave no first-step optimizer state behind (SGD with dampening damped its first step)', () => {
    const plain = sgdRun(() => {});
    // eager: buf = g = 1 → w = [0,1,2]; buf = 0.9 + 0.5 = 1.4 → [−1.4,…]; buf = 1.26 + 0.5 = 1.76
    expect(plain.out[0]![0]).toBe(0);
    expect(plain.out[1]![0]).toBe(Math.fround(-1.4));
    expect(plain.out[2]![0]).toBeCloseTo(-3.16, 5);
    for (const prepare of [(s: ReturnType<typeof jit>, x: Tensor) => s.warmup(x), (s: ReturnType<typeof jit>, x: Tensor) => void s.lower(x)]) {
      const r = sgdRun(prepare);
      expect(r.stateAfterPrepare).toBe(0);
      expect(r.out).toEqual(plain.out);
      expect(r.buf).toEqual(plain.buf);
    }
  });

  it('a trace that fails after opt.step() leaves no optimizer state (the eager step after it starts afresh)', () => {
    const w = tensor([1, 2, 3], { requiresGrad: true });
    const opt = new optim.SGD([w], { lr: 1, momentum: 0.9, dampening: 0.5 });
    const step = J((x: Tensor) => {
      opt.zeroGrad();
      w.mul(x).sum().backward();
      opt.step();
      return w.sum().itemSync();
    });
    expect(() => step(tensor([1, 1, 1]))).toThrow(/symbolic/);
    expect(opt.state.size).toBe(0);
    expect(arr(w)).toEqual([1, 2, 3]);
    opt.zeroGrad();
    w.sum().backward();
    opt.step();
    expect(arr(opt.state.get(w)!.momentumBuffer!)).toEqual([1, 1, 1]);
    expect(arr(w)).toEqual([0, 1, 2]);
  });

  it('a .grad whose elements overlap (expand()ed, assigned by hand) is replaced, not written through, as eagerly', () => {
    const c = tensor([[1, 2], [3, 4]]);
    for (const compiled of [false, true]) {
      const w = tensor([[0, 0], [0, 0]], { requiresGrad: true });
      const x = tensor([[0, 0], [0, 0]], { requiresGrad: true });
      const body = (a: Tensor, k: Tensor) => {
        w.mul(k).sum().backward();
        a.mul(k).sum().backward();
        return w;
      };
      const step = compiled ? J(body) : body;
      step(x, c);
      w.grad = noGrad(() => tensor([[10, 20]]).expand([2, 2]));
      x.grad = noGrad(() => tensor([[5, 6]]).expand([2, 2]));
      step(x, c);
      expect(w.grad!.toArraySync(), `compiled: ${compiled}`).toEqual([[11, 22], [13, 24]]);
      expect(x.grad!.toArraySync(), `compiled: ${compiled}`).toEqual([[6, 8], [8, 10]]);
      step(x, c);
      expect(w.grad!.toArraySync()).toEqual([[12, 24], [16, 28]]);
      expect(x.grad!.toArraySync()).toEqual([[7, 10], [11, 14]]);
      expect(w.grad!.isContiguous).toBe(true);
    }
  });

  it('a returned .grad the function set is that .grad, as eagerly', () => {
    const w = tensor([1, 2, 3], { requiresGrad: true });
    const opt = new optim.SGD([w], { lr: 0.1 });
    const step = jit((x: Tensor) => {
      opt.zeroGrad();
      w.mul(x).sum().backward();
      opt.step();
      return { loss: w.sum(), grad: w.grad! };
    });
    for (let i = 0; i < 3; i++) {
      const { grad } = step(tensor([1, 2, 3]));
      expect(grad).toBe(w.grad);
      expect(arr(grad)).toEqual([1, 2, 3]);
    }
    const x = tensor([1, 1], { requiresGrad: true });
    const g = J((a: Tensor) => {
      a.mul(2).sum().backward();
      return a.grad!;
    });
    for (let i = 0; i < 2; i++) {
      x.grad = null;
      const r = g(x);
      expect(r).toBe(x.grad);
      expect(arr(r)).toEqual([2, 2]);
    }
  });
});

describe('jit semantics: returned views and written views (a fuzzer of in-place writes through views, thirteenth session)', () => {
  it('returned views of an intermediate alias one another and the returned tensor they view, and carry gradients', () => {
    const x = tensor([1, 2, 3, 4]);
    const f = J((a: Tensor) => {
      const v = a.mul(2).view(2, 2);
      return [v, v.t()];
    });
    const [v, vt] = f(x) as Tensor[];
    v!.add_(100);
    expect(vt!.toArraySync()).toEqual([[102, 106], [104, 108]]); // was a copy: [[2, 6], [4, 8]]
    const g = J((a: Tensor) => {
      const y = a.mul(2);
      return [y.narrow(0, 0, 2), y.narrow(0, 1, 2)];
    });
    const [s0, s1] = g(x) as Tensor[];
    s0!.fill_(0);
    expect(s1!.toArraySync()).toEqual([0, 6]);
    const p = tensor([1, 2, 3, 4], { requiresGrad: true });
    const h = J(() => {
      const y = p.mul(2);
      return [y, y.narrow(0, 0, 2)];
    });
    const [y, w] = h() as Tensor[];
    expect(w!.requiresGrad).toBe(true);
    y!.sum().add(w!.sum().mul(10)).backward();
    expect(arr(p.grad!)).toEqual([22, 22, 2, 2]); // the view had no link: [2, 2, 2, 2]
    // a view of an unreturned intermediate still differentiates (through its hidden base)
    p.grad = null;
    const k = J(() => p.mul(3).narrow(0, 1, 2));
    k().sum().backward();
    expect(arr(p.grad!)).toEqual([0, 3, 3, 0]);
    // one view returned twice is one tensor
    const d = J((a: Tensor) => {
      const n = a.narrow(0, 0, 2);
      return [n, n];
    });
    const [n0, n1] = d(x) as Tensor[];
    expect(n0).toBe(n1);
  });

  it('view() checks the layout the tensor would have eagerly (a transposed argument could be viewed)', () => {
    const x = tensor([[1, 2], [3, 4]]);
    expect(() => J((a: Tensor) => a.t().view(-1))(x)).toThrow(/view: a tensor of shape \[2, 2\] with strides \[1, 2\] cannot be viewed as \[4\] without a copy/);
    expect(() => J((a: Tensor) => a.view(-1))(x.t())).toThrow(/cannot be viewed as \[4\]/);
    expect(() => J((a: Tensor) => a.mul(1).expand([2, 2, 2]).view(8))(x)).toThrow(/cannot be viewed as \[8\]/);
    expect(arr(J((a: Tensor) => a.t().reshape(-1))(x))).toEqual([1, 3, 2, 4]);
  });

  it('an expand()ed argument or state that is written is an error, not a write the last broadcast row wins', () => {
    const base = tensor([[1, 2, 3]]);
    const f = J((a: Tensor) => {
      a.narrow(0, 0, 1).add_(10);
      return a.sum();
    });
    expect(() => f(base.expand([2, 3]))).toThrow(/argument .* \(shape \[2, 3\], strides \[0, 1\]\) is written in place, but elements of it share memory/);
    expect(arr(base)).toEqual([1, 2, 3]);
    const w = tensor([[1, 2, 3]]).expand([2, 3]);
    const g = J(() => {
      w.narrow(0, 0, 1).mul_(2);
      return w.sum();
    });
    expect(() => g()).toThrow(/state .* is written in place, but elements of it share memory/);
    expect(arr(f(base.clone().expand([2, 3]).contiguous()))).toEqual([36 + 6]);
  });

  it('writes with no elements change nothing, eagerly and compiled (an empty narrow of a broadcast was an error)', () => {
    expect(arr(zeros([3, 0]).add_(1))).toEqual([]);
    const f = J((a: Tensor) => {
      const b = a.reshape([2, 1, 2]).expand([2, 3, 2]);
      b.narrow(1, 0, 0).fill_(5);
      return b.sum();
    });
    expect(f(tensor([1, 2, 3, 4])).itemSync()).toBe(30);
  });
});
