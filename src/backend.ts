/**
 * @file The interface every backend implements. Backends own storage, copies and readback, and
 * render kernels from op records; they never define an op. `src/ops/` knows only this file.
 */
import type { DType, TypedArray } from './dtype.ts';
import type { Shape } from './shape.ts';
import type { OpDef } from './ops/registry.ts';
import { DeviceError } from './errors.ts';

export type Device = 'cpu' | 'webgpu';

/** A backend's block of memory. Views (shape/strides/offset) live on the tensor, not here. */
export interface Storage {
  readonly device: Device;
  readonly dtype: DType;
  /** number of elements */
  readonly size: number;
  /** bumped by every in-place write; shared by all views of the storage */
  version: number;
  disposed: boolean;
}

/** A strided view of a storage, as kernels see their operands. */
export interface BufView {
  readonly storage: Storage;
  readonly shape: Shape;
  readonly strides: readonly number[];
  readonly offset: number;
  readonly dtype: DType;
}

export interface Aval {
  readonly shape: readonly number[];
  readonly dtype: DType;
}

export interface MemoryInfo {
  /** bytes held by live tensors' storages */
  bytesInUse: number;
  /** bytes held by the backend's pool for reuse */
  bytesPooled: number;
  /** number of live storages */
  storages: number;
}

export interface Backend {
  readonly device: Device;
  /** A storage holding a copy of `data` (already of the dtype's array type). */
  fromArray(data: TypedArray, dtype: DType): Storage;
  /**
   * A storage holding a copy of `data` converted to `dtype`'s array type, in memory the backend
   * chooses (the CPU: an output array of its pool or the kernels' memory, where its WebAssembly
   * kernels read it in place). Optional: `tensor()` copies and calls `fromArray` otherwise.
   */
  copyFrom?(data: TypedArray, dtype: DType): Storage;
  /** The view's values, contiguous in logical (row-major) order. */
  read(view: BufView): Promise<TypedArray>;
  /** Synchronous readback; a DeviceError where the device has none. */
  readSync(view: BufView): TypedArray;
  /** Runs a non-view primitive; inputs of elementwise ops arrive broadcast to the output shape. */
  run(op: OpDef, inputs: readonly BufView[], attrs: unknown, out: Aval): Storage;
  /**
   * dst ← src elementwise (same shape; src already cast to dst's dtype); used by in-place ops.
   * `move`: src is a temporary its caller releases right after, so a backend may take over its
   * memory instead of copying (when both cover their whole storages).
   */
  assign(dst: BufView, src: BufView, move?: boolean): void;
  /** Releases a storage now (the tensor that owned it must not be used again). */
  release(storage: Storage): void;
  memory(): MemoryInfo;
}

const backends = new Map<Device, Backend>();

/** Registers a backend under its device name (called once by each backend module). */
export function registerBackend(b: Backend): void {
  backends.set(b.device, b);
}

export function getBackend(device: Device): Backend {
  const b = backends.get(device);
  if (!b) {
    throw new DeviceError(
      device === 'webgpu'
        ? `device 'webgpu' is not initialised: call await initWebGPU() first`
        : `device '${device}' has no registered backend`,
    );
  }
  return b;
}

export function hasBackend(device: Device): boolean {
  return backends.has(device);
}
