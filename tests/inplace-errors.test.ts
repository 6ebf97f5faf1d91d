/**
 * In-place writes, copy_/fill_, elementwise options and backward/grad arguments: bad input gets a
 * typed error naming the op; the valid neighbouring input keeps its PyTorch result.
 */
import { describe, expect, it } from 'vitest';
import {
  AutogradError, DTypeError, DeviceError, ShapeError, UseAfterDisposeError, ValueError,
  clamp, div, gelu, grad, nn, noGrad, ones, scope, tensor, zeros, type Tensor,
} from '../src/index.ts';
import { gpuStatus } from './gpu-setup.ts';
import { throws } from './helpers/throws.ts';

const I = (a: number[]) => tensor(a, { dtype: 'int32' });


describe('in-place writes autograd cannot follow', () => {
  it('refuses a view of a leaf that requires grad (not under noGrad, nor through detach())', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    throws(() => x.index([0, 1]).mul_(3), AutogradError, /^mul_: .*view of a leaf tensor that requires grad \(shape \[2\]\).*noGrad/);
    const m = tensor([[1, 2]], { requiresGrad: true });
    throws(() => m.t().add_(1), AutogradError, /^add_: the tensor written to \(shape \[2, 1\]\) is a view of a leaf/);
    throws(() => m.reshape([2]).add_(1), AutogradError, /^add_: .*view of a leaf/);
    throws(() => m.index(0).copy_(tensor([5, 6])), AutogradError, /^copy_: .*view of a leaf/);
    expect(x.toArraySync()).toEqual([1, 2]);
    expect(m.toArraySync()).toEqual([[1, 2]]);
    // optimizers write through views under noGrad; detach() views write freely
    noGrad(() => x.index([0, 1]).mul_(3));
    expect(x.toArraySync()).toEqual([3, 2]);
    x.detach().index(1).add_(1);
    expect(x.toArraySync()).toEqual([3, 3]);
    // a view of a tensor that needs no gradient stays writable
    const y = tensor([1, 2]);
    y.index(0).fill_(7);
    expect(y.toArraySync()).toEqual([7, 2]);
  });
  it('refuses writes into overlapping elements (a stride-0 dim of size > 1)', () => {
    const x = zeros([1, 3]);
    throws(() => x.expand([2, 3]).copy_(tensor([[1, 2, 3], [4, 5, 6]])), ShapeError, /^copy_: more than one element of the tensor written to \(shape \[2, 3\], strides \[0, 1\]/);
    throws(() => x.expand([2, 3]).add_(1), ShapeError, /^add_: more than one element/);
    throws(() => x.expand([2, 3]).fill_(1), ShapeError, /^fill_: more than one element/);
    expect(x.toArraySync()).toEqual([[0, 0, 0]]);
    // expanding a size-1 dim to size 1 overlaps nothing
    x.expand([1, 3]).add_(1);
    expect(x.toArraySync()).toEqual([[1, 1, 1]]);
  });
  it('overwriting a non-leaf with constants cuts its old gradient path (zero, as PyTorch)', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const y = x.mul(2);
    y.fill_(3);
    y.mul(x).sum().backward();
    expect(x.grad!.toArraySync()).toEqual([3, 3]);
    const z = tensor([1, 2], { requiresGrad: true });
    const w = z.mul(2);
    w.copy_(tensor([5, 5]));
    w.sum().backward();
    expect(z.grad!.toArraySync()).toEqual([0, 0]);
    const u = tensor([1, 2], { requiresGrad: true });
    const v = u.mul(2);
    v.add_(1); // depends on its old values: the gradient still flows
    v.sum().backward();
    expect(u.grad!.toArraySync()).toEqual([2, 2]);
  });
  it('gradients kept with createGraph are the leaf\'s own, writable in place', () => {
    const a = tensor([1, 2], { requiresGrad: true }), b = tensor([1, 2], { requiresGrad: true });
    a.add(b).sum().backward(undefined, { createGraph: true });
    noGrad(() => a.grad!.zero_());
    expect(a.grad!.toArraySync()).toEqual([0, 0]);
    expect(b.grad!.toArraySync()).toEqual([1, 1]);
  });
});

describe('in-place result types', () => {
  it('refuses results a bool destination cannot hold', () => {
    const b = tensor([true, false]);
    throws(() => b.add_(1), DTypeError, /^add_: the result is int32 but the tensor written to is bool.*PyTorch refuses/);
    throws(() => b.add_(I([2, 2])), DTypeError, /^add_: the result is int32 .* bool/);
    throws(() => b.mul_(0.5), DTypeError, /^mul_: the result is float32 .* bool/);
    expect(b.toArraySync()).toEqual([true, false]);
    b.copy_(I([0, 3])); // copy_ converts anything, as PyTorch's
    expect(b.toArraySync()).toEqual([false, true]);
    expect(I([1, 2]).add_(true).toArraySync()).toEqual([2, 3]);
  });
  it('clamp promotes as PyTorch; clamp_ refuses what its destination cannot hold', () => {
    const y = I([1, 2, 3]).clamp(1.5, 2.5);
    expect(y.dtype).toBe('float32');
    expect(y.toArraySync()).toEqual([1.5, 2, 2.5]);
    expect(I([1, 5]).clamp(2, 3).dtype).toBe('int32');
    expect(I([1, 5]).clamp_(2, 3).toArraySync()).toEqual([2, 3]);
    throws(() => I([1, 5]).clamp_(1.5, 3.5), DTypeError, /^clamp_: the result is float32 but the tensor written to is int32/);
  });
  it('clamp names itself for bad bounds; tensor bounds broadcast', () => {
    throws(() => zeros([2, 3]).clamp(tensor([1, 2])), ShapeError, /^clamp: shapes \[2, 3\] and \[2\] cannot be broadcast/);
    throws(() => zeros([2]).clamp('1' as never), ValueError, /^clamp: min is the string "1"/);
    throws(() => zeros([2]).clamp(null, {} as never), ValueError, /^clamp: max is an object/);
    throws(() => clamp(zeros([2]), null, null), ValueError, /^clamp: at least one of min and max/);
    expect(tensor([0, 5, 9]).clamp(tensor([1, 1, 1]), 6).toArraySync()).toEqual([1, 5, 6]);
    expect(tensor([3, 3]).clamp(null, 0).toArraySync()).toEqual([0, 0]);
  });
  it('pow refuses integers to negative scalar powers', () => {
    throws(() => I([1, 2, 3]).pow(-1), DTypeError, /^pow: integers to negative integer powers are not allowed \(base int32 of shape \[3\], exponent -1\)/);
    throws(() => tensor([true]).pow(-2), DTypeError, /^pow: integers to negative/);
    expect(I([1, 2, 3]).pow(2).toArraySync()).toEqual([1, 4, 9]);
    expect(I([1, 2, 4]).pow(-0.5).toArraySync()).toEqual([1, Math.fround(2 ** -0.5), 0.5]);
    expect(tensor([2]).pow(-1).toArraySync()).toEqual([0.5]);
  });
});

describe('elementwise options', () => {
  it('div validates roundingMode', () => {
    throws(() => div(tensor([1, 2]), 2, { roundingMode: 'ceil' as never }), ValueError, /^div: roundingMode must be 'trunc' or 'floor' \(or left out for true division\), got the string "ceil"/);
    throws(() => tensor([1, 2]).div(2, { roundingMode: 'Floor' as never }), ValueError, /^div: roundingMode must be/);
    throws(() => div(tensor([1]), 2, 'floor' as never), ValueError, /^div: options must be an object/);
    expect(tensor([-3, 3]).div(2, { roundingMode: 'floor' }).toArraySync()).toEqual([-2, 1]);
    expect(tensor([1, 3]).div(2).toArraySync()).toEqual([0.5, 1.5]);
  });
  it('gelu validates approximate', () => {
    throws(() => gelu(tensor([1]), { approximate: 'foo' as never }), ValueError, /^gelu: approximate must be 'none' or 'tanh'.*got the string "foo"/);
    expect(gelu(tensor([0]), { approximate: 'none' }).toArraySync()).toEqual([0]);
    expect(gelu(tensor([0]), { approximate: 'tanh' }).toArraySync()).toEqual([0]);
  });
});

describe('fill_ and copy_', () => {
  it('fill_ takes numbers, booleans and 0-d tensors', () => {
    expect(zeros([2]).fill_(tensor(3)).toArraySync()).toEqual([3, 3]);
    expect(zeros([2]).fill_(true).toArraySync()).toEqual([1, 1]);
    expect(zeros([2], { dtype: 'int32' }).fill_(tensor(2.5)).toArraySync()).toEqual([2, 2]);
    throws(() => zeros([2]).fill_('a' as never), ValueError, /^fill_: the value is the string "a", expected a number, a boolean or a 0-d tensor/);
    throws(() => zeros([2]).fill_(tensor([1, 2])), ShapeError, /^fill_: the value must be a number or a 0-d tensor, got a tensor of shape \[2\]/);
  });
  it('copy_ names itself and both shapes; broadcastable sources stay allowed', () => {
    throws(() => zeros([2, 3]).copy_(tensor([1, 2])), ShapeError, /^copy_: the source of shape \[2\] cannot be broadcast to the shape \[2, 3\] of the tensor written to/);
    throws(() => zeros([3]).copy_(zeros([2, 3])), ShapeError, /^copy_: the source of shape \[2, 3\] cannot be broadcast to the shape \[3\]/);
    throws(() => zeros([3]).copy_('x' as never), ValueError, /^copy_: the source is the string "x"/);
    expect(zeros([2, 3]).copy_(tensor([1, 2, 3])).toArraySync()).toEqual([[1, 2, 3], [1, 2, 3]]);
    expect(zeros([2], { dtype: 'int32' }).copy_(tensor([1.7, -1.7])).toArraySync()).toEqual([1, -1]);
  });
});

describe('dispose and views', () => {
  it("a module's parameters released by the scope that made them: the error names the scope", () => {
    const m = scope(() => new nn.Linear(3, 2));
    throws(() => m.forward(ones([1, 3])), UseAfterDisposeError, /when the scope\(\) it was created in ended \(keep\(\) it, or return it from the scope\)/);
  });

  it('a view of a disposed tensor is a UseAfterDisposeError naming the op', () => {
    const x = tensor([1, 2]);
    const v = x.index(0);
    x.dispose();
    throws(() => v.add(1), UseAfterDisposeError, /^add: a tensor of shape \[\] \(float32, cpu\) was used after its memory was released/);
    throws(() => v.dataSync(), UseAfterDisposeError, /^dataSync: /);
    throws(() => zeros([2]).copy_(v), UseAfterDisposeError, /^copy_: /);
    const y = tensor([1, 2]);
    const w = y.reshape([2, 1]);
    y.index(0).add(1).dispose(); // disposing an unrelated result leaves y and its views alive
    expect(w.add(1).toArraySync()).toEqual([[2], [3]]);
  });
});

describe('backward and grad arguments', () => {
  const leaf = () => tensor([1, 2], { requiresGrad: true });
  it('backward needs a tensor gradient of the output\'s shape', () => {
    const x = leaf();
    throws(() => x.sum().backward(2 as never), ValueError, /^backward: the gradient for the tensor is number 2, expected a tensor of shape \[\]/);
    throws(() => x.mul(2).backward(ones([3])), ShapeError, /^backward: the gradient for the tensor has shape \[3\] but the tensor has shape \[2\]/);
    x.mul(2).backward(tensor([1, 1], { dtype: 'float64' })); // cast to the output's dtype, as PyTorch
    expect(x.grad!.dtype).toBe('float32');
    expect(x.grad!.toArraySync()).toEqual([2, 2]);
  });
  it('grad validates outputs, inputs and gradOutputs', () => {
    const x = leaf();
    throws(() => grad(5 as never, [x]), ValueError, /^grad: output 0 is number 5, expected a tensor/);
    throws(() => grad(x.sum(), [7 as never]), ValueError, /^grad: input 0 is number 7, expected a tensor/);
    throws(() => grad(x.sum(), []), ValueError, /^grad: expected at least one input/);
    const y1 = x.mul(2), y2 = x.mul(3);
    throws(() => grad([y1, y2], [x], { gradOutputs: [ones([2])] }), ValueError, /^grad: got 2 outputs and 1 gradOutputs/);
    throws(() => grad([y1], [x], { gradOutputs: [ones([2]), ones([2])] }), ValueError, /^grad: got 1 output and 2 gradOutputs/);
    throws(() => grad([y1], [x], { gradOutputs: [ones([3])] }), ShapeError, /^grad: the gradient for output 0 has shape \[3\] but output 0 has shape \[2\]/);
    throws(() => grad([y1], [x], { gradOutputs: [3 as never] }), ValueError, /^grad: the gradient for output 0 is number 3/);
    throws(() => grad([y1, y2], [x], { gradOutputs: [ones([2]), undefined] }), AutogradError, /^grad: a gradient can be created implicitly only for a scalar output, but output 1 has shape \[2\]/);
    const [g] = grad([y1, y2], [x], { gradOutputs: [ones([2]), tensor([1, 0])] });
    expect((g as Tensor).toArraySync()).toEqual([5, 2]);
  });
});

const gpu = await gpuStatus();
describe.skipIf(!gpu.ok)('copy_ and fill_ across devices (webgpu)', () => {
  it('copies a CPU source into a WebGPU tensor, cast and broadcast', async () => {
    const t = zeros([2, 2]).to('webgpu');
    t.copy_(tensor([5, 6], { dtype: 'float64' }));
    expect(await t.toArray()).toEqual([[5, 6], [5, 6]]);
    throws(() => t.copy_(tensor([1, 2, 3])), ShapeError, /^copy_: the source of shape \[3\] cannot be broadcast to the shape \[2, 2\]/);
    throws(() => zeros([2]).to('webgpu').copy_(tensor([1, 2], { requiresGrad: true })), AutogradError, /^copy_: .*gradients do not flow across devices/);
    const u = zeros([2]).to('webgpu');
    noGrad(() => u.copy_(tensor([1, 2], { requiresGrad: true })));
    expect(await u.toArray()).toEqual([1, 2]);
  });
  it('refuses a WebGPU source into a CPU tensor, pointing to toAsync', async () => {
    const g = tensor([1, 2]).to('webgpu');
    throws(() => zeros([2]).copy_(g), DeviceError, /^copy_: webgpu has no synchronous readback.*toAsync\('cpu'\)/);
    expect(zeros([2]).copy_(await g.toAsync('cpu')).toArraySync()).toEqual([1, 2]);
    throws(() => zeros([2]).fill_(tensor(1).to('webgpu')), DeviceError, /^fill_: the value is a 0-d webgpu tensor/);
    expect(await zeros([2]).to('webgpu').fill_(tensor(4)).toArray()).toEqual([4, 4]);
  });
});
