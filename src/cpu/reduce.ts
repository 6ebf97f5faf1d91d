/**
 * @file Reduction kernels: sum, max, min, prod, argmax, argmin over a set of dims.
 *
 * `runReduce` is a thin wrapper: it collapses the kept and the reduced dims (merging those that
 * are contiguous) and calls a loop nest that takes only numbers and typed arrays. The loop nests
 * are generated with `new Function` per (kind, one-or-more reduced dims, input array type, output
 * array type), so every compiled kernel sees one reduction and one pair of array maps. A single
 * function for all kinds, reading attribute arrays, kept deoptimising in LeNet's step ("wrong
 * map", "insufficient type feedback" whenever a kind or dtype it had not seen came along).
 * Measured side by side (one process, median of 40): max-pool's argmax over [150528, 2] 3.4 →
 * 0.62 ms, over [5376, 2, 14] dim 1 1.7 → 0.33 ms; sums unchanged or slightly faster.
 */
import type { TypedArray } from '../dtype.ts';
import type { ReduceKind } from '../ops/registry.ts';
import { argPairsWasm } from './wasm/pairs.ts';
import { aroundDim, hasContiguousStrides } from '../shape.ts';
import { collapseDims, type StridedArray } from './elementwise.ts';

/** Collapsed sizes and strides: Int32Array unless one of them is outside the int32 range. */
type DimArray = Int32Array | Float64Array;

const fitsInt32 = (xs: readonly number[]): boolean => xs.every((v) => v === (v | 0));

/**
 * Kernel arguments: input data and offset, output, output count, then the collapsed kept dims
 * (shape, strides, rank) and reduced dims (shape, strides, rank) as DimArrays, and the number
 * of reduced elements per output.
 */
type ReduceKernel = (data: TypedArray, off: number, out: TypedArray, outN: number,
  oShape: DimArray, oStr: DimArray, oRank: number, iShape: DimArray, iStr: DimArray, iRank: number, innerN: number,
  vals: TypedArray | null) => void;

/** Per kind: accumulator start and the update of `acc` from the element `v`. */
const KINDS: Record<'sum' | 'prod' | 'iprod' | 'max' | 'min', { init: string; update: (acc: string) => string }> = {
  sum: { init: '0', update: (a) => `${a} += v;` },
  prod: { init: '1', update: (a) => `${a} *= v;` },
  // int32 products wrap at every step, as int32 arithmetic does (a double product loses the low bits past 2⁵³)
  iprod: { init: '1', update: (a) => `${a} = Math.imul(${a}, v);` },
  // NaN propagates: once acc is NaN no comparison is true, and a NaN v is stored as acc
  max: { init: '-Infinity', update: (a) => `if (v > ${a} || v !== v) ${a} = v;` },
  min: { init: 'Infinity', update: (a) => `if (v < ${a} || v !== v) ${a} = v;` },
};

/**
 * argmax/argmin update without branches: `gt` is 1 when `v` (at data offset `q`, reduced index
 * `ix`) replaces the current best `a` (strictly better, or the first NaN), and the best offset
 * and index are blended arithmetically; the caller reloads the best value from its offset. On
 * random data the `if (v > acc)` form mispredicts half the time: max-pool's [150528, 2] argmax
 * took 1.1 ms that way and 0.30 ms this way.
 */
const argUpdate = (kind: 'argmax' | 'argmin', a: string, bp: string, best: string, q: string, ix: string) =>
  `const gt = (v ${kind === 'argmax' ? '>' : '<'} ${a}) | ((v !== v) & (${a} === ${a}));
        ${bp} += gt * (${q} - ${bp}); ${best} += gt * (${ix} - ${best});`;

const isArg = (kind: ReduceKind | 'iprod'): kind is 'argmax' | 'argmin' => kind === 'argmax' || kind === 'argmin';

/**
 * How many outputs a plain reduction (sum, prod, max, min) computes side by side: groups of these
 * sizes in turn (see buildPerOutput; the jit's generated reductions group the same way).
 */
export const REDUCE_LANES: readonly number[] = [4, 2];

/** Odometer step over dims [0, n) of `shape`/`str` with position `pos`, moving cursor `p`. */
const odometer = (pos: string, shape: string, str: string, n: string, p: string) => `
  for (let d = ${n} - 1; d >= 0; d--) {
    ${p} += ${str}[d];
    if (++${pos}[d] < ${shape}[d]) break;
    ${p} -= ${str}[d] * ${shape}[d];
    ${pos}[d] = 0;
  }`;

/**
 * Order "per output": for each output (odometer over the kept dims) walk its reduced elements,
 * the innermost reduced dim as a plain loop. Best when the reduced elements are the contiguous
 * ones (a row sum, a softmax max).
 */
function buildPerOutput(reduceKind: ReduceKind, flat: boolean, withValues: boolean, pair = false, wide = false, int = false): ReduceKernel {
  const kind = reduceKind === 'prod' && int ? 'iprod' : reduceKind;
  const arg = isArg(kind);
  if (pair && !arg) throw new Error(`internal: pair kernel for ${kind}`);
  const init = pair
    // one reduced dim of exactly two elements (max-pool's argmax over a reshaped pair): the same
    // choice as argUpdate without the loop, and the picked value reloaded from its offset
    // (argmax with values over [150528, 2] 0.68 → 0.46 ms, [5376, 2, 14] 0.36 → 0.24 ms)
    ? `const a0 = data[b], a1 = data[b + ls];
      const best = (a1 ${kind === 'argmax' ? '>' : '<'} a0) | ((a1 !== a1) & (a0 === a0));
      const acc = data[b + best * ls];`
    : arg ? 'let bp = b, best = 0, acc = innerN > 0 ? data[b] : 0;' : `let acc = ${KINDS[kind as keyof typeof KINDS].init};`;
  const update = (p: string, ix: string) => (arg
    ? `${argUpdate(kind, 'acc', 'bp', 'best', p, ix)}\n        acc = data[bp];`
    : KINDS[kind as keyof typeof KINDS].update('acc'));
  // `flat`: at most one reduced dim after collapsing (the common case) needs no odometer
  const body = pair ? '' : flat ? `
      for (let j = ${arg ? '1' : '0'}, p = b${arg ? ' + ls' : ''}; j < L; j++, p += ls) {
        const v = data[p];
        ${update('p', 'j')}
      }` : `
      let p0 = b, r = 0;
      for (let u = 0; u < upperN; u++) {
        for (let j = 0, p = p0; j < L; j++, p += ls) {
          const v = data[p];
          ${update('p', 'r + j')}
        }
        r += L;
        ${odometer('iPos', 'iShape', 'iStr', 'U', 'p0')}
      }`;
  // Plain reductions take LANES neighbouring outputs (along the innermost kept dim) at a time,
  // each with its own accumulator, walking the same reduced offsets: every output still adds its
  // elements in the same order (the same result bit for bit), but the additions of different
  // outputs overlap instead of each waiting for the previous one (an add's latency bound the
  // loop: LeNet's bias gradients, sum over [64,6,28,28] dims [0,2,3], 0.17 → 0.12 ms; sum over
  // [64,16,150] dim 0 0.088 → 0.062 ms)
  const group = (lanes: number): string => {
    const accs = Array.from({ length: lanes }, (_, i) => `a${i}`);
    const laneUpdate = (q: string) => accs.map((a, i) => `{ const v = data[${q}${i ? ` + ${i} * ks` : ''}]; ${KINDS[kind as keyof typeof KINDS].update(a)} }`).join('\n          ');
    return `
    for (; k + ${lanes} <= n; k += ${lanes}, b += ${lanes} * ks) {
      ${accs.map((a) => `let ${a} = ${KINDS[kind as keyof typeof KINDS].init};`).join(' ')}
      ${flat ? `
      for (let j = 0, p = b; j < L; j++, p += ls) {
          ${laneUpdate('p')}
      }` : `
      let p0 = b;
      for (let u = 0; u < upperN; u++) {
        for (let j = 0, p = p0; j < L; j++, p += ls) {
          ${laneUpdate('p')}
        }
        ${odometer('iPos', 'iShape', 'iStr', 'U', 'p0')}
      }`}
      ${accs.map((a) => `out[o++] = ${a};`).join(' ')}
    }`;
  };
  const grouped = arg || pair ? '' : REDUCE_LANES.map(group).join('');
  const src = `
  const L = iRank > 0 ? iShape[iRank - 1] : 1, ls = iRank > 0 ? iStr[iRank - 1] : 0;
  const U = iRank > 0 ? iRank - 1 : 0;
  const upperN = L > 0 ? innerN / L : 0;
  const n = oRank > 0 ? oShape[oRank - 1] : 1, ks = oRank > 0 ? oStr[oRank - 1] : 0, OU = oRank > 0 ? oRank - 1 : 0;
  const oPos = new ${wide ? 'Float64Array' : 'Int32Array'}(OU), iPos = new ${wide ? 'Float64Array' : 'Int32Array'}(U);
  let base = off, o = 0;
  for (let ob = 0; ob < outN; ob += n) {
    let k = 0, b = base;${grouped}
    for (; k < n; k++, b += ks) {
      ${init}${body}
      ${withValues ? 'vals[o] = acc;' : ''}
      out[o++] = ${arg ? 'best' : 'acc'};
    }
    ${odometer('oPos', 'oShape', 'oStr', 'OU', 'base')}
  }`;
  return new Function('data', 'off', 'out', 'outN', 'oShape', 'oStr', 'oRank', 'iShape', 'iStr', 'iRank', 'innerN', 'vals', src) as ReduceKernel;
}

const kernels = new Map<string, ReduceKernel>();

function kernelFor(kind: ReduceKind, flat: boolean, pair: boolean, wide: boolean, data: TypedArray, out: TypedArray, vals: TypedArray | null): ReduceKernel {
  // one compiled copy per array-type pair too: keeps each copy's element loads monomorphic
  const key = `${kind}|${flat ? 1 : 0}|${pair ? 1 : 0}|${wide ? 1 : 0}|${data.constructor.name}|${out.constructor.name}|${vals?.constructor.name ?? ''}`;
  let k = kernels.get(key);
  if (!k) {
    k = buildPerOutput(kind, flat, vals !== null, pair, wide, out instanceof Int32Array);
    kernels.set(key, k);
  }
  return k;
}

/**
 * Reduces `x` (shape `shape`) over `dims` into the contiguous `out` (kept dims in order; arrays
 * may be longer than the result). NaN propagates through max/min, and argmax/argmin pick the
 * first NaN, as PyTorch does. `values` (argmax/argmin only) also receives the element picked,
 * in the same order: max(…).values and its indices in one pass (the jit's fusion of
 * gather(x, argmax(x))).
 */
export function runReduce(kind: ReduceKind, x: StridedArray, shape: readonly number[], dims: readonly number[], out: TypedArray, values: TypedArray | null = null): void {
  let outN = 1;
  for (let i = 0; i < shape.length; i++) if (!dims.includes(i)) outN *= shape[i]!;
  if (outN === 0) return;
  if (values && !isArg(kind)) throw new Error(`internal: reduce ${kind} with a values output`);
  const keptIdx: number[] = [];
  for (let i = 0; i < shape.length; i++) if (!dims.includes(i)) keptIdx.push(i);
  // kept dims (outer loops) and reduced dims (inner loops), each collapsed where contiguous
  const outer = collapseDims(keptIdx.map((i) => shape[i]!), [keptIdx.map((i) => x.strides[i]!)]);
  const inner = collapseDims(dims.map((i) => shape[i]!), [dims.map((i) => x.strides[i]!)]);
  let innerN = 1;
  for (const d of inner.shape) innerN *= d;
  for (const d of dims) if (shape[d] === 0) innerN = 0;
  const oRank = outer.shape.length, iRank = inner.shape.length;
  const oStr = outer.strides[0]!, iStr = inner.strides[0]!;
  // Loop order: one output at a time, walking its reduced elements. Accumulating whole rows of
  // outputs instead (the kept dim innermost, accumulators in a scratch array) measured slower at
  // every LeNet shape tried, even where the kept dim is the contiguous one: sum [64,16,150] over
  // dim 0 0.23 vs 0.12 ms, argmax [5376,2,14] over dim 1 0.88 vs 0.53 ms.
  const pair = isArg(kind) && iRank === 1 && inner.shape[0] === 2;
  if (pair && pairsInPlace(kind as 'argmax' | 'argmin', x, shape, dims, out, values)) return;
  // Int32Array dims keep the loop counters small integers; an expanded (stride-0) view can have a
  // collapsed dim of 2**31 elements or more, which an Int32Array would wrap (2**32 + 5 → 5), so
  // such shapes get Float64Array dims and their own kernel copy
  const wide = !fitsInt32(outer.shape) || !fitsInt32(oStr) || !fitsInt32(inner.shape) || !fitsInt32(iStr);
  const Dims = wide ? Float64Array : Int32Array;
  kernelFor(kind, iRank <= 1, pair, wide, x.data, out, values)(
    x.data, x.offset, out, outN,
    Dims.from(outer.shape), Dims.from(oStr), oRank,
    Dims.from(inner.shape), Dims.from(iStr), iRank, innerN, values,
  );
}

/**
 * max-pooling's argmax over one dim of two elements of a contiguous float32 array, [rows, 2,
 * inner], by the WebAssembly kernel (./wasm/pairs.ts), when every array lives in the arena;
 * false (nothing done) otherwise.
 */
function pairsInPlace(kind: 'argmax' | 'argmin', x: StridedArray, shape: readonly number[], dims: readonly number[], out: TypedArray, values: TypedArray | null): boolean {
  if (dims.length !== 1 || !(x.data instanceof Float32Array) || !(out instanceof Int32Array) || (values && !(values instanceof Float32Array))) return false;
  if (!hasContiguousStrides(shape, x.strides)) return false;
  const { outer, inner } = aroundDim(shape, dims[0]!);
  return argPairsWasm(kind, x.data, x.offset, outer, inner, out, values as Float32Array | null);
}
