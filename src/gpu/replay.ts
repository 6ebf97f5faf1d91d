/**
 * @file Command recording and replay for compiled (jit) WebGPU steps.
 *
 * Running a compiled step through the kernel templates re-plans every kernel on every call:
 * collapsing shapes, building pipeline keys (long strings for fused epilogues) and looking them
 * up, packing uniforms. For a given call signature all of that comes out the same each time —
 * the jit binds every argument densely and its plan fixes shapes and strides — so only the
 * buffers differ between calls (fresh arguments and outputs). A `Recorder` captures the
 * runtime-level commands of one call (dispatches with their uniforms, clears, copies, the
 * template-internal temporaries), naming each buffer by the program slot it came from; `replay`
 * then issues the same commands over the next call's buffers. Measured on lavapipe's host side:
 * an MLP training step's planning was ~60 % of the jit's host time.
 *
 * A recording is refused (and the caller keeps planning) when the call did anything a replay
 * could not reproduce: used a buffer that is neither a slot's, a temporary acquired and released
 * within the call, nor the runtime's flag buffer; kept a temporary; or wrote host data.
 */
import { internal } from '../errors.ts';
import type { GpuBuf, Kernel, Runtime } from './runtime.ts';

/** One runtime command as issued while recording, with live buffers. */
export type RawCommand =
  | { op: 'dispatch'; kernel: Kernel; bufs: GpuBuf[]; uniforms: Uint32Array; count: number }
  | { op: 'clear'; buf: GpuBuf; bytes: number }
  | { op: 'copy'; src: GpuBuf; srcOffset: number; dst: GpuBuf; dstOffset: number; bytes: number }
  | { op: 'acquire'; buf: GpuBuf; bytes: number }
  | { op: 'release'; buf: GpuBuf }
  | { op: 'unsupported'; what: string };

/**
 * A buffer reference in a recording: a slot index (≥ 0), a temporary (−1 − its index), or the
 * runtime's index-error flag buffer.
 */
type Ref = number;
const FLAGS: Ref = Number.MIN_SAFE_INTEGER;

type Command =
  | { op: 'dispatch'; kernel: Kernel; refs: Ref[]; uniforms: Uint32Array; count: number }
  | { op: 'clear'; ref: Ref; bytes: number }
  | { op: 'copy'; src: Ref; srcOffset: number; dst: Ref; dstOffset: number; bytes: number }
  | { op: 'acquire'; temp: number; bytes: number }
  | { op: 'release'; temp: number };

/** Which slots share a buffer: for each slot, the first slot with the same buffer. */
function aliasing(bufs: readonly GpuBuf[]): number[] {
  const first = new Map<GpuBuf, number>();
  return bufs.map((b, i) => {
    const j = first.get(b);
    if (j !== undefined) return j;
    first.set(b, i);
    return i;
  });
}

/** A recorded call: its commands over slot references, and the conditions of replaying it. */
export class Recording {
  private constructor(
    private readonly commands: readonly Command[],
    private readonly temps: number,
    private readonly alias: readonly number[],
    private readonly matmulVariant: string,
  ) {}

  /**
   * Turns the raw commands of one call into a recording over `slotBufs` (the buffer of each slot
   * during that call), or returns why it cannot be replayed.
   */
  static from(raw: readonly RawCommand[], slotBufs: readonly GpuBuf[], rt: Runtime): Recording | string {
    const slotOf = new Map<GpuBuf, number>();
    slotBufs.forEach((b, i) => { if (!slotOf.has(b)) slotOf.set(b, i); });
    const live = new Map<GpuBuf, number>();
    let temps = 0;
    const commands: Command[] = [];
    let why = '';
    const ref = (b: GpuBuf): Ref => {
      const t = live.get(b);
      if (t !== undefined) return -1 - t;
      const s = slotOf.get(b);
      if (s !== undefined) return s;
      if (b === rt.flags) return FLAGS;
      why ||= `a kernel used buffer #${b.id}, which is neither a slot's nor a temporary of the call`;
      return 0;
    };
    for (const c of raw) {
      switch (c.op) {
        case 'dispatch': commands.push({ op: 'dispatch', kernel: c.kernel, refs: c.bufs.map(ref), uniforms: c.uniforms, count: c.count }); break;
        case 'clear': commands.push({ op: 'clear', ref: ref(c.buf), bytes: c.bytes }); break;
        case 'copy': commands.push({ op: 'copy', src: ref(c.src), srcOffset: c.srcOffset, dst: ref(c.dst), dstOffset: c.dstOffset, bytes: c.bytes }); break;
        case 'acquire':
          live.set(c.buf, temps);
          commands.push({ op: 'acquire', temp: temps++, bytes: c.bytes });
          break;
        case 'release': {
          const t = live.get(c.buf);
          if (t === undefined) { why ||= `buffer #${c.buf.id} was released without being acquired in the call`; break; }
          live.delete(c.buf);
          commands.push({ op: 'release', temp: t });
          break;
        }
        case 'unsupported': why ||= c.what; break;
        default: c satisfies never;
      }
    }
    if (live.size) why ||= `${live.size} buffer(s) acquired in the call were kept`;
    return why || new Recording(commands, temps, aliasing(slotBufs), rt.matmulVariant);
  }

  /** Whether the commands apply to a call over `slotBufs` (same aliasing, same settings). */
  fits(slotBufs: readonly GpuBuf[], rt: Runtime): boolean {
    if (rt.matmulVariant !== this.matmulVariant || slotBufs.length !== this.alias.length) return false;
    const a = aliasing(slotBufs);
    for (let i = 0; i < a.length; i++) if (a[i] !== this.alias[i]) return false;
    return true;
  }

  /** Issues the recorded commands over `slotBufs`. */
  replay(rt: Runtime, slotBufs: readonly GpuBuf[]): void {
    const temps: (GpuBuf | null)[] = new Array(this.temps).fill(null);
    const buf = (r: Ref): GpuBuf => {
      if (r === FLAGS) return rt.flags;
      return (r >= 0 ? slotBufs[r] : temps[-1 - r]) ?? internal(`replay: buffer reference ${r} is not bound`);
    };
    for (const c of this.commands) {
      switch (c.op) {
        case 'dispatch': {
          const bufs = new Array<GpuBuf>(c.refs.length);
          for (let i = 0; i < bufs.length; i++) bufs[i] = buf(c.refs[i]!);
          rt.dispatch(c.kernel, bufs, c.uniforms, c.count);
          break;
        }
        case 'clear': rt.clear(buf(c.ref), c.bytes); break;
        case 'copy': rt.copy(buf(c.src), c.srcOffset, buf(c.dst), c.dstOffset, c.bytes); break;
        case 'acquire': temps[c.temp] = rt.acquire(c.bytes); break;
        case 'release': rt.release(temps[c.temp]!); temps[c.temp] = null; break;
        default: c satisfies never;
      }
    }
  }

  /** Number of kernel dispatches (for introspection). */
  get dispatches(): number {
    return this.commands.filter((c) => c.op === 'dispatch').length;
  }
}
