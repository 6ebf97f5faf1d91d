/**
 * @file Releasing GPU buffers of storages the program can no longer reach, so an eager loop in
 * which the user frees nothing stays bounded (DESIGN.md §2, FACTS.md "GPU memory and the GC").
 *
 * Each storage that owns a buffer is watched (../weak-owners.ts: a WeakRef and a finalization
 * callback) with its buffer.
 * A storage is unreachable once no tensor refers to it (tape nodes drop their saved tensors after
 * backward). Two paths return its buffer to the pool:
 * - at every readback, after the await (a macrotask boundary, so WeakRefs created by the caller's
 *   synchronous code no longer pin their targets), the records are swept; when more than
 *   `gcThresholdBytes` were allocated since the last collection and a forced collection is
 *   available (Node: v8 --expose-gc at run time), a full GC runs first;
 * - a FinalizationRegistry as the safety net (browsers, loops that never read back).
 * The sweep is synchronous and deterministic in what it frees: only unreachable storages.
 */
import type { GpuBuf } from './runtime.ts';
import { WeakOwners, type Owned } from '../weak-owners.ts';

/** A storage's buffer, and the forced collections so far when it was tracked (its bytes count towards the next one). */
interface Charge {
  readonly buf: GpuBuf;
  readonly epoch: number;
}

export type ReclaimRecord = Owned<Charge>;

export class Reclaimer {
  private readonly owners: WeakOwners<Charge>;
  /** bytes of buffers handed to storages since the last forced collection, less those released by hand since */
  bytesSinceGc = 0;
  readonly stats = { forcedGcs: 0, sweeps: 0, skippedSweeps: 0, reclaimed: 0, reclaimedBytes: 0, gcMs: 0 };
  /**
   * A WeakRef to an object nothing else holds, made at each sweep. WeakRefs are cleared only by
   * full collections, so while it still derefs none has run since the last sweep, and another
   * sweep would find nothing: the sweep walks every record (thousands in an eager loop that drops
   * its tensors), which cost an eager MLP step on an H200 0.18 ms of its ~2.7 at every readback.
   */
  private gcProbe = new WeakRef<object>({});

  constructor(
    free: (buf: GpuBuf) => void,
    readonly forceGc: (() => void) | null,
    public gcThresholdBytes: number,
  ) {
    this.owners = new WeakOwners<Charge>(({ buf }) => {
      this.stats.reclaimed++;
      this.stats.reclaimedBytes += buf.bytes;
      free(buf);
    });
  }

  /** Starts watching `owner`; its buffer is freed once `owner` is unreachable. */
  track(owner: object, buf: GpuBuf): ReclaimRecord {
    this.bytesSinceGc += buf.bytes;
    return this.owners.track(owner, { buf, epoch: this.stats.forcedGcs });
  }

  /**
   * Stops watching (the owner released its buffer itself). Its bytes no longer count towards the
   * next forced collection: a buffer released by hand (dispose, scope, a jit output the caller
   * disposes) can never be garbage, so a loop that frees everything it makes forces none.
   */
  untrack(rec: ReclaimRecord): void {
    if (this.owners.forget(rec) && rec.payload.epoch === this.stats.forcedGcs) this.bytesSinceGc -= rec.payload.buf.bytes;
  }

  get tracked(): number {
    return this.owners.size;
  }

  /** Frees the buffers of every owner the garbage collector has already cleared. */
  sweep(): void {
    this.stats.sweeps++;
    this.owners.sweep();
    this.gcProbe = new WeakRef({});
  }

  /**
   * Called where the program has yielded to the event loop (after a readback): runs a full
   * collection when `gcThresholdBytes` were handed to storages since the last one, then sweeps.
   * NOTE: only a full collection helps: V8's scavenges keep WeakRef targets alive (measured: a
   * minor GC at every readback of an MLP loop reclaimed nothing), and a full one costs ~10–60 ms
   * even on a 10 MB heap (2 loaded cores), hence a threshold in the hundred-megabyte range.
   */
  atYield(force = false): void {
    if (this.forceGc && (force || this.bytesSinceGc >= this.gcThresholdBytes)) {
      const t0 = performance.now();
      this.forceGc();
      this.stats.gcMs += performance.now() - t0;
      this.stats.forcedGcs++;
      this.bytesSinceGc = 0;
    } else if (this.gcProbe.deref() !== undefined) {
      this.stats.skippedSweeps++;
      return;
    }
    this.sweep();
  }
}
