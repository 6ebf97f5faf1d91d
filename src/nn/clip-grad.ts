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

const toList = (params: Iterable<Tensor> | Tensor): Tensor[] => (params instanceof Tensor ? [params] : [...params]);

/**
 * Scales all gradients together so that their combined `normType`-norm is at most `maxNorm`
 * (coefficient min(1, maxNorm / (total + 1e-6)), as PyTorch), and returns the total norm before
 * clipping as a 0-d tensor. `normType` may be Infinity. Nothing is read back to the host, so it
 * works on every device.
 */
export function clipGradNorm_(params: Iterable<Tensor> | Tensor, maxNorm: number, normType = 2): Tensor {
  if (!(maxNorm >= 0)) throw new ValueError(`clipGradNorm_: maxNorm must be ≥ 0, got ${maxNorm}`);
  if (!(normType > 0)) throw new ValueError(`clipGradNorm_: normType must be > 0 (or Infinity), got ${normType}`);
  const ps = toList(params).filter((p) => p.grad);
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
    for (const p of toList(params)) if (p.grad) p.grad = p.grad.clamp(-clipValue, clipValue);
  });
}
