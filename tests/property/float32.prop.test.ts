/**
 * @file float32 results agree with float64 ones for every elementwise, reduce and matmul
 * primitive of the registry. Inputs are rounded to float32 first, so both runs see the same
 * numbers and only the arithmetic differs. The suite runs twice: with the JavaScript kernels
 * (which evaluate in double and round once) and with every contiguous float32 elementwise run
 * forced onto the WebAssembly SIMD kernels (src/cpu/wasm/elementwise.ts, which round each
 * operation to float32 and use polynomial exp/log/sigmoid/tanh).
 *
 * Stated tolerances (u = 2⁻²⁴, the float32 unit roundoff; one ulp of y is at most 2u·|y|):
 *
 * - elementwise:  |y32 − y64| ≤ 2u·|y64| with the JS kernels (one rounding, with slack),
 *                 ≤ 8u·|y64| (4 ulp) with the WASM kernels (they document ≤ 2 ulp from JS)
 * - exact:        y32 = y64                               (comparisons, selection, max/min, arg*)
 * - sum:          |y32 − y64| ≤ (n + 1)·u·Σ|x|            (n = elements per output)
 * - prod:         |y32 − y64| ≤ (n + 1)·u·|y64|
 * - matmul:       |y32 − y64| ≤ (K + 1)·u·(|A|·|B|)ᵢⱼ
 *
 * plus 1e-44 absolute for subnormal results. The sources (full, arange, randUniform) are checked
 * separately below.
 */
import './setup.ts';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Tensor } from '../../src/index.ts';
import { setWasmElementwiseMin, wasmElementwiseEnabled, wasmElementwiseStats } from '../../src/cpu/wasm/elementwise.ts';
import { dispatch } from '../../src/ops/dispatch.ts';
import { prims } from '../../src/ops/prims.ts';
import type { OpDef } from '../../src/ops/registry.ts';
import { fmtValues, mapBroadcast } from '../helpers/ndarray.ts';
import { build, describeSpec, logical, shapeArb } from './arbitraries.ts';
import { primCases, readValues, runCase, type F32Class, type PrimCase, type Sample } from './prim-cases.ts';
import { runs } from './setup.ts';

const U = 2 ** -24;
const TINY = 1e-44;
const cases = primCases as Record<string, PrimCase>;

/** The class used here: `none` in the table means "not an arithmetic kernel"; map the few that still are. */
const classOf = (name: string, c: PrimCase): F32Class | 'source' => {
  if (name === 'full' || name === 'arange' || name === 'randUniform') return 'source';
  if (name === 'remainder') return 'elementwise';
  if (name === 'cast') return 'exact';
  return c.f32;
};

const rounded = (s: Sample): Sample => ({ ...s, xs: s.xs.map((x) => ({ ...x, base: x.base.map(Math.fround) })) });
const absSample = (s: Sample): Sample => ({ ...s, xs: s.xs.map((x) => ({ ...x, base: x.base.map(Math.abs) })) });

/**
 * The fused updates sum terms (x + v·a/b…): their rounding errors scale with the terms, not with
 * the result, which cancellation can make much smaller (x = −1.16, v·a/b = 0.84 → −0.32). The
 * sum of the terms' magnitudes, per element.
 */
const TERMS: Partial<Record<string, (v: readonly number[]) => number>> = {
  lerp: ([a, b, w]) => Math.abs(a!) + Math.abs(w!) * (Math.abs(a!) + Math.abs(b!)),
  addcmul: ([x, a, b, v]) => Math.abs(x!) + Math.abs(v! * a! * b!),
  addcdiv: ([x, a, b, v]) => Math.abs(x!) + Math.abs(v! * (a! / b!)),
  // the terms, plus 1 for the rounding of 1 − p and 1 − y (an error of the inputs' size, which
  // log(1 − p) passes on unscaled when 1 − p is near 1)
  binaryCrossEntropy: ([p, y]) => Math.abs(y! * Math.log(p!)) + Math.abs((1 - y!) * Math.log(1 - p!)) + 1,
};

function bounds(cls: F32Class, c: PrimCase, s: Sample, y64: readonly number[], elementwiseUlps: number, name: string): number[] {
  switch (cls) {
    case 'elementwise': {
      const terms = TERMS[name];
      const scale = terms ? mapBroadcast(s.xs.map((x) => ({ values: logical(x), shape: x.shape })), (...v) => terms(v)).values : null;
      return y64.map((y, i) => 2 * elementwiseUlps * U * Math.max(Math.abs(y), scale ? scale[i]! : 0) + TINY);
    }
    case 'exact': case 'none': return y64.map(() => 0);
    case 'sum': {
      const { dims } = s.attrs as { dims: number[] };
      const n = dims.reduce((a, d) => a * s.xs[0]!.shape[d]!, 1);
      return c.ref!(absSample(s)).values.map((m) => (n + 1) * U * m + TINY);
    }
    case 'prod': {
      const { dims } = s.attrs as { dims: number[] };
      const n = dims.reduce((a, d) => a * s.xs[0]!.shape[d]!, 1);
      return y64.map((y) => (n + 1) * U * Math.abs(y) + TINY);
    }
    case 'matmul': {
      const k = s.xs[0]!.shape[s.xs[0]!.shape.length - 1]!;
      return c.ref!(absSample(s)).values.map((m) => (k + 1) * U * m + TINY);
    }
    default: return cls satisfies never;
  }
}

const arithmetic = (Object.entries(prims) as [string, OpDef][]).filter(([, op]) => op.kind === 'elementwise' || op.kind === 'reduce' || op.kind === 'matmul');

interface Mode { readonly name: string; readonly wasmMin: number | null; readonly ulps: number }
const MODES: readonly Mode[] = [
  { name: 'JS kernels', wasmMin: Infinity, ulps: 1 },
  { name: 'WebAssembly SIMD elementwise kernels', wasmMin: 1, ulps: 4 },
];

describe('float32 agrees with float64 (inputs rounded to float32)', () => {
  test('covers every elementwise, reduce and matmul primitive', () => {
    expect(arithmetic.filter(([name]) => !cases[name]).map(([n]) => n)).toEqual([]);
    expect(arithmetic.length).toBeGreaterThanOrEqual(50);
  });

  for (const mode of MODES) {
    describe(mode.name, () => {
      let prev: number | null = null;
      let runsBefore = 0;
      beforeAll(() => {
        if (mode.wasmMin === 1 && !wasmElementwiseEnabled()) throw new Error('WebAssembly SIMD is not available here: the WASM kernels cannot be checked');
        prev = setWasmElementwiseMin(mode.wasmMin!);
        runsBefore = wasmElementwiseStats().runs;
      });
      afterAll(() => {
        if (prev !== null) setWasmElementwiseMin(prev);
      });

      for (const [name, op] of arithmetic) {
        const c = cases[name];
        if (!c) continue;
        const cls = classOf(name, c);
        if (cls === 'source') continue;
        test(`${name} [${cls}]`, () => {
          fc.assert(
            fc.property(c.gen, (s0) => {
              const s = rounded(s0);
              const y64: Tensor = runCase(op, c, s, s.xs.map((x) => build(x, 'float64')));
              const y32: Tensor = runCase(op, c, s, s.xs.map((x) => build(x, 'float32')));
              if (y64.dtype === 'float64' && name !== 'cast') expect(y32.dtype).toBe('float32');
              expect(y32.shape).toEqual(y64.shape);
              const a = readValues(y32), b = readValues(y64);
              const tol = bounds(cls, c, s, b, mode.ulps, name);
              a.forEach((v, i) => {
                const e = b[i]!;
                const ok = Number.isNaN(e) ? Number.isNaN(v) : !Number.isFinite(e) ? v === e : Math.abs(v - e) <= tol[i]!;
                if (!ok) {
                  throw new Error(
                    `${name} (${cls}, ${mode.name}): element ${i} float32 ${v} vs float64 ${e}, |diff| ${Math.abs(v - e)} > ${tol[i]}\n` +
                      `  inputs ${s.xs.map(describeSpec).join(', ')}; attrs ${JSON.stringify(s.attrs)}\n  f32 ${fmtValues(a)}\n  f64 ${fmtValues(b)}`,
                  );
                }
              });
            }),
            { numRuns: c.runs ?? runs(40) },
          );
        });
      }

      if (mode.wasmMin === 1) {
        test('the WASM kernels actually ran', () => {
          expect(wasmElementwiseStats().runs).toBeGreaterThan(runsBefore);
          expect(wasmElementwiseStats().failed).toBe(0);
        });
      }
    });
  }

  test('full, arange and randUniform in float32 are the float64 values rounded once', () => {
    fc.assert(
      fc.property(shapeArb({ minDim: 0 }), fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.integer({ min: -50, max: 50 }), fc.double({ min: -3, max: 3, noNaN: true }), fc.integer({ min: 0, max: 40 }), fc.nat(), (shape, value, start, step, size, seed) => {
        const run = (op: OpDef, attrs: object) => readValues(dispatch(op, [], attrs, 'cpu'));
        const f32 = run(prims.full, { shape, value, dtype: 'float32' });
        expect(f32.every((v) => v === Math.fround(value))).toBe(true);
        const a32 = run(prims.arange, { start, step, size, dtype: 'float32' });
        const a64 = run(prims.arange, { start, step, size, dtype: 'float64' });
        // start + i·step in float32 arithmetic: a few roundings of values up to |start| + size·|step|
        // (plus the step's own rounding to float32, which is far coarser than U for a subnormal step)
        a32.forEach((v, i) => expect(Math.abs(v - a64[i]!)).toBeLessThanOrEqual(4 * U * (Math.abs(start) + i * Math.abs(step)) + i * Math.abs(Math.fround(step) - step) + TINY));
        const r32 = run(prims.randUniform, { shape, seed, dtype: 'float32' });
        const r64 = run(prims.randUniform, { shape, seed, dtype: 'float64' });
        expect(r32).toEqual(r64);
      }),
      { numRuns: runs(40) },
    );
  });
});
