import { describe, expect, it } from 'vitest';
import { rng as seededRng } from './helpers/rng.ts';
import { runFold, runUnfold } from '../src/cpu/conv.ts';
import type { FoldAttrs, UnfoldAttrs } from '../src/ops/registry.ts';
import { wasmSimdSupported } from '../src/cpu/wasm/gemm.ts';
import { foldWasm, unfoldWasm } from '../src/cpu/wasm/unfold.ts';

/** Deterministic uniform [0, 1) draws (tests/helpers/rng.ts), so failures reproduce. */
const rng = (seed: number): (() => number) => seededRng(seed).next;

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor | Int32ArrayConstructor;
type P = [number, number];

const outSize = (size: number, k: number, s: number, p: number, d: number) => Math.floor((size + 2 * p - d * (k - 1) - 1) / s) + 1;

/** Unfold by definition: test every pixel, index through the strides. */
function refUnfold(d: ArrayLike<number>, off: number, st: number[], shape: number[], a: UnfoldAttrs, out: { [i: number]: number }): void {
  const [N, C, H, W] = shape as [number, number, number, number];
  const oh = outSize(H, a.kernel[0], a.stride[0], a.padding[0], a.dilation[0]);
  const ow = outSize(W, a.kernel[1], a.stride[1], a.padding[1], a.dilation[1]);
  let o = 0;
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < a.kernel[0]; i++)
        for (let j = 0; j < a.kernel[1]; j++)
          for (let oy = 0; oy < oh; oy++)
            for (let ox = 0; ox < ow; ox++) {
              const y = oy * a.stride[0] - a.padding[0] + i * a.dilation[0];
              const x = ox * a.stride[1] - a.padding[1] + j * a.dilation[1];
              out[o++] = y < 0 || y >= H || x < 0 || x >= W ? a.padValue : d[off + n * st[0]! + c * st[1]! + y * st[2]! + x * st[3]!]!;
            }
}

/** Fold by definition, adding into `out` in (n, c, i, j, oy, ox) order — the kernel's documented order. */
function refFold(d: ArrayLike<number>, off: number, st: number[], colShape: number[], a: FoldAttrs, out: { [i: number]: number }): void {
  const [N, CK] = colShape as [number, number];
  const [kh, kw] = a.kernel, [H, W] = a.inputSize;
  const C = CK / (kh * kw);
  const oh = outSize(H, kh, a.stride[0], a.padding[0], a.dilation[0]);
  const ow = outSize(W, kw, a.stride[1], a.padding[1], a.dilation[1]);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < kh; i++)
        for (let j = 0; j < kw; j++)
          for (let oy = 0; oy < oh; oy++)
            for (let ox = 0; ox < ow; ox++) {
              const y = oy * a.stride[0] - a.padding[0] + i * a.dilation[0];
              const x = ox * a.stride[1] - a.padding[1] + j * a.dilation[1];
              if (y < 0 || y >= H || x < 0 || x >= W) continue;
              const q = ((n * C + c) * H + y) * W + x;
              out[q] = out[q]! + d[off + n * st[0]! + ((c * kh + i) * kw + j) * st[1]! + (oy * ow + ox) * st[2]!]!;
            }
}

interface Case { N: number; C: number; H: number; W: number; k: P; s: P; p: P; d: P }

const cases: Case[] = [
  // LeNet's two convolutions (batch cut down)
  { N: 2, C: 1, H: 28, W: 28, k: [5, 5], s: [1, 1], p: [2, 2], d: [1, 1] },
  { N: 3, C: 6, H: 14, W: 14, k: [5, 5], s: [1, 1], p: [0, 0], d: [1, 1] },
  // batch 1, odd sizes, non-square kernels
  { N: 1, C: 1, H: 1, W: 1, k: [1, 1], s: [1, 1], p: [0, 0], d: [1, 1] },
  { N: 1, C: 3, H: 7, W: 5, k: [3, 2], s: [1, 1], p: [1, 0], d: [1, 1] },
  { N: 1, C: 2, H: 9, W: 11, k: [2, 3], s: [2, 3], p: [1, 1], d: [1, 1] },
  // strides, dilation, padding as large as the kernel (whole rows and columns of padding)
  { N: 2, C: 2, H: 10, W: 9, k: [3, 3], s: [2, 2], p: [1, 1], d: [2, 2] },
  { N: 1, C: 1, H: 5, W: 6, k: [3, 3], s: [1, 1], p: [3, 3], d: [1, 1] },
  { N: 2, C: 1, H: 6, W: 13, k: [1, 4], s: [3, 1], p: [0, 4], d: [1, 3] },
  { N: 1, C: 4, H: 8, W: 8, k: [2, 2], s: [2, 2], p: [0, 0], d: [1, 1] },
  // windows wider than the image (every tap partly in the padding)
  { N: 1, C: 1, H: 2, W: 3, k: [3, 5], s: [1, 2], p: [2, 3], d: [1, 1] },
  { N: 1, C: 2, H: 13, W: 4, k: [5, 3], s: [4, 1], p: [2, 1], d: [2, 1] },
];

const ctors: Ctor[] = [Float32Array, Float64Array, Int32Array];
const caseName = (c: Case) => `N${c.N} C${c.C} ${c.H}×${c.W} k${c.k} s${c.s} p${c.p} d${c.d}`;

function fill(ctor: Ctor, n: number, rand: () => number) {
  const a = new ctor(n);
  for (let i = 0; i < n; i++) a[i] = ctor === Int32Array ? Math.floor(rand() * 41) - 20 : rand() * 2 - 1;
  return a;
}

describe('runUnfold', () => {
  for (const ctor of ctors) {
    it.each(cases.map((c) => [caseName(c), c] as const))(`${ctor.name} %s`, (_n, c) => {
      const rand = rng(c.H * 31 + c.W);
      const shape = [c.N, c.C, c.H, c.W];
      for (const padValue of ctor === Int32Array ? [0, 7] : [0, -Infinity]) {
        const attrs: UnfoldAttrs = { kernel: c.k, stride: c.s, padding: c.p, dilation: c.d, padValue };
        const oh = outSize(c.H, c.k[0], c.s[0], c.p[0], c.d[0]), ow = outSize(c.W, c.k[1], c.s[1], c.p[1], c.d[1]);
        const len = c.N * c.C * c.k[0] * c.k[1] * oh * ow;
        // contiguous, at an offset
        const x = fill(ctor, 3 + c.N * c.C * c.H * c.W, rand);
        const st = [c.C * c.H * c.W, c.H * c.W, c.W, 1];
        const got = new ctor(len).fill(99), want = new ctor(len).fill(99);
        runUnfold({ data: x, offset: 3, strides: st }, shape, attrs, got);
        refUnfold(x, 3, st, shape, attrs, want);
        expect(Array.from(got)).toEqual(Array.from(want));
        // a strided view: channels-last storage (NHWC), so neither H nor W is unit-stride
        const xs = fill(ctor, c.N * c.C * c.H * c.W, rand);
        const stHWC = [c.H * c.W * c.C, 1, c.W * c.C, c.C];
        runUnfold({ data: xs, offset: 0, strides: stHWC }, shape, attrs, got);
        refUnfold(xs, 0, stHWC, shape, attrs, want);
        expect(Array.from(got)).toEqual(Array.from(want));
      }
    });
  }
});

describe('unfold and fold: WebAssembly path (float32, unit pixel stride, stride 1 along x)', () => {
  const wasmCases: Case[] = [
    ...cases.filter((c) => c.s[1] === 1),
    // padding longer than a vector on both sides, rows narrower than one
    { N: 2, C: 2, H: 3, W: 3, k: [2, 3], s: [1, 1], p: [5, 6], d: [1, 1] },
    { N: 3, C: 3, H: 9, W: 17, k: [3, 4], s: [2, 1], p: [1, 2], d: [2, 1] },
  ];
  it.each(wasmCases.map((c) => [caseName(c), c] as const))('%s: equals the definition; gapped rows and channels', (_n, c) => {
    if (!wasmSimdSupported()) return;
    const rand = rng(c.H * 7 + c.W * 3 + c.C);
    const shape = [c.N, c.C, c.H, c.W];
    const oh = outSize(c.H, c.k[0], c.s[0], c.p[0], c.d[0]), ow = outSize(c.W, c.k[1], c.s[1], c.p[1], c.d[1]);
    const len = c.N * c.C * c.k[0] * c.k[1] * oh * ow;
    // rows 5 elements apart beyond W, channels 3 beyond, images 2 beyond, at an offset
    const st = [(c.C * (c.H * (c.W + 5) + 3)) + 2, c.H * (c.W + 5) + 3, c.W + 5, 1];
    const x = fill(Float32Array, 7 + c.N * st[0]!, rand) as Float32Array;
    for (const padValue of [0, -Infinity, 2.5]) {
      const got = new Float32Array(len).fill(99), want = new Float32Array(len).fill(99);
      expect(unfoldWasm(x, 7, st[0]!, st[1]!, st[2]!, st[3]!, c.N, c.C, c.H, c.W, c.k[0], c.k[1], c.s[0], c.s[1], c.p[0], c.p[1], c.d[0], c.d[1], padValue, got)).toBe(true);
      refUnfold(x, 7, st, shape, { kernel: c.k, stride: c.s, padding: c.p, dilation: c.d, padValue }, want);
      expect(Array.from(got)).toEqual(Array.from(want));
    }
  });
  it.each(wasmCases.map((c) => [caseName(c), c] as const))('fold %s: takes the path, adds onto the output in the reference order', (_n, c) => {
    if (!wasmSimdSupported()) return;
    const rand = rng(c.H * 5 + c.W * 11 + c.C);
    const attrs: FoldAttrs = { kernel: c.k, stride: c.s, padding: c.p, dilation: c.d, padValue: 0, inputSize: [c.H, c.W] };
    const oh = outSize(c.H, c.k[0], c.s[0], c.p[0], c.d[0]), ow = outSize(c.W, c.k[1], c.s[1], c.p[1], c.d[1]);
    const CK = c.C * c.k[0] * c.k[1], L = oh * ow;
    // images of columns 3 apart, at an offset; the output starts non-zero
    const st = [CK * L + 3, L, 1];
    const cols = fill(Float32Array, 5 + c.N * st[0]!, rand) as Float32Array;
    const init = fill(Float32Array, c.N * c.C * c.H * c.W, rand) as Float32Array;
    const got = new Float32Array(init), want = new Float32Array(init);
    expect(foldWasm(cols, 5, st[0]!, st[1]!, st[2]!, c.N, CK, c.H, c.W, c.k[0], c.k[1], c.s[0], c.s[1], c.p[0], c.p[1], c.d[0], c.d[1], got)).toBe(true);
    refFold(cols, 5, st, [c.N, CK, L], attrs, want);
    expect(Array.from(got)).toEqual(Array.from(want));
  });
  it('declines what it does not handle: stride 2 along x, a pixel stride other than 1', () => {
    const x = new Float32Array(64), out = new Float32Array(1024);
    expect(unfoldWasm(x, 0, 16, 16, 4, 1, 1, 1, 4, 4, 2, 2, 1, 2, 0, 0, 1, 1, 0, out)).toBe(false);
    expect(unfoldWasm(x, 0, 32, 16, 8, 2, 1, 1, 4, 4, 2, 2, 1, 1, 0, 0, 1, 1, 0, out)).toBe(false);
    // fold: stride 2 along x; columns not row-contiguous (transposed)
    expect(foldWasm(out, 0, 36, 9, 1, 1, 4, 4, 4, 2, 2, 1, 2, 0, 0, 1, 1, x)).toBe(false);
    expect(foldWasm(out, 0, 36, 1, 4, 1, 4, 4, 4, 2, 2, 1, 1, 0, 0, 1, 1, x)).toBe(false);
  });
});

describe('runFold', () => {
  for (const ctor of ctors) {
    it.each(cases.map((c) => [caseName(c), c] as const))(`${ctor.name} %s`, (_n, c) => {
      const rand = rng(c.H * 17 + c.W * 5 + c.C);
      const attrs: FoldAttrs = { kernel: c.k, stride: c.s, padding: c.p, dilation: c.d, padValue: 0, inputSize: [c.H, c.W] };
      const oh = outSize(c.H, c.k[0], c.s[0], c.p[0], c.d[0]), ow = outSize(c.W, c.k[1], c.s[1], c.p[1], c.d[1]);
      const CK = c.C * c.k[0] * c.k[1], L = oh * ow;
      const colShape = [c.N, CK, L];
      const n = c.N * c.C * c.H * c.W;
      // contiguous columns at an offset; the output starts non-zero to check that fold adds
      const cols = fill(ctor, 2 + c.N * CK * L, rand);
      const st = [CK * L, L, 1];
      const init = fill(ctor, n, rand);
      const got = new ctor(init), want = new ctor(init);
      runFold({ data: cols, offset: 2, strides: st }, colShape, attrs, got);
      refFold(cols, 2, st, colShape, attrs, want);
      // exact: every pixel gets the same additions in the same order as the reference
      expect(Array.from(got)).toEqual(Array.from(want));
      // transposed columns ([N, L, CK] storage)
      const stT = [CK * L, 1, CK];
      const got2 = new ctor(n), want2 = new ctor(n);
      runFold({ data: cols, offset: 0, strides: stT }, colShape, attrs, got2);
      refFold(cols, 0, stT, colShape, attrs, want2);
      expect(Array.from(got2)).toEqual(Array.from(want2));
    });
  }

  it('is the adjoint of unfold: <unfold(x), g> = <x, fold(g)>', () => {
    const rand = rng(7);
    for (const c of cases) {
      const shape = [c.N, c.C, c.H, c.W];
      const attrs: FoldAttrs = { kernel: c.k, stride: c.s, padding: c.p, dilation: c.d, padValue: 0, inputSize: [c.H, c.W] };
      const oh = outSize(c.H, c.k[0], c.s[0], c.p[0], c.d[0]), ow = outSize(c.W, c.k[1], c.s[1], c.p[1], c.d[1]);
      const CK = c.C * c.k[0] * c.k[1], L = oh * ow;
      const x = fill(Float64Array, c.N * c.C * c.H * c.W, rand), g = fill(Float64Array, c.N * CK * L, rand);
      const u = new Float64Array(g.length), f = new Float64Array(x.length);
      runUnfold({ data: x, offset: 0, strides: [c.C * c.H * c.W, c.H * c.W, c.W, 1] }, shape, attrs, u);
      runFold({ data: g, offset: 0, strides: [CK * L, L, 1] }, [c.N, CK, L], attrs, f);
      const dot = (p: ArrayLike<number>, q: ArrayLike<number>) => Array.from(p).reduce((s, v, i) => s + v * q[i]!, 0);
      expect(dot(u, g)).toBeCloseTo(dot(x, f), 10);
    }
  });
});
