/**
 * @file Deliverables of issue #5 that existed without a test of their own: `warmup` compiles
 * without running; the cache key includes the device (and the retrace warning names a changed
 * device, static argument or dtype); the graph before and after each pass with the rules that
 * fired; `pp` of a symbolic tensor inside a trace; bad input to `fn` for a placeholder with fixed
 * sizes; an update of the wrong shape is refused before anything runs (also by `lower`), leaving
 * the state as it was; a `.grad` of the wrong shape assigned inside a traced function.
 */
import { describe, expect, it } from 'vitest';
import { Tensor, manualSeed, nn, noGrad, ones, optim, randn, syncWebGPU, tensor, zeros, ShapeError } from '../../src/index.ts';
import { T, fn, jit, pp, shared, warmup } from '../../src/jit/index.ts';
import { gpuStatus } from '../gpu-setup.ts';

const arr = (t: Tensor) => Array.from(t.dataSync());

describe('warmup', () => {
  it('compiles without running: no call, no eager call, state untouched; the next call runs the compiled plan', () => {
    const s = tensor([1, 2, 3]);
    let bodyRuns = 0;
    const f = jit((x: Tensor) => {
      bodyRuns++;
      noGrad(() => s.add_(x));
      return s.mul(2);
    });
    const x = tensor([10, 20, 30]);
    f.warmup(x);
    expect(f.stats.calls).toBe(0);
    expect(f.stats.traces).toBe(1);
    expect(f.stats.eagerCalls).toBe(0);
    expect(bodyRuns).toBe(1); // the trace, on symbolic tensors
    expect(arr(s)).toEqual([1, 2, 3]);
    expect(arr(f(x))).toEqual([22, 44, 66]);
    expect(arr(s)).toEqual([11, 22, 33]);
    expect(f.stats.eagerCalls).toBe(0); // warmed: the first call did not run eagerly
    expect(f.stats.traces).toBe(1);
    expect(bodyRuns).toBe(1);
  });

  it('the free function warmup(f, ...args) does the same, and lower() after it reuses the compiled signature', () => {
    const f = jit((a: Tensor, b: Tensor) => a.matmul(b).relu());
    const a = randn([3, 4]), b = randn([4, 2]);
    warmup(f, a, b);
    expect(f.stats.traces).toBe(1);
    expect(f.lower(a, b).kernels.length).toBeGreaterThan(0);
    expect(f.stats.traces).toBe(1);
    expect(arr(f(a, b))).toEqual(arr(a.matmul(b).relu()));
    expect(f.stats.traces).toBe(1);
    // a different signature is not warmed
    f(randn([5, 4]), b);
    expect(f.stats.eagerCalls).toBe(1);
  });

  it('warmup and lower draw nothing from the random stream: manualSeed then calls give the eager draws', () => {
    const f = (x: Tensor) => nn.functional.dropout(x, 0.5);
    const x = ones([16]);
    manualSeed(3);
    const want = [arr(f(x)), arr(f(x))];
    const after = arr(randn([2]));
    const j = jit(f);
    manualSeed(3);
    j.warmup(x);
    j.lower(x);
    expect([arr(j(x)), arr(j(x))]).toEqual(want);
    expect(arr(randn([2]))).toEqual(after);
  });
});

describe('retrace warnings name the changing part', () => {
  const warner = () => {
    const msgs: string[] = [];
    const f = jit((x: Tensor, k: unknown) => x.mul(typeof k === 'number' ? k : 2), { eagerFirstCall: false, warnAfter: 1, onWarn: (m) => msgs.push(m) });
    return { f, msgs };
  };

  it('a static argument', () => {
    const { f, msgs } = warner();
    f(randn([2]), 1);
    f(randn([2]), 2);
    expect(msgs).toHaveLength(1);
    expect(msgs[0]).toContain('args[1] changed: number 1 → number 2');
  });

  it('a dtype', () => {
    const { f, msgs } = warner();
    f(randn([2]), 1);
    f(randn([2], { dtype: 'float64' }), 1);
    expect(msgs[0]).toContain('args[0] changed: float32[2]@cpu → float64[2]@cpu');
  });

  it('the structure of a nested argument', () => {
    const { f, msgs } = warner();
    f(randn([2]), { a: 1 });
    f(randn([2]), { b: 1 });
    expect(msgs[0]).toContain('args[1] changed: object{a} → object{b}');
  });

  it('the grad mode (a new cache entry, never a silent reuse)', () => {
    const { f, msgs } = warner();
    const x = randn([2]).requiresGrad_();
    f(x, 1);
    noGrad(() => f(x, 1));
    expect(f.stats.traces).toBe(2);
    expect(msgs[0]).toContain('grad mode changed: enabled → disabled');
  });
});

describe('objects keep their key order through a compiled function', () => {
  it('returned objects list their keys as the function built them', () => {
    const f = jit((x: Tensor) => ({ p: x.exp(), first: x.narrow(0, 0, 1), e2: x.mul(2) }), { eagerFirstCall: false });
    const out = f(tensor([1, 2]));
    expect(Object.keys(out)).toEqual(['p', 'first', 'e2']);
    expect(arr(Object.values(out)[2]!)).toEqual([2, 4]);
    // an argument object in another order is another signature (never a silent reuse)
    const g = jit((o: Record<string, Tensor>) => Object.values(o)[0]!.mul(1), { eagerFirstCall: false });
    expect(arr(g({ a: tensor([1]), b: tensor([2]) }))).toEqual([1]);
    expect(arr(g({ b: tensor([2]), a: tensor([1]) }))).toEqual([2]);
  });
});

describe("a module's training mode guards the compiled function", () => {
  it('after eval() a call traces again and computes eval mode (Dropout off, BatchNorm on running statistics); train() reuses the first trace', () => {
    const model = new nn.Sequential(new nn.Linear(3, 4), new nn.BatchNorm1d(4), new nn.Dropout(0.5));
    const msgs: string[] = [];
    const f = jit((x: Tensor) => model.forward(x), { eagerFirstCall: false, warnAfter: 1, onWarn: (m) => msgs.push(m) });
    const x = randn([5, 3]);
    manualSeed(3);
    const train = arr(f(x));
    // dropout in training: about half the outputs are zero
    expect(train.filter((v) => v === 0).length).toBeGreaterThan(0);
    model.eval();
    const want = arr(noGrad(() => model.forward(x)));
    expect(arr(f(x))).toEqual(want);
    expect(arr(f(x))).toEqual(want);
    expect(f.stats.traces).toBe(2);
    expect(msgs[0]).toContain('BatchNorm1d.training (was true) changed');
    model.train();
    expect(arr(f(x)).filter((v) => v === 0).length).toBeGreaterThan(0);
    expect(f.stats.traces).toBe(2);
  });
});

const gpu = await gpuStatus();
describe.skipIf(!gpu.ok)('the cache is keyed by device', () => {
  it('the same shapes on another device retrace, run there, and the warning names the device', async () => {
    const msgs: string[] = [];
    const f = jit((x: Tensor) => x.exp().sum(), { eagerFirstCall: false, warnAfter: 1, onWarn: (m) => msgs.push(m) });
    const xc = tensor([0, 1, 2]);
    const want = Math.exp(0) + Math.exp(1) + Math.exp(2);
    expect(f(xc).itemSync()).toBeCloseTo(want, 5);
    const g = f(xc.to('webgpu'));
    expect(g.device).toBe('webgpu');
    expect(await g.item()).toBeCloseTo(want, 4);
    expect(f.stats.traces).toBe(2);
    expect(msgs[0]).toContain('args[0] changed: float32[3]@cpu → float32[3]@webgpu');
    expect(f(xc).device).toBe('cpu');
    expect(f.stats.traces).toBe(2);
  });
});

/** A compiled product with a bias and ReLU fused in, then a sum: a matmul and a reduction kernel. */
const profiledStep = () => jit((x: Tensor, w: Tensor) => x.matmul(w).add(1).relu().sum(), { eagerFirstCall: false });

describe('kernel profiling (setProfiling, profile)', () => {
  it('CPU: every kernel of the signature timed per call, values unchanged; off again clears it', () => {
    const f = profiledStep();
    const x = randn([16, 32]), w = randn([32, 8]);
    const L = f.lower(x, w);
    expect(L.profile()).toEqual([]);
    L.setProfiling(true);
    const want = x.matmul(w).add(1).relu().sum().itemSync();
    for (let i = 0; i < 3; i++) expect(f(x, w).itemSync()).toBeCloseTo(want, 3);
    const p = L.profile();
    expect(p.map((k) => k.label)).toEqual(L.kernels.map((k) => k.label));
    expect(p.map((k) => k.kind)).toEqual(['matmul', 'reduce']);
    for (const k of p) {
      expect(k.calls).toBe(3);
      expect(k.ms).toBeGreaterThan(0);
    }
    L.setProfiling(false);
    expect(L.profile()).toEqual([]);
  });
});

describe.skipIf(!gpu.ok)('kernel profiling on WebGPU (timestamp queries)', () => {
  it('GPU time per kernel arrives with the readback; the values are those of the unprofiled calls', async () => {
    const f = profiledStep();
    // a product large enough to take well over the timestamps' quantum (Dawn rounds them)
    const x = randn([256, 256], { device: 'webgpu' }), w = randn([256, 256], { device: 'webgpu' });
    const plain = await f(x, w).item();
    const L = f.lower(x, w);
    L.setProfiling(true);
    for (let i = 0; i < 3; i++) expect(await f(x, w).item()).toBeCloseTo(plain, -1);
    const p = L.profile();
    expect(p.map((k) => k.kind)).toEqual(['matmul', 'reduce']);
    for (const k of p) {
      expect(k.calls).toBe(3);
      expect(k.ms).toBeGreaterThanOrEqual(0);
    }
    expect(p[0]!.ms).toBeGreaterThan(0);
    // no readback since: the calls count now, their times once the GPU has run them
    for (let i = 0; i < 3; i++) f(x, w);
    expect(L.profile()[0]!.calls).toBe(6);
    await syncWebGPU();
    expect(L.profile()[0]!.ms).toBeGreaterThan(p[0]!.ms);
    L.setProfiling(false);
    expect(await f(x, w).item()).toBeCloseTo(plain, -1);
    expect(L.profile()).toEqual([]);
  });
});

describe('introspection: the graph before and after each pass', () => {
  it('text(pass) shows the rewrite, passes report counts and fired rules, an unknown pass is named', () => {
    const f = jit((x: Tensor, y: Tensor) => x.mul(y).div(y).add(0).exp().log(), { eagerFirstCall: false, argNames: ['x', 'y'] });
    const L = f.lower(randn([3]), randn([3]).abs().add(1));
    expect(L.text('trace')).toMatchInlineSnapshot(`
      "in (x: f32[3], y: f32[3])
      %0 = mul x y : f32[3]
      %1 = div %0 y : f32[3]
      %2 = add %1 0 : f32[3]
      %3 = exp %2 : f32[3]
      %4 = log %3 : f32[3]
      out (%4)"
    `);
    expect(L.text('dce')).toBe('in (x: f32[3], y: f32[3])\nout (x)');
    expect(L.text()).toBe(L.text('dce'));
    const simp = L.passes.find((p) => p.name === 'simplify')!;
    expect(simp.fired).toEqual(expect.arrayContaining(['mul-div-cancel', 'add-zero', 'log-exp']));
    expect(L.passes[0]).toMatchObject({ name: 'trace', nodes: 6 }); // 5 ops and the constant 0
    expect(L.graph('trace').opCount).toBe(6);
    expect(L.graph().opCount).toBe(0);
    expect(() => L.graph('nope')).toThrow(/no pass named 'nope' \(passes: trace, fold, simplify, cse, dce, simplify-late, fuse, plan, codegen\)/);
  });

  it('pp prints a symbolic tensor inside a trace, with the argument names', () => {
    let printed = '';
    const f = jit((p: Tensor, q: Tensor) => {
      printed = pp(p.add(q).mul(2));
      return p;
    }, { eagerFirstCall: false, argNames: ['p', 'q'] });
    f(randn([2]), randn([2]));
    expect(printed).toBe('((p + q) * 2)');
  });
});

describe('bad input', () => {
  it('jit: too few arguments, or a non-tensor where a tensor is needed, is named', () => {
    const add = jit((p: Tensor, q: Tensor) => p.add(q), { eagerFirstCall: false });
    expect(() => (add as unknown as (p: Tensor) => Tensor)(randn([2]))).toThrow(/jit\(fn\): called with 1 argument, but the function takes 2/);
    expect(() => add(randn([2]), 'x' as unknown as Tensor)).toThrow(/add: the second operand is the string "x", expected a tensor, number or boolean/);
    expect(() => add(randn([2]), undefined as unknown as Tensor)).toThrow(/add: the second operand is undefined/);
  });

  it('jit: a computed tensor returned inside a Map or a class instance is refused when tracing', () => {
    const inMap = jit((p: Tensor) => new Map([['y', p.add(1)]]), { eagerFirstCall: false });
    expect(() => inMap(tensor([1]))).toThrow(/jit: result\.get\("y"\) is a computed tensor inside a Map, a Set or a class instance/);
    class Box { constructor(readonly value: Tensor) {} }
    const boxed = jit((p: Tensor) => ({ out: new Box(p.mul(2)) }), { eagerFirstCall: false });
    expect(() => boxed(tensor([1]))).toThrow(/result\.out\.value is a computed tensor/);
    // plain objects and arrays are fine, and so is a static object holding concrete tensors
    const w = tensor([5]);
    const plain = jit((p: Tensor) => ({ a: [p.add(1)], box: new Box(w) }), { eagerFirstCall: false });
    const r = plain(tensor([1]));
    expect(r.a[0]!.toArraySync()).toEqual([2]);
    expect(r.box.value).toBe(w);
  });

  it('jit: a parameter passed in whose .grad an optimizer also reaches is refused (its update was silently lost)', () => {
    const w = tensor([1, 2, 3], { requiresGrad: true });
    const opt = new optim.SGD([w], { lr: 0.1 });
    const step = jit((p: Tensor) => {
      opt.zeroGrad();
      const loss = p.pow(2).sum();
      loss.backward();
      opt.step();
      return loss;
    }, { eagerFirstCall: false, argNames: ['p'] });
    expect(() => step(w)).toThrow(/jit: p \(float32\[3\]\) is passed to the function and its \.grad is also (read|written) through a reference held outside/);
    expect(arr(w)).toEqual([1, 2, 3]);
    // reading a tensor both as an argument and from a closure, without gradients, is fine
    const c = tensor([1, 2]);
    expect(arr(jit((x: Tensor) => x.add(c), { eagerFirstCall: false })(c))).toEqual([2, 4]);
  });

  it('jit: more arguments than the function can read is an error, not a silent drop', () => {
    const add = jit((p: Tensor, q: Tensor) => p.add(q), { eagerFirstCall: false });
    const call = add as unknown as (...a: Tensor[]) => Tensor;
    expect(() => call(randn([2]), randn([2]), randn([2]))).toThrow(/jit\(fn\): called with 3 arguments, but the function takes 2: the extra ones would be ignored/);
    // defaults, rest parameters and `arguments` may read more: no limit
    const rest = jit((...xs: Tensor[]) => xs.reduce((a, b) => a.add(b)), { eagerFirstCall: false });
    expect(rest(tensor([1]), tensor([2]), tensor([3])).toArraySync()).toEqual([6]);
    const withDefault = jit((p: Tensor, k: number = 2) => p.mul(k), { eagerFirstCall: false });
    expect(withDefault(tensor([1]), 3).toArraySync()).toEqual([3]);
  });

  it('fn: a placeholder with fixed sizes names the argument on a shape mismatch', () => {
    const v = T.vector('v', { shape: [3] });
    const f = fn([v], v.sum());
    expect(() => f([1, 2])).toThrow(/argument 0 \('v', float32 vector\): expected shape \[3\], got \[2\]/);
    expect((f([1, 2, 3]) as Tensor).itemSync()).toBe(6);
  });

  it('fn: an update of the wrong shape is refused when compiling (by lower too), before anything runs', () => {
    const s = shared([1, 2, 3], { name: 's', dtype: 'float32' });
    const x = T.vector('x');
    const other = shared([5], { name: 'other', dtype: 'float32' });
    const bad = fn([x], x.sum(), { updates: [[other, other.add(1)], [s, x.sum()]] });
    expect(() => bad.lower([1, 2])).toThrow(/update of shared variable 's' \(float32\[3\]\) has a value of float32\[\]/);
    expect(() => bad([1, 2])).toThrow(/update of shared variable 's'/);
    // the other (valid) update was not applied either: nothing ran
    expect(s.getValue()).toEqual([1, 2, 3]);
    expect(other.getValue()).toEqual([5]);
  });

  it('a .grad of the wrong shape, dtype or device is a typed error, eagerly and when tracing', () => {
    const v = randn([3]).requiresGrad_();
    expect(() => { v.grad = zeros([2]); }).toThrow(ShapeError);
    expect(() => { v.grad = zeros([3], { dtype: 'float64' }); }).toThrow(/assigned a gradient of float64\[3\] on cpu to a tensor of float32\[3\] on cpu/);
    expect(v.grad).toBeNull();
    const w = randn([3]).requiresGrad_();
    const f = jit((x: Tensor) => {
      w.grad = zeros([2]);
      return x;
    }, { eagerFirstCall: false });
    expect(() => f(randn([2]))).toThrow(ShapeError);
    expect(() => f(randn([2]))).toThrow(/assigned a gradient of float32\[2\] on cpu to a tensor of float32\[3\]/);
    expect(w.grad).toBeNull();
  });

  it('eval: an unbound placeholder is named', () => {
    const a = T.dscalar('a'), b = T.dscalar('b');
    expect(() => a.add(b).eval(new Map([[a, 1]]))).toThrow(/placeholder 'b' \(float64 scalar\) has no value/);
    expect(a.add(b).eval({ a: 1, b: 2 }).itemSync()).toBe(3);
  });
});

describe('the signature cache is bounded (cacheLimit)', () => {
  it('keeps the most recently used signatures, drops the oldest with its buffers, and traces it again when it comes back', () => {
    const f = jit((x: Tensor) => x.mul(2).sum(), { eagerFirstCall: false, cacheLimit: 2, warnAfter: 1000 });
    const sizes = [1, 2, 3, 1, 2, 3];
    const got = sizes.map((n) => f(ones([n])).itemSync());
    expect(got).toEqual([2, 4, 6, 2, 4, 6]);
    expect(f.stats.entries).toBe(2);
    expect(f.stats.traces).toBe(6); // each came back after it was dropped
    f(ones([3])); // the most recent: kept
    expect(f.stats.traces).toBe(6);
    const g = jit((x: Tensor) => x.add(1), { eagerFirstCall: false, warnAfter: 1000 });
    for (let n = 1; n <= 70; n++) g(ones([n]));
    expect(g.stats.entries).toBe(64);
    expect(() => jit((x: Tensor) => x, { cacheLimit: 0 })).toThrow(/cacheLimit must be a positive integer/);
  });
});
