// GPU time of every dispatch of one training step, compiled and eager, from timestamp queries
// (Dawn under Node): each dispatch gets a compute pass of its own with timestamp writes, so the
// figures carry a pass's overhead, and lavapipe's timestamps tick every ~65 µs (Dawn's quantization is switched off here): use it to see
// which kernels dominate, not for totals. Diagnosis only (it patches Runtime.dispatch).
//
//   XDG_RUNTIME_DIR=/tmp npx tsx bench/gpu-kernel-times.ts [mlp|lenet]
import { create, globals } from 'webgpu';
import { initWebGPU, syncWebGPU } from '../src/index.ts';
import { Runtime } from '../src/gpu/runtime.ts';
import { mlpTrainer, lenetTrainer } from './trainers.ts';
Object.assign(globalThis, globals);
// timestamps are quantized by default (a timing side-channel guard); this is a diagnosis tool
const gpu = create(['disable-dawn-features=timestamp_quantization']);
const adapter = (await gpu.requestAdapter())!;
const device = await adapter.requestDevice({ requiredFeatures: ['timestamp-query'] as GPUFeatureName[] });
(globalThis as any).__keep = [gpu, adapter];
await initWebGPU({ device });
const MAXQ = 4096;
const qs = device.createQuerySet({ type: 'timestamp', count: MAXQ });
const resolveBuf = device.createBuffer({ size: MAXQ * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
const readBuf = device.createBuffer({ size: MAXQ * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
let on = false; let q = 0; const labels: string[] = [];
const orig = Runtime.prototype.dispatch;
// (reaches the runtime's private pass state)
Runtime.prototype.dispatch = function (this: any, k, bufs, u, count) {
  if (!on || q + 2 > MAXQ) return orig.call(this, k, bufs, u, count);
  this.closePass();
  const enc = this.openEncoder();
  this.pass = enc.beginComputePass({ timestampWrites: { querySet: qs, beginningOfPassWriteIndex: q, endOfPassWriteIndex: q + 1 } });
  q += 2; labels.push(k.key.slice(0, 70));
  orig.call(this, k, bufs, u, count);
  this.closePass();
};
const which = process.argv[2] ?? 'mlp';
for (const useJit of [true, false]) {
  const t = which === 'mlp' ? mlpTrainer('webgpu', useJit) : lenetTrainer('webgpu', useJit);
  for (let i = 0; i < 5; i++) await t.run();
  const agg = new Map<string, number[]>();
  const REPS = 10;
  for (let r = 0; r < REPS; r++) {
    await syncWebGPU();
    on = true; q = 0; labels.length = 0;
    await t.run();
    on = false;
    const enc = device.createCommandEncoder();
    enc.resolveQuerySet(qs, 0, q, resolveBuf, 0);
    enc.copyBufferToBuffer(resolveBuf, 0, readBuf, 0, q * 8);
    device.queue.submit([enc.finish()]);
    await readBuf.mapAsync(GPUMapMode.READ, 0, q * 8);
    const ts = new BigUint64Array(readBuf.getMappedRange(0, q * 8).slice(0));
    readBuf.unmap();
    labels.forEach((l, i) => { const key = `${i.toString().padStart(2)} ${l}`; if (!agg.has(key)) agg.set(key, []); agg.get(key)!.push(Number(ts[2 * i + 1]! - ts[2 * i]!) / 1e6); });
    (globalThis as any).__span ??= []; (globalThis as any).__span.push(Number(ts[q - 1]! - ts[0]!) / 1e6);
  }
  const med = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;
  let tot = 0;
  console.log(`--- ${which} ${useJit ? 'jit' : 'eager'}`);
  for (const [k, v] of agg) { const m = med(v); tot += m; if (m > 0.03 || useJit) console.log(m.toFixed(3).padStart(7), k); }
  const span = (globalThis as any).__span as number[];
  console.log('sum of kernel medians', tot.toFixed(3), 'first→last span', med(span).toFixed(3), 'dispatches', agg.size);
  (globalThis as any).__span = [];
}
process.exit(0);
