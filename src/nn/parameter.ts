/**
 * @file Parameter: a tensor that a Module registers as one of its learnable weights.
 * @example
 * class Affine extends Module {
 *   scale = new Parameter(ones([3]));
 *   forward(x: Tensor) { return x.mul(this.scale); }
 * }
 */
import { checkLive } from '../ops/dispatch.ts';
import { Tensor } from '../tensor.ts';

/**
 * A tensor that requires grad (by default) and is picked up by `Module.parameters()` when stored
 * in a module's field. It shares storage with the tensor it wraps, like `torch.nn.Parameter`, and
 * is always a leaf: a tensor with a gradFn is cut off from its graph.
 */
export class Parameter extends Tensor {
  constructor(data: Tensor, requiresGrad = true) {
    checkLive('Parameter', data);
    super(data._storage, data._sym, data.shape, data.strides, data.offset, data.dtype, data.device, data._base);
    this.requiresGrad = requiresGrad;
  }

  /** `Parameter containing:` and the tensor, as PyTorch prints it. */
  override toString(): string {
    return `Parameter containing:\n${super.toString()}`;
  }

  /**
   * @internal Points this parameter at another tensor's storage (PyTorch's `param.data = t`),
   * keeping the Parameter object, so optimizers built before `module.to(device)` still hold it.
   */
  _setData(t: Tensor): void {
    checkLive('Parameter', t);
    Object.assign(this, {
      _storage: t._storage,
      _sym: t._sym,
      shape: t.shape,
      strides: t.strides,
      offset: t.offset,
      dtype: t.dtype,
      device: t.device,
      _base: t._base,
    });
  }
}
