/**
 * @file RMSprop (PyTorch's rule, with optional momentum and the centered variant).
 * @example const opt = new RMSprop(model.parameters(), { lr: 1e-3 });
 */
import { zeros, zerosLike } from '../creation.ts';
import { stateTensor } from './state-tensor.ts';
import type { Tensor } from '../tensor.ts';
import { checkOptions, optionNames } from '../options.ts';
import { checkOption, Optimizer, type ParamGroup, type ParamsInput, type ParamState } from './optimizer.ts';

export interface RMSpropOptions {
  /** learning rate (default 1e-2) */
  lr: number;
  /** smoothing constant α of the squared-gradient average (default 0.99) */
  alpha: number;
  /** added to the denominator (default 1e-8) */
  eps: number;
  /** L2 penalty λ added to the gradient (default 0) */
  weightDecay: number;
  /** momentum factor μ (default 0) */
  momentum: number;
  /** normalise by the estimated variance instead of the raw second moment */
  centered: boolean;
  /** ascend instead of descend */
  maximize: boolean;
}

const RMSPROP_OPTIONS = optionNames<RMSpropOptions>({ lr: true, alpha: true, eps: true, weightDecay: true, momentum: true, centered: true, maximize: true });

/**
 * RMSprop. Per parameter, with g its gradient:
 *   g ← g + λ·p
 *   v ← α·v + (1 − α)·g²                 (v starts at 0)
 *   centered: m ← α·m + (1 − α)·g;  ṽ = v − m²   else ṽ = v
 *   μ > 0:  b ← μ·b + g / (√ṽ + ε);  p ← p − lr·b
 *   else    p ← p − lr·g / (√ṽ + ε)
 */
export class RMSprop extends Optimizer<RMSpropOptions> {
  /** @internal ε inside the square root, √(v + ε) (Keras's RMSprop; see keras/optimizers.ts) */
  protected readonly epsInsideSqrt: boolean = false;
  constructor(params: ParamsInput<RMSpropOptions>, opts: Partial<RMSpropOptions> = {}) {
    super(params, { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, maximize: false, ...checkOptions('RMSprop', opts, RMSPROP_OPTIONS) });
  }

  protected validate(o: RMSpropOptions): void {
    checkOption('RMSprop', 'lr', o.lr, 0);
    checkOption('RMSprop', 'alpha', o.alpha, 0);
    checkOption('RMSprop', 'eps', o.eps, 0);
    checkOption('RMSprop', 'weightDecay', o.weightDecay, 0);
    checkOption('RMSprop', 'momentum', o.momentum, 0);
  }

  protected update(p: Tensor, grad: Tensor, s: ParamState, g: ParamGroup<RMSpropOptions>): void {
    if (!s.squareAvg) {
      s.step = stateTensor(() => zeros([], { dtype: p.dtype, device: p.device }));
      s.squareAvg = stateTensor(() => zerosLike(p));
      if (g.momentum > 0) s.momentumBuffer = stateTensor(() => zerosLike(p));
      if (g.centered) s.gradAvg = stateTensor(() => zerosLike(p));
    }
    s.step!.add_(1);
    let d = g.maximize ? grad.neg() : grad;
    if (g.weightDecay !== 0) d = d.add(p.mul(this.scalar(g, p, 'weightDecay')));
    const v = s.squareAvg.mul_(g.alpha).addcmul_(d, d, 1 - g.alpha);
    let avg: Tensor;
    if (g.centered) {
      const m = (s.gradAvg ??= stateTensor(() => zerosLike(p))).lerp_(d, 1 - g.alpha);
      avg = this.epsInsideSqrt ? v.sub(m.mul(m)).add(g.eps).sqrt() : v.sub(m.mul(m)).sqrt().add(g.eps);
    } else avg = this.epsInsideSqrt ? v.add(g.eps).sqrt() : v.sqrt().add(g.eps);
    // lr, weightDecay and momentum are read as 0-d tensors (see Optimizer.scalar), so changing
    // them between jit calls takes effect; which terms exist is decided per trace (changing it retraces: Optimizer.step guards it)
    const lr = this.scalar(g, p, 'lr');
    if (g.momentum > 0) {
      const buf = (s.momentumBuffer ??= stateTensor(() => zerosLike(p))).mul_(this.scalar(g, p, 'momentum')).addcdiv_(d, avg);
      p.sub_(buf.mul(lr));
    } else p.addcdiv_(d, avg, lr.neg());
  }
}
