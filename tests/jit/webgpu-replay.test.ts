/**
 * @file Replay of recorded commands for compiled WebGPU steps (src/gpu/replay.ts): the recording's
 * refusals and replay order on a stand-in runtime (no GPU needed), then on WebGPU: a replayed
 * LeNet training step matches eager step by step, template temporaries (a split reduction) are
 * re-acquired per call, changed argument aliasing re-records, and random programs keep planning.
 */
import { describe, expect, it } from 'vitest';
import { Tensor, manualSeed, noGrad, ones, randn, randint } from '../../src/index.ts';
import { Recording, type RawCommand } from '../../src/gpu/replay.ts';
import type { GpuBuf, Kernel, Runtime } from '../../src/gpu/runtime.ts';
import { jit } from '../../src/jit/index.ts';
import { Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential, functional as F } from '../../src/nn/index.ts';
import { Adam } from '../../src/optim/index.ts';
import { getBackend } from '../../src/backend.ts';
import type { GpuBackend } from '../../src/gpu/backend.ts';
import { expectAllClose, gpuStatus } from '../gpu-setup.ts';
import { classifierStep } from '../helpers/train-step.ts';

let nextId = 1;
const buf = (bytes = 64): GpuBuf => ({ buffer: null as unknown as GPUBuffer, bytes, lastBatch: 0, pooled: false, id: nextId++ });
const kernel = (key: string): Kernel => ({ key } as unknown as Kernel);

/** A stand-in runtime that logs what a replay issues, naming buffers by their ids. */
function fakeRuntime() {
  const log: string[] = [];
  const flags = buf(16);
  const rt = {
    flags,
    matmulVariant: 'auto',
    dispatch: (k: Kernel, bufs: GpuBuf[], u: Uint32Array, n: number) => log.push(`dispatch ${k.key} [${bufs.map((b) => b.id)}] u[${[...u]}] ×${n}`),
    clear: (b: GpuBuf, bytes: number) => log.push(`clear ${b.id} ${bytes}`),
    copy: (s: GpuBuf, so: number, d: GpuBuf, dO: number, n: number) => log.push(`copy ${s.id}@${so} → ${d.id}@${dO} ${n}`),
    acquire: (bytes: number) => { const b = buf(bytes); log.push(`acquire ${b.id} ${bytes}`); return b; },
    release: (b: GpuBuf) => log.push(`release ${b.id}`),
  };
  return { rt: rt as unknown as Runtime, log, flags };
}

describe('Recording (stand-in runtime)', () => {
  it('replays dispatches, clears, copies and temporaries over the new call\'s slot buffers', () => {
    const { rt, log, flags } = fakeRuntime();
    const [a, b, out] = [buf(), buf(), buf()];
    const tmp = buf(128);
    const raw: RawCommand[] = [
      { op: 'clear', buf: out, bytes: 64 },
      { op: 'acquire', buf: tmp, bytes: 100 },
      { op: 'dispatch', kernel: kernel('k1'), bufs: [tmp, a, flags], uniforms: Uint32Array.of(7, 8), count: 3 },
      { op: 'dispatch', kernel: kernel('k2'), bufs: [out, tmp, b], uniforms: Uint32Array.of(9), count: 1 },
      { op: 'release', buf: tmp },
      { op: 'copy', src: out, srcOffset: 4, dst: b, dstOffset: 8, bytes: 12 },
    ];
    const r = Recording.from(raw, [a, b, out], rt);
    if (typeof r === 'string') throw new Error(r);
    expect(r.dispatches).toBe(2);
    const [a2, b2, out2] = [buf(), buf(), buf()];
    expect(r.fits([a2, b2, out2], rt)).toBe(true);
    r.replay(rt, [a2, b2, out2]);
    const t = a2.id + 3; // the replay's temporary: the next id after out2
    expect(log).toEqual([
      `clear ${out2.id} 64`,
      `acquire ${t} 100`,
      `dispatch k1 [${t},${a2.id},${flags.id}] u[7,8] ×3`,
      `dispatch k2 [${out2.id},${t},${b2.id}] u[9] ×1`,
      `release ${t}`,
      `copy ${out2.id}@4 → ${b2.id}@8 12`,
    ]);
  });

  it('does not fit a call whose slots alias differently, or another matmul variant', () => {
    const { rt } = fakeRuntime();
    const [a, b] = [buf(), buf()];
    const r = Recording.from([{ op: 'dispatch', kernel: kernel('k'), bufs: [a, b], uniforms: new Uint32Array(1), count: 1 }], [a, b], rt);
    if (typeof r === 'string') throw new Error(r);
    const c = buf();
    expect(r.fits([c, c], rt)).toBe(false);
    expect(r.fits([c, buf()], rt)).toBe(true);
    (rt as { matmulVariant: string }).matmulVariant = 'register';
    expect(r.fits([c, buf()], rt)).toBe(false);
  });

  it('refuses what a replay could not reproduce, saying why', () => {
    const { rt } = fakeRuntime();
    const [a, stranger, kept] = [buf(), buf(), buf()];
    const d = (bufs: GpuBuf[]): RawCommand => ({ op: 'dispatch', kernel: kernel('k'), bufs, uniforms: new Uint32Array(1), count: 1 });
    expect(Recording.from([d([a, stranger])], [a], rt)).toMatch(/buffer #\d+, which is neither a slot's nor a temporary/);
    expect(Recording.from([{ op: 'acquire', buf: kept, bytes: 4 }, d([a, kept])], [a], rt)).toMatch(/1 buffer\(s\) acquired in the call were kept/);
    expect(Recording.from([{ op: 'release', buf: a }], [a], rt)).toMatch(/released without being acquired/);
    expect(Recording.from([{ op: 'unsupported', what: 'a host write into a buffer' }], [a], rt)).toBe('a host write into a buffer');
  });
});

const gpu = await gpuStatus();
const d = describe.skipIf(!gpu.ok);

d('replayed jit steps on WebGPU', () => {
  it('a replayed LeNet step with Adam matches the eager loop at every step', async () => {
    const makeModel = () => new Sequential(
      new Conv2d(1, 4, 3, { padding: 1 }), new ReLU(), new MaxPool2d(2),
      new Conv2d(4, 6, 3), new ReLU(), new Flatten(), new Linear(6 * 2 * 2, 4),
    );
    manualSeed(5);
    const batches = Array.from({ length: 7 }, () => [randn([5, 1, 8, 8]), randint(0, 4, [5])] as const);
    const run = async (useJit: boolean) => {
      manualSeed(11);
      const model = makeModel().to('webgpu');
      const opt = new Adam(model.parameters(), { lr: 0.01 });
      const step = classifierStep(model, opt, useJit);
      const losses: number[] = [];
      for (const [x, y] of batches) losses.push(await step(x.to('webgpu'), y.to('webgpu')).item());
      const params: number[] = [];
      for (const p of model.parameters()) params.push(...(await p.data()));
      const lowering = useJit ? (step as ReturnType<typeof jit>).stats.last : null;
      return { losses, params, replay: lowering?.replay };
    };
    const eager = await run(false);
    const jitted = await run(true);
    // call 1 runs eagerly (tracing); call 2 gives Adam's moments (lazy zeros) their buffers, which
    // a replay could not repeat, so call 3 records; calls 4..7 replay
    expect(jitted.replay).toEqual({ calls: 4, refused: null });
    expectAllClose('losses', jitted.losses, eager.losses, 1e-4, 1e-5);
    expectAllClose('parameters after 7 steps', jitted.params, eager.params, 1e-4, 1e-5);
  });

  it('a split reduction\'s temporary is acquired again on every replayed call', async () => {
    const f = jit((a: Tensor) => a.mul(a).sum(), { eagerFirstCall: false });
    for (let i = 0; i < 5; i++) {
      const xc = randn([70000]);
      const got = await f(xc.to('webgpu')).item();
      const want = xc.mul(xc).sum().dataSync()[0]!;
      expect(Math.abs(got - want)).toBeLessThan(1e-4 * want);
    }
    const x = randn([70000]).to('webgpu');
    expect(f.lower(x).replay).toEqual({ calls: 4, refused: null });
  });

  it('re-records when the arguments alias differently, and keeps the results right', async () => {
    const f = jit((a: Tensor, b: Tensor) => a.mul(2).add(b.exp()), { eagerFirstCall: false });
    const xc = randn([6]), yc = randn([6]);
    const [x, y] = [xc.to('webgpu'), yc.to('webgpu')];
    for (let i = 0; i < 3; i++) expectAllClose(`f(x, y) #${i}`, await f(x, y).data(), xc.mul(2).add(yc.exp()).dataSync(), 1e-5, 1e-6);
    expect(f.lower(x, y).replay?.calls).toBe(2); // the first call plans and records
    for (let i = 0; i < 3; i++) expectAllClose(`f(x, x) #${i}`, await f(x, x).data(), xc.mul(2).add(xc.exp()).dataSync(), 1e-5, 1e-6);
    // the first f(x, x) re-records; the next two replay that recording
    expect(f.lower(x, y).replay?.calls).toBe(4);
  });

  it('programs with random kernels plan every call (a new seed each), and say so', async () => {
    const f = jit((a: Tensor) => F.dropout(a, 0.5, true), { eagerFirstCall: false });
    const x = ones([4096]).to('webgpu');
    const masks: string[] = [];
    for (let i = 0; i < 3; i++) masks.push(Array.from(await f(x).data(), (v) => (v === 0 ? '0' : '1')).join(''));
    expect(new Set(masks).size).toBe(3);
    expect(f.lower(x).replay).toEqual({ calls: 0, refused: 'the program has random kernels (a new seed per call)' });
  });

  it('compiled steps bind one bind group per dispatch; eager ops a group per buffer', async () => {
    const rt = (getBackend('webgpu') as GpuBackend).rt;
    const seen: { key: string; oneGroup: boolean }[] = [];
    const prev = rt.onDispatch;
    rt.onDispatch = (k) => seen.push({ key: k.key, oneGroup: k.layout !== null });
    try {
      const xc = randn([300]), yc = randn([300]);
      const [x, y] = [xc.to('webgpu'), yc.to('webgpu')];
      const f = jit((a: Tensor, b: Tensor) => a.mul(b).add(1), { eagerFirstCall: false });
      seen.length = 0;
      const eager = x.mul(y).add(1);
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.every((s) => !s.oneGroup && !s.key.endsWith('|g1'))).toBe(true);
      for (let i = 0; i < 3; i++) {
        seen.length = 0;
        // (a GPU compiler may contract a·b + 1 into a fused multiply-add: NVIDIA's does)
        expectAllClose(`jit call ${i}`, await f(x, y).data(), await eager.data(), 1e-5, 1e-6);
        // (the first call's dispatches go to the jit's own hook, which records their WGSL)
        if (i === 0) continue;
        expect(seen).toHaveLength(1); // one fused kernel, planned (call 2) or replayed (call 3)
        expect(seen[0]!.oneGroup).toBe(true);
        expect(seen[0]!.key.endsWith('|g1')).toBe(true);
      }
    } finally {
      rt.onDispatch = prev;
    }
  });

  it('call-invariant kernels (the one-hot\'s arange) run on the first call only; losses match eager', async () => {
    const rt = (getBackend('webgpu') as GpuBackend).rt;
    manualSeed(3);
    const w = randn([6, 5]);
    const run = async (useJit: boolean) => {
      const p = w.to('webgpu').requiresGrad_();
      const body = (x: Tensor, y: Tensor) => {
        p.grad = null;
        const loss = F.crossEntropy(x.matmul(p), y);
        loss.backward();
        noGrad(() => p.sub_(p.grad!.mul(0.5)));
        return loss;
      };
      const step = useJit ? jit(body, { eagerFirstCall: false }) : body;
      const losses: number[] = [], dispatches: number[] = [];
      for (let i = 0; i < 4; i++) {
        manualSeed(100 + i);
        const [x, y] = [randn([8, 6]).to('webgpu'), randint(0, 5, [8]).to('webgpu')];
        const d0 = rt.stats.dispatches;
        const l = step(x, y);
        dispatches.push(rt.stats.dispatches - d0);
        losses.push(await l.item());
      }
      return { losses, dispatches, step, params: Array.from(await p.data()) };
    };
    const eager = await run(false);
    const jitted = await run(true);
    expectAllClose('losses', jitted.losses, eager.losses, 1e-5, 1e-6);
    expectAllClose('parameters', jitted.params, eager.params, 1e-5, 1e-6);
    const x = randn([8, 6]).to('webgpu'), y = randint(0, 5, [8]).to('webgpu');
    const step = jitted.step as ReturnType<typeof jit>;
    const low = step.lower(x, y);
    expect(low.passes.flatMap((p) => p.fired ?? [])).toContain('scatter-pick'); // the one-hot's arange
    // the second call traces again (p.grad now exists); each compiled program's first call runs
    // every kernel, later calls all but the arange
    expect(step.stats.traces).toBe(2);
    expect(low.launches).toBe(low.kernels.length - 1);
    expect(jitted.dispatches).toEqual([low.kernels.length, low.kernels.length, low.launches, low.launches]);
  });

  it('a kernel with too many buffers for a group each is one pipeline for eager ops and compiled steps', async () => {
    const rt = (getBackend('webgpu') as GpuBackend).rt;
    // int32 values: a gather key no other test of this file compiled
    const x = randint(0, 100, [5, 7]).to('webgpu'), idx = randint(0, 7, [5, 3]).to('webgpu');
    const eager = x.gather(1, idx); // gather binds out, x, idx and the index-error flags: 4 buffers
    await eager.data();
    const gatherKeys = () => rt.pipelineKeys().filter((k) => k.startsWith('gather:i32'));
    const compiled = rt.stats.pipelines;
    const keys = gatherKeys();
    expect(keys).toHaveLength(1);
    const f = jit((a: Tensor, i: Tensor) => a.gather(1, i), { eagerFirstCall: false });
    expectAllClose('gather', await f(x, idx).data(), await eager.data(), 0, 0);
    // the compiled step asked for key + '|g1' and was given the eager pipeline: nothing compiled
    expect(gatherKeys()).toEqual([...keys, ...keys.map((k) => `${k}|g1`)]);
    expect(rt.stats.pipelines).toBe(compiled);
  });
});
