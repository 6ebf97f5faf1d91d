/** @file The graph passes, each on its own: rules fire and preserve values; fold, CSE, DCE, fusion, planning. */
import { describe, expect, it } from 'vitest';
import { Tensor, arange, tensor, randn, noGrad, matmul, full } from '../../src/index.ts';
import * as F from '../../src/ops/functional.ts';
import { functional as NF } from '../../src/nn/index.ts';
import { prims } from '../../src/ops/prims.ts';
import { jit, ppGraph, toDot, simplifyRules, Graph } from '../../src/jit/index.ts';
import { compileGraph, type CompileOptions } from '../../src/jit/compile.ts';
import { fold } from '../../src/jit/passes/fold.ts';
import { simplify } from '../../src/jit/passes/simplify.ts';
import { cse } from '../../src/jit/passes/cse.ts';
import { dce } from '../../src/jit/passes/dce.ts';
import { fuse } from '../../src/jit/passes/fuse.ts';
import { lower } from '../../src/jit/lower.ts';
import { callInvariant, plan } from '../../src/jit/passes/plan.ts';

const arr = (t: Tensor) => Array.from(t.dataSync());
const expectClose = (a: number[], b: number[], tol = 1e-6) => {
  expect(a.length).toBe(b.length);
  a.forEach((v, i) => {
    if (Number.isNaN(b[i]!)) expect(v).toBeNaN();
    else expect(Math.abs(v - b[i]!)).toBeLessThanOrEqual(tol * (1 + Math.abs(b[i]!)));
  });
};

/** Runs a graph with its inputs bound to tensors. */
function runGraph(g: Graph, inputs: Tensor[], opts: CompileOptions = {}): Tensor[] {
  return compileGraph(g, 'cpu', opts).program.run(inputs, [], new Map());
}

type Case = { rule: string; f: (x: Tensor, y: Tensor) => Tensor; x?: () => Tensor; graph?: (g: Graph) => void };

/** One function (or hand-built graph) per rule, on which it fires. */
const cases: Case[] = [
  { rule: 'mul-one', f: (x) => x.mul(1) },
  { rule: 'one-mul', f: (x) => F.mul(1, x) },
  { rule: 'mul-zero', f: (x) => x.mul(0).add(x) },
  { rule: 'add-zero', f: (x) => x.add(0) },
  { rule: 'zero-add', f: (x) => F.add(0, x) },
  { rule: 'sub-zero', f: (x) => x.sub(0) },
  { rule: 'sub-self', f: (x) => x.sub(x).add(x.exp()) },
  { rule: 'zero-sub', f: (x) => F.sub(0, x) },
  { rule: 'div-one', f: (x) => x.div(1) },
  { rule: 'mul-div-cancel', f: (x, y) => x.mul(y).div(y) },
  { rule: 'neg-neg', f: (x) => x.neg().neg() },
  { rule: 'log-exp', f: (x) => x.exp().log() },
  { rule: 'exp-log', f: (x) => x.abs().log().exp() },
  { rule: 'pow-one', f: (x) => x.pow(1) },
  { rule: 'pow-zero', f: (x) => x.pow(0).add(x) },
  { rule: 'contiguous', f: (x) => x.clone().mul(2) },
  { rule: 'reshape-reshape', f: (x) => x.reshape(6).reshape(2, 3).add(1) },
  { rule: 'transpose-transpose', f: (x) => x.t().t().add(1) },
  { rule: 'expand-expand', f: (x) => x.expand(2, 3).expand(4, 2, 3).sum(0), x: () => randn([3]) },
  { rule: 'reduce-keepdim-reshape', f: (x) => x.sum(0, true).reshape(2).exp() },
  { rule: 'matmul-transpose', f: (x, y) => matmul(x.t(), y).t().mul(2) },
  { rule: 'sigmoid', f: (x) => F.reciprocal(F.add(1, x.neg().exp())) },
  { rule: 'sigmoid-div', f: (x) => F.div(1, x.neg().exp().add(1)) },
  { rule: 'pow-minus-one', f: (x) => x.pow(-1) },
  { rule: 'sigmoid-exp-ratio', f: (x) => x.exp().div(x.exp().add(1)) },
  { rule: 'one-minus-sigmoid', f: (x) => F.sub(1, x.sigmoid()) },
  { rule: 'log-sigmoid', f: (x) => x.sigmoid().log() },
  { rule: 'log-one-minus-sigmoid', f: (x) => F.sub(1, x.sigmoid()).log().add(x.sigmoid()) },
  { rule: 'sum-size1', f: (x) => x.reshape(3, 2, 1).sum(2), x: () => randn([3, 2]) },
  { rule: 'where-const', f: (x) => F.where(full([3, 2], 0, { dtype: 'bool' }), 0, x.exp()).add(F.where(full([3, 2], 1, { dtype: 'bool' }), x, 1)) },
  { rule: 'sum-neg', f: (x) => x.neg().sum(0) },
  {
    // the cross-entropy gradient's shape: a one-hot scatter of the picked values, summed over classes
    rule: 'sum-scatter', x: () => randn([3, 3]),
    f: (x) => {
      const idx = arange(2, -1, -1).reshape(3, 1); // [2, 1, 0], made inside: an op of the graph, not a state
      const picked = x.gather(1, idx);
      return full([3, 3], 0).scatterAdd(1, idx, picked.mul(2)).sum(1).add(picked.sum(1));
    },
  },
  // rules user code cannot reach (the public functions skip no-op ops), built directly
  { rule: 'cast-same', f: (x) => x, graph: (g) => { g.outputs = [g.add(prims.cast, [g.inputs[0]!], { dtype: 'float32' }, 'cpu')]; } },
  { rule: 'reshape-same', f: (x) => x, graph: (g) => { g.outputs = [g.add(prims.reshape, [g.inputs[0]!], { shape: [3, 2] }, 'cpu')]; } },
  { rule: 'permute-identity', f: (x) => x, graph: (g) => { g.outputs = [g.add(prims.permute, [g.inputs[0]!], { perm: [0, 1] }, 'cpu')]; } },
  { rule: 'expand-same', f: (x) => x, graph: (g) => { g.outputs = [g.add(prims.expand, [g.inputs[0]!], { shape: [3, 2] }, 'cpu')]; } },
];

describe('simplify: every rule fires and preserves values', () => {
  it('has a case for every rule in the table', () => {
    // scatter-pick fires on WebGPU graphs only: its case is in webgpu.test.ts
    expect(new Set([...cases.map((c) => c.rule), 'scatter-pick'])).toEqual(new Set(simplifyRules.map((r) => r.name)));
  });

  for (const c of cases) {
    const rule = simplifyRules.find((r) => r.name === c.rule)!;
    it(`${c.rule}: ${rule?.doc}`, () => {
      // positive values away from 0 keep the NaN-unsafe rules' preconditions (documented in the table)
      const x = c.x?.() ?? tensor([[0.5, 1.5], [2, 3], [0.25, 4]]);
      const y = tensor([[2, 3], [0.5, 1], [4, 0.25]]);
      let g: Graph;
      if (c.graph) {
        g = new Graph();
        g.addInput({ shape: x.shape, dtype: x.dtype }, 'cpu', 'x');
        g.addInput({ shape: y.shape, dtype: y.dtype }, 'cpu', 'y');
        c.graph(g);
      } else {
        g = jit((x: Tensor, y: Tensor) => c.f(x, y), { eagerFirstCall: false }).lower(x, y).graph('trace');
      }
      const fired: string[] = [];
      const s = simplify(g, { onFire: (r) => fired.push(r) });
      expect(fired).toContain(c.rule);
      expect(s.outputs.length).toBe(g.outputs.length);
      const before = runGraph(g, [x, y], { fold: false, simplify: false, cse: false });
      const after = runGraph(s, [x, y], { fold: false, simplify: false, cse: false });
      before.forEach((b, i) => expectClose(arr(after[i]!), arr(b)));
      if (!c.graph) expectClose(arr(after[0]!), arr(c.f(x, y)));
    });
  }

  it('skips the NaN-unsafe rules when asked', () => {
    const g = jit((x: Tensor) => x.mul(0), { eagerFirstCall: false }).lower(tensor([Infinity])).graph('trace');
    const fired: string[] = [];
    const s = simplify(g, { unsafe: false, onFire: (r) => fired.push(r) });
    expect(fired).not.toContain('mul-zero');
    expect(arr(runGraph(s, [tensor([Infinity])], { simplify: false })[0]!)).toEqual([NaN]);
    // with the rule (Theano's default) Inf·0 becomes 0: documented as NaN-unsafe
    expect(arr(runGraph(simplify(g), [tensor([Infinity])])[0]!)).toEqual([0]);
  });

  it('keeps log σ(x) and log(1 − σ(x)) finite where σ rounds to 0 or 1 (as Theano did)', () => {
    const x = tensor([-200, -30, 0, 30, 200]);
    const f = jit((z: Tensor) => [F.reciprocal(F.add(1, z.neg().exp())).log(), F.sub(1, z.sigmoid()).log()], { eagerFirstCall: false });
    const [a, b] = f(x);
    expectClose(arr(a!), [-200, -30, -Math.log(2), -9.357622968839564e-14, 0], 1e-6);
    expectClose(arr(b!), [0, -9.357622968839564e-14, -Math.log(2), -30, -200], 1e-6);
  });

  it('does not rewrite exp(log x) when x may be negative', () => {
    const g = jit((x: Tensor) => x.log().exp(), { eagerFirstCall: false }).lower(tensor([-1, 2])).graph('trace');
    const fired: string[] = [];
    simplify(g, { onFire: (r) => fired.push(r) });
    expect(fired).not.toContain('exp-log');
  });
});

describe('fold', () => {
  it('folds constant subexpressions, views and reductions of constants', () => {
    const f = (x: Tensor) => x.mul(F.add(full([], 2), 3)).add(full([2, 3], 1).sum(0).exp());
    const g = jit(f, { eagerFirstCall: false }).lower(randn([3])).graph('trace');
    const h = dce(fold(g));
    expect(ppGraph(h)).toMatchInlineSnapshot(`
      "in (args[0]: f32[3])
      %0 = mul args[0] 5 : f32[3]
      %1 = fill 7.3890562 : f32[3]
      %2 = add %0 %1 : f32[3]
      out (%2)"
    `);
    const x = randn([3]);
    expectClose(arr(runGraph(h, [x])[0]!), arr(f(x)));
  });
});

describe('cse', () => {
  it('merges a + b with b + a, and identical subexpressions', () => {
    const f = (x: Tensor, y: Tensor) => x.add(y).mul(y.add(x)).add(x.exp()).add(x.exp());
    const g = jit(f, { eagerFirstCall: false }).lower(randn([4]), randn([4])).graph('trace');
    const before = g.opCount;
    const h = dce(cse(g));
    expect(h.opCount).toBe(before - 1);
    expect(ppGraph(h)).toMatchInlineSnapshot(`
      "in (args[0]: f32[4], args[1]: f32[4])
      %0 = add args[0] args[1] : f32[4]
      %1 = mul %0 %0 : f32[4]
      %2 = exp args[0] : f32[4]
      %3 = add %1 %2 : f32[4]
      %4 = add %2 %3 : f32[4]
      out (%4)"
    `);
  });
});

describe('dce', () => {
  it('drops what the outputs and updates do not need, keeping the interface', () => {
    const f = (x: Tensor) => {
      x.sin().cos(); // dead
      return x.add(1);
    };
    const g = jit(f, { eagerFirstCall: false }).lower(randn([2])).graph('trace');
    expect(g.opCount).toBeGreaterThan(2);
    const h = dce(g);
    expect(h.opCount).toBe(2); // add and the constant 1
    expect(h.inputs.length).toBe(1);
  });
});

describe('fuse', () => {
  const kernels = (f: (...a: Tensor[]) => unknown, ...xs: Tensor[]) => jit(f, { eagerFirstCall: false }).lower(...xs).kernels;

  it('fuses elementwise chains with broadcasts into one kernel', () => {
    const k = kernels((x, b) => x.mul(2).add(b).relu().sub(x.exp()), randn([8, 4]), randn([4]));
    expect(k.map((x) => x.kind)).toEqual(['elementwise']);
    expect(k[0]!.fused).toBeGreaterThanOrEqual(3);
  });

  it('fuses a producer into a reduction (prologue) and keeps the reduction result a buffer', () => {
    const k = kernels((x) => x.sub(1).pow(2).sum(1).sqrt(), randn([8, 4]));
    expect(k.map((x) => x.kind)).toEqual(['reduce', 'elementwise']);
  });

  it('reads views (transpose, slices) as strided loads, also into matmul, without copies', () => {
    const k = kernels((a, b) => matmul(a.t(), b.narrow(0, 1, 3)).add(a.sum(0).reshape(4, 1)), randn([3, 4]), randn([5, 2]));
    // the add runs as the matmul's epilogue
    expect(k.map((x) => x.kind).sort()).toEqual(['matmul', 'reduce']);
  });

  it('runs bias + ReLU after a matmul as its epilogue, in place over the product', () => {
    const w = randn([8, 5]), b = randn([5]), x = randn([4, 8]);
    const f = (a: Tensor) => matmul(a, w).add(b).relu();
    const j = jit(f, { eagerFirstCall: false });
    const k = j.lower(x).kernels;
    expect(k.map((q) => q.kind)).toEqual(['matmul']);
    expect(k[0]!.fused).toBe(2);
    expect(k[0]!.source).toContain('then in place');
    expect(arr(j(x))).toEqual(arr(f(x)));
    // a product also used elsewhere keeps its own buffer
    const g = jit((a: Tensor) => {
      const m = matmul(a, w);
      return [m.add(b).relu(), m.sum()];
    }, { eagerFirstCall: false });
    expect(g.lower(x).kernels.map((q) => q.kind)).toEqual(['matmul', 'elementwise', 'reduce']);
  });

  it('runs a convolution\'s bias + ReLU as its matmul\'s epilogue on the CPU too, through the reshape', () => {
    const x = randn([3, 2, 9, 9]), w = randn([5, 2, 3, 3]), b = randn([5]);
    const f = (a: Tensor, ww: Tensor, bb: Tensor) => NF.conv2d(a, ww, bb, { padding: 1 }).relu();
    const j = jit(f, { eagerFirstCall: false });
    const ks = j.lower(x, w, b).kernels;
    expect(ks.some((k) => k.kind === 'matmul' && k.fused >= 2)).toBe(true);
    expect(ks.some((k) => k.kind === 'elementwise')).toBe(false);
    expect(arr(j(x, w, b))).toEqual(arr(f(x, w, b)));
  });

  it('keeps a comparison after a matmul out of its epilogue on the CPU (the product is overwritten in place)', () => {
    // regression: the bool result was written over the float32 product's array, and read back wrong
    const x = randn([6, 3]), w = randn([3, 1]), v = randn([3]);
    for (const f of [(a: Tensor) => matmul(a, w).gt(0.1), (a: Tensor) => matmul(a, v).gt(0.1)]) {
      const j = jit(f, { eagerFirstCall: false });
      expect(arr(j(x))).toEqual(arr(f(x)));
      expect(j.lower(x).kernels.map((k) => k.kind)).toEqual(['matmul', 'elementwise']);
    }
  });

  it('computes max(…).values in its argmax\'s pass (no gather kernel), with eager values, NaN and ties', () => {
    const x = tensor([[1, 3, 3, -2], [NaN, 5, 0, 1], [-0, 0, -1, -3]]);
    for (const f of [
      (a: Tensor) => { const m = a.max(1, true); return [m.values, m.indices]; },
      (a: Tensor) => { const m = a.t().min(0); return [m.values.mul(2), m.indices]; },
      (a: Tensor) => { const m = a.reshape(2, 2, 3).max(1); return [m.values, m.indices]; },
    ]) {
      const j = jit(f, { eagerFirstCall: false });
      const ks = j.lower(x).kernels;
      expect(ks.some((k) => k.label.includes('gather'))).toBe(false);
      const got = j(x) as Tensor[], want = f(x) as Tensor[];
      got.forEach((t, i) => expect(Array.from(t.dataSync()).map(String)).toEqual(Array.from(want[i]!.dataSync()).map(String)));
    }
    // a gather by another tensor's argmax stays a gather
    const other = jit((a: Tensor, b: Tensor) => F.gather(b, 1, a.argmax(1, true)), { eagerFirstCall: false });
    expect(other.lower(x, x.neg()).kernels.some((k) => k.label.includes('gather'))).toBe(true);
    expect(arr(other(x, x.neg()))).toEqual(arr(F.gather(x.neg(), 1, x.argmax(1, true))));
  });

  it('materializes a producer used by two kernels instead of computing it twice', () => {
    const g = jit((x: Tensor) => {
      const e = x.exp();
      return [e.sum(), e.mul(2)];
    }, { eagerFirstCall: false }).lower(randn([6])).graph();
    const fu = fuse(g);
    const exp = g.nodes.find((n) => n.op?.name === 'exp')!;
    expect(fu.materialized.has(exp)).toBe(true);
  });

  it('does not fuse a smaller producer into a bigger kernel (no recomputation)', () => {
    const g = jit((x: Tensor, b: Tensor) => x.add(b.exp()), { eagerFirstCall: false }).lower(randn([64, 8]), randn([8])).graph();
    const exp = g.nodes.find((n) => n.op?.name === 'exp')!;
    expect(fuse(g).materialized.has(exp)).toBe(true);
  });

  it('recomputes a cheap broadcast producer (compare and select) in its consumer instead of giving it a buffer', () => {
    const f = (m: Tensor, v: Tensor, y: Tensor) => F.where(m.gt(0), v, 0).mul(y);
    const xs = [randn([8, 1]), randn([8, 1]), randn([8, 4])] as const;
    const j = jit(f, { eagerFirstCall: false });
    const g = j.lower(...xs).graph();
    const where = g.nodes.find((n) => n.op?.name === 'where')!;
    expect(fuse(g).materialized.has(where)).toBe(false);
    expect(j.lower(...xs).kernels.map((k) => k.kind)).toEqual(['elementwise']);
    expect(arr(j(...xs))).toEqual(arr(f(...xs)));
    // but not beyond 16 reads per element
    const wide = jit(f, { eagerFirstCall: false }).lower(randn([8, 1]), randn([8, 1]), randn([8, 17])).graph();
    expect(fuse(wide).materialized.has(wide.nodes.find((n) => n.op?.name === 'where')!)).toBe(true);
  });

  it('splits a kernel that would read more buffers than the device allows', () => {
    const xs = Array.from({ length: 10 }, () => randn([5]));
    const f = (...a: Tensor[]) => a.reduce((acc, t) => acc.add(t.exp()));
    const g = jit(f, { eagerFirstCall: false }).lower(...xs).graph();
    const low = lower(g, { fuse: { enabled: true, reducePrologue: false, maxInputs: 4, matmulEpilogue: false } });
    for (const k of low.kernels) expect(new Set(k.loads.map((l) => l.value)).size).toBeLessThanOrEqual(4);
    expect(low.kernels.length).toBeGreaterThan(1);
    const out = compileGraph(g, 'cpu').program.run(xs, [], new Map())[0]!;
    expectClose(arr(out), arr(f(...xs)));
  });

  it('with fusion off, runs one kernel per op and still matches', () => {
    const f = (x: Tensor) => x.mul(2).add(1).exp().sum();
    const x = randn([5]);
    const j = jit(f, { eagerFirstCall: false, fuse: false });
    expect(j.lower(x).kernels.length).toBe(4);
    expectClose(arr(j(x)), arr(f(x)));
  });
});

describe('plan', () => {
  it('gives call-invariant values (an arange) slots of their own when asked, never reused', () => {
    // an index-dependent value read early, then a chain of temporaries that would reuse its slot
    const f = (x: Tensor) => {
      let y = x.add(arange(0, 6, 1, { dtype: 'float32' }).reshape(2, 3));
      for (let i = 0; i < 6; i++) y = y.exp().sum(1, true).add(y);
      return y.sum();
    };
    const x = randn([2, 3]);
    const low = lower(jit(f, { eagerFirstCall: false }).lower(x).graph(), { fuse: { enabled: false, reducePrologue: false, maxInputs: 64, matmulEpilogue: false } });
    const k = low.kernels.findIndex((kk) => callInvariant(kk));
    expect(k).toBeGreaterThanOrEqual(0);
    const v = low.kernels[k]!.out;
    const shared = (p: ReturnType<typeof plan>) => p.slotOf.filter((s, w) => w !== v && s === p.slotOf[v]).length;
    expect(shared(plan(low, { inPlace: true }))).toBeGreaterThan(0); // by default its slot is reused
    const p = plan(low, { inPlace: true, invariant: true });
    expect([...p.invariant]).toEqual([k]);
    expect(shared(p)).toBe(0);
  });

  it('reuses temporaries by liveness: a long unfused chain needs two buffers', () => {
    const f = (x: Tensor) => {
      let y = x;
      for (let i = 0; i < 12; i++) y = y.mul(1.01).sin();
      return y.sum();
    };
    const x = randn([64]);
    const g = jit(f, { eagerFirstCall: false }).lower(x).graph();
    const low = lower(g, { fuse: { enabled: false, reducePrologue: false, maxInputs: 64, matmulEpilogue: false } });
    const p = plan(low, { inPlace: false });
    expect(p.slots.filter((s) => s.kind === 'temp').length).toBeLessThanOrEqual(2);
    const pi = plan(low, { inPlace: true });
    expect(pi.slots.filter((s) => s.kind === 'temp').length).toBe(1);
    expect(pi.inPlace).toBeGreaterThan(0);
    expectClose(arr(jit(f, { eagerFirstCall: false, fuse: false })(x)), arr(f(x)), 1e-5);
  });

  it('writes an SGD update straight into the parameter (no copy, no temporary)', () => {
    const w = randn([4, 3]).requiresGrad_();
    const step = jit((x: Tensor) => {
      w.grad = null;
      const loss = matmul(x, w).pow(2).mean();
      loss.backward();
      noGrad(() => w.sub_(w.grad!.mul(0.1)));
      return loss;
    }, { eagerFirstCall: false });
    const x = randn([5, 4]);
    const low = step.lower(x);
    expect(low.launches).toBe(low.kernels.length);
    expect(ppGraph(low.graph())).toMatchInlineSnapshot(`
      "in (args[0]: f32[5,4])
      state (s0: f32[4,3], s0.grad: f32[4,3])
      %0 = matmul args[0] s0 : f32[5,3]
      %1 = pow %0 2 : f32[5,3]
      %2 = sum %1 : f32[]
      %3 = div %2 15 : f32[]
      %4 = fill 0.06666667 : f32[5,3]
      %5 = mul 2 %0 : f32[5,3]
      %6 = mul %4 %5 : f32[5,3]
      %7 = permute args[0] [1, 0] : f32[4,5]
      %8 = matmul %7 %6 : f32[4,3]
      %9 = mul 0.1 %8 : f32[4,3]
      %10 = sub s0 %9 : f32[4,3]
      out (%3)
      s0 ← %10
      s0.grad ← %8"
    `);
  });
});

describe('printing', () => {
  it('toDot exports Graphviz with inputs, states, ops and updates', () => {
    const s = tensor([1, 2]);
    const g = jit((x: Tensor) => {
      noGrad(() => s.add_(x));
      return x.exp();
    }, { eagerFirstCall: false }).lower(tensor([3, 4])).graph();
    const dot = toDot(g);
    expect(dot).toMatch(/^digraph "jit" \{/);
    expect(dot).toContain('label="exp\\nf32[2]"');
    expect(dot).toContain('style=dashed, label="update"');
  });

  it('reports node counts before and after every pass', () => {
    const L = jit((x: Tensor) => x.mul(1).add(0).neg().neg().exp(), { eagerFirstCall: false }).lower(randn([3]));
    const names = L.passes.map((p) => p.name);
    expect(names.slice(0, 5)).toEqual(['trace', 'fold', 'simplify', 'cse', 'dce']);
    expect(names.slice(-3)).toEqual(['fuse', 'plan', 'codegen']);
    expect(L.passes[0]!.nodes).toBeGreaterThan(L.passes.find((p) => p.name === 'dce')!.nodes);
    expect(L.text()).toMatchInlineSnapshot(`
      "in (args[0]: f32[3])
      %0 = exp args[0] : f32[3]
      out (%0)"
    `);
    expect(L.kernels[0]!.source).toContain('Math.exp');
  });
});
