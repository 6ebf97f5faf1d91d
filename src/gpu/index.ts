/**
 * @file Entry point of the WebGPU backend: `await initWebGPU()` opens a device and registers the
 * 'webgpu' backend, after which `t.to('webgpu')`, `{device: 'webgpu'}` and
 * `setDefaultDevice('webgpu')` work.
 * @example
 * import { initWebGPU, tensor } from 'tapegrad';
 * await initWebGPU();                       // Node: npm package `webgpu` (Dawn); browsers: navigator.gpu
 * const x = tensor([1, 2, 3], { device: 'webgpu' });
 * console.log(await x.mul(2).toArray());    // [2, 4, 6]
 */
import { registerBackend } from '../backend.ts';
import { DeviceError } from '../errors.ts';
import { scope } from '../scope.ts';
import { GpuBackend } from './backend.ts';
import { openDevice, type AdapterDescription, type GpuLimits, type WebGPUOptions } from './device.ts';
import { findForcedGc } from '../platform.ts';
import { Reclaimer } from './reclaim.ts';
import { Runtime } from './runtime.ts';
import { checkOptions, optionNames, optionValue, type OptionKeys } from '../options.ts';

export interface InitWebGPUOptions extends WebGPUOptions {
  /** bytes the buffer pool keeps for reuse (default 256 MiB) */
  poolCapBytes?: number;
  /**
   * bytes allocated between forced garbage collections at readbacks (Node only; default 128 MiB);
   * 0 disables forcing collections
   */
  gcThresholdBytes?: number;
  /** kernels recorded per command-buffer submit (default 16) */
  batchSize?: number;
  /**
   * matmul template: 'register' (register tiling, no workgroup memory: best on CPU adapters),
   * 'workgroup' (tiles staged in workgroup memory: for GPUs), 'auto' (by adapter; the default)
   */
  matmul?: 'auto' | 'register' | 'workgroup';
}

export interface WebGPUInfo {
  adapter: AdapterDescription;
  limits: GpuLimits;
  features: string[];
  /** whether unreachable tensors' buffers can be reclaimed with a forced GC at readbacks (Node) */
  forcedGc: boolean;
}

let active: GpuBackend | null = null;
let opening: Promise<WebGPUInfo> | null = null;

function info(b: GpuBackend): WebGPUInfo {
  return { adapter: b.ctx.adapter, limits: b.ctx.limits, features: [...b.ctx.features].sort(), forcedGc: b.reclaimer.forceGc !== null };
}

const INIT_OPTIONS: OptionKeys<InitWebGPUOptions> = {
  device: true, powerPreference: true, dawnOptions: true, poolCapBytes: true, gcThresholdBytes: true, batchSize: true, matmul: true,
};

/**
 * Opens a WebGPU device and registers the 'webgpu' backend (idempotent: later calls return the
 * same device). Throws a DeviceError naming what to install when no adapter exists.
 */
export function initWebGPU(opts: InitWebGPUOptions = {}): Promise<WebGPUInfo> {
  // (checked even when a device is open: a misspelt option is a mistake either way)
  try {
    checkOptions('initWebGPU', opts, optionNames(INIT_OPTIONS));
    optionValue('initWebGPU', opts, 'matmul', ['auto', 'register', 'workgroup'], "'auto'");
  } catch (e) {
    return Promise.reject(e);
  }
  if (active && active.ctx.lostReason === null) return Promise.resolve(info(active));
  opening ??= (async () => {
    try {
      const ctx = await openDevice(opts);
      const rt = new Runtime(ctx, { poolCapBytes: opts.poolCapBytes, batchSize: opts.batchSize, matmul: opts.matmul });
      const gc = opts.gcThresholdBytes === 0 ? null : await findForcedGc();
      const reclaimer = new Reclaimer((buf) => rt.release(buf), gc, opts.gcThresholdBytes ?? 128 * 2 ** 20);
      const backend = new GpuBackend(ctx, rt, reclaimer);
      active = backend;
      registerBackend(backend);
      return info(backend);
    } finally {
      opening = null;
    }
  })();
  return opening;
}

/** True when a usable WebGPU device is open. */
export function isWebGPUReady(): boolean {
  return active !== null && active.ctx.lostReason === null;
}

/** Counters of the WebGPU backend (pipelines, dispatches, memory, reclamation), or null before init. */
export function webgpuStats(): {
  pipelines: number; dispatches: number; submits: number; readbacks: number; buffersCreated: number;
  bytesInUse: number; bytesPooled: number; bytesCreated: number; storages: number;
  forcedGcs: number; sweeps: number; reclaimed: number; reclaimedBytes: number; gcMs: number;
} | null {
  if (!active) return null;
  const rt = active.rt;
  const m = active.memory();
  return {
    ...rt.stats, pipelines: rt.pipelineCount, bytesInUse: m.bytesInUse, bytesPooled: m.bytesPooled,
    bytesCreated: rt.bytesCreated, storages: m.storages, ...active.reclaimer.stats,
  };
}

/** Keys of the compiled WebGPU pipelines (kernel templates and their variants). */
export function webgpuPipelineKeys(): string[] {
  return active ? active.rt.pipelineKeys() : [];
}

/**
 * Compiles, asynchronously and without blocking the thread, the WebGPU pipelines that `fn` would
 * need, so that running `fn` (or any op using the same kernels) later compiles nothing
 * synchronously. `fn` is run once in a collect mode: every kernel it asks for that is not cached
 * yet is recorded instead of compiled, and its dispatches are skipped — so the tensors `fn`
 * computes hold garbage and are disposed (it runs inside `scope`). `fn` must be synchronous and
 * must not write into tensors you keep (in-place ops, optimizer steps): their values would be
 * wrong. Resolves to the keys of the newly compiled pipelines.
 * @example
 * await precompileWebGPU(() => model.forward(randn([32, 784], { device: 'webgpu' })));
 */
export async function precompileWebGPU(fn: () => unknown): Promise<string[]> {
  if (!active || active.ctx.lostReason !== null) throw new DeviceError('precompileWebGPU: no WebGPU device is open; await initWebGPU() first');
  const rt = active.rt;
  if (fn.constructor?.name === 'AsyncFunction') throw new TypeError('precompileWebGPU: fn must be synchronous');
  rt.startCollecting();
  let collected;
  try {
    const r = scope(() => { const v = fn(); return v instanceof Promise ? v : undefined; });
    if (r) {
      r.catch(() => {});
      throw new TypeError('precompileWebGPU: fn must be synchronous (it returned a promise)');
    }
  } finally {
    rt.flush();
    collected = rt.stopCollecting();
  }
  const ks = await Promise.all([...collected].map(([key, src]) => rt.kernelAsync(key, () => src)));
  return ks.map((k) => k.key);
}

/**
 * Runs a forced collection (where available) and returns the buffers of unreachable tensors to
 * the pool now. Call it after awaiting something (a readback, a timer): objects touched by the
 * current synchronous job cannot be collected before it ends.
 */
export function reclaimWebGPUMemory(): void {
  active?.reclaimer.atYield(true);
}

/**
 * Waits for all submitted WebGPU work (for timing). Like a readback, it then returns the buffers
 * of tensors the program can no longer reach to the pool (a loop that syncs but never reads back
 * would otherwise wait for the collector's finalizers for every buffer).
 */
export async function syncWebGPU(): Promise<void> {
  const b = active;
  if (!b) return;
  await b.rt.sync();
  b.reclaimer.atYield();
}

/**
 * Destroys the device: tensors on it become unusable (a DeviceError says so) until
 * initWebGPU() opens a new one.
 */
export function destroyWebGPU(): void {
  if (!active) return;
  active.rt.destroy();
  active.ctx.lostReason = 'destroyed: destroyWebGPU() was called';
  active.ctx.device.destroy();
  active = null;
}

export { GpuBackend } from './backend.ts';
