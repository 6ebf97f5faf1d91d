/**
 * @file The register-tiled WebGPU matmul at sizes past its widest tile (8×16 outputs per
 * invocation on CPU adapters): ragged M, K, N; plain, transposed, batched-broadcast and offset
 * views; float32 and int32 — against the CPU backend. The property tests use small shapes.
 */
import { gpuStatus } from './gpu-setup.ts';
import { describe, expect, it } from 'vitest';
import { fromTypedArray, type Tensor } from '../src/index.ts';

const gpu = await gpuStatus();

function pair(shape: number[], dt: 'float32' | 'int32', seed: number): [Tensor, Tensor] {
  const n = shape.reduce((x, y) => x * y, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = ((i * 7919 + seed * 104729) % 17) - 8;
  const v = dt === 'int32' ? Int32Array.from(d) : d;
  return [fromTypedArray(v, shape, dt, 'webgpu'), fromTypedArray(v.slice(), shape, dt, 'cpu')];
}

describe.skipIf(!gpu.ok)('webgpu matmul: wide register tiles', () => {
  for (const dt of ['float32', 'int32'] as const) {
    it(`${dt}: ragged sizes, transposed, batched and offset operands match the CPU`, async () => {
      const bad: string[] = [];
      for (const M of [17, 64, 100]) for (const K of [1, 4, 31]) for (const N of [33, 64, 130]) {
        for (const layout of ['nn', 'tn', 'nt', 'tt', 'batch', 'view']) {
          let [ag, ac] = layout === 'batch' ? pair([3, 1, M, K], dt, 1) : layout === 'view' ? pair([M + 2, K + 4], dt, 1)
            : layout[0] === 't' ? pair([K, M], dt, 1) : pair([M, K], dt, 1);
          let [bg, bc] = layout === 'batch' ? pair([2, K, N], dt, 2) : layout === 'view' ? pair([K + 1, N + 4], dt, 2)
            : layout[1] === 't' ? pair([N, K], dt, 2) : pair([K, N], dt, 2);
          if (layout === 'view') {
            [ag, ac] = [ag, ac].map((t) => t.narrow(0, 1, M).narrow(1, 3, K)) as [Tensor, Tensor];
            [bg, bc] = [bg, bc].map((t) => t.narrow(0, 1, K).narrow(1, 4, N)) as [Tensor, Tensor];
          }
          if (layout[0] === 't') [ag, ac] = [ag.mT, ac.mT];
          if (layout[1] === 't') [bg, bc] = [bg.mT, bc.mT];
          const g = await ag.matmul(bg).data(), c = ac.matmul(bc).dataSync();
          let ok = g.length === c.length;
          for (let i = 0; ok && i < c.length; i++) if (Math.abs(g[i]! - c[i]!) > 1e-4 * (1 + Math.abs(c[i]!))) ok = false;
          if (!ok) bad.push(`${M}×${K}×${N} ${layout}`);
        }
      }
      expect(bad).toEqual([]);
    }, 60_000);
  }
});
