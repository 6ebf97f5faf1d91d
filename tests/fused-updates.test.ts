/** lerp, addcmul, addcdiv: PyTorch's fused update ops, one kernel each (src/ops/elementwise.ts). */
import { describe, expect, it } from 'vitest';
import { addcdiv, addcmul, DTypeError, lerp, noGrad, ShapeError, tensor, ValueError } from 'tapegrad';

describe('lerp / addcmul / addcdiv', () => {
  it('compute a + w·(b − a), x + v·t1·t2, x + v·t1/t2 with broadcasting and number operands', () => {
    const a = tensor([[0, 1], [2, 3]]), b = tensor([10, 20]);
    expect(lerp(a, b, 0.25).toArraySync()).toEqual([[2.5, 5.75], [4, 7.25]]);
    expect(a.lerp(b, tensor([[0], [1]])).toArraySync()).toEqual([[0, 1], [10, 20]]);
    expect(addcmul(a, b, 2, 0.5).toArraySync()).toEqual([[10, 21], [12, 23]]);
    expect(a.addcmul(b, b).toArraySync()).toEqual([[100, 401], [102, 403]]);
    expect(addcdiv(a, b, tensor(4), -2).toArraySync()).toEqual([[-5, -9], [-3, -7]]);
    // the value may be a 0-d tensor (an optimizer's learning rate)
    expect(a.addcdiv(b, 5, tensor(0.5)).toArraySync()).toEqual([[1, 3], [3, 5]]);
  });

  it('in place: lerp_, addcmul_, addcdiv_ write the tensor and bump its version', () => {
    const m = tensor([1, 2, 3]);
    const v0 = m._version;
    m.lerp_(tensor([3, 2, 1]), 0.5).addcmul_(tensor([1, 1, 1]), tensor([2, 0, -2]), 0.5).addcdiv_(tensor([1, 2, 3]), tensor([2, 2, 2]));
    expect(m.toArraySync()).toEqual([3.5, 3, 2.5]);
    expect(m._version).toBe(v0 + 3);
  });

  it('gradients flow to every tensor operand, the value included', () => {
    const x = tensor([1, 2], { requiresGrad: true }), t1 = tensor([3, 4], { requiresGrad: true });
    const t2 = tensor([2, 8], { requiresGrad: true }), v = tensor(0.5, { requiresGrad: true });
    addcdiv(x, t1, t2, v).sum().backward();
    expect(x.grad!.toArraySync()).toEqual([1, 1]);
    expect(t1.grad!.toArraySync()).toEqual([0.25, 0.0625]); // v/t2
    expect(t2.grad!.toArraySync()).toEqual([-0.375, -0.03125]); // −v·t1/t2²
    expect(v.grad!.toArraySync()).toEqual(2); // Σ t1/t2
    const a = tensor([1, 2], { requiresGrad: true }), b = tensor([5, 6], { requiresGrad: true }), w = tensor(0.25, { requiresGrad: true });
    lerp(a, b, w).sum().backward();
    expect([a.grad!.toArraySync(), b.grad!.toArraySync(), w.grad!.toArraySync()]).toEqual([[0.75, 0.75], [0.25, 0.25], 8]);
    noGrad(() => expect(addcmul(x, t1, t2).requiresGrad).toBe(false));
  });

  it('bad input: the op, the dtypes and the shapes in the message', () => {
    expect(() => lerp(tensor([1, 2], { dtype: 'int32' }), tensor([3, 4], { dtype: 'int32' }), tensor(1, { dtype: 'int32' }))).toThrow(DTypeError);
    expect(() => lerp(tensor([1, 2], { dtype: 'int32' }), tensor([3, 4], { dtype: 'int32' }), tensor(1, { dtype: 'int32' }))).toThrow(/lerp: expected float tensors, got int32/);
    expect(addcmul(tensor([1], { dtype: 'int32' }), tensor([2], { dtype: 'int32' }), tensor([3], { dtype: 'int32' })).toArraySync()).toEqual([7]);
    expect(() => addcdiv(tensor([1, 2]), tensor([1, 2, 3]), tensor([1, 2]))).toThrow(ShapeError);
    expect(() => addcdiv(tensor([1, 2]), tensor([1, 2, 3]), tensor([1, 2]))).toThrow(/addcdiv/);
    expect(() => lerp(tensor([1]), 'x' as never, 0.5)).toThrow(ValueError);
    expect(() => tensor([1, 2]).lerp_(tensor([[1, 2], [3, 4]]), 0.5)).toThrow(ShapeError);
  });
});
