/** @file Typed errors: each names the op, the operands and what was expected. */

/** Base class of every error tapegrad throws on bad input. */
export class TapegradError extends Error {
  override name = 'TapegradError';
}
/** Shapes that do not fit the op (broadcast, matmul inner dims, reshape sizes, dims out of range). */
export class ShapeError extends TapegradError {
  override name = 'ShapeError';
}
/** A dtype the op does not accept (e.g. requiresGrad on int32, float64 on WebGPU). */
export class DTypeError extends TapegradError {
  override name = 'DTypeError';
}
/** Tensors of different devices met in one op, or a device-only API was used on another device. */
export class DeviceError extends TapegradError {
  override name = 'DeviceError';
}
/** Misuse of autograd: backward twice, non-scalar backward without a gradient, saved tensor modified in place. */
export class AutogradError extends TapegradError {
  override name = 'AutogradError';
}
/** An index or value outside its valid range (class index in crossEntropy, gather index). */
export class IndexError extends TapegradError {
  override name = 'IndexError';
}
/** A tensor was used after dispose(). */
export class UseAfterDisposeError extends TapegradError {
  override name = 'UseAfterDisposeError';
}
/** An argument of the wrong kind or value (not shape/dtype related). */
export class ValueError extends TapegradError {
  override name = 'ValueError';
}

const DIVISOR_CHECK = ' (integer division by zero)';
/** The `what` of the gather that checks an integer divisor on WebGPU and in compiled code. */
export const divisorCheck = (op: string): string => op + DIVISOR_CHECK;
/** Whether a gather's `what` is an integer divisor's check. */
export const isDivisorCheck = (what: unknown): boolean => typeof what === 'string' && what.endsWith(DIVISOR_CHECK);

/**
 * The error of a gather index out of range, where `what` names the op the gather was made for
 * (a loss's target pick, indexSelect; or an integer divisor's check, see `divisorCheck`).
 */
export function indexRangeError(what: string, index: number, size: number, dim: number, detail: string): TapegradError {
  if (what.endsWith(DIVISOR_CHECK)) {
    const op = what.slice(0, -DIVISOR_CHECK.length);
    return new ValueError(`${op}: integer division by zero (a divisor is 0; ${detail}); PyTorch raises ZeroDivisionError here too — divide floats for ±inf/NaN`);
  }
  return new IndexError(`${what}: index ${index} is out of range for dim ${dim} of size ${size} (${detail}); indices must be in 0..${size - 1}`);
}

/** Throws an internal invariant failure; these indicate a bug in tapegrad, not in user code. */
export function internal(msg: string): never {
  throw new Error(`internal: ${msg}`);
}
