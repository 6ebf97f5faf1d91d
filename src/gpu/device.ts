/**
 * @file WebGPU device discovery: finds an adapter (navigator.gpu or Dawn), requests the adapter's
 * real limits, and installs the device-lost handler and the uncaptured-error sink. Errors that
 * WebGPU reports asynchronously are collected here and thrown at the next readback.
 */
import { DeviceError } from '../errors.ts';
import { findGpu, type GpuSource } from './platform.ts';
import { isNode } from '../platform.ts';

/** The limits the kernels read (the adapter's real ones, requested in full). */
export interface GpuLimits {
  readonly maxStorageBuffersPerShaderStage: number;
  readonly maxComputeInvocationsPerWorkgroup: number;
  readonly maxComputeWorkgroupSizeX: number;
  readonly maxComputeWorkgroupSizeY: number;
  readonly maxComputeWorkgroupsPerDimension: number;
  readonly maxComputeWorkgroupStorageSize: number;
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxUniformBufferBindingSize: number;
  readonly minUniformBufferOffsetAlignment: number;
  readonly maxBindGroups: number;
}

const LIMIT_KEYS = [
  'maxStorageBuffersPerShaderStage', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupsPerDimension', 'maxComputeWorkgroupStorageSize',
  'maxStorageBufferBindingSize', 'maxBufferSize', 'maxUniformBufferBindingSize', 'maxBindGroups',
] as const;

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** a software rasteriser (lavapipe/llvmpipe, SwiftShader, WARP): kernels prefer register tiling */
  isSoftware: boolean;
  source: GpuSource;
}

export interface WebGPUOptions {
  /** an existing device to use instead of requesting one */
  device?: GPUDevice;
  powerPreference?: GPUPowerPreference;
  /** Dawn toggles for create() under Node, e.g. ['enable-dawn-features=…'] */
  dawnOptions?: readonly string[];
}

/**
 * Throttles how often Dawn for Node looks for finished GPU work while the program awaits it.
 *
 * Dawn's Node bindings resolve mapAsync/onSubmittedWorkDone only when they process events, and
 * while any such promise is pending they re-arm a setImmediate that does so: the JS thread spins
 * at 100 % for the whole wait. On a software adapter (lavapipe) the "GPU" is the same few cores,
 * so the spin takes a core from the kernels being waited for (measured on 2 cores: a 1M-element
 * sigmoid plus a 16-byte readback took 1.8–3.0 ms spinning, 1.1–1.7 ms with the thread asleep;
 * three such kernels 8.0 ms vs 5.2 ms). This waiter lets Dawn poll freely for the first
 * `spinMs` (small readbacks of finished work resolve within that, so `item()` adds no latency),
 * then sleeps the thread between polls with Atomics.wait, in slices growing from `minSliceMs` to
 * `maxSliceMs`: the wake-up after the work finishes comes at most one slice late. One loop
 * serves every pending wait, so concurrent readbacks do not multiply the sleeping.
 */
export class PollThrottle {
  private pending = 0;
  private running = false;
  /** when the most recent wait began; a new wait restarts the free-polling window */
  private since = 0;
  private readonly cell = new Int32Array(new SharedArrayBuffer(4));
  /** sleeps taken (for tests and diagnosis) */
  sleeps = 0;

  constructor(readonly spinMs = 0.05, readonly minSliceMs = 0.05, readonly maxSliceMs = 0.2) {}

  /** Resolves or rejects as `p` does, polling Dawn at a throttled rate in the meantime. */
  wait<T>(p: Promise<T>): Promise<T> {
    this.pending++;
    this.since = performance.now();
    const done = (): void => { this.pending--; };
    p.then(done, done);
    if (!this.running) void this.loop();
    return p;
  }

  private async loop(): Promise<void> {
    this.running = true;
    let slice = this.minSliceMs, since = this.since;
    try {
      while (this.pending > 0) {
        // Dawn's own setImmediate (queued before ours) processes events first in this turn.
        await new Promise<void>((r) => setImmediate(r));
        if (this.pending === 0) break;
        if (this.since !== since) { since = this.since; slice = this.minSliceMs; }
        if (performance.now() - since < this.spinMs) continue;
        Atomics.wait(this.cell, 0, 0, slice);
        this.sleeps++;
        slice = Math.min(slice * 2, this.maxSliceMs);
      }
    } finally {
      this.running = false;
    }
  }
}

/** Whether awaiting GPU work should go through a PollThrottle (Node, software adapter). */
function wantsThrottle(adapter: AdapterDescription): boolean {
  // NOTE: on a hardware GPU the spin costs a CPU core but no GPU time, so waking up to a slice
  // late would only add latency; in browsers the GPU process does the polling.
  return adapter.isSoftware && isNode() && typeof SharedArrayBuffer === 'function' &&
    typeof Atomics?.wait === 'function' && typeof (globalThis as { setImmediate?: unknown }).setImmediate === 'function';
}

/** One open device and what the backend needs to know about it. */
export class GpuContext {
  /** errors reported asynchronously (validation, out-of-memory, internal); thrown at the next readback */
  readonly errors: Error[] = [];
  /** error-scope results still in flight */
  readonly pendingScopes: Promise<void>[] = [];
  lostReason: string | null = null;
  /**
   * The GPU object and adapter the device came from. NOTE: they must stay reachable: when Dawn's
   * instance object is garbage-collected under Node, the device's internals are freed under it
   * (crashes in pthread_mutex_lock, hangs in mapAsync).
   */
  keepAlive: unknown[] = [];
  /** throttles Dawn's event polling during waits, or null to await GPU promises as they are */
  throttle: PollThrottle | null;

  constructor(
    readonly device: GPUDevice,
    readonly limits: GpuLimits,
    readonly adapter: AdapterDescription,
    readonly features: ReadonlySet<string>,
  ) {
    this.throttle = wantsThrottle(adapter) ? new PollThrottle() : null;
    void device.lost.then((info) => {
      this.lostReason = `${info.reason}: ${info.message}`;
      if (info.reason !== 'destroyed') console.error(`tapegrad: WebGPU device lost (${this.lostReason})`);
    });
    device.addEventListener('uncapturederror', (ev) => {
      const err = (ev as GPUUncapturedErrorEvent).error;
      console.error(`tapegrad: uncaptured WebGPU error: ${err.message}`);
      this.errors.push(new DeviceError(`WebGPU error: ${err.message}`));
    });
  }

  /**
   * Awaits a promise that settles when the GPU reaches some point (mapAsync,
   * onSubmittedWorkDone) without letting Dawn for Node spin a core meanwhile (see PollThrottle).
   */
  settle<T>(p: Promise<T>): Promise<T> {
    return this.throttle ? this.throttle.wait(p) : p;
  }

  /** Throws when the device is gone. */
  checkAlive(op: string): void {
    if (this.lostReason !== null) {
      throw new DeviceError(`${op}: the WebGPU device was lost (${this.lostReason}); call await initWebGPU() again and recreate tensors`);
    }
  }

  /** Pushes validation + out-of-memory scopes; the returned function pops them and records errors. */
  scoped(what: () => string): () => void {
    const d = this.device;
    d.pushErrorScope('out-of-memory');
    d.pushErrorScope('validation');
    return () => {
      const v = d.popErrorScope();
      const m = d.popErrorScope();
      const p = Promise.all([v, m]).then(([ve, me]) => {
        for (const e of [ve, me]) if (e) this.errors.push(new DeviceError(`WebGPU ${e === me ? 'out-of-memory' : 'validation'} error in ${what()}: ${e.message}`));
      });
      this.pendingScopes.push(p);
    };
  }

  /** Awaits outstanding error scopes and throws the first error collected (then forgets them). */
  async throwPendingErrors(): Promise<void> {
    while (this.pendingScopes.length) {
      const ps = this.pendingScopes.splice(0);
      await Promise.all(ps);
    }
    this.throwCollected();
  }

  /** Throws the first error already collected. */
  throwCollected(): void {
    if (this.errors.length) {
      const [first, ...rest] = this.errors.splice(0);
      if (rest.length) first!.message += ` (and ${rest.length} more WebGPU error${rest.length > 1 ? 's' : ''})`;
      throw first!;
    }
  }
}

function describe(adapter: GPUAdapter, source: GpuSource): AdapterDescription {
  return describeInfo((adapter as { info?: GPUAdapterInfo }).info, source);
}

function describeInfo(info: GPUAdapterInfo | undefined, source: GpuSource): AdapterDescription {
  const vendor = info?.vendor ?? '', architecture = info?.architecture ?? '', device = info?.device ?? '', description = info?.description ?? '';
  const text = `${vendor} ${architecture} ${device} ${description}`.toLowerCase();
  const isSoftware = (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter === true ||
    /llvmpipe|lavapipe|swiftshader|software|warp|microsoft basic/.test(text);
  return { vendor, architecture, device, description, isSoftware, source };
}

const SETUP_HINT =
  'On Linux without a GPU, install the software adapter (Mesa lavapipe from bookworm-backports) with ' +
  '`sudo bash scripts/setup-webgpu.sh`; in a browser, use one with WebGPU enabled (Chromium on Linux: --enable-unsafe-webgpu).';

/** Finds an adapter and opens a device with the adapter's real limits. */
export async function openDevice(opts: WebGPUOptions = {}): Promise<GpuContext> {
  let device = opts.device;
  let gpuObject: GPU | null = null, adapterObject: GPUAdapter | null = null;
  let desc: AdapterDescription;
  let features: Set<string>;
  if (device) {
    // GPUDevice.adapterInfo (Chrome 132+, Dawn): without it a software adapter passed in would get
    // the kernels tuned for GPUs (the workgroup-memory matmul: 10–12 ms instead of ~1 ms for the
    // MLP's [128,784]·[784,128] on lavapipe)
    const info = (device as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
    desc = info ? describeInfo(info, 'navigator.gpu') : { vendor: '', architecture: '', device: '', description: 'user-provided device', isSoftware: false, source: 'navigator.gpu' };
    features = new Set(device.features as unknown as Iterable<string>);
  } else {
    const found = await findGpu(opts.dawnOptions);
    if (!found.gpu) throw new DeviceError(`initWebGPU: no WebGPU available: ${found.why}. ${SETUP_HINT}`);
    gpuObject = found.gpu;
    const adapter = await found.gpu.requestAdapter(opts.powerPreference ? { powerPreference: opts.powerPreference } : undefined);
    if (!adapter) {
      throw new DeviceError(`initWebGPU: ${found.source} found no WebGPU adapter. ${SETUP_HINT} Check with \`node scripts/check-webgpu.mjs\`.`);
    }
    adapterObject = adapter;
    desc = describe(adapter, found.source);
    const requiredLimits: Record<string, number> = {};
    for (const k of LIMIT_KEYS) {
      const v = (adapter.limits as unknown as Record<string, number>)[k];
      if (typeof v === 'number') requiredLimits[k] = v;
    }
    features = new Set(adapter.features as unknown as Iterable<string>);
    try {
      // timestamps only cost when a compiled function is profiled (setProfiling)
      const requiredFeatures = features.has('timestamp-query') ? ['timestamp-query' as GPUFeatureName] : [];
      device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
    } catch (e) {
      throw new DeviceError(`initWebGPU: requestDevice failed on ${desc.description || desc.vendor || 'the adapter'}: ${(e as Error).message}`);
    }
  }
  const l = device.limits as unknown as Record<string, number>;
  const limits: GpuLimits = {
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage ?? 8,
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup ?? 256,
    maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX ?? 256,
    maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY ?? 256,
    maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension ?? 65535,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize ?? 16384,
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize ?? 134217728,
    maxBufferSize: l.maxBufferSize ?? 268435456,
    maxUniformBufferBindingSize: l.maxUniformBufferBindingSize ?? 65536,
    minUniformBufferOffsetAlignment: l.minUniformBufferOffsetAlignment ?? 256,
    maxBindGroups: l.maxBindGroups ?? 4,
  };
  const ctx = new GpuContext(device, limits, desc, features);
  ctx.keepAlive.push(gpuObject, adapterObject);
  return ctx;
}
