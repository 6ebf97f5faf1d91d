/**
 * @file Shared fast-check configuration for the property suites. Import it first in every
 * `*.prop.test.ts`.
 *
 * - In CI (`process.env.CI` set) every suite runs with a fixed seed, so a red build replays.
 * - `PROP_SEED=n` fixes the seed locally (fast-check prints the seed and path of any failure;
 *   pass both back through `fc.assert(…, { seed, path })` to replay one case).
 * - `PROP_RUNS=x` scales every suite's run counts (e.g. `PROP_RUNS=10` for a long soak).
 */
// the library's entry first: it registers the CPU backend and fixes the ops' module init order
import '../../src/index.ts';
import fc from 'fast-check';

export const CI_SEED = 0x7a9e_9ad;
const envSeed = process.env.PROP_SEED !== undefined ? Number(process.env.PROP_SEED) : undefined;
const scale = process.env.PROP_RUNS !== undefined ? Number(process.env.PROP_RUNS) : 1;

fc.configureGlobal({
  ...(envSeed !== undefined ? { seed: envSeed } : process.env.CI ? { seed: CI_SEED } : {}),
  // shrinking re-runs gradchecks many times; bound it so a failure reports in seconds
  endOnFailure: false,
  markInterruptAsFailure: true,
  includeErrorInReport: true,
});

/** A suite's run count, scaled by PROP_RUNS. */
export function runs(n: number): number {
  return Math.max(1, Math.round(n * (Number.isFinite(scale) && scale > 0 ? scale : 1)));
}
