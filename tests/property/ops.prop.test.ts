/**
 * @file Generated from the op registry: every primitive in `prims` gets
 *  - if it has a vjp: a float64 property test of its VJP against central differences, over random
 *    shapes (0-d, size-1, broadcast), non-contiguous operands and values away from its kinks;
 *  - a forward property test against a plain-JS reference (or a custom check).
 * A primitive without an entry in `primCases` fails here (and in the type check).
 */
import './setup.ts';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { prims } from '../../src/ops/prims.ts';
import type { OpDef } from '../../src/ops/registry.ts';
import { build, describeSpec } from './arbitraries.ts';
import { expectValues } from './check.ts';
import { gradcheck, specInput } from './gradcheck.ts';
import { primCases, runCase, type PrimCase, type Sample } from './prim-cases.ts';
import { runs } from './setup.ts';

const GRAD_RUNS = runs(100);
const FORWARD_RUNS = runs(60);

const cases = primCases as Record<string, PrimCase | undefined>;
const ops = Object.entries(prims) as [string, OpDef][];

const context = (s: Sample) =>
  `attrs ${JSON.stringify(s.attrs)}` + (s.consts?.length ? `, consts ${s.consts.map((c) => `${c.dtype}[${c.shape}] ${JSON.stringify(c.values)}`).join(', ')}` : '');

describe('registry coverage', () => {
  test('every primitive has a property case, keyed by its name', () => {
    const missing = ops.filter(([, op]) => !cases[op.name]).map(([, op]) => op.name);
    expect(missing, 'primitives without an entry in tests/property/prim-cases.ts').toEqual([]);
    for (const [key, op] of ops) expect(op.name, `prims.${key} is named '${op.name}'`).toBe(key);
  });
  test('each case agrees with its op on having a vjp', () => {
    const wrong = ops.filter(([, op]) => cases[op.name] && cases[op.name]!.vjp !== !!op.vjp)
      .map(([, op]) => `${op.name}: op ${op.vjp ? 'has' : 'has no'} vjp, case says ${cases[op.name]!.vjp}`);
    expect(wrong).toEqual([]);
  });
  test('every differentiable primitive is gradient-checked', () => {
    const diff = ops.filter(([, op]) => op.vjp).map(([, op]) => op.name);
    // the count is printed so a shrinking registry is noticed too
    expect(diff.length).toBeGreaterThanOrEqual(40);
    expect(diff.filter((n) => !cases[n]?.vjp)).toEqual([]);
  });
});

describe('primitives: vjp vs central differences (float64)', () => {
  for (const [, op] of ops) {
    const c = cases[op.name];
    if (!op.vjp) continue;
    test(`${op.name} [${op.kind}]`, () => {
      if (!c) throw new Error(`no property case for differentiable primitive '${op.name}': add one to tests/property/prim-cases.ts`);
      fc.assert(
        fc.property(c.gen, fc.integer({ min: 1, max: 2 ** 31 - 1 }), (s, seed) => {
          gradcheck(op.name, (xs) => runCase(op, c, s, xs), s.xs.map(specInput), { ...c.tol, seed, context: context(s) });
        }),
        { numRuns: c.runs ?? GRAD_RUNS },
      );
    });
  }
});

describe('primitives: forward vs a plain-JS reference (float64)', () => {
  for (const [, op] of ops) {
    const c = cases[op.name];
    test(`${op.name} [${op.kind}]`, () => {
      if (!c) throw new Error(`no property case for primitive '${op.name}': add one to tests/property/prim-cases.ts`);
      if (!c.ref && !c.check) throw new Error(`case '${op.name}' has neither a reference nor a check`);
      fc.assert(
        fc.property(c.gen, (s) => {
          const out = runCase(op, c, s, s.xs.map((x) => build(x)));
          const label = `${op.name}(${s.xs.map(describeSpec).join(', ')}; ${context(s)})`;
          if (c.check) c.check(s, out);
          else expectValues(label, out, c.ref!(s), c.refTol ?? 1e-12, c.refTol ?? 1e-12);
        }),
        { numRuns: c.runs ?? FORWARD_RUNS },
      );
    });
  }
});
