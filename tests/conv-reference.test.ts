/**
 * @file conv2d against a direct float64 reference — values and the gradients of input, weight
 * and bias — over stride, padding, dilation, groups, batch 1, unbatched input and non-square
 * images and kernels, through both formulations (one product per image, and the batch folded
 * into one product's columns), eagerly, under jit, and on WebGPU.
 */
import { describe, expect, it } from 'vitest';
import { gpuStatus } from './gpu-setup.ts';
import { fromTypedArray, grad, jit, nn, type Tensor } from '../src/index.ts';
import { conv2dFoldsBatch } from '../src/nn/conv-fold.ts';

const gpu = await gpuStatus();
const NF = nn.functional;

interface ConvCase {
  name: string;
  x: [number, number, number, number] | [number, number, number];
  w: [number, number, number, number];
  stride?: [number, number];
  padding?: [number, number];
  dilation?: [number, number];
  groups?: number;
  bias?: boolean;
  /** which formulation the case exercises */
  folded: boolean;
}

const cases: ConvCase[] = [
  // per-image products (LeNet-like and general)
  { name: 'LeNet conv2-like', x: [3, 6, 9, 9], w: [16, 6, 5, 5], folded: false },
  { name: 'padding, non-square image', x: [2, 3, 7, 10], w: [4, 3, 3, 3], padding: [1, 2], folded: false },
  { name: 'stride, non-square kernel', x: [2, 2, 9, 8], w: [5, 2, 2, 3], stride: [2, 3], folded: false },
  { name: 'dilation', x: [2, 2, 9, 9], w: [3, 2, 3, 2], dilation: [2, 3], padding: [1, 0], folded: false },
  { name: 'groups', x: [2, 6, 6, 7], w: [4, 3, 3, 3], groups: 2, padding: [1, 1], folded: false },
  { name: 'depthwise', x: [2, 4, 6, 6], w: [8, 1, 3, 3], groups: 4, stride: [2, 1], folded: false },
  { name: 'batch 1', x: [1, 3, 5, 5], w: [40, 3, 3, 3], folded: false },
  { name: 'unbatched', x: [3, 5, 6], w: [2, 3, 2, 2], bias: false, folded: false },
  // the batch folded into the columns: small outputs (L ≤ 40), tall weights
  { name: 'folded', x: [3, 4, 6, 6], w: [32, 4, 3, 3], folded: true },
  { name: 'folded, no bias', x: [2, 3, 5, 4], w: [33, 3, 3, 2], bias: false, folded: true },
  { name: 'folded, stride + padding', x: [4, 2, 7, 9], w: [32, 2, 3, 3], stride: [2, 3], padding: [1, 1], folded: true },
  { name: 'folded, dilation', x: [2, 3, 8, 7], w: [32, 3, 2, 3], dilation: [3, 2], folded: true },
  { name: 'folded, groups', x: [3, 4, 5, 5], w: [64, 2, 3, 3], groups: 2, padding: [1, 1], folded: true },
  { name: 'folded, 1×1 output', x: [5, 3, 3, 3], w: [32, 3, 3, 3], folded: true },
];

/** Deterministic values in [-2, 2). */
function values(n: number, seed: number): Float64Array {
  const a = new Float64Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 2 ** 32) * 4 - 2;
  }
  return a;
}

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

interface Geometry { N: number; C: number; H: number; W: number; O: number; Cg: number; kh: number; kw: number; sh: number; sw: number; ph: number; pw: number; dh: number; dw: number; g: number; oh: number; ow: number }

function geometry(c: ConvCase): Geometry {
  const [N, C, H, W] = c.x.length === 3 ? [1, ...c.x] : c.x;
  const [O, Cg, kh, kw] = c.w;
  const [sh, sw] = c.stride ?? [1, 1], [ph, pw] = c.padding ?? [0, 0], [dh, dw] = c.dilation ?? [1, 1];
  const oh = Math.floor((H + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((W + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  return { N, C, H, W, O, Cg, kh, kw, sh, sw, ph, pw, dh, dw, g: c.groups ?? 1, oh, ow };
}

/**
 * The direct definition in float64: y[n,o,p,q] = b[o] + Σ x[n, c, p·sh − ph + i·dh, q·sw − pw + j·dw]·w[o, c', i, j]
 * (c = group(o)·Cg + c'), and for an upstream ȳ its adjoints x̄, w̄, b̄ by the same loop.
 */
function reference(c: ConvCase, x: Float64Array, w: Float64Array, b: Float64Array, gy: Float64Array) {
  const { N, C, H, W, O, Cg, kh, kw, sh, sw, ph, pw, dh, dw, g, oh, ow } = geometry(c);
  const y = new Float64Array(N * O * oh * ow), gx = new Float64Array(x.length), gw = new Float64Array(w.length), gb = new Float64Array(O);
  const Og = O / g;
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let p = 0; p < oh; p++) for (let q = 0; q < ow; q++) {
    const yi = ((n * O + o) * oh + p) * ow + q;
    let acc = b[o]!;
    gb[o]! += gy[yi]!;
    for (let cc = 0; cc < Cg; cc++) {
      const ch = Math.floor(o / Og) * Cg + cc;
      for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) {
        const r = p * sh - ph + i * dh, s = q * sw - pw + j * dw;
        if (r < 0 || r >= H || s < 0 || s >= W) continue;
        const xi = ((n * C + ch) * H + r) * W + s, wi = ((o * Cg + cc) * kh + i) * kw + j;
        acc += x[xi]! * w[wi]!;
        gx[xi]! += gy[yi]! * w[wi]!;
        gw[wi]! += gy[yi]! * x[xi]!;
      }
    }
    y[yi] = acc;
  }
  return { y, gx, gw, gb, yShape: c.x.length === 3 ? [O, oh, ow] : [N, O, oh, ow] };
}

function inputs(c: ConvCase, seed: number) {
  const { O } = geometry(c);
  const ys = reference(c, new Float64Array(prod(c.x)), new Float64Array(prod(c.w)), new Float64Array(O), new Float64Array(0)).yShape;
  return { x: values(prod(c.x), seed), w: values(prod(c.w), seed + 1), b: values(O, seed + 2), gy: values(prod(ys), seed + 3), yShape: ys };
}

/** conv2d and its three gradients for the case, on a device and dtype; `compile` runs it under jit. */
async function run(c: ConvCase, data: ReturnType<typeof inputs>, device: 'cpu' | 'webgpu', dtype: 'float32' | 'float64', compile: boolean) {
  const T = (a: Float64Array, s: readonly number[]) => fromTypedArray(dtype === 'float64' ? a : Float32Array.from(a), s, dtype, device);
  const x = T(data.x, c.x).requiresGrad_(), w = T(data.w, c.w).requiresGrad_();
  const b = c.bias === false ? null : T(data.b, [c.w[0]]).requiresGrad_();
  const gy = T(data.gy, data.yShape);
  const conv = (x: Tensor, w: Tensor, b: Tensor | null) => NF.conv2d(x, w, b, { stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups });
  const withBias = (x: Tensor, w: Tensor, gy: Tensor, b: Tensor): Tensor[] => {
    const y = conv(x, w, b);
    return [y, ...grad(y, [x, w, b], { gradOutputs: [gy] }).map((t) => t!)];
  };
  const noBias = (x: Tensor, w: Tensor, gy: Tensor): Tensor[] => {
    const y = conv(x, w, null);
    return [y, ...grad(y, [x, w], { gradOutputs: [gy] }).map((t) => t!)];
  };
  const outs = b ? (compile ? jit(withBias) : withBias)(x, w, gy, b) : (compile ? jit(noBias) : noBias)(x, w, gy);
  return Promise.all(outs.map(async (t) => ({ shape: [...t.shape], data: Float64Array.from(await t.data() as ArrayLike<number>) })));
}

function expectClose(label: string, got: { shape: number[]; data: Float64Array }, want: Float64Array, shape: readonly number[], rtol: number, atol: number) {
  expect(got.shape, `${label}: shape`).toEqual([...shape]);
  let worst = 0, at = -1;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got.data[i]! - want[i]!) - rtol * Math.abs(want[i]!);
    if (err > worst) { worst = err; at = i; }
  }
  expect(worst, `${label}: worst excess error at ${at} (got ${got.data[at]}, want ${want[at]})`).toBeLessThanOrEqual(atol);
}

async function check(c: ConvCase, device: 'cpu' | 'webgpu', dtype: 'float32' | 'float64', compile: boolean, tol: number) {
  const data = inputs(c, c.name.length * 7919);
  const ref = reference(c, data.x, data.w, c.bias === false ? new Float64Array(c.w[0]) : data.b, data.gy);
  const got = await run(c, data, device, dtype, compile);
  expectClose(`${c.name} y`, got[0]!, ref.y, ref.yShape, tol, tol);
  expectClose(`${c.name} x̄`, got[1]!, ref.gx, c.x, tol, tol);
  expectClose(`${c.name} w̄`, got[2]!, ref.gw, c.w, tol, tol);
  if (c.bias !== false) expectClose(`${c.name} b̄`, got[3]!, ref.gb, [c.w[0]], tol, tol);
}

describe('conv2d against a direct float64 reference', () => {
  it('each case exercises the formulation it names', () => {
    for (const c of cases) {
      const { N, O, g, oh, ow } = geometry(c);
      expect(conv2dFoldsBatch(N, oh * ow, O / g), c.name).toBe(c.folded);
    }
    // LeNet's convolutions stay per image (measured faster there)
    expect(conv2dFoldsBatch(64, 28 * 28, 6)).toBe(false);
    expect(conv2dFoldsBatch(64, 10 * 10, 16)).toBe(false);
  });

  for (const c of cases) {
    it(`CPU float64, eager: ${c.name}`, () => check(c, 'cpu', 'float64', false, 1e-12));
  }
  for (const c of cases.filter((k) => k.folded || k.name === 'groups' || k.name === 'unbatched')) {
    it(`CPU float64, jit: ${c.name}`, () => check(c, 'cpu', 'float64', true, 1e-12));
  }
});

describe('conv2d inference over a batch whose columns exceed 16 MiB', () => {
  /** Seeded values in [-1, 1). */
  const fill = (shape: number[], seed: number) => {
    const n = shape.reduce((a, b) => a * b, 1);
    let s = seed;
    return fromTypedArray(Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 30) - 1), shape, 'float32');
  };
  const cases: { name: string; x: number[]; w: number[]; opts: Parameters<typeof nn.functional.conv2d>[3] }[] = [
    // 518,400 column elements per image: slices of 8 images
    { name: 'per image, padding and stride', x: [20, 16, 40, 40], w: [8, 16, 5, 5], opts: { padding: 1 } },
    // the batch folded into the columns (L = 16, 32 output channels), groups of 2
    { name: 'batch folded, groups', x: [500, 64, 6, 6], w: [32, 32, 3, 3], opts: { groups: 2 } },
  ];
  for (const c of cases) {
    it(`a slice of the batch at a time, with the same values bit for bit: ${c.name}`, () => {
      const x = fill(c.x, 1), w = fill(c.w, 2), b = fill([c.w[0]!], 3);
      const sliced = nn.functional.conv2d(x, w, b, c.opts); // no input requires a gradient: sliced
      w.requiresGrad_();
      const whole = nn.functional.conv2d(x, w, b, c.opts); // recorded for backward: one product
      expect(sliced.shape).toEqual(whole.shape);
      expect(Array.from(sliced.dataSync())).toEqual(Array.from(whole.dataSync()));
    });
  }
});

describe.skipIf(!gpu.ok)('conv2d on WebGPU against a direct float64 reference', () => {
  for (const c of cases) {
    it(`eager: ${c.name}`, () => check(c, 'webgpu', 'float32', false, 2e-4));
  }
  for (const c of cases.filter((k) => k.folded)) {
    it(`jit: ${c.name}`, () => check(c, 'webgpu', 'float32', true, 2e-4));
  }
});
