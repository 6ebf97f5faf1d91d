// WebGPU readback latency, tapegrad against tfjs-webgpu and jax-js (webgpu), on the same adapter:
//   w4     W4, x.sigmoid() over 1M resident float32 values and `await y.data()`
//   read   `await x.data()` of 1M resident values (no kernel: the readback alone; tapegrad only,
//          the peers cache host copies of uploaded tensors)
//   item   `await (s + 1).item()` for a 0-d s resident on the device (the per-step loss
//          readback; s = sum(x) keeps it on the GPU: tfjs runs ops on host-resident small
//          tensors on the CPU)
//   mlp    one W2 MLP training step reading its loss (tapegrad only)
//
//   npx tsx bench/readback.ts [--rounds 4] [--iters 40] [--impls after,tfjs,jax] [--before DIR]
//
// Each library runs in its own child process (one device each, nothing shared but the cores);
// rounds alternate the children so load on a shared machine hits all alike. `--before DIR` adds a
// tapegrad checkout at DIR (e.g. an older src/ tree with node_modules linked) as impl `before`.
// Figures: median and 25th percentile of the per-iteration ms over all rounds.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const here = path.dirname(fileURLToPath(import.meta.url));
const N = 1_000_000;

type Times = Record<string, number[]>;

async function timeIt(f: () => Promise<unknown>, iters: number, warm = 5): Promise<number[]> {
  for (let i = 0; i < warm; i++) await f();
  const ts: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    await f();
    ts.push(performance.now() - t0);
  }
  return ts;
}

async function childTapegrad(root: string, iters: number): Promise<Times> {
  const tg = (await import(path.join(root, 'src/index.ts'))) as typeof import('../src/index.ts');
  const { logisticInput } = await import('./peers/data.ts');
  await tg.initWebGPU();
  const x = tg.fromTypedArray(logisticInput(), [N], 'float32', 'webgpu');
  const l = x.sum();
  const th = arg('throttle');
  if (th) {
    // a diagnosis knob: 'off' or 'spinMs:minSliceMs:maxSliceMs'
    const dev = await import(path.join(root, 'src/gpu/device.ts'));
    const be = (await import(path.join(root, 'src/backend.ts'))).getBackend('webgpu') as { ctx: { throttle: unknown } };
    be.ctx.throttle = th === 'off' ? null : new dev.PollThrottle(...th.split(/[,:]/).map(Number));
  }
  const out: Times = {};
  out.w4 = await timeIt(() => x.sigmoid().data(), iters);
  out.read = await timeIt(() => x.data(), iters);
  out.item = await timeIt(() => l.add(1).item(), iters * 4);
  if (root === path.resolve(here, '..')) {
    // the trainer imports this checkout's src: only time it for the checkout itself
    const { mlpTrainer } = await import('./trainers.ts');
    const mlp = mlpTrainer('webgpu', false);
    out.mlp = await timeIt(() => Promise.resolve(mlp.run()), iters);
  }
  return out;
}

async function childTfjs(iters: number): Promise<Times> {
  const { tfLogistic, useTfBackend } = await import('./peers/tfjs.ts');
  const tf = await import('@tensorflow/tfjs-core');
  const w4 = await tfLogistic('webgpu');
  await useTfBackend('webgpu');
  const s = tf.sum(tf.tensor1d(new Float32Array(N).fill(1e-6)));
  const out: Times = {};
  out.w4 = await timeIt(() => Promise.resolve(w4.run()), iters);
  out.item = await timeIt(async () => { const y = tf.add(s, 1); const d = await y.data(); y.dispose(); return d[0]; }, iters * 4);
  return out;
}

async function childJax(iters: number): Promise<Times> {
  const { jaxLogistic, useJaxDevice } = await import('./peers/jaxjs.ts');
  const { numpy: np } = await import('@jax-js/jax');
  const w4 = await jaxLogistic('webgpu', false);
  await useJaxDevice('webgpu');
  const s = np.sum(np.array(new Float32Array(N).fill(1e-6)));
  const out: Times = {};
  out.w4 = await timeIt(() => Promise.resolve(w4.run()), iters);
  out.item = await timeIt(async () => (await s.ref.add(1).data())[0], iters * 4);
  return out;
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

async function main(): Promise<void> {
  const child = arg('child');
  const iters = Number(arg('iters') ?? 40);
  if (child) {
    const t = child === 'tfjs' ? await childTfjs(iters) : child === 'jax' ? await childJax(iters) : await childTapegrad(arg('root')!, iters);
    process.stdout.write(`@@${JSON.stringify(t)}\n`);
    process.exit(0);
  }
  const rounds = Number(arg('rounds') ?? 4);
  const before = arg('before');
  const impls = (arg('impls') ?? 'after,tfjs,jax').split(',');
  if (before && !impls.includes('before')) impls.unshift('before');
  const all: Record<string, Times> = {};
  for (let r = 0; r < rounds; r++) {
    for (const impl of impls) {
      const root = impl === 'before' ? path.resolve(before!) : path.resolve(here, '..');
      const kind = impl === 'before' || impl.startsWith('after') ? 'tapegrad' : impl;
      const extra = impl.startsWith('after:') ? ['--throttle', impl.slice(6)] : [];
      const res = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child', kind, '--root', root, '--iters', String(iters), ...extra],
        { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' }, maxBuffer: 1 << 24 });
      const line = res.stdout.split('\n').find((s) => s.startsWith('@@'));
      if (!line) {
        console.error(`${impl} failed:\n${res.stderr.split('\n').filter((s) => !s.startsWith('Warning:')).join('\n')}`);
        continue;
      }
      const t = JSON.parse(line.slice(2)) as Times;
      const acc = (all[impl] ??= {});
      for (const [k, v] of Object.entries(t)) (acc[k] ??= []).push(...v);
    }
  }
  const works = ['w4', 'read', 'item', 'mlp'];
  console.log(`ms per iteration, median (p25), ${rounds} rounds × ${iters} iterations (item: × 4)`);
  console.log(['impl'.padEnd(16), ...works.map((w) => w.padStart(16))].join(''));
  for (const impl of impls) {
    const t = all[impl] ?? {};
    console.log([impl.padEnd(16), ...works.map((w) => (t[w] ? `${quantile(t[w], 0.5).toFixed(3)} (${quantile(t[w], 0.25).toFixed(3)})` : '—').padStart(16))].join(''));
  }
}

await main();
