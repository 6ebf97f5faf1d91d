/**
 * @file New optimizer state (momentum buffers, moments, step counts) made concrete even while a
 * `jit` trace is recording — on a traced first step (`warmup`, `eagerFirstCall: false`). State
 * outlives the trace: a symbolic tensor stored in `opt.state` would die with its trace and break
 * the next call. Made concrete, it is a state input of the trace like a parameter, and the
 * update's in-place writes to it (including its first value, `buf.copy_(d)`) become updates.
 */
import { setTracer } from '../ops/dispatch.ts';
import { keep } from '../scope.ts';
import { noGrad } from '../tape.ts';
import type { Tensor } from '../tensor.ts';

/** `make()` run outside any trace, without gradients, and kept beyond the current scope(). */
export function stateTensor(make: () => Tensor): Tensor {
  const prev = setTracer(null);
  try {
    return keep(noGrad(make));
  } finally {
    setTracer(prev);
  }
}
