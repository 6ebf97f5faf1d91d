import { describe, expect, it } from 'vitest';
import { rng as seededRng } from './helpers/rng.ts';
import {
  matmulImpl,
  matmulInto,
  matmulIntoJs,
  matmulIntoWasm,
  setMatmulImpl,
  type NumArray,
} from '../src/cpu/matmul.ts';
import { wasmSimdSupported } from '../src/cpu/wasm/gemm.ts';
import { ByteWriter } from '../src/cpu/wasm/emit.ts';

/** Deterministic uniform [0, 1) draws (tests/helpers/rng.ts), so failures reproduce. */
const rng = (seed: number): (() => number) => seededRng(seed).next;

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor | Int32ArrayConstructor;
type Kernel = typeof matmulInto;

interface Operand {
  data: NumArray;
  offsets: number[];
  rs: number;
  cs: number;
}

/**
 * Builds a random strided view of a batch of R×C matrices: row-major, transposed (rs = 1),
 * padded strides, or broadcast along rows/columns/batch (stride 0), at random offsets.
 */
function makeOperand(rand: () => number, ctor: Ctor, batch: number, R: number, C: number, isInt: boolean): Operand {
  const layout = Math.floor(rand() * 6);
  let rs: number, cs: number;
  const padR = Math.floor(rand() * 3);
  switch (layout) {
    case 0: // row-major, contiguous
      rs = C;
      cs = 1;
      break;
    case 1: // transposed (column-major)
      rs = 1;
      cs = R;
      break;
    case 2: // padded rows
      rs = C + padR;
      cs = 1;
      break;
    case 3: // transposed, padded
      rs = 1;
      cs = R + padR;
      break;
    case 4: // broadcast along rows (every row the same)
      rs = 0;
      cs = 1 + padR;
      break;
    default: // broadcast along columns, odd strides
      rs = 2 + padR;
      cs = 0;
      break;
  }
  const span = (R - 1) * rs + (C - 1) * cs + 1;
  const broadcastBatch = rand() < 0.25;
  const offsets: number[] = [];
  let len = 0;
  for (let b = 0; b < batch; b++) {
    const start = broadcastBatch && b > 0 ? offsets[0]! : len + Math.floor(rand() * 5);
    offsets.push(start);
    len = Math.max(len, start + span);
  }
  const data = new ctor(len + Math.floor(rand() * 3));
  for (let i = 0; i < data.length; i++) data[i] = isInt ? Math.floor(rand() * 41) - 20 : rand() * 2 - 1;
  return { data, offsets, rs, cs };
}

function reference(A: Operand, B: Operand, batch: number, M: number, K: number, N: number): Float64Array {
  const out = new Float64Array(batch * M * N);
  for (let b = 0; b < batch; b++)
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++)
          s += A.data[A.offsets[b]! + m * A.rs + k * A.cs]! * B.data[B.offsets[b]! + k * B.rs + n * B.cs]!;
        out[(b * M + m) * N + n] = s;
      }
  return out;
}

/** Reference scale per entry: sum_k |A||B| (to express float tolerances relative to it). */
function absReference(A: Operand, B: Operand, batch: number, M: number, K: number, N: number): Float64Array {
  const abs = (o: Operand): Operand => ({ ...o, data: Float64Array.from(o.data, Math.abs) });
  return reference(abs(A), abs(B), batch, M, K, N);
}

function check(kernel: Kernel, ctor: Ctor, seed: number, dims?: [number, number, number, number]): void {
  const rand = rng(seed);
  const isInt = ctor === Int32Array;
  const [batch, M, K, N] = dims ?? [
    1 + Math.floor(rand() * 3),
    1 + Math.floor(rand() * 70),
    1 + Math.floor(rand() * 70),
    1 + Math.floor(rand() * 70),
  ];
  const A = makeOperand(rand, ctor, batch, M, K, isInt);
  const B = makeOperand(rand, ctor, batch, K, N, isInt);
  const out = new ctor(batch * M * N).fill(12345);
  kernel(out, A.data, A.offsets, A.rs, A.cs, B.data, B.offsets, B.rs, B.cs, batch, M, K, N);
  const ref = reference(A, B, batch, M, K, N);
  const scale = absReference(A, B, batch, M, K, N);
  const tol = ctor === Float32Array ? 1e-5 : ctor === Float64Array ? 1e-12 : 0;
  for (let i = 0; i < ref.length; i++) {
    const err = Math.abs(out[i]! - ref[i]!);
    if (err > tol * (scale[i]! + 1e-30)) {
      throw new Error(
        `seed ${seed} ${ctor.name} [${batch},${M},${K},${N}] A(rs=${A.rs},cs=${A.cs}) B(rs=${B.rs},cs=${B.cs}): ` +
          `out[${i}] = ${out[i]} vs ${ref[i]}`,
      );
    }
  }
}

/** `check` on each [batch, M, K, N] of `dims` with `seeds` seeds apiece (seed0 + 10·i + s). */
function checkShapes(kernel: Kernel, ctor: Ctor, dims: readonly [number, number, number, number][], seed0: number, seeds: number): void {
  dims.forEach((d, i) => {
    for (let s = 0; s < seeds; s++) check(kernel, ctor, seed0 + 10 * i + s, d);
  });
}

const hasWasm = wasmSimdSupported();
const kernels: [string, Kernel][] = [
  ['matmulIntoJs', matmulIntoJs],
  ['matmulInto', matmulInto],
  ...(hasWasm ? ([['matmulIntoWasm', matmulIntoWasm]] as [string, Kernel][]) : []),
];
const ctors: Ctor[] = [Float32Array, Float64Array, Int32Array];

describe.each(kernels)('%s', (_name, kernel) => {
  it.each(ctors.map((c) => [c.name, c] as const))('random shapes and strides, %s', (_n, ctor) => {
    for (let seed = 1; seed <= 150; seed++) check(kernel, ctor, seed);
  });

  it.each(ctors.map((c) => [c.name, c] as const))('tiny and degenerate shapes, %s', (_n, ctor) => {
    const dims: [number, number, number, number][] = [
      [1, 1, 1, 1],
      [1, 1, 5, 1],
      [2, 1, 7, 9],
      [2, 9, 7, 1],
      [1, 3, 1, 3],
      [3, 5, 3, 4],
      [1, 4, 4, 4],
      [1, 70, 70, 70],
      // row / column vectors (the JS kernel's unpacked paths)
      [1, 1, 300, 50],
      [2, 1, 40, 70],
      [1, 70, 70, 1],
      [3, 1, 5, 100],
    ];
    dims.forEach((d, i) => {
      for (let s = 0; s < 3; s++) check(kernel, ctor, 1000 + 10 * i + s, d);
    });
  });

  it.each(ctors.map((c) => [c.name, c] as const))('K = 0 gives zeros, %s', (_n, ctor) => {
    for (const [batch, M, N] of [
      [1, 3, 4],
      [2, 64, 65],
    ] as const) {
      const out = new ctor(batch * M * N).fill(7);
      kernel(out, new ctor(0), [0, 0], 1, 1, new ctor(0), [0, 0], 1, 1, batch, M, 0, N);
      expect(Array.from(out).every((v) => v === 0)).toBe(true);
    }
  });

  it.each(ctors.map((c) => [c.name, c] as const))('shapes crossing the cache-block boundaries, %s', (_n, ctor) => {
    // Both kernels block M by 128, K by 256, N by 2048 (JS) or 4096 (wasm); each shape runs with several
    // seeds so that it meets several stride layouts.
    const dims: [number, number, number, number][] = [
      [1, 8, 300, 8],
      [2, 13, 257, 9],
      [1, 131, 520, 37],
      [1, 257, 40, 21],
      [1, 3, 20, 2100],
      [1, 2, 9, 4100],
    ];
    checkShapes(kernel, ctor, dims, 2000, 4);
  });

  it.each(ctors.map((c) => [c.name, c] as const))('batched products at convolution shapes, %s', (_n, ctor) => {
    // LeNet's im2col products (batch cut down): N not a multiple of the register tile's width, so
    // results come out of a padded pitch; broadcast and transposed operands among the seeds.
    const dims: [number, number, number, number][] = [
      [3, 150, 16, 100],
      [2, 6, 25, 784],
      [3, 16, 150, 100],
      [2, 16, 100, 150],
      [2, 6, 784, 25],
      [5, 7, 9, 13],
    ];
    checkShapes(kernel, ctor, dims, 3000, 3);
  });

  it('empty output is a no-op', () => {
    const out = new Float32Array(3).fill(5);
    kernel(out, new Float32Array(4), [0], 4, 1, new Float32Array(4), [0], 1, 1, 1, 0, 4, 1);
    expect(Array.from(out)).toEqual([5, 5, 5]);
  });

  it('Int32 wraps around like int32 arithmetic', () => {
    const big = 0x7fff_ffff;
    const M = 9, K = 70, N = 11;
    const a = new Int32Array(M * K).map((_, i) => (i % 3 === 0 ? big : -big + i));
    const b = new Int32Array(K * N).map((_, i) => (i % 5 === 0 ? big - i : 3 * i + 1));
    const out = new Int32Array(M * N);
    kernel(out, a, [0], K, 1, b, [0], N, 1, 1, M, K, N);
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s = (s + Math.imul(a[m * K + k]!, b[k * N + n]!)) | 0;
        expect(out[m * N + n]).toBe(s);
      }
  });

  it('Float32 matches a float64 reference to 1e-4 relative at K = 4096', () => {
    const rand = rng(42);
    const M = 6, K = 4096, N = 10;
    // Positive data (no cancellation) for a plain relative check, plus signed data against sum|A||B|.
    for (const signed of [false, true]) {
      const A: Operand = { data: new Float32Array(M * K), offsets: [0], rs: K, cs: 1 };
      const B: Operand = { data: new Float32Array(K * N), offsets: [0], rs: 1, cs: K }; // transposed
      for (let i = 0; i < A.data.length; i++) A.data[i] = signed ? rand() * 2 - 1 : rand();
      for (let i = 0; i < B.data.length; i++) B.data[i] = signed ? rand() * 2 - 1 : rand();
      const out = new Float32Array(M * N);
      kernel(out, A.data, A.offsets, A.rs, A.cs, B.data, B.offsets, B.rs, B.cs, 1, M, K, N);
      const ref = reference(A, B, 1, M, K, N);
      const scale = absReference(A, B, 1, M, K, N);
      for (let i = 0; i < ref.length; i++) {
        const denom = signed ? scale[i]! : Math.abs(ref[i]!);
        expect(Math.abs(out[i]! - ref[i]!) / denom).toBeLessThan(1e-4);
      }
    }
  });
});

describe('dispatch', () => {
  it('reports and switches the implementation', () => {
    expect(matmulImpl()).toBe(hasWasm ? 'wasm' : 'js');
    const prev = setMatmulImpl('js');
    expect(matmulImpl()).toBe('js');
    check(matmulInto, Float32Array, 77, [2, 40, 50, 60]);
    setMatmulImpl(prev);
    expect(matmulImpl()).toBe(prev);
  });

});

describe('wasm emitter', () => {
  it('encodes LEB128', () => {
    const enc = (f: (w: ByteWriter) => void) => {
      const w = new ByteWriter();
      f(w);
      return Array.from(w.toBytes());
    };
    expect(enc((w) => w.u32(0))).toEqual([0]);
    expect(enc((w) => w.u32(127))).toEqual([0x7f]);
    expect(enc((w) => w.u32(128))).toEqual([0x80, 0x01]);
    expect(enc((w) => w.u32(624485))).toEqual([0xe5, 0x8e, 0x26]);
    expect(enc((w) => w.u32(0xffffffff))).toEqual([0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(enc((w) => w.s32(-1))).toEqual([0x7f]);
    expect(enc((w) => w.s32(63))).toEqual([0x3f]);
    expect(enc((w) => w.s32(64))).toEqual([0xc0, 0x00]);
    expect(enc((w) => w.s32(-64))).toEqual([0x40]);
    expect(enc((w) => w.s32(-65))).toEqual([0xbf, 0x7f]);
    expect(enc((w) => w.s32(-123456))).toEqual([0xc0, 0xbb, 0x78]);
  });
});
