/**
 * @file Index arithmetic of the WebGPU kernels: tg_divmod (a float reciprocal, the quotient read
 * off the bits of x + 2^23, corrected by selects) unravels every index below 2^23; past that the
 * kernels divide in integers. Strided copies over odd dims at both sides of the bound, and the
 * broadcast of a per-channel vector (a conv bias), against the CPU backend.
 */
import { gpuStatus } from './gpu-setup.ts';
import { describe, expect, it } from 'vitest';
import { fromTypedArray } from '../src/index.ts';

const gpu = await gpuStatus();

describe.skipIf(!gpu.ok)('webgpu index arithmetic', () => {
  for (const shape of [[3, 1399, 1997], [3, 1400, 2000]] as const) {
    const n = shape[0] * shape[1] * shape[2];
    it(`permuted copy of int32 [${shape.join(',')}] (${n < 2 ** 23 ? 'below' : 'past'} 2^23 elements) matches the CPU`, async () => {
      const v = new Int32Array(n);
      for (let i = 0; i < n; i++) v[i] = i;
      const g = await fromTypedArray(v, [...shape], 'int32', 'webgpu').permute(2, 0, 1).contiguous().data();
      const [A, B, C] = shape;
      let bad = 0;
      // out[c, a, b] = in[a, b, c] = (a·B + b)·C + c
      for (let c = 0, o = 0; c < C; c++) for (let a = 0; a < A; a++) for (let b = 0; b < B; b++, o++) if (g[o] !== (a * B + b) * C + c) bad++;
      expect(bad).toBe(0);
    }, 60_000);
  }

  it('per-channel bias broadcast over [64,6,784] and a ragged [5,7,3,11] match the CPU', async () => {
    for (const [xs, bs] of [[[64, 6, 784], [6, 1]], [[5, 7, 3, 11], [7, 1, 1]]] as const) {
      const nx = xs.reduce((p: number, d) => p * d, 1), nb = bs.reduce((p: number, d) => p * d, 1);
      const x = Float32Array.from({ length: nx }, (_, i) => (i % 23) - 11), b = Float32Array.from({ length: nb }, (_, i) => i * 0.5);
      const g = await fromTypedArray(x, [...xs], 'float32', 'webgpu').add(fromTypedArray(b, [...bs], 'float32', 'webgpu')).data();
      const c = fromTypedArray(x, [...xs], 'float32', 'cpu').add(fromTypedArray(b, [...bs], 'float32', 'cpu')).dataSync();
      expect(Array.from(g)).toEqual(Array.from(c));
    }
  });
});
