/**
 * @file Returning the arena blocks of CPU tensors the program dropped without disposing them.
 *
 * An eager loop that leaves its intermediates to the garbage collector (`1/(1+exp(-x))` keeps
 * three) fills the arena (./arena.ts) within a few calls: the FinalizationRegistry callbacks that
 * would return the blocks need a collection first, and arena memory is invisible to V8, so none
 * comes. From then on every op output is a plain array, found by the collector only through
 * external-memory pressure, and kernels copy operands in and out of the WebAssembly memory. So at
 * each readback (`data()`, `item()`: the program awaits there anyway), when the arena has been
 * refusing blocks and a quarter of its cap was asked of it since the last collection, the
 * reclaimer yields one macrotask (so WeakRefs made by the caller's synchronous code release their
 * targets), forces a full collection (Node; browsers have none and keep the callbacks alone) and
 * frees the block of every watched storage whose WeakRef came back empty. The same src/gpu/
 * reclaim.ts does for GPU buffers. Measured (W4's formula over 1M values, paired with its compiled
 * form, 2 shared cores): eager 4.8 → 1.8 ms a call, `a + a**10` 1.9 → 1.1 ms; one forced
 * collection (~5 ms with the benchmark's peers loaded) every 8–30 calls.
 */
import { arenaCounters } from './arena.ts';
import { findForcedGc, nextMacrotask } from '../platform.ts';
import type { WeakOwners } from '../weak-owners.ts';

/** What the backend keeps of a storage it watches: its size and its arena block (or −1). */
export interface Charge {
  readonly bytes: number;
  readonly block: number;
}

export class ArenaReclaimer {
  /** undefined until first needed (looking it up sets a V8 flag) */
  private gc: (() => void) | null | undefined;
  private refusedAtLast = 0;
  /** bytes handed out or refused by the arena when the last collection ran */
  private requestedAtLast = 0;
  readonly stats = { forcedGcs: 0, reclaimed: 0, reclaimedBytes: 0, gcMs: 0 };
  /** false: readbacks never force a collection (tests compare) */
  enabled = true;

  /** `owners`: the backend's storages, the arena ones sweepable. */
  constructor(private readonly owners: WeakOwners<Charge>) {}

  /**
   * Bytes asked of the arena (handed out or refused) between collections, as a fraction of its
   * cap: a quarter, doubled after each collection that returned less than an eighth of the cap
   * (a program whose live tensors fill the arena would otherwise pay a collection every 32 MB of
   * refused requests, for nothing), back to a quarter after one that returned more.
   */
  private between = 0.25;

  /** Whether the next readback should collect: the arena refused blocks and much was asked of it since. */
  get due(): boolean {
    if (!this.enabled || this.gc === null || this.owners.sweepable === 0) return false;
    const a = arenaCounters();
    // (refused requests count: once the arena is full of garbage, nothing more is handed out)
    return a.refused > this.refusedAtLast && a.handedOutBytes + a.refusedBytes - this.requestedAtLast >= a.capBytes * this.between;
  }

  /** At a readback: when due, yields a macrotask, forces a collection and frees what it cleared. */
  async atReadback(): Promise<void> {
    if (!this.due) return;
    if (this.gc === undefined) this.gc = await findForcedGc();
    if (!this.gc) return;
    await nextMacrotask();
    const t0 = performance.now();
    this.gc();
    this.stats.gcMs += performance.now() - t0;
    this.stats.forcedGcs++;
    const a = arenaCounters();
    this.refusedAtLast = a.refused;
    this.requestedAtLast = a.handedOutBytes + a.refusedBytes;
    const before = this.stats.reclaimedBytes;
    this.sweep();
    this.between = this.stats.reclaimedBytes - before < a.capBytes / 8 ? Math.min(this.between * 2, 64) : 0.25;
  }

  /** Frees the block of every arena storage the collector has already cleared. */
  sweep(): void {
    for (const { bytes } of this.owners.sweep()) {
      this.stats.reclaimed++;
      this.stats.reclaimedBytes += bytes;
    }
  }
}
