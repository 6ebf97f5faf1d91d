/**
 * @file Node-only file access for save/load: an atomic write (temporary file in the same folder,
 * flushed, then renamed over the target) and a whole-file read. Only serialization.ts loads this
 * module, dynamically, so the rest of the library never imports node:fs.
 */
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes `bytes` to `path` so that readers see either the old file or the complete new one: the
 * data goes to a temporary file next to it, is flushed to disk, and is renamed over `path`. On any
 * failure the temporary file is removed and `path` is left as it was.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`);
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(tmp, 'wx');
    await handle.writeFile(bytes);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, path);
  } catch (e) {
    await handle?.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

/** The whole file as bytes. */
export async function readFileBytes(path: string): Promise<Uint8Array> {
  const buf = await readFile(path);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
