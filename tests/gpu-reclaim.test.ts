/**
 * @file When the reclaimer (src/gpu/reclaim.ts) forces a collection: only for bytes that could be
 * garbage. Buffers their owners released by hand do not count, so a loop that disposes what it
 * makes never pays for a full collection. Runs without a GPU: the buffers are stand-ins.
 */
import { describe, expect, it } from 'vitest';
import { Reclaimer } from '../src/gpu/reclaim.ts';
import { findForcedGc, nextMacrotask } from '../src/platform.ts';
import type { GpuBuf } from '../src/gpu/runtime.ts';

const buf = (bytes: number) => ({ bytes }) as unknown as GpuBuf;

function reclaimer(threshold: number) {
  const freed: GpuBuf[] = [];
  let collections = 0;
  const r = new Reclaimer((b) => freed.push(b), () => { collections++; }, threshold);
  return { r, freed, collections: () => collections };
}

describe('reclaimer: forced collections', () => {
  it('counts buffers handed to owners, and forces a collection past the threshold', () => {
    const { r, collections } = reclaimer(250);
    const owners = [{}, {}, {}];
    for (const o of owners) r.track(o, buf(100));
    expect(r.bytesSinceGc).toBe(300);
    r.atYield();
    expect(collections()).toBe(1);
    expect(r.bytesSinceGc).toBe(0);
    expect(r.tracked).toBe(3); // still reachable: nothing freed
  });

  it('does not count buffers released by hand', () => {
    const { r, collections } = reclaimer(250);
    for (let i = 0; i < 100; i++) {
      const rec = r.track({}, buf(100)); // e.g. a result read back and disposed, call after call
      r.untrack(rec);
      r.atYield();
    }
    expect(collections()).toBe(0);
    expect(r.bytesSinceGc).toBe(0);
    expect(r.tracked).toBe(0);
    const kept = r.track({}, buf(100));
    r.track({}, buf(200));
    expect(r.bytesSinceGc).toBe(300);
    r.untrack(kept);
    expect(r.bytesSinceGc).toBe(200);
    r.atYield();
    expect(collections()).toBe(0);
  });

  it('a buffer counted before a collection is not subtracted after it', () => {
    const { r, collections } = reclaimer(150);
    const old = r.track({}, buf(100));
    r.track({}, buf(100));
    r.atYield();
    expect(collections()).toBe(1);
    r.track({}, buf(100));
    r.untrack(old); // its bytes were already cleared by the collection
    expect(r.bytesSinceGc).toBe(100);
  });
});

describe('reclaimer: sweeps', () => {
  it('skips the sweep until a full collection has run since the last one, then frees what it cleared', async () => {
    const gc = await findForcedGc();
    if (!gc) return; // (browsers: no forced collection to make the test deterministic)
    const freed: GpuBuf[] = [];
    const r = new Reclaimer((b) => freed.push(b), null, Infinity);
    const dropped = buf(100);
    r.track({}, dropped); // its owner is unreachable at once
    const keptOwner = {};
    r.track(keptOwner, buf(50));
    await nextMacrotask();
    r.sweep(); // a fresh probe, in this job
    await nextMacrotask();
    r.atYield();
    expect(r.stats.skippedSweeps).toBe(1); // no collection since that sweep
    expect(freed).toEqual([]);
    await nextMacrotask();
    gc();
    r.atYield();
    expect(r.stats.skippedSweeps).toBe(1);
    expect(freed).toEqual([dropped]);
    expect(r.tracked).toBe(1);
    expect(keptOwner).toBeDefined();
  });
});
