// Per-kernel profile of one LeNet (or, with --model mlp, MLP) training step (bench/trainers.ts,
// batch 64 / 128) on WebGPU, eager and jit.
//
//   npx tsx bench/lenet-gpu-profile.ts [--model lenet|mlp] [--mode eager|jit|both] [--reps 20] [--list]
//
// How: every `Runtime.dispatch` of one step is recorded (kernel, buffers, uniforms, workgroups)
// after a few warm-up steps; then each recorded dispatch is replayed on its own, `reps` times
// back to back in one submit followed by one wait, on the step's own buffers (so gathers read
// real indices and the data is what the step sees). The table groups dispatches by kernel kind
// (the pipeline key's first field) and reports ms per call and share of the summed kernel time;
// `--list` prints every dispatch. The gap between the summed kernel time and the measured step
// time is host-side cost (recording, bind groups, uploads) and pipeline bubbles.
//
// On lavapipe GPU time is CPU time on the same cores, so run it on a quiet machine and compare
// ratios, not absolute numbers.

import { getBackend } from '../src/backend.ts';
import type { GpuBackend } from '../src/gpu/backend.ts';
import { Runtime, type GpuBuf, type Kernel } from '../src/gpu/runtime.ts';
import { initWebGPU } from '../src/index.ts';
import { ensureWebGPU } from './peers/webgpu-node.ts';
import { lenetTrainer, mlpTrainer } from './trainers.ts';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const mode = arg('mode', 'both');
const model = arg('model', 'lenet');
const reps = Number(arg('reps', '20'));
const list = process.argv.includes('--list');

interface Rec { k: Kernel; bufs: GpuBuf[]; uniforms: Uint32Array; count: number }

let recording: Rec[] | null = null;
const origDispatch = Runtime.prototype.dispatch;
Runtime.prototype.dispatch = function (this: Runtime, k: Kernel, buffers: readonly GpuBuf[], uniforms: Uint32Array, count: number): void {
  if (recording && count > 0) recording.push({ k, bufs: [...buffers], uniforms: uniforms.slice(0, k.uniformBytes / 4), count });
  origDispatch.call(this, k, buffers, uniforms, count);
};

const USAGE_UNIFORM = 0x40, USAGE_COPY_DST = 0x08;

/** Replays one recorded dispatch `n` times in one submit and waits: ms per call. */
async function replay(be: GpuBackend, r: Rec, n: number): Promise<number> {
  const dev = be.ctx.device;
  const ub = dev.createBuffer({ size: r.k.uniformBytes, usage: USAGE_UNIFORM | USAGE_COPY_DST });
  dev.queue.writeBuffer(ub, 0, r.uniforms.buffer, r.uniforms.byteOffset, r.k.uniformBytes);
  const uniform = { buffer: ub, offset: 0, size: r.k.uniformBytes };
  // one group over all bindings, or (layout null) the uniforms in group 0 and a group per buffer
  const groups = r.k.layout
    ? [dev.createBindGroup({ layout: r.k.layout, entries: [{ binding: 0, resource: uniform }, ...r.bufs.map((b, i) => ({ binding: i + 1, resource: { buffer: b.buffer } }))] })]
    : [dev.createBindGroup({ layout: r.k.pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: uniform }] }),
      ...r.bufs.map((b, i) => dev.createBindGroup({ layout: r.k.pipeline.getBindGroupLayout(i + 1), entries: [{ binding: 0, resource: { buffer: b.buffer } }] }))];
  const max = be.ctx.limits.maxComputeWorkgroupsPerDimension;
  const [gx, gy] = r.count <= max ? [r.count, 1] : [Math.ceil(r.count / Math.ceil(r.count / max)), Math.ceil(r.count / max)];
  const run = async (times: number) => {
    const enc = dev.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(r.k.pipeline);
    groups.forEach((g, i) => (i === 0 ? pass.setBindGroup(0, g, [0]) : pass.setBindGroup(i, g)));
    for (let i = 0; i < times; i++) pass.dispatchWorkgroups(gx, gy);
    pass.end();
    dev.queue.submit([enc.finish()]);
    await be.ctx.settle(dev.queue.onSubmittedWorkDone());
  };
  await run(1);
  const t0 = performance.now();
  await run(n);
  const ms = (performance.now() - t0) / n;
  ub.destroy();
  return ms;
}

/** Median wall time of a step (loss read back), over `n` steps. */
async function stepMs(t: { run(): unknown }, n: number): Promise<number> {
  const ts: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await t.run();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return ts[ts.length >> 1]!;
}

/** Short description of a dispatch: key, workgroups, leading uniforms (sizes). */
const describe = (r: Rec) => `${r.k.key}  wg×${r.count}  u[${[...r.uniforms.slice(0, 6)].join(',')}]`;

async function profile(useJit: boolean): Promise<void> {
  const be = getBackend('webgpu') as unknown as GpuBackend;
  const t = (model === 'mlp' ? mlpTrainer : lenetTrainer)('webgpu', useJit);
  for (let i = 0; i < 3; i++) await t.run();
  const step = await stepMs(t, 7);
  recording = [];
  await t.run();
  const recs = recording;
  recording = null;
  be.ctx.device.pushErrorScope('validation');
  const times: number[] = [];
  for (const r of recs) times.push(await replay(be, r, reps));
  const err = await be.ctx.device.popErrorScope();
  if (err) {
    console.log(`  replay validation error (a buffer was freed?): ${err.message}`);
    return;
  }
  {
    const total = times.reduce((a, b) => a + b, 0);
    const byKind = new Map<string, { n: number; ms: number }>();
    recs.forEach((r, i) => {
      const kind = r.k.key.split(':')[0]!;
      const e = byKind.get(kind) ?? { n: 0, ms: 0 };
      e.n++;
      e.ms += times[i]!;
      byKind.set(kind, e);
    });
    console.log(`\n${useJit ? 'jit' : 'eager'}: step ${step.toFixed(2)} ms (median of 7), ${recs.length} dispatches, summed kernel time ${total.toFixed(2)} ms`);
    console.log(`  ${'kernel kind'.padEnd(18)} ${'calls'.padStart(5)} ${'ms/step'.padStart(8)} ${'share'.padStart(6)}`);
    for (const [kind, e] of [...byKind].sort((a, b) => b[1].ms - a[1].ms)) {
      console.log(`  ${kind.padEnd(18)} ${String(e.n).padStart(5)} ${e.ms.toFixed(3).padStart(8)} ${((100 * e.ms) / total).toFixed(1).padStart(5)}%`);
    }
    const order = recs.map((r, i) => ({ r, ms: times[i]! })).sort((a, b) => b.ms - a.ms);
    console.log(list ? '  every dispatch, in step order:' : '  slowest dispatches:');
    for (const { r, ms } of (list ? recs.map((r, i) => ({ r, ms: times[i]! })) : order.slice(0, 12))) {
      console.log(`    ${ms.toFixed(3).padStart(7)} ms  ${describe(r)}`);
    }
  }
}

const st = await ensureWebGPU();
if (!st.ok) throw new Error(st.detail);
await initWebGPU();
if (mode !== 'jit') await profile(false);
if (mode !== 'eager') await profile(true);
process.exit(0);
