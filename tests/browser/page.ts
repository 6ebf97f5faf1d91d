/**
 * @file The browser test page's script (bundled by tests/browser.test.ts with esbuild, no Node
 * built-ins): trains a small MLP for a few steps on `navigator.gpu` and publishes the losses.
 */
import { initWebGPU, manualSeed, memory, noGrad, randn, tensor, webgpuStats, zeros, type Tensor } from '../../src/index.ts';

interface PageResult {
  ok: boolean;
  error?: string;
  adapter?: string;
  losses?: number[];
  memory?: { bytesInUse: number; bytesPooled: number };
  pipelines?: number;
  ms?: number;
}

async function main(): Promise<PageResult> {
  const info = await initWebGPU();
  const t0 = performance.now();
  manualSeed(3);
  const D = 'webgpu' as const;
  // a separable toy problem: class = which of 4 blobs a 16-d point comes from
  const N = 64, IN = 16, H = 32, C = 4;
  const centers = randn([C, IN], { device: D }).mul(3);
  const labels = Int32Array.from({ length: N }, (_, i) => i % C);
  const y = tensor(labels, { device: D });
  const x = centers.indexSelect(0, y).add(randn([N, IN], { device: D }));
  const W1 = randn([IN, H], { device: D }).mul(0.3).requiresGrad_();
  const b1 = zeros([H], { device: D, requiresGrad: true });
  const W2 = randn([H, C], { device: D }).mul(0.3).requiresGrad_();
  const b2 = zeros([C], { device: D, requiresGrad: true });
  const params: Tensor[] = [W1, b1, W2, b2];
  const losses: number[] = [];
  for (let step = 0; step < 12; step++) {
    const logits = x.matmul(W1).add(b1).relu().matmul(W2).add(b2);
    const loss = logits.logSoftmax(1).gather(1, y.unsqueeze(1)).mean().neg();
    loss.backward();
    noGrad(() => {
      for (const p of params) {
        p.sub_(p.grad!.mul(0.2));
        p.grad = null;
      }
    });
    losses.push(await loss.item());
  }
  const m = memory(D);
  return {
    ok: true,
    adapter: `${info.adapter.vendor} ${info.adapter.architecture} ${info.adapter.description}`.trim(),
    losses,
    memory: { bytesInUse: m.bytesInUse, bytesPooled: m.bytesPooled },
    pipelines: webgpuStats()?.pipelines,
    ms: performance.now() - t0,
  };
}

const w = globalThis as unknown as { __tapegrad?: PageResult };
main().then(
  (r) => { w.__tapegrad = r; },
  (e: unknown) => { w.__tapegrad = { ok: false, error: e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e) }; },
);
