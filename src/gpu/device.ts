/**
 * @file WebGPU device discovery: finds an adapter (navigator.gpu or Dawn), requests the adapter's
 * real limits, and installs the device-lost handler and the uncaptured-error sink. Errors that
 * WebGPU reports asynchronously are collected here and thrown at the next readback.
 */
import { DeviceError } from '../errors.ts';
import { findGpu, type GpuSource } from './platform.ts';

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
}

const LIMIT_KEYS = [
  'maxStorageBuffersPerShaderStage', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupsPerDimension', 'maxComputeWorkgroupStorageSize',
  'maxStorageBufferBindingSize', 'maxBufferSize', 'maxUniformBufferBindingSize',
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

  constructor(
    readonly device: GPUDevice,
    readonly limits: GpuLimits,
    readonly adapter: AdapterDescription,
    readonly features: ReadonlySet<string>,
  ) {
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
  const info = (adapter as { info?: GPUAdapterInfo }).info;
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
    desc = { vendor: '', architecture: '', device: '', description: 'user-provided device', isSoftware: false, source: 'navigator.gpu' };
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
      device = await adapter.requestDevice({ requiredLimits });
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
  };
  const ctx = new GpuContext(device, limits, desc, features);
  ctx.keepAlive.push(gpuObject, adapterObject);
  return ctx;
}
