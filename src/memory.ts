/** @file Memory accounting across backends. */
import { getBackend, hasBackend, type Device, type MemoryInfo } from './backend.ts';

/** Bytes in use and pooled on a device (default: cpu). */
export function memory(device: Device = 'cpu'): MemoryInfo {
  if (!hasBackend(device)) return { bytesInUse: 0, bytesPooled: 0, storages: 0 };
  return getBackend(device).memory();
}
