/** @file Value comparison with readable failures, shared by the property suites. */
import type { Tensor } from '../../src/index.ts';
import { fmtValues } from '../helpers/ndarray.ts';

export interface Expected { readonly values: readonly number[]; readonly shape: readonly number[] }

/**
 * Throws unless `got` has the expected shape and every value is within `atol + rtol·|expected|`
 * (NaN matches NaN, infinities must match exactly). `tol` may be per element.
 */
export function expectValues(label: string, got: Tensor, exp: Expected, rtol = 1e-12, atol: number | ((i: number) => number) = 1e-12): void {
  if (got.shape.length !== exp.shape.length || got.shape.some((d, i) => d !== exp.shape[i])) {
    throw new Error(`${label}: shape [${got.shape}], expected [${exp.shape}]`);
  }
  const v = Array.from(got.dataSync() as ArrayLike<number>, Number);
  for (let i = 0; i < v.length; i++) {
    const a = v[i]!, e = exp.values[i]!;
    if (Number.isNaN(e) ? Number.isNaN(a) : !Number.isFinite(e) ? a === e : Math.abs(a - e) <= (typeof atol === 'number' ? atol : atol(i)) + rtol * Math.abs(e)) continue;
    throw new Error(
      `${label}: element ${i} is ${a}, expected ${e} (|diff| ${Math.abs(a - e).toExponential(3)})\n` +
        `  got      [${got.shape}] ${got.dtype}: ${fmtValues(v, 48)}\n  expected [${exp.shape}]: ${fmtValues(exp.values, 48)}`,
    );
  }
}
