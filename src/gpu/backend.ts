/**
 * @file The WebGPU backend: storages are pooled GPU buffers; kernels are WGSL rendered from the
 * op records (elementwise) or hand-written templates (reduce, matmul, im2col, gather/scatterAdd,
 * layout copies). Mirrors src/cpu/backend.ts.
 *
 * Storages filled with one value (`full`, zeros, scalars lifted from JS numbers) stay lazy: they
 * get no buffer until a template needs one, and elementwise kernels read their value from a
 * uniform, so `x.mul(0.5)` runs one kernel, not two.
 */
import type { Aval, Backend, BufView, MemoryInfo, Storage } from '../backend.ts';
import { arrayFor, arrayForOverwrite, type DType, type TypedArray } from '../dtype.ts';
import { DeviceError, indexRangeError, internal } from '../errors.ts';
import { E, exprUses, type Expr } from '../ops/expr.ts';
import type { AxisAttrs, FoldAttrs, OpDef, PadAttrs, ReduceAttrs, UnfoldAttrs } from '../ops/registry.ts';
import { contiguousStrides, hasContiguousStrides, numel } from '../shape.ts';
import type { GpuContext } from './device.ts';
import { runElementwise, type BufOperand, type ConstOperand, type EwOperand } from './kernels/elementwise.ts';
import { runElementwise as runCpuElementwise } from '../cpu/elementwise.ts';
import { runReduce } from './kernels/reduce.ts';
import { runMatmul } from './kernels/matmul.ts';
import { runFold, runUnfold } from './kernels/conv.ts';
import { flagName, runGather, runScatterAdd } from './kernels/indexing.ts';
import type { Reclaimer, ReclaimRecord } from './reclaim.ts';
import type { GpuBuf, Runtime } from './runtime.ts';
import { float64Error } from './wgsl.ts';

export class GpuStorage implements Storage {
  readonly device = 'webgpu' as const;
  version = 0;
  disposed = false;
  /** null while the storage is a lazy constant (or after release) */
  buf: GpuBuf | null = null;
  /** every element equals this value (while buf is null, or until the next write) */
  constValue: number | undefined = undefined;
  /** @internal */
  rec: ReclaimRecord | null = null;
  constructor(readonly dtype: DType, readonly size: number) {}
}

/** A value as stored in `dtype` (what the CPU's typed arrays would hold). */
function normalise(v: number, dtype: DType): number {
  switch (dtype) {
    case 'float32': return Math.fround(v);
    case 'int32': return v | 0;
    case 'bool': return v ? 1 : 0;
    case 'float64': return v;
    default: return dtype satisfies never;
  }
}

/** Whether an expression's value is the same for every element (no rand, no index). */
function foldable(expr: Expr): boolean {
  for (const e of exprUses(expr).keys()) if (e.k === 'rand' || e.k === 'index') return false;
  return true;
}

/** The value of an expression of constants, evaluated by the CPU renderer (as the CPU would). */
function foldConstant(expr: Expr, operands: readonly ConstOperand[], dtype: DType): number {
  const out = arrayFor(dtype, 1);
  const ins = operands.map((o) => {
    const a = arrayFor(o.dtype, 1);
    a[0] = o.value;
    return { data: a, offset: 0, strides: [] };
  });
  runCpuElementwise(expr, [], { data: out, offset: 0, strides: [] }, ins);
  return out[0]!;
}

/** Elements from which a readback allocates and touches its result array while the GPU works. */
const PREFAULT_MIN = 1 << 16;

/**
 * Writes one element per 4 KiB page of a fresh array, so the kernel maps its pages now (while the
 * GPU works) rather than during the copy out of the mapping; one store per page, not a pass.
 */
function touchPages<T extends TypedArray>(a: T): T {
  const step = 4096 / a.BYTES_PER_ELEMENT;
  for (let i = 0; i < a.length; i += step) a[i] = 0;
  return a;
}

/**
 * Copies a mapped readback straight into the caller's array, `dst` when one was prepared (the
 * mapping dies at unmap): one memcpy, no intermediate ArrayBuffer; the page faults of fresh memory
 * are most of its cost. Bools live as u32 on the GPU; TypedArray.set narrows them natively
 * (Uint8Array.from would iterate element by element).
 */
function takeInto(dtype: 'float32' | 'int32' | 'bool', m: ArrayBuffer, b: number, dst: TypedArray | null): TypedArray {
  const n = b / 4;
  const out = dst ?? arrayForOverwrite(dtype, n);
  switch (dtype) {
    case 'float32': out.set(new Float32Array(m, 0, n)); break;
    case 'int32': out.set(new Int32Array(m, 0, n)); break;
    case 'bool': out.set(new Uint32Array(m, 0, n)); break;
    default: dtype satisfies never;
  }
  return out;
}

const isDense = (view: { shape: readonly number[]; strides: readonly number[] }): boolean => hasContiguousStrides(view.shape, view.strides);

export class GpuBackend implements Backend {
  readonly device = 'webgpu' as const;
  private warnAt = 1024 ** 3;

  constructor(readonly ctx: GpuContext, readonly rt: Runtime, readonly reclaimer: Reclaimer) {}

  // ------------------------------------------------------------------ storages

  private newStorage(dtype: DType, size: number, op: string): GpuStorage {
    if (dtype === 'float64') throw float64Error(op);
    return new GpuStorage(dtype, size);
  }

  /** Gives `s` a buffer of its own (uninitialised) and starts watching it for reclamation. */
  private attach(s: GpuStorage): GpuBuf {
    const buf = this.rt.acquire(s.size * 4);
    s.buf = buf;
    s.rec = this.reclaimer.track(s, buf);
    if (this.rt.bytesInUse > this.warnAt) {
      console.warn(
        `tapegrad: ${(this.rt.bytesInUse / 2 ** 20).toFixed(0)} MiB of WebGPU memory in use. Buffers of unreachable tensors are ` +
          'reclaimed when the program awaits a readback (await t.item()/toArray()); a loop that never awaits cannot be reclaimed: ' +
          'use scope(() => …) or t.dispose().',
      );
      this.warnAt *= 2;
    }
    return buf;
  }

  /** The buffer of a storage, filling a lazy constant first. */
  private bufOf(s: GpuStorage, op: string): GpuBuf {
    if (s.disposed) internal(`${op}: read of a released WebGPU storage`);
    if (s.buf) return s.buf;
    // an empty tensor still binds a buffer (the smallest bucket) where a kernel names it
    if (s.size === 0) return this.attach(s);
    if (s.constValue === undefined) internal(`${op}: WebGPU storage without buffer or value`);
    const buf = this.attach(s);
    this.fill(buf, s.size, s.dtype, s.constValue);
    return buf;
  }

  private fill(buf: GpuBuf, n: number, dtype: DType, value: number): void {
    if (value === 0 && !Object.is(value, -0)) {
      this.rt.clear(buf, n * 4);
      return;
    }
    if (this.rt.isCollecting) {
      // (precompileWebGPU: a fill kernel not compiled yet would be skipped, leaving the constant's
      // new buffer unwritten for good — it read as zeros ever after; a host write always lands)
      this.upload(buf, arrayFor(dtype, n).fill(value));
      return;
    }
    runElementwise(this.rt, 'full', E.const(value, dtype), [n], { buf, offset: 0, strides: [1], dtype }, []);
  }

  /** An elementwise operand for a view: a uniform constant for lazy constants, else the buffer. */
  private operand(v: BufView, op: string): EwOperand {
    const s = v.storage as GpuStorage;
    if (s.disposed) internal(`${op}: read of a released WebGPU storage`);
    if (!s.buf && s.constValue !== undefined) return { value: s.constValue, dtype: v.dtype };
    return { buf: this.bufOf(s, op), offset: v.offset, strides: v.strides, dtype: v.dtype };
  }
  private bufOperand(v: BufView, op: string): BufOperand {
    return { buf: this.bufOf(v.storage as GpuStorage, op), offset: v.offset, strides: v.strides, dtype: v.dtype };
  }

  // ------------------------------------------------------------------ Backend

  fromArray(data: TypedArray, dtype: DType): Storage {
    if (dtype === 'float64' || data instanceof Float64Array) throw float64Error('tensor');
    this.ctx.checkAlive('tensor');
    const s = this.newStorage(dtype, data.length, 'tensor');
    const buf = this.attach(s);
    if (data.length) this.upload(buf, data);
    return s;
  }

  /** Writes host values into a buffer (bool arrays widened to the u32 elements WGSL stores). */
  private upload(buf: GpuBuf, data: TypedArray): void {
    this.rt.write(buf, data instanceof Uint8Array ? Uint32Array.from(data) : data);
  }

  async read(view: BufView): Promise<TypedArray> {
    const s = view.storage as GpuStorage;
    const n = numel(view.shape);
    if (s.disposed) internal('read of a released WebGPU storage');
    let result: TypedArray;
    if (!s.buf && s.constValue !== undefined) {
      result = arrayFor(view.dtype, n);
      result.fill(s.constValue);
      await this.rt.sync();
    } else if (n === 0) {
      result = arrayFor(view.dtype, 0);
      await this.rt.sync();
    } else {
      if (view.dtype === 'float64') throw float64Error('read');
      let src = this.bufOf(s, 'read');
      let offset = view.offset;
      let temp: GpuBuf | null = null;
      if (!isDense(view)) {
        temp = this.rt.acquire(n * 4);
        runElementwise(this.rt, 'read', E.input(0, view.dtype), view.shape,
          { buf: temp, offset: 0, strides: contiguousStrides(view.shape), dtype: view.dtype }, [this.bufOperand(view, 'read')]);
        src = temp;
        offset = 0;
      }
      // the result array is allocated and its pages touched while the GPU works (a fresh
      // multi-megabyte array costs ~1 ms of page faults on first write: hidden behind the wait)
      const dtype = view.dtype;
      let dst: TypedArray | null = null;
      const prefault = n >= PREFAULT_MIN ? () => { dst = touchPages(arrayForOverwrite(dtype, n)); } : undefined;
      const pending = this.rt.read(src, offset * 4, n * 4, (m, b) => takeInto(dtype, m, b, dst), prefault);
      if (temp) this.rt.release(temp);
      const { data, flags } = await pending;
      this.checkFlags(flags);
      result = data;
    }
    await this.ctx.throwPendingErrors();
    this.reclaimer.atYield();
    return result;
  }

  private checkFlags(flags: Uint32Array): void {
    if (flags[0] === 0) return;
    const op = flagName(flags[0]!);
    const index = flags[1]! | 0, size = flags[2]!, dim = flags[3]!;
    throw indexRangeError(op, index, size, dim, `reported by a WebGPU kernel at this readback; the result of that ${op.split(' ')[0]} is unreliable`);
  }

  readSync(): TypedArray {
    throw new DeviceError('readSync: WebGPU has no synchronous readback; use await t.toArray(), await t.item() or await t.toAsync(\'cpu\')');
  }

  assign(dst: BufView, src: BufView, move = false): void {
    const d = dst.storage as GpuStorage;
    const n = numel(dst.shape);
    if (n === 0) return;
    const s = src.storage as GpuStorage;
    const srcConst = !s.buf && s.constValue !== undefined;
    // a temporary covering its whole storage hands its buffer over instead of being copied
    if (move && s.buf && s !== d && s.dtype === d.dtype && s.size === d.size && n === d.size &&
      dst.offset === 0 && src.offset === 0 && isDense(dst) && isDense(src)) {
      const buf = s.buf;
      if (s.rec) this.reclaimer.untrack(s.rec);
      s.rec = null;
      s.buf = null;
      s.constValue = undefined;
      this.dropBuffer(d);
      d.buf = buf;
      // counted again: untracking the temporary took its bytes off
      d.rec = this.reclaimer.track(d, buf);
      d.constValue = undefined;
      return;
    }
    // a constant written over the whole storage leaves a lazy constant
    if (srcConst && dst.offset === 0 && n === d.size && isDense(dst)) {
      this.dropBuffer(d);
      d.constValue = normalise(s.constValue!, d.dtype);
      return;
    }
    const buf = this.bufOf(d, 'assign');
    d.constValue = undefined;
    let operand = this.operand(src, 'assign');
    let temp: GpuBuf | null = null;
    if ('buf' in operand && operand.buf === buf) {
      // the source overlaps the destination: copy it out first
      temp = this.rt.acquire(n * 4);
      runElementwise(this.rt, 'copy_', E.input(0, src.dtype), src.shape,
        { buf: temp, offset: 0, strides: contiguousStrides(src.shape), dtype: src.dtype }, [operand]);
      operand = { buf: temp, offset: 0, strides: contiguousStrides(src.shape), dtype: src.dtype };
    }
    runElementwise(this.rt, 'copy_', E.input(0, dst.dtype), dst.shape, { buf, offset: dst.offset, strides: dst.strides, dtype: dst.dtype }, [operand]);
    if (temp) this.rt.release(temp);
  }

  private dropBuffer(s: GpuStorage): void {
    if (s.rec) this.reclaimer.untrack(s.rec);
    s.rec = null;
    if (s.buf) this.rt.release(s.buf);
    s.buf = null;
  }

  release(storage: Storage): void {
    const s = storage as GpuStorage;
    if (s.disposed) return;
    s.disposed = true;
    this.dropBuffer(s);
    s.constValue = undefined;
  }

  memory(): MemoryInfo {
    // storages: those holding a GPU buffer (lazy constants hold none)
    return { bytesInUse: this.rt.bytesInUse - this.rt.flags.bytes, bytesPooled: this.rt.bytesPooled, storages: this.reclaimer.tracked };
  }

  run(op: OpDef, inputs: readonly BufView[], attrs: unknown, out: Aval): Storage {
    this.ctx.checkAlive(op.name);
    if (out.dtype === 'float64' || inputs.some((v) => v.dtype === 'float64')) throw float64Error(op.name);
    const n = numel(out.shape);
    const s = this.newStorage(out.dtype, n, op.name);
    const outStrides = contiguousStrides(out.shape);
    const output = (): BufOperand => ({ buf: s.buf ?? this.attach(s), offset: 0, strides: outStrides, dtype: out.dtype });
    switch (op.kind) {
      case 'elementwise': {
        const expr = op.expr(inputs.map((v, i) => E.input(i, v.dtype)), attrs, out);
        if (expr.k === 'const') {
          s.constValue = normalise(expr.v, out.dtype);
          break;
        }
        const operands = inputs.map((v) => this.operand(v, op.name));
        if (operands.every((o) => !('buf' in o)) && foldable(expr)) {
          // every operand is a constant: so is the result (computed once, on the host)
          s.constValue = foldConstant(expr, operands as ConstOperand[], out.dtype);
          break;
        }
        if (n > 0) runElementwise(this.rt, op.name, expr, out.shape, output(), operands);
        else output();
        break;
      }
      case 'copy': {
        const o = this.operand(inputs[0]!, op.name);
        if (!('buf' in o)) { s.constValue = o.value; break; }
        runElementwise(this.rt, op.name, E.input(0, out.dtype), out.shape, output(), [o]);
        break;
      }
      case 'view': internal('view ops run no kernel');
      // eslint-disable-next-line no-fallthrough
      default: this.runInto(op, inputs, attrs, out, output());
    }
    return s;
  }

  /**
   * Runs a template op (anything but elementwise and view ops) writing the contiguous `o`, a
   * buffer the caller owns (the jit's executor passes its planned buffers).
   */
  runInto(op: OpDef, inputs: readonly BufView[], attrs: unknown, out: Aval, o: BufOperand): void {
    const n = numel(out.shape);
    const outStrides = contiguousStrides(out.shape);
    const output = () => o;
    switch (op.kind) {
      case 'copy':
        runElementwise(this.rt, op.name, E.input(0, out.dtype), out.shape, o, [this.operand(inputs[0]!, op.name)]);
        break;
      case 'cat': {
        const dim = (attrs as AxisAttrs).dim;
        const o = output();
        let at = 0;
        for (const x of inputs) {
          runElementwise(this.rt, op.name, E.input(0, out.dtype), x.shape, { ...o, offset: at * outStrides[dim]! }, [this.operand(x, op.name)]);
          at += x.shape[dim]!;
        }
        break;
      }
      case 'pad': {
        const { pads, steps, value } = attrs as PadAttrs;
        const o = output();
        this.fill(o.buf, n, out.dtype, normalise(value, out.dtype));
        const x = inputs[0]!;
        const offset = pads.reduce((acc, [lo], d) => acc + lo * outStrides[d]!, 0);
        runElementwise(this.rt, op.name, E.input(0, out.dtype), x.shape,
          { ...o, offset, strides: outStrides.map((st, d) => st * steps[d]!) }, [this.operand(x, op.name)]);
        break;
      }
      case 'reduce': {
        const x = inputs[0]!;
        runReduce(this.rt, op.reduce, this.bufOperand(x, op.name), x.shape, (attrs as ReduceAttrs).dims, output());
        break;
      }
      case 'matmul': {
        const [a, b] = inputs as [BufView, BufView];
        runMatmul(this.rt, this.bufOperand(a, op.name), a.shape, this.bufOperand(b, op.name), b.shape, output(), out.shape);
        break;
      }
      case 'unfold': runUnfold(this.rt, this.bufOperand(inputs[0]!, op.name), inputs[0]!.shape, attrs as UnfoldAttrs, output(), out.shape); break;
      case 'fold': runFold(this.rt, this.bufOperand(inputs[0]!, op.name), inputs[0]!.shape, attrs as FoldAttrs, output(), out.shape); break;
      case 'gather': {
        const [x, idx] = inputs as [BufView, BufView];
        runGather(this.rt, this.bufOperand(x, op.name), x.shape, this.bufOperand(idx, op.name), idx.shape, (attrs as AxisAttrs).dim, output(), (attrs as AxisAttrs).what);
        break;
      }
      case 'scatterAdd': {
        const [base, idx, src] = inputs as [BufView, BufView, BufView];
        runScatterAdd(this.rt, this.operand(base, op.name), this.bufOperand(idx, op.name), idx.shape,
          this.bufOperand(src, op.name), (attrs as AxisAttrs).dim, output(), out.shape);
        break;
      }
      case 'elementwise': case 'view': internal(`runInto: ${op.name} is not a template op`);
      // eslint-disable-next-line no-fallthrough
      default: op satisfies never;
    }
  }

  /** The buffer of a storage (a lazy constant gets one, filled), for executors that bind buffers. */
  bufferOf(storage: Storage, op: string): GpuBuf {
    return this.bufOf(storage as GpuStorage, op);
  }

  /** A storage with a buffer of its own (uninitialised), watched for reclamation like any other. */
  allocate(dtype: DType, size: number, op: string): GpuStorage {
    const s = this.newStorage(dtype, size, op);
    if (size > 0) this.attach(s);
    return s;
  }
}
