/**
 * @file Tensor mirrors of a parameter group's numeric options (lr, weight decay, momentum…).
 * Optimizers multiply by these 0-d tensors instead of JS numbers so that a `jit`-compiled step
 * reads them as state inputs, bound by reference at every call: a JS number would be baked into
 * the trace as a constant, and a learning-rate scheduler (or `group.lr = x` by hand) would do
 * nothing to the compiled step. Each mirror is refilled in place whenever an option of its group
 * is assigned, so the next call — eager or compiled — sees the new value.
 */
import type { Device } from '../backend.ts';
import { full } from '../creation.ts';
import type { DType } from '../dtype.ts';
import { ValueError } from '../errors.ts';
import { noGrad } from '../tape.ts';
import type { Tensor } from '../tensor.ts';
import { stateTensor } from './state-tensor.ts';

interface Mirror<G> {
  readonly tensor: Tensor;
  readonly name: string;
  readonly derive: (group: G) => number;
  /** the number the tensor holds now */
  value: number;
}

const checkValue = (owner: string, name: string, v: unknown): number => {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ValueError(`${owner}: ${name} must be a finite number, got ${String(v)}`);
  return v;
};

/** The 0-d tensor mirrors of one parameter group, one per (name, device, dtype). */
export class GroupScalars<G extends object> {
  private readonly mirrors = new Map<string, Mirror<G>>();

  /** @param owner the optimizer's name, for error messages */
  constructor(private readonly owner: string) {}

  /**
   * The mirror of `derive(group)` on `device` with `dtype` (created on first use).
   * `name` identifies what `derive` computes: one name, one formula.
   */
  get(group: G, name: string, derive: (group: G) => number, device: Device, dtype: DType): Tensor {
    const key = `${name}|${device}|${dtype}`;
    let m = this.mirrors.get(key);
    if (!m) {
      const value = checkValue(this.owner, name, derive(group));
      // Created concrete even when the first step is being traced ({eagerFirstCall: false}), so
      // the trace reads it as a state input rather than recording a constant-valued node; kept,
      // because it lives as long as the optimizer even when first made inside a scope().
      const tensor = stateTensor(() => full([], value, { dtype, device }));
      m = { tensor, name, derive, value };
      this.mirrors.set(key, m);
    }
    return m.tensor;
  }

  /**
   * Checks every mirror's value against the group (throws ValueError, changing nothing, when one
   * is not a finite number), then refills, in place, those whose value changed.
   */
  refresh(group: G): void {
    const next = [...this.mirrors.values()].map((m) => checkValue(this.owner, m.name, m.derive(group)));
    [...this.mirrors.values()].forEach((m, i) => {
      const v = next[i]!;
      if (Object.is(v, m.value)) return;
      // NOTE: the value is rounded to the tensor's dtype here, once, exactly as a JS number
      // operand is rounded to its tensor operand's dtype, so eager results do not change
      noGrad(() => m.tensor.fill_(v));
      m.value = v;
    });
  }
}
