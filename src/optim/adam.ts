/**
 * @file Adam (L2 weight decay, optional AMSGrad) and AdamW (decoupled weight decay), PyTorch's rules.
 * @example const opt = new Adam(model.parameters(), { lr: 1e-3 });
 */
import { zeros, zerosLike } from '../creation.ts';
import { stateTensor } from './state-tensor.ts';
import { ValueError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { checkOptions, optionNames } from '../options.ts';
import { checkOption, Optimizer, type ParamGroup, type ParamsInput, type ParamState } from './optimizer.ts';

export interface AdamOptions {
  /** learning rate (default 1e-3) */
  lr: number;
  /** decay rates (β₁, β₂) of the first and second moment averages (default [0.9, 0.999]) */
  betas: readonly [number, number];
  /** added to the denominator (default 1e-8) */
  eps: number;
  /** Adam: L2 penalty added to the gradient (default 0); AdamW: decoupled decay (default 1e-2) */
  weightDecay: number;
  /** use the maximum of past second moments (AMSGrad) */
  amsgrad: boolean;
  /** ascend instead of descend */
  maximize: boolean;
}

const ADAM_OPTIONS = optionNames<AdamOptions>({ lr: true, betas: true, eps: true, weightDecay: true, amsgrad: true, maximize: true });

function validateAdam(name: string, o: AdamOptions): void {
  checkOption(name, 'lr', o.lr, 0);
  checkOption(name, 'eps', o.eps, 0);
  checkOption(name, 'weightDecay', o.weightDecay, 0);
  if (!Array.isArray(o.betas) || o.betas.length !== 2) throw new ValueError(`${name}: betas must be a pair [β₁, β₂], got ${JSON.stringify(o.betas)}`);
  checkOption(name, 'betas[0]', o.betas[0], 0, 1);
  checkOption(name, 'betas[1]', o.betas[1], 0, 1);
}

/** The group's option (or a number derived from its options) as a 0-d tensor on p's device and dtype. */
type ScalarOf = (name: 'lr' | 'weightDecay' | '1 − lr·weightDecay', derive?: (g: ParamGroup<AdamOptions>) => number) => Tensor;

/**
 * The shared Adam step. The step count is a tensor, and the bias corrections 1 − βᵗ are computed
 * on the device as −expm1(t·ln β), which stays accurate in float32 for small t. lr and the weight
 * decay are read as 0-d tensors too, so a scheduler changing them reaches a jit-compiled step.
 */
function adamUpdate(p: Tensor, grad: Tensor, s: ParamState, g: ParamGroup<AdamOptions>, decoupled: boolean, scalar: ScalarOf, epsHat: boolean): void {
  const [b1, b2] = g.betas;
  if (!s.step) {
    s.step = stateTensor(() => zeros([], { dtype: p.dtype, device: p.device }));
    s.expAvg = stateTensor(() => zerosLike(p));
    s.expAvgSq = stateTensor(() => zerosLike(p));
    if (g.amsgrad) s.maxExpAvgSq = stateTensor(() => zerosLike(p));
  }
  let d = g.maximize ? grad.neg() : grad;
  if (g.weightDecay !== 0) {
    // the factor 1 − lr·λ is computed in JS (float64) and rounded once, as before it was a tensor
    if (decoupled) p.mul_(scalar('1 − lr·weightDecay', (o) => 1 - o.lr * o.weightDecay));
    else d = d.add(p.mul(scalar('weightDecay')));
  }
  const t = s.step.add_(1);
  // NOTE: m ← m + (1 − β₁)(d − m) and v ← β₂v + (1 − β₂)d² as PyTorch writes them (lerp_,
  // addcmul_): one kernel each instead of three, equal to β₁m + (1 − β₁)d up to rounding
  const m = s.expAvg!.lerp_(d, 1 - b1);
  const v = s.expAvgSq!.mul_(b2).addcmul_(d, d, 1 - b2);
  const bc1 = t.mul(Math.log(b1)).expm1().neg();
  const bc2 = t.mul(Math.log(b2)).expm1().neg();
  let vUsed = v;
  if (g.amsgrad) {
    const vmax = (s.maxExpAvgSq ??= stateTensor(() => zerosLike(p)));
    vUsed = vmax.copy_(vmax.maximum(v));
  }
  // NOTE: with epsHat (Keras's form) ε is added to √v before the bias correction, so it acts as
  // ε/√(1 − β₂ᵗ): larger in the first steps than PyTorch's ε on √v̂
  const denom = epsHat ? vUsed.sqrt().add(g.eps).div(bc2.sqrt()) : vUsed.sqrt().div(bc2.sqrt()).add(g.eps);
  p.addcdiv_(m, denom, bc1.reciprocal().mul(scalar('lr')).neg());
}

/**
 * Adam. Per parameter, with g its gradient and t the step count:
 *   g ← g + λ·p                              (weightDecay λ, an L2 penalty)
 *   m ← β₁·m + (1 − β₁)·g;  v ← β₂·v + (1 − β₂)·g²
 *   m̂ = m / (1 − β₁ᵗ);  v̂ = v / (1 − β₂ᵗ)   (AMSGrad: v̂ from max of all v so far)
 *   p ← p − lr·m̂ / (√v̂ + ε)
 */
export class Adam extends Optimizer<AdamOptions> {
  /** @internal ε added before the bias correction (Keras's Adam; see keras/optimizers.ts) */
  protected readonly epsHat: boolean = false;
  constructor(params: ParamsInput<AdamOptions>, opts: Partial<AdamOptions> = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false, ...checkOptions('Adam', opts, ADAM_OPTIONS) });
  }
  protected validate(o: AdamOptions): void {
    validateAdam('Adam', o);
  }
  protected update(p: Tensor, grad: Tensor, s: ParamState, g: ParamGroup<AdamOptions>): void {
    adamUpdate(p, grad, s, g, false, (name, derive) => this.scalar(g, p, name, derive), this.epsHat);
  }
}

/**
 * AdamW: Adam with decoupled weight decay: first p ← p·(1 − lr·λ), then the Adam step on the
 * raw gradient. weightDecay defaults to 1e-2.
 */
export class AdamW extends Optimizer<AdamOptions> {
  /** @internal ε added before the bias correction (Keras's AdamW; see keras/optimizers.ts) */
  protected readonly epsHat: boolean = false;
  constructor(params: ParamsInput<AdamOptions>, opts: Partial<AdamOptions> = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, maximize: false, ...checkOptions('AdamW', opts, ADAM_OPTIONS) });
  }
  protected validate(o: AdamOptions): void {
    validateAdam('AdamW', o);
  }
  protected update(p: Tensor, grad: Tensor, s: ParamState, g: ParamGroup<AdamOptions>): void {
    adamUpdate(p, grad, s, g, true, (name, derive) => this.scalar(g, p, name, derive), this.epsHat);
  }
}
