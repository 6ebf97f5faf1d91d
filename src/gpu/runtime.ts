/**
 * @file The WebGPU runtime: a size-bucketed buffer pool, the pipeline cache, uniform slots, and
 * command batching. Compute calls are synchronous: each kernel is recorded into an open compute
 * pass and submitted in batches; only readback awaits.
 *
 * Ordering rules this file guarantees:
 * - a pooled buffer may be handed out again while commands that used it are still unsubmitted:
 *   commands run in recording order, so earlier readers finish before later writers;
 * - `queue.writeBuffer` runs before the unsubmitted batch, so writing a buffer that the current
 *   batch uses first submits the batch;
 * - buffers are destroyed only when no unsubmitted command refers to them.
 */
import { DeviceError, internal } from '../errors.ts';
import type { GpuContext } from './device.ts';
import type { RawCommand } from './replay.ts';
import { PassTimer } from './timestamps.ts';
import { MAP_MODE_READ, USAGE } from './usage.ts';

const SHADER_STAGE_COMPUTE = 0x4;

/** A pooled storage buffer. */
export interface GpuBuf {
  readonly buffer: GPUBuffer;
  /** capacity in bytes (the bucket size) */
  readonly bytes: number;
  /** id of the last batch whose commands use this buffer */
  lastBatch: number;
  /** set while the buffer sits in the pool */
  pooled: boolean;
  /** identity for the bind-group cache (unique per GPU buffer) */
  readonly id: number;
  /** this buffer's own bind groups (read-only, read-write), made on first use (see Runtime.dispatch) */
  groups?: [GPUBindGroup | undefined, GPUBindGroup | undefined];
}

/** Binding kinds after the uniform block at binding 0. */
export type BindingKind = 'read' | 'rw';

/** What a kernel template produces on a cache miss. */
export interface KernelSource {
  readonly code: string;
  /** storage bindings 1..n in order */
  readonly bindings: readonly BindingKind[];
  /** number of 32-bit uniform slots (binding 0), rounded up to vec4s by the template */
  readonly uniformSlots: number;
}

export interface Kernel {
  readonly key: string;
  readonly pipeline: GPUComputePipeline;
  /** the layout of its one bind group, or null when each buffer has a group of its own */
  readonly layout: GPUBindGroupLayout | null;
  readonly bindings: readonly BindingKind[];
  readonly uniformBytes: number;
  readonly code: string;
}

/** Round a byte size up to its pool bucket: powers of two up to 4 KiB, then 8 buckets per octave. */
export function bucketBytes(bytes: number): number {
  const b = Math.max(16, Math.ceil(bytes / 16) * 16);
  if (b <= 4096) return 2 ** Math.ceil(Math.log2(b));
  const p = 2 ** Math.floor(Math.log2(b));
  const step = p / 8;
  return Math.ceil(b / step) * step;
}

export interface RuntimeOptions {
  /** bytes the pool may hold for reuse before it destroys released buffers (default 256 MiB) */
  poolCapBytes?: number;
  /** kernels recorded before a batch is submitted (default 16: early submits let the GPU start while JS records) */
  batchSize?: number;
  /** matmul kernel: register-tiled (CPU adapters), workgroup-memory tiled (GPUs), or by adapter */
  matmul?: 'auto' | 'register' | 'workgroup';
}

const UNIFORM_CHUNK = 64 * 1024;
/** suffix of the keys of kernels compiled with one bind group for all buffers (see Runtime.oneGroup) */
const ONE_GROUP = '|g1';
/** bind groups kept for reuse (see Runtime.groups) */
const GROUP_CACHE_MAX = 4096;
/**
 * Bytes of idle MAP_READ staging buffers kept for later readbacks. The oldest go first beyond
 * it, except the most recent one, so a program that reads one large tensor per step keeps
 * reusing its buffer: staging memory stays below max(this, the largest readback).
 */
const STAGING_CAP_BYTES = 64 * 1024 * 1024;
/** at most this many idle staging buffers (they are searched linearly) */
const STAGING_CAP_COUNT = 16;

interface UniformChunk {
  buffer: GPUBuffer;
  data: Uint32Array;
  used: number;
}

export class Runtime {
  readonly device: GPUDevice;
  /** the id of the batch being recorded (not yet submitted) */
  batch = 1;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private inBatch = 0;
  private endScope: (() => void) | null = null;
  private readonly free = new Map<number, GpuBuf[]>();
  /** idle MAP_READ staging buffers, oldest first */
  private readonly staging: GPUBuffer[] = [];
  /** bytes held by `staging` */
  stagingPooledBytes = 0;
  private readonly toDestroy: GPUBuffer[] = [];
  private readonly kernels = new Map<string, Kernel>();
  private readonly layouts = new Map<string, GPUBindGroupLayout>();
  private readonly chunks: UniformChunk[] = [];
  /**
   * Bind groups of kernels with one group over all buffers, by (layout, uniform chunk and size,
   * storage buffers). The uniform block is bound with a dynamic offset, so a kernel run again over
   * the same buffers — every kernel of a compiled jit step, whose buffers the plan fixes — reuses
   * its bind group instead of creating one per dispatch (~15–20 µs each on lavapipe). Eager
   * kernels mostly bind a group per buffer instead (see `prepare`).
   */
  private readonly groups = new Map<string, GPUBindGroup>();
  private readonly layoutIds = new Map<GPUBindGroupLayout, number>();
  private nextBufId = 1;
  private chunkIdx = 0;
  private readonly align: number;
  readonly poolCapBytes: number;
  readonly batchSize: number;
  /** bytes held by buffers handed out (in use by storages or temporaries) */
  bytesInUse = 0;
  /** bytes held by the pool for reuse */
  bytesPooled = 0;
  /** bytes of GPU buffers ever created */
  bytesCreated = 0;
  readonly stats = { dispatches: 0, submits: 0, pipelines: 0, buffersCreated: 0, readbacks: 0 };
  /** a flag buffer kernels set when they meet an out-of-range index (see indexing kernels) */
  readonly flags: GpuBuf;
  /** which matmul template to use (see kernels/matmul.ts) */
  matmulVariant: 'auto' | 'register' | 'workgroup';
  /** while set, every command is also appended here (see replay.ts) */
  recorder: RawCommand[] | null = null;
  /**
   * While set, kernels are compiled (under their key + '|g1') with one bind group over all their
   * buffers rather than a group per buffer (see `prepare`): the jit sets it for compiled steps,
   * whose buffers repeat call after call, so each dispatch binds one cached group instead of
   * one per buffer (NVIDIA H200, Dawn: 2.8–5.3 µs vs 5.2–10 µs per dispatch to encode).
   */
  oneGroup = false;
  /** timestamps of the passes inside timed regions (profiled compiled functions), made on first use */
  private timer: PassTimer | null = null;

  constructor(readonly ctx: GpuContext, opts: RuntimeOptions = {}) {
    this.device = ctx.device;
    this.align = Math.max(16, ctx.limits.minUniformBufferOffsetAlignment);
    this.poolCapBytes = opts.poolCapBytes ?? 256 * 1024 * 1024;
    this.batchSize = opts.batchSize ?? 16;
    this.matmulVariant = opts.matmul ?? 'auto';
    this.flags = this.acquire(16);
    this.device.queue.writeBuffer(this.flags.buffer, 0, new Uint32Array(4));
  }

  // ------------------------------------------------------------------ buffers

  /** A storage buffer of at least `bytes` bytes, from the pool when one of its bucket is free. */
  acquire(bytes: number): GpuBuf {
    const size = bucketBytes(bytes);
    if (size > this.ctx.limits.maxStorageBufferBindingSize) {
      throw new DeviceError(`webgpu: a tensor of ${bytes} bytes exceeds this adapter's maxStorageBufferBindingSize (${this.ctx.limits.maxStorageBufferBindingSize} bytes); split the work or use the CPU`);
    }
    const list = this.free.get(size);
    let b = list?.pop();
    if (b) {
      this.bytesPooled -= size;
      b.pooled = false;
    } else {
      const buffer = this.device.createBuffer({ size, usage: USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST });
      b = { buffer, bytes: size, lastBatch: 0, pooled: false, id: this.nextBufId++ };
      this.bytesCreated += size;
      this.stats.buffersCreated++;
    }
    this.bytesInUse += size;
    this.recorder?.push({ op: 'acquire', buf: b, bytes });
    return b;
  }

  /** Returns a buffer to the pool (or destroys it when the pool is full). */
  release(b: GpuBuf): void {
    if (b.pooled) internal('webgpu buffer released twice');
    this.recorder?.push({ op: 'release', buf: b });
    this.bytesInUse -= b.bytes;
    if (this.bytesPooled + b.bytes > this.poolCapBytes) {
      this.bytesCreated -= b.bytes;
      if (b.lastBatch === this.batch && this.encoder) this.toDestroy.push(b.buffer);
      else b.buffer.destroy();
      return;
    }
    b.pooled = true;
    this.bytesPooled += b.bytes;
    let list = this.free.get(b.bytes);
    if (!list) this.free.set(b.bytes, (list = []));
    list.push(b);
  }

  /** Destroys every pooled buffer (after submitting pending work). */
  trimPool(): void {
    this.flush();
    for (const list of this.free.values()) for (const b of list) { b.buffer.destroy(); this.bytesCreated -= b.bytes; }
    this.free.clear();
    this.bytesPooled = 0;
  }

  /** Writes host data into a buffer, submitting first when the current batch uses it. */
  write(b: GpuBuf, data: ArrayBufferView, byteOffset = 0): void {
    if (b.lastBatch === this.batch && this.encoder) this.flush();
    this.recorder?.push({ op: 'unsupported', what: 'a host write into a buffer' });
    this.device.queue.writeBuffer(b.buffer, byteOffset, data.buffer, data.byteOffset, data.byteLength);
  }

  // ------------------------------------------------------------------ kernels

  /** The compiled kernel for `key`, building its source with `build` on a miss. */
  kernel(key: string, build: () => KernelSource): Kernel {
    if (this.oneGroup) key += ONE_GROUP;
    const hit = this.kernels.get(key);
    if (hit) return hit;
    // a kernel with too many buffers for a group each has one group either way: share it
    const twin = this.kernels.get(key.endsWith(ONE_GROUP) ? key.slice(0, -ONE_GROUP.length) : key + ONE_GROUP);
    if (twin && twin.layout !== null) {
      this.kernels.set(key, twin);
      return twin;
    }
    if (this.collecting) return this.collect(key, build);
    const { src, layout, groupLayouts } = this.prepare(key, build());
    const end = this.ctx.scoped(() => `compiling kernel '${key}':\n${numbered(src.code)}`);
    const module = this.device.createShaderModule({ code: src.code });
    const pipeline = this.device.createComputePipeline({
      layout: this.device.createPipelineLayout({ bindGroupLayouts: groupLayouts }),
      compute: { module, entryPoint: 'main' },
    });
    end();
    return this.store(key, src, layout, pipeline);
  }

  /**
   * Like `kernel`, but compiles with `createComputePipelineAsync`, so the compile does not block
   * the thread; the result lands in the same cache under the same key, so a later synchronous
   * `kernel(key, …)` finds it. Concurrent requests for one key share one promise. A synchronous
   * `kernel(key)` issued while the async compile is in flight compiles synchronously (compute calls
   * cannot wait) and wins; the async result is then dropped. Errors: shader-module validation
   * errors are collected by an error scope exactly as on the synchronous path (thrown at the next
   * readback), and a rejected pipeline compile rejects this promise with a DeviceError naming the
   * kernel; a failed key is not cached, so it may be retried.
   *
   * Why it is fed by a "collect" run (see `precompileWebGPU`) rather than by a fixed list of
   * common kernels at `initWebGPU`: kernel keys and sources are computed inside each runner from
   * the operands (collapsed rank, scalar operands, workgroup size chosen from the element count,
   * fast-division flags, dtypes), so there is no tensor-free way to name "the" add or cast kernel
   * that a later op will ask for; guessing keys would compile pipelines nobody uses. Recording
   * the exact (key, source) pairs a user function asks for is exact by construction.
   */
  kernelAsync(key: string, build: () => KernelSource): Promise<Kernel> {
    const hit = this.kernels.get(key);
    if (hit) return Promise.resolve(hit);
    const pending = this.pending.get(key);
    if (pending) return pending;
    const p = (async () => {
      const { src, layout, groupLayouts } = this.prepare(key, build());
      const end = this.ctx.scoped(() => `compiling kernel '${key}':\n${numbered(src.code)}`);
      const module = this.device.createShaderModule({ code: src.code });
      let pipeline: GPUComputePipeline;
      try {
        pipeline = await this.device.createComputePipelineAsync({
          layout: this.device.createPipelineLayout({ bindGroupLayouts: groupLayouts }),
          compute: { module, entryPoint: 'main' },
        });
      } catch (e) {
        throw new DeviceError(`WebGPU error in compiling kernel '${key}' (async): ${(e as Error).message}\n${numbered(src.code)}`);
      } finally {
        end();
      }
      return this.kernels.get(key) ?? this.store(key, src, layout, pipeline);
    })();
    this.pending.set(key, p);
    const forget = () => { if (this.pending.get(key) === p) this.pending.delete(key); };
    p.then(forget, forget);
    return p;
  }

  /**
   * Collect mode (used by `precompileWebGPU`): while on, a cache miss in `kernel` records the
   * kernel's source instead of compiling, and returns a placeholder whose dispatches are skipped.
   */
  startCollecting(): void {
    this.flush();
    this.collecting = new Map();
  }
  /** Ends collect mode; returns the recorded (key, source) pairs. */
  stopCollecting(): Map<string, KernelSource> {
    const c = this.collecting;
    this.collecting = null;
    this.placeholders.clear();
    return new Map(c ? [...c].map(([k, v]) => [k, v.src] as const) : []);
  }

  /** Whether collect mode is on (dispatches of kernels not yet compiled are skipped). */
  get isCollecting(): boolean { return this.collecting !== null; }
  private collecting: Map<string, { src: KernelSource; k: Kernel }> | null = null;
  private readonly placeholders = new Set<Kernel>();
  private readonly pending = new Map<string, Promise<Kernel>>();

  private collect(key: string, build: () => KernelSource): Kernel {
    const seen = this.collecting!.get(key);
    if (seen) return seen.k;
    const src = build();
    const uniformBytes = Math.max(16, Math.ceil(src.uniformSlots / 4) * 16);
    const k: Kernel = {
      key, pipeline: null as unknown as GPUComputePipeline, layout: null as unknown as GPUBindGroupLayout,
      bindings: src.bindings, uniformBytes, code: src.code,
    };
    this.collecting!.set(key, { src, k });
    this.placeholders.add(k);
    return k;
  }

  /**
   * The bind-group layouts of a kernel. A kernel with at most maxBindGroups − 1 storage buffers
   * gets a group per buffer (group 0 the uniforms, group i buffer i, each at binding 0; its WGSL
   * declarations are renumbered to match): a buffer's group is made once and reused with any
   * other buffers, where one group over all of a dispatch's buffers is made again whenever the
   * combination is new — every dispatch of an eager training loop, whose buffers the pool
   * hands out in a different order each step (measured on lavapipe: 43 of 43 bind groups per MLP
   * step were new, ~20 µs each, 44 % of the step's host time). Kernels with more buffers keep
   * one group, cached per combination, as do kernels compiled while `oneGroup` is set.
   */
  private prepare(key: string, raw: KernelSource): { src: KernelSource; layout: GPUBindGroupLayout | null; groupLayouts: GPUBindGroupLayout[] } {
    const stor = this.ctx.limits.maxStorageBuffersPerShaderStage;
    if (raw.bindings.length > stor) {
      internal(`kernel ${key} binds ${raw.bindings.length} storage buffers; this adapter allows ${stor}`);
    }
    if (key.endsWith(ONE_GROUP) || raw.bindings.length >= this.ctx.limits.maxBindGroups) {
      const layout = this.layoutFor(raw);
      return { src: raw, layout, groupLayouts: [layout] };
    }
    const code = raw.code.replace(/@group\(0\) @binding\((\d+)\)/g, (m, b: string) => (b === '0' ? m : `@group(${b}) @binding(0)`));
    return {
      src: { ...raw, code },
      layout: null,
      groupLayouts: [this.uniformLayout(), ...raw.bindings.map((k) => this.bufferLayout(k))],
    };
  }

  private uniformLayoutCache: GPUBindGroupLayout | null = null;
  private readonly bufferLayouts = new Map<BindingKind, GPUBindGroupLayout>();
  private uniformLayout(): GPUBindGroupLayout {
    return this.uniformLayoutCache ??= this.device.createBindGroupLayout({
      entries: [{ binding: 0, visibility: SHADER_STAGE_COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true } }],
    });
  }
  private bufferLayout(kind: BindingKind): GPUBindGroupLayout {
    let l = this.bufferLayouts.get(kind);
    if (!l) {
      l = this.device.createBindGroupLayout({
        entries: [{ binding: 0, visibility: SHADER_STAGE_COMPUTE, buffer: { type: kind === 'read' ? 'read-only-storage' : 'storage' } }],
      });
      this.bufferLayouts.set(kind, l);
    }
    return l;
  }
  /** uniform bind groups by chunk index and binding size */
  private readonly uniformGroups = new Map<number, GPUBindGroup>();
  private uniformGroup(chunk: UniformChunk, bytes: number): GPUBindGroup {
    const key = this.chunkIdx * (UNIFORM_CHUNK + 1) + bytes;
    let g = this.uniformGroups.get(key);
    if (!g) {
      g = this.device.createBindGroup({ layout: this.uniformLayout(), entries: [{ binding: 0, resource: { buffer: chunk.buffer, offset: 0, size: bytes } }] });
      this.uniformGroups.set(key, g);
    }
    return g;
  }
  private bufferGroup(b: GpuBuf, kind: BindingKind): GPUBindGroup {
    const i = kind === 'read' ? 0 : 1;
    const groups = b.groups ??= [undefined, undefined];
    return groups[i] ??= this.device.createBindGroup({ layout: this.bufferLayout(kind), entries: [{ binding: 0, resource: { buffer: b.buffer } }] });
  }

  private store(key: string, src: KernelSource, layout: GPUBindGroupLayout | null, pipeline: GPUComputePipeline): Kernel {
    const uniformBytes = Math.max(16, Math.ceil(src.uniformSlots / 4) * 16);
    const k: Kernel = { key, pipeline, layout, bindings: src.bindings, uniformBytes, code: src.code };
    this.kernels.set(key, k);
    this.stats.pipelines++;
    return k;
  }

  private layoutFor(src: KernelSource): GPUBindGroupLayout {
    const layoutKey = src.bindings.join(',');
    let layout = this.layouts.get(layoutKey);
    if (!layout) {
      layout = this.device.createBindGroupLayout({
        entries: [
          { binding: 0, visibility: SHADER_STAGE_COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true } },
          ...src.bindings.map((k, i) => ({
            binding: i + 1, visibility: SHADER_STAGE_COMPUTE,
            buffer: { type: (k === 'read' ? 'read-only-storage' : 'storage') as GPUBufferBindingType },
          })),
        ],
      });
      this.layouts.set(layoutKey, layout);
      this.layoutIds.set(layout, this.layoutIds.size);
    }
    return layout;
  }

  /** Number of distinct compiled pipelines. */
  get pipelineCount(): number {
    return this.kernels.size;
  }
  /** Called with every kernel dispatched (introspection: the jit records each step's WGSL). */
  onDispatch: ((k: Kernel) => void) | null = null;

  /** Keys of the compiled pipelines (for tests and introspection). */
  pipelineKeys(): string[] {
    return [...this.kernels.keys()];
  }

  /**
   * Records one dispatch of `count` workgroups (split over x/y when larger than the per-dimension
   * limit; shaders recover the linear index as wid.y·nwg.x + wid.x and guard against overshoot).
   */
  dispatch(k: Kernel, buffers: readonly GpuBuf[], uniforms: Uint32Array, count: number): void {
    if (count <= 0) return;
    this.ctx.checkAlive('webgpu');
    if (buffers.length !== k.bindings.length) internal(`kernel ${k.key}: ${buffers.length} buffers for ${k.bindings.length} bindings`);
    if (this.placeholders.has(k)) { // collect mode: the kernel is recorded, not run
      this.recorder?.push({ op: 'unsupported', what: 'a kernel still being collected' });
      return;
    }
    this.onDispatch?.(k);
    this.recorder?.push({ op: 'dispatch', kernel: k, bufs: buffers.slice(), uniforms: uniforms.slice(0, k.uniformBytes / 4), count });
    const pass = this.openPass();
    const { chunk, offset } = this.uniformSlot(k.uniformBytes);
    chunk.data.set(uniforms.subarray(0, k.uniformBytes / 4), offset / 4);
    for (let i = 0; i < buffers.length; i++) {
      const b = buffers[i]!;
      if (b.pooled) internal(`kernel ${k.key}: binding ${i + 1} is a released buffer`);
      b.lastBatch = this.batch;
    }
    pass.setPipeline(k.pipeline);
    if (k.layout === null) {
      pass.setBindGroup(0, this.uniformGroup(chunk, k.uniformBytes), [offset]);
      for (let i = 0; i < buffers.length; i++) pass.setBindGroup(i + 1, this.bufferGroup(buffers[i]!, k.bindings[i]!));
    } else {
      let gkey = `${this.layoutIds.get(k.layout)}:${this.chunkIdx}:${k.uniformBytes}`;
      for (let i = 0; i < buffers.length; i++) gkey += `,${buffers[i]!.id}`;
      let group = this.groups.get(gkey);
      if (!group) {
        const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: chunk.buffer, offset: 0, size: k.uniformBytes } }];
        for (let i = 0; i < buffers.length; i++) entries.push({ binding: i + 1, resource: { buffer: buffers[i]!.buffer } });
        group = this.device.createBindGroup({ layout: k.layout, entries });
        // a bound on the cache; destroyed buffers' groups go with it
        if (this.groups.size >= GROUP_CACHE_MAX) this.groups.clear();
        this.groups.set(gkey, group);
      }
      pass.setBindGroup(0, group, [offset]);
    }
    const max = this.ctx.limits.maxComputeWorkgroupsPerDimension;
    if (count <= max) pass.dispatchWorkgroups(count);
    else {
      const y = Math.ceil(count / max);
      if (y > max) throw new DeviceError(`webgpu: ${count} workgroups exceed ${max}² (maxComputeWorkgroupsPerDimension squared)`);
      pass.dispatchWorkgroups(Math.ceil(count / y), y);
    }
    this.stats.dispatches++;
    if (++this.inBatch >= this.batchSize) this.flush();
  }

  /** Records a buffer-to-buffer copy (byte offsets and size multiples of 4). */
  copy(src: GpuBuf, srcOffset: number, dst: GPUBuffer | GpuBuf, dstOffset: number, bytes: number): void {
    if (bytes <= 0) return;
    const enc = this.openEncoder();
    this.closePass();
    src.lastBatch = this.batch;
    const d = 'buffer' in dst ? dst.buffer : dst;
    if ('buffer' in dst) dst.lastBatch = this.batch;
    this.recorder?.push('buffer' in dst ? { op: 'copy', src, srcOffset, dst, dstOffset, bytes } : { op: 'unsupported', what: 'a copy into a staging buffer' });
    enc.copyBufferToBuffer(src.buffer, srcOffset, d, dstOffset, bytes);
  }

  /** Records a clear of a whole buffer to zero bytes. */
  clear(b: GpuBuf, bytes = b.bytes): void {
    const enc = this.openEncoder();
    this.closePass();
    b.lastBatch = this.batch;
    this.recorder?.push({ op: 'clear', buf: b, bytes });
    enc.clearBuffer(b.buffer, 0, Math.ceil(bytes / 4) * 4);
  }

  /** Submits everything recorded so far. */
  flush(): void {
    if (!this.encoder) return;
    this.closePass();
    const enc = this.encoder;
    this.encoder = null;
    for (let i = 0; i < this.chunkIdx + 1 && i < this.chunks.length; i++) {
      const c = this.chunks[i]!;
      if (c.used > 0) this.device.queue.writeBuffer(c.buffer, 0, c.data.buffer, 0, c.used);
      c.used = 0;
    }
    this.chunkIdx = 0;
    const timed = this.timer?.resolve(enc) ?? null;
    this.device.queue.submit([enc.finish()]);
    timed?.();
    this.endScope?.();
    this.endScope = null;
    this.stats.submits++;
    this.inBatch = 0;
    this.batch++;
    for (const b of this.toDestroy.splice(0)) b.destroy();
  }

  /**
   * Copies `bytes` bytes at `byteOffset` of `src` (plus the index-error flags) to the host.
   * `take` turns the mapped bytes into the result; the mapping is only valid during the call, so
   * it must copy (the default copies into a fresh ArrayBuffer). Copying straight out of the
   * mapping into the caller's array is the only host-side copy of a readback. Returns the flags
   * as they were when the copy ran; they are then cleared.
   */
  async read<T = ArrayBuffer>(
    src: GpuBuf, byteOffset: number, bytes: number,
    take: (mapped: ArrayBuffer, bytes: number) => T = (m, b) => m.slice(0, b) as T,
    whileWaiting?: () => void,
  ): Promise<{ data: T; flags: Uint32Array }> {
    this.ctx.checkAlive('read');
    const staging = this.takeStaging(bucketBytes(bytes + 16));
    this.copy(src, byteOffset, staging, 0, bytes);
    this.copy(this.flags, 0, staging, bytes, 16);
    this.clear(this.flags, 16);
    this.flush();
    this.stats.readbacks++;
    try {
      const mapped = staging.mapAsync(MAP_MODE_READ, 0, bytes + 16);
      whileWaiting?.();
      await this.ctx.settle(mapped);
    } catch (e) {
      staging.destroy();
      await this.ctx.throwPendingErrors();
      throw new DeviceError(`webgpu readback failed: ${(e as Error).message}`);
    }
    let data: T, flags: Uint32Array;
    try {
      const range = staging.getMappedRange(0, bytes + 16);
      data = take(range, bytes);
      flags = new Uint32Array(range, bytes, 4).slice();
    } finally {
      staging.unmap();
      this.returnStaging(staging);
    }
    // the kernel times of the work this readback waited for (profiled compiled functions)
    await this.timer?.drain();
    return { data, flags };
  }

  /** An idle staging buffer of exactly `size` bytes (a bucket size), or a new one. */
  private takeStaging(size: number): GPUBuffer {
    // newest first: the buffer used last is the likeliest to be resident
    for (let i = this.staging.length - 1; i >= 0; i--) {
      const b = this.staging[i]!;
      if (b.size === size) {
        this.staging.splice(i, 1);
        this.stagingPooledBytes -= size;
        return b;
      }
    }
    return this.device.createBuffer({ size, usage: USAGE.MAP_READ | USAGE.COPY_DST });
  }

  /** Keeps an unmapped staging buffer for reuse, evicting the oldest beyond the caps. */
  private returnStaging(b: GPUBuffer): void {
    if (this.ctx.lostReason !== null) return void b.destroy();
    this.staging.push(b);
    this.stagingPooledBytes += b.size;
    while (this.staging.length > 1 && (this.stagingPooledBytes > STAGING_CAP_BYTES || this.staging.length > STAGING_CAP_COUNT)) {
      const old = this.staging.shift()!;
      this.stagingPooledBytes -= old.size;
      old.destroy();
    }
  }

  /** Idle staging buffers kept for readbacks (for tests and diagnosis). */
  get stagingPooledCount(): number {
    return this.staging.length;
  }

  /** Waits until the GPU has finished everything submitted so far. */
  async sync(): Promise<void> {
    this.flush();
    await this.ctx.settle(this.device.queue.onSubmittedWorkDone());
    await this.timer?.drain();
  }

  private openEncoder(): GPUCommandEncoder {
    if (!this.encoder) {
      this.endScope = this.ctx.scoped(() => `a batch of kernels (recorded before submit ${this.stats.submits + 1})`);
      this.encoder = this.device.createCommandEncoder();
    }
    return this.encoder;
  }
  private openPass(): GPUComputePassEncoder {
    if (!this.pass && this.timer?.full) this.flush();
    const enc = this.openEncoder();
    if (!this.pass) this.pass = enc.beginComputePass(this.timer?.passDescriptor());
    return this.pass;
  }

  /** Whether kernels can be timed here (the device has the timestamp-query feature). */
  get canTime(): boolean {
    return this.device.features.has('timestamp-query');
  }

  /**
   * Charges the GPU time of the kernels dispatched from now until `endTimed()` to `report`
   * (nanoseconds, called once the GPU has run them; `sync` and readbacks wait for it). Throws a
   * DeviceError where the device has no timestamp-query feature.
   */
  beginTimed(report: (ns: number) => void): void {
    this.timer ??= new PassTimer(this.device, (p) => this.ctx.settle(p));
    this.closePass();
    this.timer.begin(report);
  }
  endTimed(): void {
    this.closePass();
    this.timer?.end();
  }
  private closePass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  private uniformSlot(bytes: number): { chunk: UniformChunk; offset: number } {
    let c = this.chunks[this.chunkIdx];
    const need = Math.ceil(bytes / this.align) * this.align;
    if (c && c.used + need > UNIFORM_CHUNK) {
      this.chunkIdx++;
      c = this.chunks[this.chunkIdx];
    }
    if (!c) {
      c = {
        buffer: this.device.createBuffer({ size: UNIFORM_CHUNK, usage: USAGE.UNIFORM | USAGE.COPY_DST }),
        data: new Uint32Array(UNIFORM_CHUNK / 4),
        used: 0,
      };
      this.chunks[this.chunkIdx] = c;
    }
    const offset = c.used;
    c.used += need;
    return { chunk: c, offset };
  }

  destroy(): void {
    this.flush();
    for (const list of this.free.values()) for (const b of list) b.buffer.destroy();
    for (const b of this.staging) b.destroy();
    for (const c of this.chunks) c.buffer.destroy();
    this.timer?.destroy();
    this.timer = null;
    this.free.clear();
    this.staging.length = 0;
    this.stagingPooledBytes = 0;
  }
}

function numbered(code: string): string {
  return code.split('\n').map((l, i) => `${String(i + 1).padStart(4)}  ${l}`).join('\n');
}
