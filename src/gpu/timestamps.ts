/**
 * @file GPU time of kernels, measured with WebGPU timestamp queries (the adapter's
 * `timestamp-query` feature), for profiling compiled functions.
 *
 * While a timed region is open (`begin`…`end`), every compute pass the runtime opens writes a
 * timestamp at its beginning and its end. When the batch is submitted its queries are resolved
 * and copied to a mappable buffer; once the GPU has finished the batch, the durations of each
 * region's passes are handed to the region's callback. A region that spans a submit (a batch
 * filled up inside it) reports once per batch. Queries are taken in order within a batch and the
 * query set is reused by the next one (the queue resolves in submission order); each batch in
 * flight has its own readback buffer.
 */
import { DeviceError } from '../errors.ts';
import { MAP_MODE_READ, USAGE } from './usage.ts';

/** Query pairs (timed passes) per batch; the runtime submits early when a batch has used them all. */
const PAIRS = 256;

export class PassTimer {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuf: GPUBuffer;
  private readonly idleReads: GPUBuffer[] = [];
  /** whom passes opened now are reported to */
  private region: ((ns: number) => void) | null = null;
  /** per query pair used in the batch being recorded: whom to report its duration to */
  private pairs: ((ns: number) => void)[] = [];
  /** readings still on their way */
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly device: GPUDevice,
    private readonly settle: <T>(p: Promise<T>) => Promise<T>,
  ) {
    if (!device.features.has('timestamp-query')) {
      throw new DeviceError('webgpu: timing kernels needs the adapter feature timestamp-query, which this device was not created with (the adapter lacks it, or a device passed to initWebGPU did not request it)');
    }
    this.querySet = device.createQuerySet({ type: 'timestamp', count: 2 * PAIRS });
    this.resolveBuf = device.createBuffer({ size: 16 * PAIRS, usage: USAGE.QUERY_RESOLVE | USAGE.COPY_SRC });
  }

  /** Reports the GPU time of the passes opened from now until `end()` to `report` (nanoseconds). */
  begin(report: (ns: number) => void): void {
    this.region = report;
  }
  end(): void {
    this.region = null;
  }

  /** Whether this batch has no query pair left (the runtime then submits before the next pass). */
  get full(): boolean {
    return this.region !== null && this.pairs.length >= PAIRS;
  }

  /** The descriptor for a compute pass opened now: timestamped inside a region. */
  passDescriptor(): GPUComputePassDescriptor | undefined {
    if (!this.region || this.pairs.length >= PAIRS) return undefined;
    const i = this.pairs.push(this.region) - 1;
    return { timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } };
  }

  /**
   * Records the resolve and copy of this batch's timestamps into `enc` (before it is finished);
   * returns what to call once the batch is submitted, or null when the batch timed nothing.
   */
  resolve(enc: GPUCommandEncoder): (() => void) | null {
    const n = this.pairs.length;
    if (n === 0) return null;
    const pairs = this.pairs;
    this.pairs = [];
    const read = this.idleReads.pop() ?? this.device.createBuffer({ size: 16 * PAIRS, usage: USAGE.MAP_READ | USAGE.COPY_DST });
    enc.resolveQuerySet(this.querySet, 0, 2 * n, this.resolveBuf, 0);
    enc.copyBufferToBuffer(this.resolveBuf, 0, read, 0, 16 * n);
    return () => {
      const p: Promise<void> = this.settle(read.mapAsync(MAP_MODE_READ, 0, 16 * n)).then(
        () => {
          const t = new BigUint64Array(read.getMappedRange(0, 16 * n));
          // (timestamps of different passes need not be ordered on every implementation)
          for (let k = 0; k < n; k++) pairs[k]!(t[2 * k + 1]! > t[2 * k]! ? Number(t[2 * k + 1]! - t[2 * k]!) : 0);
          read.unmap();
          this.idleReads.push(read);
        },
        () => read.destroy(),
      ).finally(() => this.pending.delete(p));
      this.pending.add(p);
    };
  }

  /** Resolves once every reading of the batches submitted so far has been reported. */
  async drain(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolveBuf.destroy();
    for (const b of this.idleReads) b.destroy();
    this.idleReads.length = 0;
  }
}
