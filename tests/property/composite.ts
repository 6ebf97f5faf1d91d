/**
 * @file The shape of a composite-op property case (public functions built from primitives), and
 * the test body shared by composites.prop.test.ts and nn.prop.test.ts.
 */
import fc from 'fast-check';
import { describe, test } from 'vitest';
import type { Tensor } from '../../src/index.ts';
import { build, describeSpec, logical, type TensorSpec } from './arbitraries.ts';
import { expectValues, type Expected } from './check.ts';
import { gradcheck, specInput, type GradcheckOptions } from './gradcheck.ts';

export interface CompositeSample<A> {
  /** differentiable operands */
  readonly xs: readonly TensorSpec[];
  /** everything else: dims, options, index data (plain data) */
  readonly a: A;
}

export interface Composite<A> {
  readonly name: string;
  readonly gen: fc.Arbitrary<CompositeSample<A>>;
  readonly f: (xs: readonly Tensor[], a: A) => Tensor | readonly Tensor[];
  /** plain-JS forward reference, given the operands' logical values */
  readonly ref?: (vals: readonly number[][], s: CompositeSample<A>) => Expected | readonly Expected[];
  readonly refTol?: number;
  readonly tol?: GradcheckOptions;
  readonly runs?: number;
}

/** Erases a case's attribute type (keeps it checked where the case is written). */
export function composite<A>(c: Composite<A>): Composite<unknown> {
  return c as Composite<unknown>;
}

const asList = <T>(x: T | readonly T[]): readonly T[] => (Array.isArray(x) ? (x as readonly T[]) : [x as T]);

/** Registers, per case, a gradcheck property and (when it has one) a forward-reference property. */
export function compositeSuite(title: string, cases: readonly Composite<unknown>[], gradRuns: number, forwardRuns: number): void {
  describe(`${title}: vjp vs central differences (float64)`, () => {
    for (const c of cases) {
      test(c.name, () => {
        fc.assert(
          fc.property(c.gen, fc.integer({ min: 1, max: 2 ** 31 - 1 }), (s, seed) => {
            gradcheck(c.name, (xs) => c.f(xs, s.a), s.xs.map(specInput), { ...c.tol, seed, context: `args ${JSON.stringify(s.a)}` });
          }),
          { numRuns: c.runs ?? gradRuns },
        );
      });
    }
  });
  describe(`${title}: forward vs a plain-JS reference (float64)`, () => {
    for (const c of cases) {
      if (!c.ref) continue;
      test(c.name, () => {
        fc.assert(
          fc.property(c.gen, (s) => {
            const outs = asList(c.f(s.xs.map((x) => build(x)), s.a));
            const exps = asList(c.ref!(s.xs.map(logical), s));
            if (outs.length !== exps.length) throw new Error(`${c.name}: ${outs.length} outputs, expected ${exps.length}`);
            const label = `${c.name}(${s.xs.map(describeSpec).join(', ')}; args ${JSON.stringify(s.a)})`;
            outs.forEach((o, k) => expectValues(`${label} output ${k}`, o, exps[k]!, c.refTol ?? 1e-10, c.refTol ?? 1e-10));
          }),
          { numRuns: c.runs ?? forwardRuns },
        );
      });
    }
  });
}
