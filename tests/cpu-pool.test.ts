/**
 * @file The CPU backend's pool of output arrays: reuse after dispose()/scope(), never while a
 * tensor (or a view) still references the array, never for adopted user arrays, zeros for kernels
 * that rely on them, the byte cap, and memory() accounting.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cpuBackend, setCpuPooling, trimCpuPool, type CpuStorage } from '../src/cpu/backend.ts';
import { fromTypedArray, full, memory, scope, tensor, type Tensor } from '../src/index.ts';
import * as F from '../src/ops/functional.ts';

const N = 2048; // 8 KiB of float32: above the pool's lower size limit
const arrayOf = (t: Tensor) => (t._storage as CpuStorage).data;
const ramp = () => fromTypedArray(Float32Array.from({ length: N }, (_, i) => i), [N], 'float32');

describe('cpu output pool', () => {
  beforeEach(() => { setCpuPooling(true); trimCpuPool(); });
  afterEach(() => setCpuPooling(true));

  it('reuses the array of a disposed output for the next output of that size and dtype', () => {
    const x = ramp();
    const a = x.add(x);
    const arr = arrayOf(a);
    a.dispose();
    expect(memory().bytesPooled).toBe(N * 4);
    const other = x.to('int32'); // int32 of the same length: not the pooled float32 array
    expect(arrayOf(other)).not.toBe(arr);
    expect(x.slice(0, 0, N / 2).contiguous().numel).toBe(N / 2); // another size: not it either
    expect(memory().bytesPooled).toBe(N * 4);
    const b = x.mul(x);
    expect(arrayOf(b)).toBe(arr);
    expect(memory().bytesPooled).toBe(0);
    expect(b.dataSync()[5]).toBe(25);
  });

  it('accounts bytes in use and pooled', () => {
    const x = ramp();
    const before = memory();
    const a = x.add(x);
    expect(memory().bytesInUse - before.bytesInUse).toBe(N * 4);
    expect(memory().storages - before.storages).toBe(1);
    a.dispose();
    expect(memory().bytesInUse).toBe(before.bytesInUse);
    expect(memory().storages).toBe(before.storages);
    expect(memory().bytesPooled - before.bytesPooled).toBe(N * 4);
    const b = x.sub(x);
    expect(memory().bytesPooled).toBe(before.bytesPooled);
    expect(memory().bytesInUse - before.bytesInUse).toBe(N * 4);
    b.dispose();
  });

  it('reuses arrays released by scope(), but not one a returned view still uses', () => {
    const x = ramp();
    const v = scope(() => {
      const tmp = x.mul(3); // released at the end of the scope
      tmp.add(0);
      return x.add(1).view(2, N / 2).transpose(0, 1); // a view escapes: its base stays
    });
    expect(memory().bytesPooled).toBeGreaterThan(0);
    const made: Tensor[] = [];
    for (let i = 0; i < 4; i++) made.push(x.sub(7));
    for (const t of made) expect(arrayOf(t)).not.toBe(arrayOf(v));
    expect(v.shape).toEqual([N / 2, 2]);
    expect(v.contiguous().dataSync().slice(0, 4)).toEqual(Float32Array.of(1, 1 + N / 2, 2, 2 + N / 2));
  });

  it('never pools an adopted user array', () => {
    const user = new Float32Array(N).fill(5);
    const t = fromTypedArray(user, [N], 'float32');
    t.dispose();
    expect(memory().bytesPooled).toBe(0);
    const x = ramp();
    for (let i = 0; i < 3; i++) expect(arrayOf(x.add(i))).not.toBe(user);
    expect(user.every((v) => v === 5)).toBe(true);
    // tensor(typedArray) copies, so disposing it may pool its copy but never the caller's array
    const u2 = new Float32Array(N).fill(3);
    tensor(u2).dispose();
    for (let i = 0; i < 3; i++) expect(arrayOf(x.add(i))).not.toBe(u2);
  });

  it('stops pooling an output array once a second storage adopts it (as the jit executor does)', () => {
    const x = ramp();
    const a = x.add(1);
    const shared = cpuBackend.fromArray(arrayOf(a), 'float32');
    a.dispose();
    expect(memory().bytesPooled).toBe(0);
    expect((shared as CpuStorage).data[3]).toBe(4);
    cpuBackend.release(shared);
    expect(memory().bytesPooled).toBe(0);
  });

  it('hands zeroed arrays to pad (value 0) and fold, which rely on zeros', () => {
    // put an array of 7s of pad's output size in the pool: pad must still see zeros around x
    const img = full([2, 32, 32], 1);
    const sevens = full([2 * 34 * 34], 7);
    const seven = arrayOf(sevens);
    sevens.dispose();
    const p = F.pad(img, [1, 1, 1, 1]);
    expect(arrayOf(p)).toBe(seven);
    expect(p.shape).toEqual([2, 34, 34]);
    const pd = p.dataSync();
    expect(pd[0]).toBe(0);
    expect(pd[34 * 34 - 1]).toBe(0);
    expect(pd[35]).toBe(1);
    // fold accumulates: cols [1, 1·2·2, 31·31] back onto a [1, 1, 32, 32] image
    const s2 = full([32 * 32], 7);
    const seven2 = arrayOf(s2);
    s2.dispose();
    const cols = full([1, 4, 31 * 31], 1);
    const folded = F.fold(cols, { kernel: [2, 2], stride: [1, 1], padding: [0, 0], dilation: [1, 1], inputSize: [32, 32], padValue: 0 });
    expect(arrayOf(folded)).toBe(seven2);
    const fd = folded.dataSync();
    expect(fd[0]).toBe(1); // a corner pixel is covered by one tap
    expect(fd[33]).toBe(4); // an inner pixel by four
    // pad with a nonzero value fills everything itself
    full([2 * 34 * 34], 0).dispose();
    expect(F.pad(img, [1, 1, 1, 1], 5).dataSync()[0]).toBe(5);
  });

  it('respects the byte cap', () => {
    setCpuPooling(true, 3 * N * 4);
    const x = ramp();
    const ts = Array.from({ length: 5 }, (_, i) => x.add(i));
    for (const t of ts) t.dispose();
    expect(memory().bytesPooled).toBe(3 * N * 4);
    setCpuPooling(false);
    expect(memory().bytesPooled).toBe(0);
    x.add(1).dispose();
    expect(memory().bytesPooled).toBe(0);
  });
});
