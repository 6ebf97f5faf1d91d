/**
 * @file Gradient clipping: clipGradNorm_ and clipGradValue_ (PyTorch's torch.nn.utils).
 * @example
 * loss.backward();
 * const total = clipGradNorm_(model.parameters(), 1.0); // a 0-d tensor, read it with await total.item()
 * opt.step();
 */
import { isFloat } from '../dtype.ts';
import { zeros } from '../creation.ts';
import { ValueError } from '../errors.ts';
import { stack } from '../ops/functional.ts';
import { noGrad } from '../tape.ts';
import { Tensor } from '../tensor.ts';

/** The parameters as a list: a tensor, or an iterable of tensors (model.parameters()); a ValueError naming `op` otherwise. */
function toList(op: string, params: Iterable<Tensor> | Tensor): Tensor[] {
  const given: unknown = params;
  if (given instanceof Tensor) return [given];
  if (given === null || typeof given !== 'object' || !(Symbol.iterator in given)) {
    throw new ValueError(`${op}: expected the parameters (model.parameters(), or a tensor), got ${given === null ? 'null' : typeof given === 'object' ? `a ${(given as object).constructor?.name ?? 'object'}` : typeof given}`);
  }
  const list = [...(given as Iterable<unknown>)];
  const bad = list.findIndex((p) => !(p instanceof Tensor));
  if (bad >= 0) throw new ValueError(`${op}: parameter ${bad} is ${list[bad] === null ? 'null' : typeof list[bad]}, expected a Tensor`);
  return list as Tensor[];
}

/**
 * Scales all gradients together so that their combined `normType`-norm is at most `maxNorm`
 * (coefficient min(1, maxNorm / (total + 1e-6)), as PyTorch), and returns the total norm before
 * clipping as a 0-d tensor. `normType` may be Infinity. Nothing is read back to the host, so it
 * works on every device.
 */
export function clipGradNorm_(params: Iterable<Tensor> | Tensor, maxNorm: number, normType = 2): Tensor {
  if (!(maxNorm >= 0)) throw new ValueError(`clipGradNorm_: maxNorm must be ≥ 0, got ${maxNorm}`);
  if (!(normType > 0)) throw new ValueError(`clipGradNorm_: normType must be > 0 (or Infinity), got ${normType}`);
  const ps = toList('clipGradNorm_', params).filter((p) => p.grad);
  if (ps.length === 0) return zeros([]);
  return noGrad(() => {
    const first = ps[0]!.grad!;
    const dt = isFloat(first.dtype) ? first.dtype : 'float32';
    const norms = ps.map((p) => {
      const g = p.grad!.to(dt).abs();
      if (normType === Infinity) return g.amax();
      if (normType === 2) return g.mul(g).sum().sqrt();
      if (normType === 1) return g.sum();
      return g.pow(normType).sum().pow(1 / normType);
    });
    const all = stack(norms);
    const total = normType === Infinity ? all.amax() : normType === 1 ? all.sum() : all.pow(normType).sum().pow(1 / normType);
    const coef = total.add(1e-6).reciprocal().mul(maxNorm).clamp(null, 1);
    for (const p of ps) {
      // NOTE: out of place: the backward pass may hand one gradient tensor to several leaves
      p.grad = p.grad!.mul(coef.to(p.grad!.dtype));
    }
    return total;
  });
}

/** Clamps every gradient element into [−clipValue, clipValue]. */
export function clipGradValue_(params: Iterable<Tensor> | Tensor, clipValue: number): void {
  if (!(clipValue >= 0)) throw new ValueError(`clipGradValue_: clipValue must be ≥ 0, got ${clipValue}`);
  noGrad(() => {
    for (const p of toList('clipGradValue_', params)) if (p.grad) p.grad = p.grad.clamp(-clipValue, clipValue);
  });
}
