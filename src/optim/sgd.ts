/**
 * @file SGD with momentum, dampening, Nesterov momentum and weight decay (PyTorch's rule).
 * @example const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
 */
import { zerosLike } from '../creation.ts';
import { ValueError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { checkOption, Optimizer, type ParamGroup, type ParamsInput, type ParamState } from './optimizer.ts';
import { stateTensor } from './state-tensor.ts';
import { checkOptions, optionNames } from '../options.ts';

const SGD_OPTIONS = optionNames<SGDOptions>({ lr: true, momentum: true, dampening: true, nesterov: true, weightDecay: true, maximize: true });

export interface SGDOptions {
  /** learning rate (default 1e-3) */
  lr: number;
  /** momentum factor μ (default 0) */
  momentum: number;
  /** dampening τ of the momentum (default 0) */
  dampening: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0) */
  nesterov: boolean;
  /** L2 penalty λ added to the gradient (default 0) */
  weightDecay: number;
  /** ascend instead of descend */
  maximize: boolean;
}

/**
 * Stochastic gradient descent. Per parameter, with g its gradient:
 *   g ← g + λ·p                              (weightDecay λ)
 *   b ← g on the first step, else μ·b + (1 − τ)·g   (momentum μ, dampening τ)
 *   g ← g + μ·b (Nesterov) or g ← b
 *   p ← p − lr·g
 */
export class SGD extends Optimizer<SGDOptions> {
  constructor(params: ParamsInput<SGDOptions>, opts: Partial<SGDOptions> = {}) {
    super(params, { lr: 1e-3, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0, maximize: false, ...checkOptions('SGD', opts, SGD_OPTIONS) });
  }

  protected validate(o: SGDOptions): void {
    checkOption('SGD', 'lr', o.lr, 0);
    checkOption('SGD', 'momentum', o.momentum, 0);
    checkOption('SGD', 'dampening', o.dampening, -Infinity);
    checkOption('SGD', 'weightDecay', o.weightDecay, 0);
    if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0)) {
      throw new ValueError(`SGD: Nesterov momentum needs momentum > 0 and dampening 0, got momentum=${o.momentum}, dampening=${o.dampening}`);
    }
  }

  protected update(p: Tensor, grad: Tensor, state: ParamState, g: ParamGroup<SGDOptions>): void {
    // the options are read as 0-d tensors (see Optimizer.scalar), so changing them between jit
    // calls takes effect; which terms exist (momentum or not, decay or not) is decided per trace (changing it retraces)
    let d = g.maximize ? grad.neg() : grad;
    if (g.weightDecay !== 0) d = d.add(p.mul(this.scalar(g, p, 'weightDecay')));
    if (g.momentum !== 0) {
      const mu = this.scalar(g, p, 'momentum');
      let buf = state.momentumBuffer;
      // the first buffer is d itself (PyTorch), written into a concrete zero buffer (see state-tensor.ts)
      if (!buf) buf = state.momentumBuffer = stateTensor(() => zerosLike(p)).copy_(d);
      else buf.mul_(mu).addcmul_(d, this.scalar(g, p, '1 − dampening', (o) => 1 - o.dampening));
      d = g.nesterov ? d.addcmul(buf, mu) : buf;
    }
    // p − lr·d in one kernel (PyTorch's add_(d, alpha=−lr)); the same bits as p.sub_(d.mul(lr))
    p.addcmul_(d, this.scalar(g, p, 'lr'), -1);
  }
}
