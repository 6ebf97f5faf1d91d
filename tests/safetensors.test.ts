import { describe, expect, it } from 'vitest';
import { FormatError } from '../src/io/errors.ts';
import {
  decodeSafetensors,
  encodeSafetensors,
  fromTypedArray,
  SAFETENSORS_DTYPE_SIZE,
  toTypedArray,
  type SafetensorsDtype,
  type SafetensorsEntry,
} from '../src/io/safetensors.ts';

const ascii = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0));

/** Builds a file from a header string and data bytes, with an arbitrary declared header length. */
function rawFile(header: string, data: number[], declaredLen = header.length): Uint8Array {
  const out = new Uint8Array(8 + header.length + data.length);
  new DataView(out.buffer).setUint32(0, declaredLen, true);
  out.set(ascii(header), 8);
  out.set(data, 8 + header.length);
  return out;
}

function expectFormatError(fn: () => unknown, ...parts: (string | RegExp)[]): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(FormatError);
  const msg = (err as Error).message;
  for (const p of parts) expect(msg).toMatch(p);
}

// A file written by hand to the safetensors spec, not by the encoder:
//   bytes 0..7    : header length N = 144 as a little-endian u64 → 90 00 00 00 00 00 00 00
//   bytes 8..151  : the 139-byte JSON header below, padded with 5 spaces (0x20) to 144 bytes so the
//                   data section starts at byte 152, a multiple of 8. Its parts:
//                   `{"__metadata__":{"format":"pt"},`                           32 bytes
//                   `"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}`       52 bytes
//                   `,`                                                           1 byte
//                   `"b":{"dtype":"I32","shape":[1],"data_offsets":[8,12]}`      53 bytes
//                   `}`                                                           1 byte
//   bytes 152..159: "a" = float32 [1, 2], little-endian: 1.0f = 0x3f800000 → 00 00 80 3f,
//                   2.0f = 0x40000000 → 00 00 00 40   (data_offsets [0, 8])
//   bytes 160..163: "b" = int32 [3] → 03 00 00 00      (data_offsets [8, 12])
const FIXTURE_JSON =
  '{"__metadata__":{"format":"pt"},' +
  '"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
  '"b":{"dtype":"I32","shape":[1],"data_offsets":[8,12]}}';
const FIXTURE = new Uint8Array([
  0x90, 0, 0, 0, 0, 0, 0, 0,
  ...ascii(FIXTURE_JSON),
  0x20, 0x20, 0x20, 0x20, 0x20,
  0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40,
  0x03, 0x00, 0x00, 0x00,
]);

describe('safetensors hand-written fixture', () => {
  it('has the layout the comment describes', () => {
    expect(FIXTURE_JSON.length).toBe(139);
    expect(FIXTURE.length).toBe(164);
  });

  it('decodes', () => {
    const { tensors, metadata } = decodeSafetensors(FIXTURE);
    expect(metadata).toEqual({ format: 'pt' });
    expect(Object.keys(tensors).sort()).toEqual(['a', 'b']);
    expect(tensors.a!.dtype).toBe('F32');
    expect(tensors.a!.shape).toEqual([2]);
    expect(Array.from(toTypedArray(tensors.a!) as Float32Array)).toEqual([1, 2]);
    expect(tensors.b!.dtype).toBe('I32');
    expect(tensors.b!.shape).toEqual([1]);
    expect(Array.from(toTypedArray(tensors.b!) as Int32Array)).toEqual([3]);
  });

  it('encode reproduces the exact bytes', () => {
    const bytes = encodeSafetensors(
      {
        b: fromTypedArray('I32', [1], new Int32Array([3])),
        a: fromTypedArray('F32', [2], new Float32Array([1, 2])),
      },
      { format: 'pt' },
    );
    expect(Array.from(bytes)).toEqual(Array.from(FIXTURE));
  });
});

function sampleArray(dtype: SafetensorsDtype, n: number) {
  const ints = Array.from({ length: n }, (_, i) => (i * 37) % 101 - 50);
  switch (dtype) {
    case 'F64': return new Float64Array(ints.map((v) => v / 3));
    case 'F32': return new Float32Array(ints.map((v) => v / 7));
    case 'F16': return new Uint16Array(ints.map((v) => (v & 0x7fff) | 0x3c00));
    case 'BF16': return new Uint16Array(ints.map((v) => (v & 0x7fff) | 0x3f80));
    case 'I64': return new BigInt64Array(ints.map((v) => BigInt(v) * 10_000_000_000n));
    case 'I32': return new Int32Array(ints.map((v) => v * 1_000_000));
    case 'I16': return new Int16Array(ints.map((v) => v * 300));
    case 'I8': return new Int8Array(ints);
    case 'U8': return new Uint8Array(ints.map((v) => v + 50));
    case 'BOOL': return new Uint8Array(ints.map((v) => (v > 0 ? 1 : 0)));
    default: return dtype satisfies never;
  }
}

describe('safetensors round trip', () => {
  const dtypes = Object.keys(SAFETENSORS_DTYPE_SIZE) as SafetensorsDtype[];
  const shapes = [[], [0], [3, 0], [5], [2, 3], [2, 1, 3]];

  it('every dtype, including 0-d and empty tensors, with metadata', () => {
    const tensors: Record<string, SafetensorsEntry> = {};
    const arrays: Record<string, ArrayLike<number | bigint>> = {};
    for (const dtype of dtypes) {
      for (const shape of shapes) {
        const n = shape.reduce((a, b) => a * b, 1);
        const name = `${dtype.toLowerCase()}.${shape.join('x') || 'scalar'}`;
        const arr = sampleArray(dtype, n);
        arrays[name] = arr;
        tensors[name] = fromTypedArray(dtype, shape, arr as never);
      }
    }
    const metadata = { format: 'pt', note: 'ünïcode ✓', '0': 'integer-like key' };
    const bytes = encodeSafetensors(tensors, metadata);

    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + headerLen) % 8).toBe(0);

    const out = decodeSafetensors(bytes);
    expect(out.metadata).toEqual(metadata);
    expect(Object.keys(out.tensors).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      const got = out.tensors[name]!;
      expect(got.dtype).toBe(t.dtype);
      expect(got.shape).toEqual(t.shape);
      expect(Array.from(got.data)).toEqual(Array.from(t.data));
      const typed = toTypedArray(got);
      expect(typed.constructor).toBe(arrays[name]!.constructor);
      expect(Array.from(typed as ArrayLike<number | bigint>)).toEqual(Array.from(arrays[name]!));
    }
    // Deterministic: insertion order does not matter.
    const reversed = Object.fromEntries(Object.entries(tensors).reverse());
    expect(encodeSafetensors(reversed, metadata)).toEqual(bytes);
  });

  it('lays tensors out largest element first so every one is aligned (zero-copy views)', () => {
    const bytes = encodeSafetensors({
      a_u8: fromTypedArray('U8', [3], new Uint8Array([1, 2, 3])),
      b_f64: fromTypedArray('F64', [2], new Float64Array([0.5, -1.5])),
      c_i16: fromTypedArray('I16', [1], new Int16Array([-7])),
    });
    const { tensors } = decodeSafetensors(bytes);
    for (const t of Object.values(tensors)) {
      expect(t.data.byteOffset % SAFETENSORS_DTYPE_SIZE[t.dtype]).toBe(0);
      expect(toTypedArray(t).buffer).toBe(bytes.buffer);
    }
  });

  it('no metadata decodes as undefined; the header is padded with spaces', () => {
    const bytes = encodeSafetensors({ x: fromTypedArray('F32', [], new Float32Array([4])) });
    const out = decodeSafetensors(bytes);
    expect(out.metadata).toBeUndefined();
    expect(Array.from(toTypedArray(out.tensors.x!) as Float32Array)).toEqual([4]);
    const headerLen = new DataView(bytes.buffer).getUint32(0, true);
    const header = new TextDecoder().decode(bytes.subarray(8, 8 + headerLen));
    expect(header).toMatch(/^\{"x":\{"dtype":"F32","shape":\[\],"data_offsets":\[0,4\]\}\} *$/);
  });

  it('copies when a view is misaligned, and decodes from a Uint8Array at any byte offset', () => {
    const bytes = encodeSafetensors({ w: fromTypedArray('F32', [2], new Float32Array([1.5, -2])) });
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const { tensors } = decodeSafetensors(shifted.subarray(1));
    expect(tensors.w!.data.byteOffset % 4).toBe(1);
    expect(Array.from(toTypedArray(tensors.w!) as Float32Array)).toEqual([1.5, -2]);
  });

  it('tensor names such as "__proto__" are plain keys', () => {
    const bytes = encodeSafetensors({ ['__proto__']: fromTypedArray('U8', [1], new Uint8Array([9])) } as never);
    const out = decodeSafetensors(bytes);
    expect(Object.keys(out.tensors)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(out.tensors)).toBe(Object.prototype);
  });
});

describe('safetensors malformed input', () => {
  const good = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  const data8 = [0, 0, 0x80, 0x3f, 0, 0, 0, 0x40];

  it('file shorter than the length field', () => {
    expectFormatError(() => decodeSafetensors(new Uint8Array(5)), 'file is 5 bytes', 'at least 8');
  });

  it('header length larger than the file', () => {
    expectFormatError(
      () => decodeSafetensors(rawFile(good, data8, 1000)),
      'header length field says 1000 bytes',
      `only ${good.length + 8} bytes`,
    );
  });

  it('absurd header length (u64 high word set)', () => {
    const f = rawFile(good, data8);
    new DataView(f.buffer).setUint32(4, 1, true);
    expectFormatError(() => decodeSafetensors(f), 'header length field says 4294967350 bytes');
  });

  it('bad JSON', () => {
    expectFormatError(() => decodeSafetensors(rawFile('{"a": {', data8)), 'not valid JSON', '{\\"a\\": {');
  });

  it('JSON that is not an object', () => {
    expectFormatError(() => decodeSafetensors(rawFile('[1, 2]', [])), 'header is JSON array', 'expected an object');
  });

  it('invalid UTF-8 in the header', () => {
    const f = rawFile('{"\u00ff":1}', []);
    expectFormatError(() => decodeSafetensors(f), 'not valid UTF-8');
  });

  it('offsets out of range', () => {
    const h = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}';
    expectFormatError(() => decodeSafetensors(rawFile(h, data8)), 'tensor "a"', 'out of range', '<= 8');
    const rev = '{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}';
    expectFormatError(() => decodeSafetensors(rawFile(rev, data8)), 'out of range');
    const neg = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[-1,7]}}';
    expectFormatError(() => decodeSafetensors(rawFile(neg, data8)), 'data_offsets is [-1,7]');
    const three = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}}';
    expectFormatError(() => decodeSafetensors(rawFile(three, data8)), 'expected [begin, end]');
  });

  it('size mismatch between shape and offsets', () => {
    const h = '{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}';
    expectFormatError(
      () => decodeSafetensors(rawFile(h, data8)),
      'tensor "a"',
      'span 8 bytes, expected 12',
      'shape [3] of F32',
    );
  });

  it('unknown dtype', () => {
    const h = '{"a":{"dtype":"F128","shape":[2],"data_offsets":[0,8]}}';
    expectFormatError(() => decodeSafetensors(rawFile(h, data8), 'model.safetensors'),
      'model.safetensors: tensor "a"', 'dtype is "F128"', 'expected one of');
  });

  it('bad shape and bad entries', () => {
    const frac = '{"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}}';
    expectFormatError(() => decodeSafetensors(rawFile(frac, data8)), 'shape is [1.5]');
    const neg = '{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}';
    expectFormatError(() => decodeSafetensors(rawFile(neg, data8)), 'shape is [-1]');
    expectFormatError(() => decodeSafetensors(rawFile('{"a":5}', [])), 'tensor "a": entry is 5');
  });

  it('metadata values must be strings', () => {
    const h = '{"__metadata__":{"epoch":3}}';
    expectFormatError(() => decodeSafetensors(rawFile(h, [])), '"__metadata__" field "epoch" is 3', 'expected a string');
  });

  it('errors are checked before any tensor is read', () => {
    // The first tensor is fine, the second is broken: nothing is returned.
    const h = '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[1,99]}}';
    expectFormatError(() => decodeSafetensors(rawFile(h, [1, 2])), 'tensor "b"');
  });
});

describe('safetensors encoder and typed-array helpers reject bad input', () => {
  it('encoder: byte count, dtype, reserved name, metadata type', () => {
    expectFormatError(
      () => encodeSafetensors({ a: { dtype: 'F32', shape: [2], data: new Uint8Array(7) } }),
      'tensor "a"', 'data has 7 bytes, expected 8',
    );
    expectFormatError(
      () => encodeSafetensors({ a: { dtype: 'Q8' as never, shape: [1], data: new Uint8Array(1) } }),
      'dtype is "Q8"',
    );
    expectFormatError(
      () => encodeSafetensors({ __metadata__: fromTypedArray('U8', [1], new Uint8Array(1)) }),
      'reserved',
    );
    expectFormatError(() => encodeSafetensors({}, { n: 3 as never }), 'metadata "n" is number');
  });

  it('fromTypedArray / toTypedArray: wrong array type, wrong length, non-0/1 BOOL', () => {
    expectFormatError(() => fromTypedArray('F32', [2], new Float64Array(2) as never), 'expected a Float32Array');
    expectFormatError(() => fromTypedArray('I32', [3], new Int32Array(2)), 'array has 2 elements, expected 3');
    expectFormatError(() => fromTypedArray('BOOL', [2], new Uint8Array([1, 2])), 'BOOL element 1 is byte 2');
    expectFormatError(
      () => toTypedArray({ dtype: 'BOOL', shape: [1], data: new Uint8Array([255]) }),
      'BOOL element 0 is byte 255',
    );
    expectFormatError(() => toTypedArray({ dtype: 'F32', shape: [2], data: new Uint8Array(4) }), 'expected 8');
  });
});
