/**
 * @file save/load of state dicts as safetensors, so weights move to and from PyTorch
 * (`safetensors.torch.load_file` / `save_file`). Tensors are read with `await t.data()`, so saving
 * works on every device. `saveToBytes`/`loadFromBytes` need no file system (browsers); `save`/`load`
 * use Node's, loaded on demand.
 * @example
 * await save(model.stateDict(), 'mlp.safetensors', { metadata: { epochs: '10' } });
 * model.loadStateDict(await load('mlp.safetensors'));
 */
import type { Device } from '../backend.ts';
import { fromTypedArray as tensorFromArray } from '../creation.ts';
import type { DType, TypedArray } from '../dtype.ts';
import { ValueError } from '../errors.ts';
import { getDefaultDevice } from '../ops/dispatch.ts';
import { Tensor } from '../tensor.ts';
import { FormatError, IOError } from './errors.ts';
import {
  decodeSafetensors, encodeSafetensors, fromTypedArray as entryFromArray, toTypedArray,
  type SafetensorsDtype, type SafetensorsEntry,
} from './safetensors.ts';
import { checkOptions, optionNames } from '../options.ts';

/** Tensors by name, as `Module.stateDict()` returns them. */
export type TensorDict = Record<string, Tensor>;

export interface SaveOptions {
  /** string key/values stored in the file's `__metadata__` */
  metadata?: Record<string, string>;
}

export interface LoadOptions {
  /** where the tensors are created (default: the default device) */
  device?: Device;
}

/** A loaded file: its tensors and its `__metadata__` (empty when the file has none). */
export interface LoadedTensors {
  tensors: TensorDict;
  metadata: Record<string, string>;
}

const DTYPE_OUT: Record<DType, SafetensorsDtype> = { float32: 'F32', float64: 'F64', int32: 'I32', bool: 'BOOL' };

function defineKey<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * The safetensors bytes of a dict of tensors (F32, F64, I32, BOOL), with optional metadata.
 * Checks every value before reading any; reads each with `await t.data()`.
 */
export async function saveToBytes(dict: TensorDict, opts: SaveOptions = {}): Promise<Uint8Array> {
  checkOptions('save', opts, optionNames<SaveOptions>({ metadata: true }));
  // a plain object only: a Map has no own keys (it saved an empty file), an array saved '0', '1', …
  const proto = typeof dict === 'object' && dict !== null ? Object.getPrototypeOf(dict) : undefined;
  if (typeof dict !== 'object' || dict === null || dict instanceof Tensor || (proto !== Object.prototype && proto !== null)) {
    const got = dict === null ? 'null' : dict instanceof Tensor ? 'a Tensor' : Array.isArray(dict) ? 'an array' : typeof dict === 'object' ? `a ${(dict as object).constructor?.name ?? 'object'}` : typeof dict;
    throw new ValueError(`save: expected a plain object of tensors by name (e.g. model.stateDict(); a Map: Object.fromEntries(map)), got ${got}`);
  }
  if (opts.metadata !== undefined && (typeof opts.metadata !== 'object' || opts.metadata === null || Array.isArray(opts.metadata))) {
    throw new ValueError(`save: metadata must be an object of strings, got ${Array.isArray(opts.metadata) ? 'an array' : typeof opts.metadata}`);
  }
  const names = Object.keys(dict);
  for (const name of names) {
    const t = dict[name];
    if (!(t instanceof Tensor)) throw new ValueError(`save: ${JSON.stringify(name)} is ${t === null ? 'null' : typeof t}, expected a Tensor`);
    if (t._disposed) throw new ValueError(`save: tensor ${JSON.stringify(name)} (shape [${t.shape.join(', ')}]) was disposed`);
    if (t.isSymbolic) throw new ValueError(`save: tensor ${JSON.stringify(name)} is symbolic (inside jit tracing) and has no values`);
    if (name === '__metadata__') throw new ValueError('save: the name "__metadata__" is reserved by the safetensors format');
  }
  if (opts.metadata !== undefined) {
    for (const [k, v] of Object.entries(opts.metadata)) {
      if (typeof v !== 'string') throw new ValueError(`save: metadata ${JSON.stringify(k)} is ${typeof v}; safetensors metadata values must be strings`);
    }
  }
  const entries: Record<string, SafetensorsEntry> = {};
  for (const name of names) {
    const t = dict[name]!;
    const data = await t.data();
    defineKey(entries, name, entryFromArray(DTYPE_OUT[t.dtype], t.shape, data as never));
  }
  return encodeSafetensors(entries, opts.metadata);
}

/** float32 value of an IEEE half-precision bit pattern. */
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** One entry as a typed array of a tapegrad dtype; wider or narrower types are converted. */
function convertEntry(name: string, e: SafetensorsEntry, source: string): { data: TypedArray; dtype: DType } {
  switch (e.dtype) {
    case 'F32': return { data: Float32Array.from(toTypedArray({ ...e, dtype: 'F32' })), dtype: 'float32' };
    case 'F64': return { data: Float64Array.from(toTypedArray({ ...e, dtype: 'F64' })), dtype: 'float64' };
    case 'I32': return { data: Int32Array.from(toTypedArray({ ...e, dtype: 'I32' })), dtype: 'int32' };
    case 'BOOL': return { data: Uint8Array.from(toTypedArray({ ...e, dtype: 'BOOL' })), dtype: 'bool' };
    case 'I16': return { data: Int32Array.from(toTypedArray({ ...e, dtype: 'I16' })), dtype: 'int32' };
    case 'I8': return { data: Int32Array.from(toTypedArray({ ...e, dtype: 'I8' })), dtype: 'int32' };
    case 'U8': return { data: Int32Array.from(toTypedArray({ ...e, dtype: 'U8' })), dtype: 'int32' };
    case 'F16': return { data: Float32Array.from(toTypedArray({ ...e, dtype: 'F16' }), halfToFloat), dtype: 'float32' };
    case 'BF16': {
      const bits = toTypedArray({ ...e, dtype: 'BF16' });
      const out = new Float32Array(bits.length);
      new Uint32Array(out.buffer).set(Uint32Array.from(bits, (b) => b << 16));
      return { data: out, dtype: 'float32' };
    }
    case 'I64': {
      // PyTorch stores integer buffers (BatchNorm's num_batches_tracked) as int64; tapegrad has int32
      const big = toTypedArray({ ...e, dtype: 'I64' });
      const out = new Int32Array(big.length);
      for (let i = 0; i < big.length; i++) {
        const v = big[i]!;
        if (v > 2147483647n || v < -2147483648n) {
          throw new FormatError(`${source}: tensor ${JSON.stringify(name)}: I64 element ${i} is ${v}, which does not fit int32 (tapegrad's integer dtype)`);
        }
        out[i] = Number(v);
      }
      return { data: out, dtype: 'int32' };
    }
    default: throw new FormatError(`${source}: tensor ${JSON.stringify(name)}: unsupported dtype ${JSON.stringify((e as SafetensorsEntry).dtype)}`);
  }
}

/**
 * Tensors and metadata from safetensors bytes. F32, F64, I32 and BOOL load as float32, float64,
 * int32 and bool; F16/BF16 widen to float32 and I8/I16/U8/I64 to int32 (an I64 value outside int32
 * is a FormatError). A malformed buffer is a FormatError naming `source` and the bad field.
 */
export function loadFromBytesWithMetadata(bytes: Uint8Array, opts: LoadOptions & { source?: string } = {}): LoadedTensors {
  checkOptions('load', opts, optionNames<LoadOptions & { source?: string }>({ device: true, source: true }));
  if (!(bytes instanceof Uint8Array)) throw new ValueError(`loadFromBytes: expected a Uint8Array, got ${bytes === null ? 'null' : typeof bytes}`);
  const source = opts.source ?? '<safetensors bytes>';
  const decoded = decodeSafetensors(bytes, source);
  // convert everything first, so a bad entry creates no tensors
  const arrays = Object.entries(decoded.tensors).map(([name, e]) => [name, e.shape, convertEntry(name, e, source)] as const);
  const device = opts.device ?? getDefaultDevice();
  const tensors: TensorDict = {};
  for (const [name, shape, { data, dtype }] of arrays) defineKey(tensors, name, tensorFromArray(data, shape, dtype, device));
  return { tensors, metadata: { ...(decoded.metadata ?? {}) } };
}

/** Tensors from safetensors bytes (see loadFromBytesWithMetadata). */
export function loadFromBytes(bytes: Uint8Array, opts: LoadOptions & { source?: string } = {}): TensorDict {
  return loadFromBytesWithMetadata(bytes, opts).tensors;
}

type NodeIO = typeof import('./save-node.ts');

async function nodeIO(op: string): Promise<NodeIO> {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  if (!proc?.versions?.node) {
    throw new ValueError(`${op}: file paths need Node.js; in a browser use ${op === 'save' ? 'saveToBytes' : 'loadFromBytes'}() and move the bytes yourself`);
  }
  // a computed specifier keeps bundlers from pulling node:fs into browser builds
  const spec = './save-node.ts';
  return (await import(/* @vite-ignore */ spec)) as NodeIO;
}

/**
 * Writes a dict of tensors to `path` in the safetensors format. The file is written to a
 * temporary name and renamed into place, so `path` never holds a half-written file: on any error
 * (a bad tensor, a full disk) it is left as it was. A file system error is an IOError naming the path.
 */
export async function save(dict: TensorDict, path: string, opts: SaveOptions = {}): Promise<void> {
  if (typeof path !== 'string' || path === '') throw new ValueError(`save: path must be a non-empty string, got ${JSON.stringify(path)}`);
  const bytes = await saveToBytes(dict, opts);
  const io = await nodeIO('save');
  try {
    await io.writeFileAtomic(path, bytes);
  } catch (e) {
    throw new IOError('save', path, e);
  }
}

/** Reads a safetensors file: its tensors and its metadata (IOError when the file cannot be read, FormatError when it is malformed). */
export async function loadWithMetadata(path: string, opts: LoadOptions = {}): Promise<LoadedTensors> {
  checkOptions('load', opts, optionNames<LoadOptions>({ device: true }));
  if (typeof path !== 'string' || path === '') throw new ValueError(`load: path must be a non-empty string, got ${JSON.stringify(path)}`);
  const io = await nodeIO('load');
  let bytes: Uint8Array;
  try {
    bytes = await io.readFileBytes(path);
  } catch (e) {
    throw new IOError('load', path, e);
  }
  return loadFromBytesWithMetadata(bytes, { ...opts, source: path });
}

/** Reads a safetensors file's tensors (e.g. for `model.loadStateDict(await load(path))`). */
export async function load(path: string, opts: LoadOptions = {}): Promise<TensorDict> {
  return (await loadWithMetadata(path, opts)).tensors;
}
