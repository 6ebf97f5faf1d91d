import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { manualSeed, randn, tensor, Tensor, ValueError, zeros } from '../src/index.ts';
import { BatchNorm1d, Linear, ReLU, Sequential } from '../src/nn/index.ts';
import { FormatError } from '../src/io/errors.ts';
import { load, loadFromBytes, loadFromBytesWithMetadata, loadWithMetadata, save, saveToBytes } from '../src/io/serialization.ts';

const dir = mkdtempSync(join(tmpdir(), 'tapegrad-io-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ascii = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0));
const values = (t: Tensor) => Array.from(t.dataSync());

async function expectReject(p: Promise<unknown>, Ctor: new (...a: never[]) => Error, ...parts: (string | RegExp)[]): Promise<Error> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(Ctor);
  for (const part of parts) expect((err as Error).message).toMatch(part);
  return err as Error;
}

describe('save/load round trip', () => {
  it('keeps every dtype, shape and value, and the metadata', async () => {
    const dict = {
      f32: tensor([[1.5, -2], [3.25, 0]]),
      f64: tensor([Math.PI, 1e-300], { dtype: 'float64' }),
      i32: tensor([-7, 2147483647], { dtype: 'int32' }),
      b: tensor([true, false, true]),
      scalar: tensor(4.5),
      empty: zeros([0, 3]),
      transposed: tensor([[1, 2, 3], [4, 5, 6]]).t(), // non-contiguous view: saved in logical order
    };
    const path = join(dir, 'all.safetensors');
    await save(dict, path, { metadata: { note: 'hello', epochs: '3' } });
    const { tensors, metadata } = await loadWithMetadata(path);
    expect(metadata).toEqual({ note: 'hello', epochs: '3' });
    expect(Object.keys(tensors).sort()).toEqual(Object.keys(dict).sort());
    for (const [k, t] of Object.entries(dict)) {
      const u = tensors[k]!;
      expect(u.dtype).toBe(t.dtype);
      expect(u.shape).toEqual(t.shape);
      expect(u.toArraySync()).toEqual(t.toArraySync());
    }
    expect((await load(path)).f64!.dataSync()[0]).toBe(Math.PI);
  });

  it('moves a model to a fresh one that computes the same outputs', async () => {
    manualSeed(1);
    const model = new Sequential(new Linear(4, 8), new ReLU(), new BatchNorm1d(8), new Linear(8, 2));
    model.call(randn([16, 4])); // updates BatchNorm's running statistics
    model.eval();
    const path = join(dir, 'model.safetensors');
    await save(model.stateDict(), path);
    manualSeed(2);
    const fresh = new Sequential(new Linear(4, 8), new ReLU(), new BatchNorm1d(8), new Linear(8, 2)).eval();
    const x = randn([3, 4]);
    expect(values(fresh.call(x))).not.toEqual(values(model.call(x)));
    expect(fresh.loadStateDict(await load(path))).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(values(fresh.call(x))).toEqual(values(model.call(x)));
    expect(values((fresh[2] as BatchNorm1d).numBatchesTracked!)).toEqual([1]);
  });

  it('works on bytes without a file system', async () => {
    const bytes = await saveToBytes({ w: tensor([1, 2]) });
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(values(loadFromBytes(bytes).w!)).toEqual([1, 2]);
    expect(loadFromBytesWithMetadata(bytes).metadata).toEqual({});
  });
});

describe('interop with the safetensors format', () => {
  // A BatchNorm1d(1) state dict as PyTorch's safetensors writer lays it out (tensors ordered by
  // element size, largest first, then by name; header padded with spaces to a multiple of 8;
  // PyTorch's integer buffer num_batches_tracked is int64), written by hand:
  //   bytes 0..7     header length 352 = 0x160, little-endian u64 → 60 01 00 00 00 00 00 00
  //   bytes 8..359   the 350-byte JSON below + 2 spaces; its parts:
  //                  {"__metadata__":{"format":"pt"},                                          32 bytes
  //                  "num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[0,8]},  70
  //                  "bias":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},               57
  //                  "running_mean":{"dtype":"F32","shape":[1],"data_offsets":[12,16]},      66
  //                  "running_var":{"dtype":"F32","shape":[1],"data_offsets":[16,20]},       65
  //                  "weight":{"dtype":"F32","shape":[1],"data_offsets":[20,24]}}            60
  //   bytes 360..367 num_batches_tracked = int64 3        → 03 00 00 00 00 00 00 00
  //   bytes 368..371 bias         = 0.5f  (0x3f000000)    → 00 00 00 3f
  //   bytes 372..375 running_mean = 1.0f  (0x3f800000)    → 00 00 80 3f
  //   bytes 376..379 running_var  = 4.0f  (0x40800000)    → 00 00 80 40
  //   bytes 380..383 weight       = 2.0f  (0x40000000)    → 00 00 00 40
  const HEADER =
    '{"__metadata__":{"format":"pt"},' +
    '"num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[0,8]},' +
    '"bias":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},' +
    '"running_mean":{"dtype":"F32","shape":[1],"data_offsets":[12,16]},' +
    '"running_var":{"dtype":"F32","shape":[1],"data_offsets":[16,20]},' +
    '"weight":{"dtype":"F32","shape":[1],"data_offsets":[20,24]}}';
  const FIXTURE = new Uint8Array([
    0x60, 0x01, 0, 0, 0, 0, 0, 0,
    ...ascii(HEADER), 0x20, 0x20,
    0x03, 0, 0, 0, 0, 0, 0, 0,
    0x00, 0x00, 0x00, 0x3f,
    0x00, 0x00, 0x80, 0x3f,
    0x00, 0x00, 0x80, 0x40,
    0x00, 0x00, 0x00, 0x40,
  ]);

  it('the fixture has the layout the comment describes', () => {
    expect(HEADER.length).toBe(350);
    expect(FIXTURE.length).toBe(384);
  });

  it('loads a PyTorch BatchNorm1d state dict into BatchNorm1d (int64 → int32)', async () => {
    const path = join(dir, 'bn-from-pytorch.safetensors');
    writeFileSync(path, FIXTURE);
    const { tensors, metadata } = await loadWithMetadata(path);
    expect(metadata).toEqual({ format: 'pt' });
    expect(tensors.num_batches_tracked!.dtype).toBe('int32');
    expect(tensors.num_batches_tracked!.shape).toEqual([]);
    const bn = new BatchNorm1d(1);
    bn.loadStateDict(tensors);
    expect(values(bn.numBatchesTracked!)).toEqual([3]);
    bn.eval();
    // (3 − 1)/√(4 + 1e-5)·2 + 0.5 ≈ 2.5
    expect(bn.call(tensor([[3]])).itemSync()).toBeCloseTo(2.5, 5);
  });

  it('writes files a spec reader can parse: u64 header length, JSON header, raw little-endian data', async () => {
    const fc = new Linear(2, 1);
    fc.loadStateDict({ weight: tensor([[2, -1]]), bias: tensor([0.5]) });
    const path = join(dir, 'linear.safetensors');
    await save(fc.stateDict(), path, { metadata: { format: 'pt' } });
    const bytes = new Uint8Array(readFileSync(path));
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const n = Number(view.getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(header).toEqual({
      __metadata__: { format: 'pt' },
      bias: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
      weight: { dtype: 'F32', shape: [1, 2], data_offsets: [4, 12] },
    });
    const f32 = (off: number) => view.getFloat32(8 + n + off, true);
    expect([f32(0), f32(4), f32(8)]).toEqual([0.5, 2, -1]);
    expect(bytes.length).toBe(8 + n + 12);
  });

  it('reproduces the colleague codec fixture byte for byte (F32 + I32 + metadata)', async () => {
    // see tests/safetensors.test.ts: header length 144, 139 bytes of JSON + 5 spaces, then
    // float32 [1, 2] and int32 [3]
    const json = '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I32","shape":[1],"data_offsets":[8,12]}}';
    const expected = new Uint8Array([
      0x90, 0, 0, 0, 0, 0, 0, 0, ...ascii(json), 0x20, 0x20, 0x20, 0x20, 0x20,
      0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40, 0x03, 0x00, 0x00, 0x00,
    ]);
    const got = await saveToBytes({ b: tensor([3], { dtype: 'int32' }), a: tensor([1, 2]) }, { metadata: { format: 'pt' } });
    expect(Array.from(got)).toEqual(Array.from(expected));
  });

  it('widens F16, BF16, I8, U8 entries', () => {
    // F16: 1.0 = 0x3c00, −2.0 = 0xc000, 0.5 = 0x3800; BF16: 1.0 = 0x3f80, −3.0 = 0xc040; I8: −5 = 0xfb; U8: 200 = 0xc8
    const h = '{"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"bf":{"dtype":"BF16","shape":[2],"data_offsets":[6,10]},' +
      '"i8":{"dtype":"I8","shape":[1],"data_offsets":[10,11]},"u8":{"dtype":"U8","shape":[1],"data_offsets":[11,12]}}';
    const bytes = new Uint8Array([
      h.length, 0, 0, 0, 0, 0, 0, 0, ...ascii(h),
      0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0x80, 0x3f, 0x40, 0xc0, 0xfb, 0xc8,
    ]);
    const t = loadFromBytes(bytes);
    expect(values(t.h!)).toEqual([1, -2, 0.5]);
    expect(t.h!.dtype).toBe('float32');
    expect(values(t.bf!)).toEqual([1, -3]);
    expect(values(t.i8!)).toEqual([-5]);
    expect(values(t.u8!)).toEqual([200]);
    expect(t.u8!.dtype).toBe('int32');
  });
});

describe('bad input', () => {
  const good = async () => saveToBytes({ w: tensor([1, 2, 3, 4]) });

  it('corrupt files are FormatErrors naming the file and the field', async () => {
    const bytes = await good();
    const write = (name: string, b: Uint8Array) => {
      const p = join(dir, name);
      writeFileSync(p, b);
      return p;
    };
    const short = write('short.safetensors', bytes.subarray(0, 5));
    await expectReject(load(short), FormatError, short, /expected at least 8/);
    const truncated = write('truncated.safetensors', bytes.subarray(0, bytes.length - 4));
    await expectReject(load(truncated), FormatError, truncated, /"w": data_offsets \[0, 16\] out of range/);
    const bigHeader = bytes.slice();
    new DataView(bigHeader.buffer).setUint32(0, 1e6, true);
    await expectReject(load(write('bighdr.safetensors', bigHeader)), FormatError, /header length field says 1000000 bytes/);
    const badJson = bytes.slice();
    badJson[8] = 0x5b; // '[' in place of '{'
    await expectReject(load(write('badjson.safetensors', badJson)), FormatError, /not valid JSON|expected an object/);
    const text = new TextDecoder().decode(bytes);
    const badDtype = new TextEncoder().encode(text.replace('"F32"', '"F99"'));
    await expectReject(load(write('baddtype.safetensors', badDtype)), FormatError, /dtype is "F99"/);
  });

  it('an int64 value outside int32 is a FormatError', () => {
    const h = '{"n":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}';
    const bytes = new Uint8Array([h.length, 0, 0, 0, 0, 0, 0, 0, ...ascii(h), 0, 0, 0, 0, 1, 0, 0, 0]);
    expect(() => loadFromBytes(bytes)).toThrow(FormatError);
    expect(() => loadFromBytes(bytes)).toThrow(/I64 element 0 is 4294967296, which does not fit int32/);
  });

  it('a missing file is an error naming it', async () => {
    const p = join(dir, 'nope.safetensors');
    await expectReject(load(p), Error, /ENOENT/, /nope\.safetensors/);
  });

  it('save rejects non-tensors, reserved names and non-string metadata before writing', async () => {
    const p = join(dir, 'rejected.safetensors');
    await expectReject(save({ w: [1, 2] as unknown as Tensor }, p), ValueError, /"w" is object, expected a Tensor/);
    await expectReject(save({ __metadata__: tensor([1]) }, p), ValueError, /reserved/);
    await expectReject(save({ w: tensor([1]) }, p, { metadata: { n: 3 as unknown as string } }), ValueError, /metadata "n" is number/);
    await expectReject(save(tensor([1]) as unknown as Record<string, Tensor>, p), ValueError, /got a Tensor/);
    expect(existsSync(p)).toBe(false);
  });
});

describe('nothing half-written', () => {
  const listing = (d: string) => readdirSync(d).sort();

  it('a failing save leaves an existing file untouched and no temporary file', async () => {
    const sub = join(dir, 'atomic');
    mkdirSync(sub);
    const p = join(sub, 'weights.safetensors');
    await save({ w: tensor([1, 2]) }, p);
    const before = readFileSync(p);
    const dead = tensor([3, 4]);
    dead.dispose();
    await expectReject(save({ w: tensor([5]), v: dead }, p), ValueError, /"v" .*was disposed/);
    expect(readFileSync(p).equals(before)).toBe(true);
    expect(listing(sub)).toEqual(['weights.safetensors']);
  });

  it('a failing write or rename removes the temporary file', async () => {
    const sub = join(dir, 'atomic2');
    mkdirSync(sub);
    const target = join(sub, 'is-a-dir');
    mkdirSync(target); // renaming a file over a directory fails
    await expectReject(save({ w: tensor([1]) }, target), Error, /EISDIR|EEXIST|ENOTEMPTY|EPERM/);
    expect(listing(sub)).toEqual(['is-a-dir']);
    await expectReject(save({ w: tensor([1]) }, join(sub, 'missing-dir', 'x.safetensors')), Error, /ENOENT/);
    expect(listing(sub)).toEqual(['is-a-dir']);
  });

  it('a successful save leaves only the target', async () => {
    const sub = join(dir, 'atomic3');
    mkdirSync(sub);
    await save({ w: tensor([1]) }, join(sub, 'a.safetensors'));
    await save({ w: tensor([2]) }, join(sub, 'a.safetensors')); // overwrite
    expect(listing(sub)).toEqual(['a.safetensors']);
    expect(values((await load(join(sub, 'a.safetensors'))).w!)).toEqual([2]);
  });
});
