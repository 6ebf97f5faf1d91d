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

/** Throws an internal invariant failure; these indicate a bug in tapegrad, not in user code. */
export function internal(msg: string): never {
  throw new Error(`internal: ${msg}`);
}
