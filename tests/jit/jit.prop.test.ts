/**
 * @file Property tests: jit(f)(x) equals f(x) — values and gradients — on random programs (random
 * DAGs of elementwise, reduction, view and matmul ops on random shapes; besides hand-written
 * patterns, the steps draw every primitive of the op registry with its registry case's sampled
 * shapes and attributes), with the CPU executor,
 * with fusion off, with the backend-neutral executor, and on WebGPU (its own executor: matmul
 * epilogues, reduction prologues, recomputed intermediates, in-place plans) against the CPU.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Tensor, tensor, grad, matmul } from '../../src/index.ts';
import * as F from '../../src/ops/functional.ts';
import { jit, type JitOptions } from '../../src/jit/index.ts';
import { dispatch } from '../../src/ops/dispatch.ts';
import { prims } from '../../src/ops/prims.ts';
import type { OpDef } from '../../src/ops/registry.ts';
import type { Aval } from '../../src/backend.ts';
import { gpuStatus } from '../gpu-setup.ts';
import { buildConst, primCases, type PrimCase, type Sample } from '../property/prim-cases.ts';
import { build } from '../property/arbitraries.ts';

type Step = readonly [number, number, number];
interface Program { readonly shapes: readonly (readonly number[])[]; readonly steps: readonly Step[]; readonly outs: number }

/**
 * Every elementwise primitive of the op registry that maps one or two float operands to a value
 * (sources and ops with index or mask operands excluded), with the attributes its registry case
 * generates: a new primitive joins the random programs without a line here.
 */
const REGISTRY_OPS: readonly { op: OpDef; arity: number; attrs: unknown; jumps: boolean }[] = Object.values(prims as Record<string, OpDef>)
  .filter((op) => op.kind === 'elementwise')
  .flatMap((op) => {
    const c = (primCases as Record<string, PrimCase | undefined>)[op.name];
    const sample = c ? fc.sample(c.gen, { numRuns: 1, seed: 3 })[0] : undefined;
    if (!sample || sample.consts?.length || sample.xs.length === 0) return [];
    // (cast's case picks its dtypes in code; here: float → int32 and back)
    const attrs = op === prims.cast ? { dtype: 'int32' } : sample.attrs;
    return [{ op, arity: sample.xs.length, attrs, jumps: jumps(op, sample.xs.length, attrs) }];
  });
/**
 * Every other primitive of the registry with operands (reductions, views, matmul, gather,
 * scatterAdd, cat, pad, unfold, fold, copy), as its registry case samples it once: operand shapes,
 * attributes and constant operands (indices, masks). In a program its float operands are the
 * sampled values times a scalar computed from an earlier tensor, so it joins the DAG.
 */
interface Operand { readonly values: readonly number[]; readonly shape: readonly number[]; readonly dtype: Tensor['dtype'] }
const REGISTRY_OTHER: readonly { op: OpDef; c: PrimCase; sample: Sample; xs: Operand[]; consts: Operand[] }[] = Object.values(prims as Record<string, OpDef>)
  .filter((op) => op.kind !== 'elementwise')
  .flatMap((op) => {
    const c = (primCases as Record<string, PrimCase | undefined>)[op.name];
    const sample = c ? fc.sample(c.gen, { numRuns: 1, seed: 3 })[0] : undefined;
    if (!sample || !sample.xs.length) return [];
    // (the operands' values, read here once: built inside a traced function, the views that
    // build() takes would be recorded on CPU tensors)
    const operand = (t: Tensor): Operand => ({ values: Array.from(t.dataSync() as ArrayLike<number>, Number), shape: t.shape, dtype: t.dtype });
    return [{ op, c: c!, sample, xs: sample.xs.map((spec) => operand(build(spec))), consts: (sample.consts ?? []).map((k) => operand(buildConst(k))) }];
  });
const FIXED_OPS = 26;
const EW_END = FIXED_OPS + REGISTRY_OPS.length;
const OPS = EW_END + REGISTRY_OTHER.length;

/** `t` squashed into (0.1, 0.9): inside every registry op's domain (log, sqrt, pow, div …). */
const inDomain = (t: Tensor) => t.sigmoid().mul(0.8).add(0.1);
/**
 * Whether an op's result jumps (rounding, comparisons, remainder, casts to integers): such ops
 * are applied to the program's arguments times powers of two, which every executor computes
 * exactly, since an ulp of difference in a computed operand could flip the result.
 */
function jumps(op: OpDef, arity: number, attrs: unknown): boolean {
  if (['floor', 'ceil', 'round', 'trunc', 'sign', 'remainder', 'cast'].includes(op.name)) return true;
  const avals = Array.from({ length: arity }, (): Aval => ({ shape: [1], dtype: 'float32' }));
  return op.infer(avals, attrs as never).dtype !== 'float32';
}

/** Runs a program: every step appends one tensor built from earlier ones; the last `outs` are returned. */
function run(p: Program, inputs: readonly Tensor[]): Tensor[] {
  const pool: Tensor[] = [...inputs];
  const args = [...inputs];
  const pick = (i: number) => pool[i % pool.length]!;
  const sameShape = (a: Tensor, i: number): Tensor | number => {
    const c = pool.filter((t) => t.shape.length === a.shape.length && t.shape.every((d, k) => d === a.shape[k]));
    return c.length > 1 ? c[i % c.length]! : 0.5 + (i % 7) / 4;
  };
  for (const [code, p1, p2] of p.steps) {
    const a = pick(p1);
    const nd = a.ndim;
    const dim = nd ? p2 % nd : 0;
    let out: Tensor;
    // max, min and their arg versions have no identity: over an empty tensor they are an error
    // (as in PyTorch), so an empty tensor gets a negation instead
    const c = code % OPS;
    const noIdentity = c === 13 || c === 24 || (c >= EW_END && ['amax', 'amin', 'argmax', 'argmin', 'max', 'min'].includes(REGISTRY_OTHER[c - EW_END]!.op.name));
    switch (a.numel === 0 && noIdentity ? 0 : c) {
      case 0: out = a.neg(); break;
      case 1: out = a.tanh().exp(); break;
      case 2: out = a.sin(); break;
      case 3: out = a.sigmoid(); break;
      case 4: out = a.relu().add(a.mul(0.1)); break;
      case 5: out = a.abs().add(1).log(); break;
      case 6: out = a.mul(a).add(0.5).sqrt(); break;
      case 7: out = F.add(a, sameShape(a, p2)); break;
      case 8: out = F.mul(a, sameShape(a, p2)); break;
      case 9: out = F.sub(sameShape(a, p2), a); break;
      case 10: { const b = sameShape(a, p2); out = a.div(typeof b === 'number' ? b : b.abs().add(1)); break; }
      case 11: out = F.maximum(a, sameShape(a, p2)); break;
      case 12: out = nd ? a.sum(dim, (p2 >> 3) % 2 === 1) : a.mul(2); break;
      case 13: out = nd ? a.amax(dim, true) : a.exp(); break;
      case 14: out = nd ? a.mean(dim, (p2 >> 2) % 2 === 0) : a.mean(); break;
      case 15: out = nd >= 2 ? a.transpose(dim, (dim + 1) % nd) : a.reshape(a.numel, 1); break;
      case 16: out = a.reshape(-1).reshape(...a.shape, 1).squeeze(-1); break;
      case 17: { const d = a.shape.findIndex((s) => s > 1); out = d >= 0 ? a.narrow(d, p2 % 2, a.shape[d]! - 1) : a.add(1); break; }
      case 18: out = nd === 2 ? (p2 % 2 ? matmul(a, a.t()) : matmul(a.t(), a)) : nd === 1 ? matmul(a.unsqueeze(0), a.unsqueeze(1)).squeeze() : a.mul(a); break;
      case 19: out = nd ? a.sub(a.sum(dim, true).mul(0.25)) : a.sub(0.25); break;
      case 20: out = F.where(a.gt(0), a, a.mul(0.1)); break;
      case 21: out = a.unsqueeze(0).expand(2, ...a.shape).mul(1.5); break;
      case 22: out = a.pow(2 + (p2 % 2)); break;
      case 23: out = nd ? (p2 % 2 ? a.softmax(-1) : a.logSoftmax(-1)) : a.tanh(); break;
      // max(…).values with its indices (the argmax stores the values), and a broadcast dim merged
      // by a reshape (a split view: the kernel iterates over a refined shape)
      case 24: { if (!nd) { out = a.neg(); break; } const m = p2 % 2 ? a.max(dim, true) : a.min(dim, true); out = m.values.add(m.indices.to(a.dtype).mul(0.5)); break; }
      case 25: out = nd ? a.unsqueeze(-1).expand(...a.shape, 2).reshape(...a.shape.slice(0, -1), a.shape[nd - 1]! * 2).mul(0.75) : a.mul(0.75); break;
      default: {
        if (code % OPS >= EW_END) {
          const { op, c: kase, sample, xs: xv, consts: cv } = REGISTRY_OTHER[(code % OPS) - EW_END]!;
          const m = inDomain(a).mean();
          const xs = xv.map((o) => tensor(o.values as number[], { dtype: a.dtype, device: a.device, shape: o.shape }).mul(m));
          const consts = cv.map((o) => tensor(o.values as number[], { dtype: o.dtype, device: a.device, shape: o.shape }));
          const y = kase.apply ? kase.apply(op, xs, consts, sample.attrs) : dispatch(op, xs, sample.attrs);
          // (argmax/argmin: back to a float, plus a term that keeps the DAG differentiable)
          out = y.dtype === a.dtype ? y : y.to(a.dtype).add(m);
          break;
        }
        const r = REGISTRY_OPS[(code % OPS) - FIXED_OPS]!;
        if (r.jumps) {
          const x = args[p1 % args.length]!;
          const operands = [x.mul(4)];
          for (let k = 1; k < r.arity; k++) {
            const other = args.find((t, i) => i !== p1 % args.length && t.ndim === x.ndim && t.shape.every((d, j) => d === x.shape[j]));
            operands.push(r.op.name === 'remainder' ? F.fullLike(x, 0.75) : k === 1 && other ? other.mul(2) : x.mul(-0.5));
          }
          // (back to a float, plus a differentiable term for the gradient properties)
          out = dispatch(r.op, operands, r.attrs).to(x.dtype).add(x.mul(0.5));
        } else {
          const operands = [inDomain(a)];
          for (let k = 1; k < r.arity; k++) {
            const b = sameShape(a, p2 + k);
            operands.push(inDomain(typeof b === 'number' ? a.mul(b) : b));
          }
          out = dispatch(r.op, operands, r.attrs);
        }
      }
    }
    pool.push(out);
  }
  return pool.slice(-p.outs);
}

const shapeArb = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 0, maxLength: 3 });
const programArb: fc.Arbitrary<Program> = fc.record({
  shapes: fc.array(shapeArb, { minLength: 1, maxLength: 3 }),
  steps: fc.array(fc.tuple(fc.nat(OPS * 4), fc.nat(1000), fc.nat(1000)), { minLength: 1, maxLength: 10 }),
  outs: fc.integer({ min: 1, max: 2 }),
});

let seed = 11;
const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
const inputsFor = (p: Program, dtype: 'float32' | 'float64') =>
  p.shapes.map((s) => tensor(Array.from({ length: s.reduce((a, b) => a * b, 1) }, rnd), { dtype, shape: s }).reshape(s));

function expectClose(got: readonly Tensor[], want: readonly Tensor[], tol: number): void {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => {
    const w = want[i]!;
    expect(g.shape).toEqual(w.shape);
    const a = g.dataSync(), b = w.dataSync();
    for (let k = 0; k < a.length; k++) {
      const x = a[k]!, y = b[k]!;
      if (Number.isNaN(y)) expect(Number.isNaN(x)).toBe(true);
      else expect(Math.abs(x - y)).toBeLessThanOrEqual(tol * (1 + Math.abs(y)));
    }
  });
}

const settings = { numRuns: Number(process.env.JIT_PROP_RUNS ?? 60), seed: Number(process.env.JIT_PROP_SEED ?? 5), endOnFailure: true } as const;

describe('jit(f)(x) equals f(x) on random programs', () => {
  const configs: [string, JitOptions, number][] = [
    ['CPU executor (fused)', {}, 1e-5],
    ['fusion off', { fuse: false }, 1e-5],
    ['backend-neutral executor (executor: generic)', { executor: 'generic' }, 1e-5],
    ['no graph passes', { fold: false, simplify: false, cse: false }, 1e-5],
  ];
  for (const [name, opts, tol] of configs) {
    it(`values: ${name}`, () => {
      fc.assert(fc.property(programArb, (p) => {
        const xs = inputsFor(p, 'float32');
        const f = (...a: Tensor[]) => run(p, a);
        expectClose(jit(f, { ...opts, eagerFirstCall: false })(...xs), f(...xs), tol);
      }), settings);
    });
  }

  it('gradients (float64): grad of a weighted sum of the outputs w.r.t. every input', () => {
    fc.assert(fc.property(programArb, (p) => {
      const xs = inputsFor(p, 'float64').map((t) => t.requiresGrad_());
      const f = (...a: Tensor[]) => {
        const outs = run(p, a);
        const loss = outs.map((o, i) => o.mul(1 + i).sum()).reduce((s, t) => s.add(t));
        const gs = grad(loss, a, { allowUnused: true }).map((g, i) => g ?? F.zerosLike(a[i]!));
        return [loss, ...gs];
      };
      expectClose(jit(f, { eagerFirstCall: false })(...xs), f(...xs), 1e-10);
    }), { ...settings, numRuns: Math.ceil(settings.numRuns / 1.5) });
  });

  it('gradients through a compiled function from outside (its outputs carry a tape node)', () => {
    fc.assert(fc.property(programArb, (p) => {
      seed = 7;
      const xe = inputsFor(p, 'float64').map((t) => t.requiresGrad_());
      seed = 7;
      const xj = inputsFor(p, 'float64').map((t) => t.requiresGrad_());
      const f = (...a: Tensor[]) => run(p, a);
      const loss = (outs: Tensor[]) => outs.filter((o) => o.requiresGrad).map((o, i) => o.mul(1 + i).sum()).reduce((s, t) => s.add(t), F.zeros([], { dtype: 'float64' }));
      const le = loss(f(...xe)), lj = loss(jit(f, { eagerFirstCall: false })(...xj));
      if (!le.requiresGrad) return;
      le.backward();
      lj.backward();
      xe.forEach((x, i) => {
        if (x.grad) expectClose([xj[i]!.grad!], [x.grad], 1e-10);
      });
    }), { ...settings, numRuns: Math.ceil(settings.numRuns / 2) });
  });

  it('backward() inside the traced function fills .grad of the arguments like eager', () => {
    fc.assert(fc.property(programArb, (p) => {
      const mk = () => inputsFor(p, 'float64').map((t) => t.requiresGrad_());
      seed = 99;
      const xe = mk();
      seed = 99;
      const xj = mk();
      const f = (...a: Tensor[]) => {
        const loss = run(p, a).map((o) => o.sum()).reduce((s, t) => s.add(t));
        loss.backward();
        return loss;
      };
      const le = f(...xe), lj = jit(f, { eagerFirstCall: false })(...xj);
      expectClose([lj], [le], 1e-10);
      xe.forEach((x, i) => {
        if (x.grad) expectClose([xj[i]!.grad!], [x.grad], 1e-10);
        else expect(xj[i]!.grad).toBeNull();
      });
    }), { ...settings, numRuns: Math.ceil(settings.numRuns / 2) });
  });
});

const gpu = await gpuStatus();

describe.skipIf(!gpu.ok)('jit(f)(x) on WebGPU equals f(x) on the CPU on random programs', () => {
  // WebGPU readback is asynchronous: sample the programs, then check them one by one
  const programs = fc.sample(programArb, { numRuns: Math.ceil(settings.numRuns / 2), seed: settings.seed + 1 });
  const close = async (got: readonly Tensor[], want: readonly Tensor[], tol: number, what: string) => {
    expect(got.length).toBe(want.length);
    for (let i = 0; i < got.length; i++) {
      expect(got[i]!.device).toBe('webgpu');
      expect(got[i]!.shape).toEqual(want[i]!.shape);
      const a = await got[i]!.data(), b = want[i]!.dataSync();
      for (let k = 0; k < b.length; k++) {
        const x = a[k]!, y = b[k]!;
        if (Number.isNaN(y)) expect(Number.isNaN(x), `${what}: output ${i}[${k}]`).toBe(true);
        else expect(Math.abs(x - y), `${what}: output ${i}[${k}] is ${x}, expected ${y}`).toBeLessThanOrEqual(tol * (1 + Math.abs(y)));
      }
    }
  };

  it('values', async () => {
    for (const [n, p] of programs.entries()) {
      const xs = inputsFor(p, 'float32');
      const f = (...a: Tensor[]) => run(p, a);
      await close(jit(f, { eagerFirstCall: false })(...xs.map((x) => x.to('webgpu'))), f(...xs), 1e-4, `program ${n}`);
    }
  }, 120_000);

  it('values over four calls with fresh inputs (calls after the second replay recorded commands)', async () => {
    let replayed = 0;
    for (const [n, p] of programs.entries()) {
      const f = (...a: Tensor[]) => run(p, a);
      const j = jit(f, { eagerFirstCall: false });
      for (let c = 0; c < 4; c++) {
        const xs = inputsFor(p, 'float32');
        await close(j(...xs.map((x) => x.to('webgpu'))), f(...xs), 1e-4, `program ${n}, call ${c}`);
      }
      replayed += j.lower(...inputsFor(p, 'float32').map((x) => x.to('webgpu'))).replay?.calls ?? 0;
    }
    // the programs have no random kernels: every one replays calls 2..4
    expect(replayed).toBe(programs.length * 3);
  }, 120_000);

  it('gradients: grad of a weighted sum of the outputs w.r.t. every input', async () => {
    for (const [n, p] of programs.slice(0, Math.ceil(programs.length / 2)).entries()) {
      const xs = inputsFor(p, 'float32');
      const f = (...a: Tensor[]) => {
        const outs = run(p, a);
        const loss = outs.map((o, i) => o.mul(1 + i).sum()).reduce((s, t) => s.add(t));
        const gs = grad(loss, a, { allowUnused: true }).map((g, i) => g ?? F.zerosLike(a[i]!));
        return [loss, ...gs];
      };
      const want = f(...xs.map((x) => x.detach().requiresGrad_()));
      const got = jit(f, { eagerFirstCall: false })(...xs.map((x) => x.to('webgpu').requiresGrad_()));
      await close(got, want, 2e-3, `program ${n} (gradients)`);
    }
  }, 120_000);
});
