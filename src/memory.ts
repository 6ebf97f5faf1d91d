/** @file Memory accounting across backends. */
import { getBackend, hasBackend, type Device, type MemoryInfo } from './backend.ts';
import { DeviceError } from './errors.ts';

/** Bytes in use and pooled on a device (default: cpu). */
export function memory(device: Device = 'cpu'): MemoryInfo {
  if (device !== 'cpu' && device !== 'webgpu') throw new DeviceError(`memory: unknown device ${JSON.stringify(device)}; expected 'cpu' or 'webgpu'`);
  if (!hasBackend(device)) return { bytesInUse: 0, bytesPooled: 0, storages: 0 };
  return getBackend(device).memory();
}
