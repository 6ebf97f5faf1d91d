/**
 * @file The register-tiled WebGPU matmul at sizes past its widest tile (on CPU adapters 8×16
 * outputs per invocation, in a row of 8 invocations past 32 columns unless a is read along m,
 * else 4×4 or fewer):
 * ragged M, K, N; plain, transposed, batched-broadcast and offset views; float32 and int32 —
 * against the CPU backend. The property tests use small shapes.
 */
import { gpuStatus } from './gpu-setup.ts';
import { describe, expect, it } from 'vitest';
import { fromTypedArray, webgpuStats, type Tensor } from '../src/index.ts';

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

describe.skipIf(!gpu.ok)('webgpu matmul: b read along k (a·bᵀ)', () => {
  // from 16 rows and 8 Ki elements of b, CPU adapters copy b n-contiguous first, rows padded to a
  // multiple of 4 columns (kernels/matmul.ts): by 4×4 blocks, or elementwise where K % 4 or alignment forbid
  const cases: { name: string; a: number[]; b: number[]; narrow?: boolean }[] = [
    { name: 'x·Wᵀ of an MLP layer', a: [128, 784], b: [128, 784] },
    { name: 'ragged M, N multiple of 4', a: [37, 200], b: [132, 200] },
    { name: 'batched', a: [2, 20, 160], b: [2, 128, 160] },
    { name: 'broadcast batch of b', a: [3, 16, 130], b: [1, 132, 130] },
    { name: 'offset, strided view of b', a: [24, 150], b: [140, 160], narrow: true },
    { name: 'below the copy threshold (M < 16)', a: [5, 784], b: [128, 784] },
    { name: 'N not a multiple of 4 (padded copy)', a: [64, 300], b: [150, 300] },
    { name: 'batched, N not a multiple of 4 (LeNet conv backward)', a: [4, 16, 100], b: [4, 150, 100] },
    { name: 'K not a multiple of 4 (elementwise copy)', a: [20, 130], b: [100, 130] },
    { name: 'neither K nor N a multiple of 4', a: [20, 130], b: [90, 130] },
    { name: 'below the copy threshold (small b)', a: [32, 64], b: [64, 64] },
  ];
  for (const c of cases) {
    it(`${c.name}: a${JSON.stringify(c.a)} · b${JSON.stringify(c.b)}ᵀ matches the CPU`, async () => {
      const [ag, ac] = pair(c.a, 'float32', 3);
      let [bg, bc] = pair(c.b, 'float32', 4);
      if (c.narrow) [bg, bc] = [bg, bc].map((t) => t.narrow(0, 4, 128).narrow(1, 10, 150)) as [Tensor, Tensor];
      const d0 = webgpuStats()!.dispatches;
      const prod = ag.matmul(bg.mT);
      const M = c.a[c.a.length - 2]!, K = c.a[c.a.length - 1]!, N = bg.shape[bg.shape.length - 2]!;
      const copies = gpu.info!.adapter.isSoftware && M >= 16 && N * K >= 8192;
      expect(webgpuStats()!.dispatches - d0, 'kernels (the copy of b, then the product)').toBe(copies ? 2 : 1);
      const g = await prod.data(), want = ac.matmul(bc.mT).dataSync();
      expect(g.length).toBe(want.length);
      let bad = 0;
      for (let i = 0; i < want.length; i++) if (Math.abs(g[i]! - want[i]!) > 1e-4 * (1 + Math.abs(want[i]!))) bad++;
      expect(bad).toBe(0);
    });
  }
});

describe.skipIf(!gpu.ok)('webgpu matmul: a row of 8 invocations on the same rows (past 32 columns)', () => {
  // rows and columns just under, at and past the 8-row and 128-column workgroup tile; a shared
  // (broadcast) a over a batch of b, as a convolution's weight; a transposed a (m-contiguous:
  // 4×4 invocations) against one with K odd (read by scalars: the row)
  const cases: { name: string; a: number[]; b: number[]; ta?: boolean }[] = [
    { name: 'one tile', a: [8, 9], b: [9, 128] },
    { name: 'few rows (4 per invocation), 33 columns', a: [3, 12], b: [12, 33] },
    { name: 'ragged rows and columns', a: [33, 7], b: [7, 129] },
    { name: 'rows past a tile, K odd', a: [47, 151], b: [151, 100] },
    { name: 'broadcast a over a batch of b (conv forward)', a: [16, 150], b: [5, 150, 100] },
    { name: 'transposed a, batched', a: [2, 20, 48], b: [2, 20, 200], ta: true },
    { name: 'transposed a, M odd', a: [21, 45], b: [21, 70], ta: true },
  ];
  for (const dt of ['float32', 'int32'] as const) {
    for (const c of cases) {
      it(`${dt} ${c.name}: a${JSON.stringify(c.a)}${c.ta ? 'ᵀ' : ''} · b${JSON.stringify(c.b)} matches the CPU`, async () => {
        let [ag, ac] = pair(c.a, dt, 5);
        const [bg, bc] = pair(c.b, dt, 6);
        if (c.ta) [ag, ac] = [ag.mT, ac.mT];
        const g = await ag.matmul(bg).data(), want = ac.matmul(bc).dataSync();
        expect(g.length).toBe(want.length);
        let bad = 0;
        for (let i = 0; i < want.length; i++) if (Math.abs(g[i]! - want[i]!) > 1e-4 * (1 + Math.abs(want[i]!))) bad++;
        expect(bad).toBe(0);
      });
    }
  }
});
