/** @file Growing a WebAssembly linear memory, shared by the CPU kernels' drivers. */

/** Bytes per WebAssembly memory page. */
export const WASM_PAGE = 65536;

/**
 * Grows `mem` to hold at least `bytes` bytes; false when it cannot (the engine's limit or out of
 * memory), so the caller falls back to its JavaScript kernel. Growing detaches views of the old
 * buffer: callers re-create theirs when `mem.buffer` changed.
 */
export function growMemory(mem: WebAssembly.Memory, bytes: number): boolean {
  const have = mem.buffer.byteLength;
  if (bytes <= have) return true;
  try {
    mem.grow(Math.ceil((bytes - have) / WASM_PAGE));
    return true;
  } catch {
    return false;
  }
}
