/**
 * @file Every primitive of the registry on WebGPU against the CPU, forward and backward, on
 * random inputs: broadcast and size-1 shapes, non-contiguous views (permuted, strided slices,
 * expanded leaves), NaN/±Inf/−0/huge values, and int32 operands where the op takes them.
 *
 * Inputs come from the property suite's per-primitive generators (tests/property/prim-cases.ts,
 * typed `satisfies Record<PrimName, …>`), so a new primitive is covered here as soon as it has a
 * case there; a registry entry without one fails below. Both devices get float32 copies of the
 * same leaves and run the same op; gradients are taken with respect to the leaves, so the views'
 * own backward rules run on the GPU too.
 */
import { gpuStatus, expectAllClose } from './gpu-setup.ts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { grad, tensor, type Device, type Tensor } from '../src/index.ts';
import { dispatch } from '../src/ops/dispatch.ts';
import { getBackend } from '../src/backend.ts';
import type { GpuBackend } from '../src/gpu/backend.ts';
import * as F from '../src/ops/functional.ts';
import { prims, type PrimName } from '../src/ops/prims.ts';
import type { OpDef } from '../src/ops/registry.ts';
import { primCases, buildConst, type PrimCase, type Sample } from './property/prim-cases.ts';
import { shapeArb, tensorArb, viewOf, type TensorSpec } from './property/arbitraries.ts';

const gpu = await gpuStatus();
const SEED = process.env.PROP_SEED !== undefined ? Number(process.env.PROP_SEED) : process.env.CI ? 0x9d0_4ee : undefined;
const RUNS = Number(process.env.GPU_PROP_RUNS ?? 12);

type Apply = (op: OpDef, xs: readonly Tensor[], consts: readonly Tensor[], attrs: any, device: Device) => Tensor;
interface GpuCase {
  readonly gen: fc.Arbitrary<Sample>;
  readonly apply?: Apply;
  /** forward tolerance (relative, absolute) */
  readonly tol?: readonly [number, number];
  /** skip the int32 variant */
  readonly noInt?: boolean;
  readonly vjp: boolean;
}

const f32Dtypes = fc.constantFrom('float32' as const, 'int32' as const, 'bool' as const);
const source: Apply = (op, _xs, _c, attrs, device) => dispatch(op, [], attrs, device);

/** WebGPU-specific generators (float64 does not exist there) and tolerances; the rest come from primCases. */
const overrides: Partial<Record<PrimName, Partial<GpuCase>>> = {
  full: {
    gen: fc.tuple(shapeArb({ minDim: 0 }), fc.integer({ min: -5, max: 5 }), fc.double({ min: -3, max: 3, noNaN: true }), f32Dtypes)
      .map(([shape, i, v, dtype]): Sample => ({ xs: [], attrs: { shape, value: dtype === 'float32' ? v : i, dtype } })),
    apply: source,
  },
  arange: {
    gen: fc.tuple(fc.integer({ min: -5, max: 5 }), fc.integer({ min: -3, max: 3 }).filter((s) => s !== 0), fc.integer({ min: 0, max: 300 }), fc.constantFrom('float32' as const, 'int32' as const), fc.boolean())
      .map(([start, step, size, dtype, frac]): Sample => ({
        xs: [],
        attrs: dtype === 'int32' || !frac ? { start, step, size, dtype } : { start: start + 0.25, step: step * 0.5, size, dtype },
      })),
    apply: source,
  },
  randUniform: {
    gen: fc.tuple(shapeArb({ minDim: 0, maxDim: 40 }), fc.integer({ min: 0, max: 0xffffffff }))
      .map(([shape, seed]): Sample => ({ xs: [], attrs: { shape, seed, dtype: 'float32' } })),
    apply: source,
    tol: [0, 0],
  },
  cast: {
    gen: fc.tuple(tensorArb({}, { domain: 'real' }), fc.constantFrom('float32' as const, 'int32' as const, 'bool' as const), fc.double({ min: -4, max: 4, noNaN: true }))
      .map(([x, dtype, scale]): Sample => ({ xs: [{ ...x, base: x.base.map((v) => v * 10 ** scale) }], attrs: { dtype } })),
    apply: (op, [x], _c, attrs) => dispatch(op, [x!], attrs),
    tol: [0, 0],
  },
  // WGSL's transcendental functions are accurate to a few ulp, not correctly rounded
  exp: { tol: [2e-5, 1e-6] }, log: { tol: [2e-5, 1e-6] }, sin: { tol: [2e-5, 2e-6] }, cos: { tol: [2e-5, 2e-6] },
  tanh: { tol: [2e-5, 1e-6] }, sigmoid: { tol: [2e-5, 1e-6] }, log1p: { tol: [2e-5, 1e-6] }, expm1: { tol: [2e-5, 1e-6] },
  erf: { tol: [1e-5, 3e-7] }, pow: { tol: [5e-5, 1e-6] },
  // f32 accumulation on the GPU vs double on the CPU
  sum: { tol: [1e-5, 1e-5] }, prod: { tol: [1e-5, 1e-6], noInt: true }, matmul: { tol: [1e-5, 1e-5] },
};

function caseFor(name: string): GpuCase | null {
  const base = (primCases as Record<string, PrimCase>)[name];
  const o = overrides[name as PrimName] ?? {};
  if (!base && !o.gen) return null;
  return {
    vjp: base?.vjp ?? false,
    gen: o.gen ?? base!.gen,
    apply: o.apply ?? (base?.apply ? (op, xs, c, a) => base.apply!(op, xs, c, a) : undefined),
    tol: o.tol ?? [1e-5, 1e-6],
    noInt: o.noInt,
  };
}

function leaf(spec: TensorSpec, device: Device, dtype: 'float32' | 'int32', values: readonly number[]): Tensor {
  const arr = dtype === 'int32' ? Int32Array.from(values, (v) => v | 0) : Float32Array.from(values);
  return tensor(arr, { shape: spec.baseShape, dtype, device });
}

interface Built { leaves: Tensor[]; xs: Tensor[]; consts: Tensor[] }
function buildOn(s: Sample, device: Device, dtype: 'float32' | 'int32', values: readonly (readonly number[])[], requiresGrad: boolean): Built {
  const leaves = s.xs.map((x, i) => {
    const l = leaf(x, device, dtype, values[i]!);
    if (requiresGrad) l.requiresGrad = true;
    return l;
  });
  const xs = s.xs.map((x, i) => viewOf(x, leaves[i]!));
  const consts = (s.consts ?? []).map((c) => (device === 'cpu' ? buildConst(c) : buildConst(c).to(device)));
  return { leaves, xs, consts };
}

function run(op: OpDef, c: GpuCase, s: Sample, b: Built, device: Device): Tensor {
  return c.apply ? c.apply(op, b.xs, b.consts, s.attrs, device) : dispatch(op, b.xs, s.attrs);
}

/** max(1, largest finite |v|): the scale of absolute tolerances. */
function maxAbs(vals: ArrayLike<number>): number {
  let m = 1;
  for (let i = 0; i < vals.length; i++) {
    const v = Math.abs(Number(vals[i]));
    if (v > m && Number.isFinite(v)) m = v;
  }
  return m;
}

/** A deterministic cotangent for an output shape. */
function cotangent(shape: readonly number[], device: Device): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 13) / 8 - 0.75);
  return tensor(v, { shape, device });
}

async function compare(name: string, op: OpDef, c: GpuCase, s: Sample, values: readonly (readonly number[])[], dtype: 'float32' | 'int32', backward: boolean): Promise<void> {
  // gradients flow only between float dtypes (a cast to int32/bool has none)
  const withGrad = backward && c.vjp && dtype === 'float32' && !(name === 'cast' && (s.attrs as { dtype: string }).dtype !== 'float32');
  const cpu = buildOn(s, 'cpu', dtype, values, withGrad);
  const gp = buildOn(s, 'webgpu', dtype, values, withGrad);
  const outC = run(op, c, s, cpu, 'cpu');
  const outG = run(op, c, s, gp, 'webgpu');
  expect(outG.shape, `${name}: shape`).toEqual(outC.shape);
  expect(outG.dtype, `${name}: dtype`).toBe(outC.dtype);
  const [rtol, atol] = c.tol ?? [1e-5, 1e-6];
  const wantC = outC.dataSync();
  const scale = maxAbs(wantC);
  expectAllClose(`${name} forward (${dtype})`, await outG.data(), wantC, rtol, atol * scale);
  if (!withGrad || !(outC.dtype === 'float32') || !outC.requiresGrad) return;
  const lossC = F.sum(F.mul(outC, cotangent(outC.shape, 'cpu')));
  const lossG = F.sum(F.mul(outG, cotangent(outG.shape, 'webgpu')));
  const gC = grad(lossC, cpu.leaves, { allowUnused: true });
  const gG = grad(lossG, gp.leaves, { allowUnused: true });
  for (let i = 0; i < gC.length; i++) {
    const a = gG[i], e = gC[i];
    if (!e || !a) { expect(!!a, `${name}: gradient ${i} present on webgpu iff on cpu`).toBe(!!e); continue; }
    const ev = e.dataSync();
    const gs = maxAbs(ev);
    expect(a.device).toBe('webgpu');
    expectAllClose(`${name} gradient of operand ${i}`, await a.data(), ev, Math.max(rtol, 2e-5), Math.max(atol, 1e-5) * gs);
  }
}

const SPECIALS = [NaN, Infinity, -Infinity, 0, -0, 1e30, -1e30, 3.5e38];
/**
 * Ops that legitimately differ on huge finite inputs: the CPU accumulates in double, so products
 * like 1e30·1e30 that overflow float32 on the GPU stay finite there; WGSL's sin/cos are accurate
 * only for moderate arguments (lavapipe gives sin(1e30) = -1).
 */
const NO_HUGE = new Set(['matmul', 'sum', 'prod', 'fold', 'scatterAdd', 'sin', 'cos']);
/** A sample with some leaf values replaced by NaN, ±Inf, −0 and huge numbers. */
function withSpecials(gen: fc.Arbitrary<Sample>, specials: readonly number[]): fc.Arbitrary<{ s: Sample; values: number[][] }> {
  return gen.chain((s) => {
    const n = s.xs.reduce((a, x) => a + x.base.length, 0);
    return fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(...specials)), { minLength: n, maxLength: n })
      .map((picks) => {
        let k = 0;
        const values = s.xs.map((x) => x.base.map((v) => { const [p, sp] = picks[k++]!; return p < 0.25 ? sp : v; }));
        return { s, values };
      });
  });
}

/** Whether the op accepts int32 for every (non-constant) operand. */
function takesInt(op: OpDef, s: Sample, c: GpuCase): boolean {
  if (s.xs.length === 0 || c.noInt) return false;
  try {
    const avals = s.xs.map((x) => ({ shape: x.shape, dtype: 'int32' as const }));
    const consts = (s.consts ?? []).map((k) => ({ shape: k.shape, dtype: k.dtype }));
    const ins = op.name === 'where' ? [...consts, ...avals] : op.name === 'gather' ? [avals[0]!, consts[0]!]
      : op.name === 'scatterAdd' ? [avals[0]!, consts[0]!, avals[1]!] : avals;
    op.infer(ins, s.attrs as never);
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!gpu.ok)('webgpu vs cpu, every primitive of the registry', () => {
  it('has a generator for every primitive', () => {
    const missing = Object.keys(prims).filter((n) => !caseFor(n));
    expect(missing, 'primitives without a case in tests/property/prim-cases.ts').toEqual([]);
  });

  for (const [name, op] of Object.entries(prims) as [PrimName, OpDef][]) {
    const c = caseFor(name);
    if (!c) continue;
    const opts = { numRuns: RUNS, ...(SEED !== undefined ? { seed: SEED } : {}), endOnFailure: true };

    it(`${name}: float32 forward${c.vjp ? ' and backward' : ''}`, async () => {
      await fc.assert(fc.asyncProperty(c.gen, (s) => compare(name, op, c, s, s.xs.map((x) => x.base), 'float32', true)), opts);
    });

    if (op.kind !== 'view' && name !== 'full' && name !== 'arange' && name !== 'randUniform') {
      it(`${name}: NaN, ±Inf, −0 and huge inputs`, async () => {
        await fc.assert(fc.asyncProperty(withSpecials(c.gen, NO_HUGE.has(name) ? SPECIALS.filter((v) => !Number.isFinite(v) || Math.abs(v) < 1e20) : SPECIALS), ({ s, values }) => compare(name, op, c, s, values, 'float32', false)), opts);
      });
    }

    if (name === 'matmul') {
      // the workgroup-memory template is what GPUs get; force it here, on whatever adapter this is
      it('matmul: the workgroup-memory variant (for GPUs), forward and backward, float32 and int32', async () => {
        const rt = (getBackend('webgpu') as GpuBackend).rt;
        rt.matmulVariant = 'workgroup';
        try {
          await fc.assert(fc.asyncProperty(c.gen, async (s) => {
            await compare(name, op, c, s, s.xs.map((x) => x.base), 'float32', true);
            await compare(name, op, c, s, s.xs.map((x) => x.base.map((v) => Math.round(v * 3))), 'int32', false);
          }), opts);
        } finally {
          rt.matmulVariant = 'auto';
        }
      });
    }

    it(`${name}: int32 operands where the op takes them`, async () => {
      await fc.assert(fc.asyncProperty(c.gen, async (s) => {
        if (!takesInt(op, s, c)) return;
        await compare(name, op, c, s, s.xs.map((x) => x.base.map((v) => Math.round(v * 3))), 'int32', false);
      }), opts);
    });
  }
});

describe.skipIf(!gpu.ok)('webgpu remainder by a subnormal divisor', () => {
  it('is exact, eager and compiled (frexp/ldexp flushed the divisor: 1 % 1e-39 read 6e-19)', async () => {
    const { jit } = await import('../src/jit/index.ts');
    const a = [1, -1, 5e-39, 3e38, 7, -2.5e-38], b = [1e-39, 1e-39, 1e-45, 1e-38, -3e-40, 7e-39];
    const want = F.remainder(tensor(a), tensor(b)).dataSync();
    // |r| < |b|, with b's sign (Python's rule), as the CPU computes it exactly
    want.forEach((r, i) => {
      expect(Math.abs(r)).toBeLessThan(Math.abs(Math.fround(b[i]!)));
      expect(r === 0 || Math.sign(r) === Math.sign(b[i]!)).toBe(true);
    });
    const ga = tensor(a, { device: 'webgpu' }), gb = tensor(b, { device: 'webgpu' });
    expect(Array.from(await F.remainder(ga, gb).data())).toEqual(Array.from(want));
    const f = jit((x: Tensor, y: Tensor) => F.remainder(x, y), { eagerFirstCall: false });
    expect(Array.from(await f(ga, gb).data())).toEqual(Array.from(want));
  });
});
