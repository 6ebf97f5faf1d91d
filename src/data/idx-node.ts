// Node-only IDX file loading: reads from disk and gunzips when the bytes say gzip.
// Kept apart from idx.ts so browser bundles of the library never import node:fs or node:zlib.

import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { FormatError } from '../io/errors.ts';
import { isGzip, parseIdx } from './idx.ts';

const gunzipAsync = promisify(gunzip);

/** Returns `bytes` decompressed if they start with the gzip magic number, otherwise unchanged. */
export async function gunzipIfNeeded(bytes: Uint8Array, source = '<bytes>'): Promise<Uint8Array> {
  if (!isGzip(bytes)) return bytes;
  try {
    const out = await gunzipAsync(bytes);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new FormatError(`${source}: starts with the gzip magic bytes but does not decompress: ${why}`);
  }
}

/** Reads an IDX file (plain or gzip-compressed, whatever its extension) and parses it. */
export async function readIdxFile(path: string): Promise<ReturnType<typeof parseIdx>> {
  const raw = await readFile(path);
  const bytes = await gunzipIfNeeded(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength), path);
  return parseIdx(bytes, path);
}
