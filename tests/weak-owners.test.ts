/**
 * @file src/weak-owners.ts: a resource is freed once its owner is unreachable, exactly once, and
 * never after the owner released it by hand; only sweepable owners are swept.
 */
import { describe, expect, it } from 'vitest';
import { WeakOwners } from '../src/weak-owners.ts';
import { findForcedGc, nextMacrotask } from '../src/platform.ts';

describe('WeakOwners', () => {
  it('sweeps the resources of cleared owners once, not those released by hand or still reachable', async () => {
    const gc = await findForcedGc();
    if (!gc) return; // (browsers: no forced collection to make the test deterministic)
    const freed: string[] = [];
    const owners = new WeakOwners<string>((p) => freed.push(p));
    const kept = {};
    owners.track(kept, 'kept');
    owners.track({}, 'dropped');
    const byHand = owners.track({}, 'released by hand');
    owners.track({}, 'finalizer only', false);
    expect(owners.size).toBe(4);
    expect(owners.sweepable).toBe(3);
    expect(owners.forget(byHand)).toBe(true);
    expect(owners.forget(byHand)).toBe(false);
    await nextMacrotask();
    gc();
    expect(owners.sweep()).toEqual(['dropped']);
    expect(owners.sweep()).toEqual([]);
    expect(freed).toEqual(['dropped']);
    // the finalization callbacks (after a macrotask) free the unswept owner, not the swept one again
    for (let i = 0; i < 50 && freed.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(freed.sort()).toEqual(['dropped', 'finalizer only']);
    expect(owners.size).toBe(1);
    expect(kept).toBeDefined();
  });
});
