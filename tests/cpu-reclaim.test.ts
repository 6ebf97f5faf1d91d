/**
 * @file The CPU reclaimer (src/cpu/reclaim.ts): at readbacks, once the arena has filled with the
 * blocks of tensors the program dropped without disposing, a forced collection returns them, so
 * later op outputs live in the arena again; tensors still reachable keep their blocks and values.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { fromTypedArray, memory, type Tensor } from '../src/index.ts';
import { arenaBlock, arenaStats, setArena } from '../src/cpu/arena.ts';
import { cpuReclaimer, setCpuPooling, trimCpuPool, type CpuStorage } from '../src/cpu/backend.ts';
import { findForcedGc, nextMacrotask } from '../src/platform.ts';
import { kernelMemoryShared } from '../src/cpu/threads.ts';
import { wasmElementwiseSupported } from '../src/cpu/wasm/elementwise.ts';

const here = kernelMemoryShared() && wasmElementwiseSupported();
const CAP = 128 * 2 ** 20;
const SMALL_CAP = 16 * 2 ** 20;
const N = 1 << 18; // 1 MiB of float32 a tensor
const dataOf = (t: Tensor) => (t._storage as CpuStorage).data;

afterEach(() => {
  setArena(true, CAP);
  cpuReclaimer.enabled = true;
});

const input = () => fromTypedArray(Float32Array.from({ length: N }, (_, i) => Math.sin(i)), [N], 'float32', 'cpu');

/**
 * An eager loop that drops two intermediates a call and reads each result back (W4's shape);
 * returns the last result and how many results of the second half were arena arrays.
 */
async function leakyLoop(x: Tensor, calls: number): Promise<{ last: Tensor; inArena: number }> {
  let y: Tensor | null = null;
  let inArena = 0;
  for (let i = 0; i < calls; i++) {
    y = x.neg().exp().add(1);
    if (i >= calls / 2 && arenaBlock(dataOf(y)) >= 0) inArena++;
    await y.data();
  }
  return { last: y!, inArena };
}

describe.runIf(here)('cpu reclaimer', () => {
  it('without it, a loop that drops its intermediates leaves the arena full and later outputs in plain arrays', async () => {
    setArena(true, SMALL_CAP);
    cpuReclaimer.enabled = false;
    const x = input();
    const gcs = cpuReclaimer.stats.forcedGcs;
    const refused = arenaStats().refused;
    const { inArena } = await leakyLoop(x, 24);
    expect(arenaStats().refused).toBeGreaterThan(refused);
    expect(cpuReclaimer.stats.forcedGcs).toBe(gcs);
    expect(inArena).toBe(0);
  });

  it('returns the dropped blocks at readbacks: outputs stay in the arena, reachable tensors keep their values', async () => {
    setArena(true, SMALL_CAP);
    const x = input();
    const keep = x.neg().exp().add(1); // reachable throughout: its block must survive every sweep
    const before = (await keep.data()).slice();
    const storages0 = memory().storages;
    const { forcedGcs, reclaimed } = cpuReclaimer.stats;
    const { last, inArena } = await leakyLoop(x, 24);
    expect(cpuReclaimer.stats.forcedGcs).toBeGreaterThan(forcedGcs);
    expect(cpuReclaimer.stats.reclaimed).toBeGreaterThan(reclaimed);
    // 24 calls made 72 storages; the reclaimed ones are counted out
    expect(memory().storages - storages0).toBeLessThan(72 - (cpuReclaimer.stats.reclaimed - reclaimed) + 1);
    expect(inArena).toBeGreaterThanOrEqual(6); // of 12
    const fresh = x.neg();
    const xs = await x.data(), k = await keep.data(), l = await last.data(), f = await fresh.data();
    expect(k).toEqual(before);
    expect(l).toEqual(before);
    for (const i of [0, 1, 777, N - 1]) expect(f[i]).toBe(-xs[i]!);
    expect(before[777]).toBeCloseTo(Math.exp(-Math.sin(777)) + 1, 5);
  });

  it('backs off when collections find nothing: live tensors that fill the arena do not make every readback collect', async () => {
    setArena(true, SMALL_CAP);
    const x = input();
    const held: Tensor[] = [];
    const gcs = cpuReclaimer.stats.forcedGcs;
    for (let i = 0; i < 100; i++) {
      const y = x.neg(); // kept: the arena fills with live tensors, then refuses 1 MiB a call
      held.push(y);
      await y.data();
    }
    // a quarter of the cap asked between collections, doubled after each that returned nothing:
    // 4, 8, 16, 32, 64 MiB… (a collection every 4 MiB refused would be about 25)
    expect(cpuReclaimer.stats.forcedGcs - gcs).toBeLessThanOrEqual(6);
    expect(cpuReclaimer.stats.forcedGcs - gcs).toBeGreaterThanOrEqual(2);
    expect((await held[99]!.data())[3]).toBe(-(await x.data())[3]!);
  });

  it('trades a plain array pooled while the arena was full for arena memory once there is room', async () => {
    // earlier tests' garbage out of the arena, an empty pool
    await nextMacrotask();
    (await findForcedGc())?.();
    cpuReclaimer.sweep();
    trimCpuPool();
    setArena(true, SMALL_CAP);
    cpuReclaimer.enabled = false;
    const x = input();
    const fill: Tensor[] = [];
    for (let t = x.neg(); arenaBlock(dataOf(t)) >= 0; t = x.neg()) fill.push(t); // until one is refused
    expect(fill.length).toBeGreaterThan(2);
    const plain = x.neg();
    expect(arenaBlock(dataOf(plain))).toBe(-1);
    setCpuPooling(true, N * 4); // the pool keeps one array: the plain one; the others go back to the arena
    plain.dispose();
    for (const t of fill) t.dispose();
    const again = x.exp();
    setCpuPooling(true);
    expect(arenaBlock(dataOf(again))).toBeGreaterThanOrEqual(0);
    expect((await again.data())[5]).toBe(Math.fround(Math.exp((await x.data())[5]!)));
  });
});
