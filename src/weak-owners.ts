/**
 * @file Resources (a GPU buffer, a block of the CPU arena) that belong to an object (a storage)
 * and are freed once it is unreachable, exactly once: by a sweep of WeakRefs after a full
 * collection, or by a FinalizationRegistry callback, whichever comes first; never after the owner
 * released them itself (`forget`). Both backends' reclaimers build on it (src/gpu/reclaim.ts,
 * src/cpu/reclaim.ts); they differ only in when they force the collection.
 */

/** One owner's resource, as `WeakOwners` tracks it. */
export interface Owned<T> {
  readonly payload: T;
  /** null when the owner is left to the finalization callback alone (`track(…, false)`) */
  readonly ref: WeakRef<object> | null;
  live: boolean;
}

export class WeakOwners<T> {
  private readonly swept = new Set<Owned<T>>();
  private readonly registry: FinalizationRegistry<Owned<T>> | null;
  private count = 0;

  /** `free` runs once for each resource whose owner became unreachable. */
  constructor(private readonly free: (payload: T) => void) {
    this.registry = typeof FinalizationRegistry === 'function'
      ? new FinalizationRegistry<Owned<T>>((rec) => {
        if (this.forget(rec)) this.free(rec.payload);
      })
      : null;
  }

  /** Starts watching `owner`; `sweepable`: a `sweep` may free it too (it gets a WeakRef). */
  track(owner: object, payload: T, sweepable = true): Owned<T> {
    const rec: Owned<T> = { payload, ref: sweepable ? new WeakRef(owner) : null, live: true };
    if (sweepable) this.swept.add(rec);
    this.registry?.register(owner, rec, rec);
    this.count++;
    return rec;
  }

  /** Stops watching (the owner released the resource itself); false when it already was. */
  forget(rec: Owned<T>): boolean {
    if (!rec.live) return false;
    rec.live = false;
    this.count--;
    if (rec.ref) this.swept.delete(rec);
    this.registry?.unregister(rec);
    return true;
  }

  /** Frees the resource of every sweepable owner the collector has cleared; returns what it freed. */
  sweep(): T[] {
    const freed: T[] = [];
    for (const rec of this.swept) {
      if (rec.ref!.deref() !== undefined) continue;
      this.forget(rec);
      this.free(rec.payload);
      freed.push(rec.payload);
    }
    return freed;
  }

  /** Owners watched now. */
  get size(): number {
    return this.count;
  }

  /** Sweepable owners watched now. */
  get sweepable(): number {
    return this.swept.size;
  }
}
