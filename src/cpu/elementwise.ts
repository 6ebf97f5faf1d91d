/**
 * @file Elementwise CPU kernels: a JS loop nest generated from an Expr (built once with
 * `new Function`, cached by expression, rank and operand layout). Operands are strided views
 * already broadcast to the output shape; dims that are contiguous for every operand are merged
 * first, and operands that are constant over the loop (scalars) are loaded once.
 */
import type { TypedArray } from '../dtype.ts';
import { exprKey, type Expr } from '../ops/expr.ts';
import { H, renderJs } from './render.ts';
import { runWasmElementwise, wasmKernelKey } from './wasm/elementwise.ts';
import { arenaBlock } from './arena.ts';

export interface StridedArray {
  readonly data: TypedArray;
  readonly offset: number;
  readonly strides: readonly number[];
}

type Kernel = (out: TypedArray, outOff: number, outStrides: readonly number[], ins: readonly TypedArray[],
  offs: readonly number[], strides: readonly (readonly number[])[], shape: readonly number[], h: typeof H,
  params: Float64Array) => void;

const cache = new Map<string, Kernel>();

/**
 * The values a kernel reads at run time instead of having them written into its code: every
 * rand node's seed and every constant but a small integer (those stay literal: x**2 renders as
 * x*x). Without this, each dropout mask, random tensor or new scalar value compiled a kernel of
 * its own and kept it in the cache (50 `rand([n])` calls: 50 kernels).
 */
interface Params {
  /** the parameter slot of each such node */
  readonly slot: Map<Expr, number>;
  /** their values, in slot order, as the literal would give them */
  readonly values: Float64Array;
  /** the expression's key with those values left out */
  readonly key: string;
}

const literalInt = (e: Expr): boolean => e.k === 'const' && Number.isInteger(e.v) && Math.abs(e.v) <= 64;

function parametrize(root: Expr): Params {
  const slot = new Map<Expr, number>();
  const values: number[] = [];
  // exprKey with each parameter's value replaced by its slot (two trees with one key then read
  // the same slots where the same code reads them)
  const key = exprKey(root, (e) => {
    if (e.k === 'rand') {
      slot.set(e, values.length);
      values.push(e.seed);
      return `rand(?${values.length - 1})`;
    }
    if (e.k !== 'const' || literalInt(e)) return null;
    slot.set(e, values.length);
    values.push(e.dtype === 'float32' ? Math.fround(e.v) : e.dtype === 'int32' ? e.v | 0 : e.dtype === 'bool' ? (e.v ? 1 : 0) : e.v);
    return `c(?${values.length - 1}):${e.dtype}`;
  });
  return { slot, values: Float64Array.from(values), key };
}

/** Merges adjacent dims that are contiguous for every operand; drops size-1 dims. */
export function collapseDims(shape: readonly number[], stridesList: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const dims: number[] = [];
  shape.forEach((d, i) => { if (d !== 1) dims.push(i); });
  const outShape: number[] = [];
  const outStrides: number[][] = stridesList.map(() => []);
  for (const i of dims) {
    const last = outShape.length - 1;
    if (last >= 0 && stridesList.every((s, k) => outStrides[k]![last] === s[i]! * shape[i]!)) {
      outShape[last]! *= shape[i]!;
      stridesList.forEach((s, k) => { outStrides[k]![last] = s[i]!; });
    } else {
      outShape.push(shape[i]!);
      stridesList.forEach((s, k) => outStrides[k]!.push(s[i]!));
    }
  }
  return { shape: outShape, strides: outStrides };
}

function build(expr: Expr, nIn: number, rank: number, hoisted: readonly boolean[], params: Params): Kernel {
  const param = (e: Expr): string | null => {
    const j = params.slot.get(e);
    return j === undefined ? null : `params[${j}]`;
  };
  const usesIndex = /index|rand/.test(exprKey(expr));
  const L: string[] = [];
  const streamed = [...Array(nIn).keys()].filter((i) => !hoisted[i]);
  for (let i = 0; i < nIn; i++) L.push(`const A${i} = ins[${i}];`);
  for (let i = 0; i < nIn; i++) if (hoisted[i]) L.push(`const v${i} = A${i}[offs[${i}]];`);
  for (let d = 0; d < rank; d++) {
    L.push(`const n${d} = shape[${d}], os${d} = outStrides[${d}];`);
    for (const i of streamed) L.push(`const s${i}_${d} = strides[${i}][${d}];`);
  }
  L.push(`let po = outOff;`);
  for (const i of streamed) L.push(`let p${i} = offs[${i}];`);
  if (usesIndex) L.push('let idx = 0;');
  const { stmts, value } = renderJs(expr, (i) => (hoisted[i] ? `v${i}` : `A${i}[q${i}_${rank}]`), 'idx', param);
  // loop nest: level d keeps cursors q*_d; the innermost body evaluates the expression
  const open = (d: number): string[] => {
    const src = d === 0 ? ['po', ...streamed.map((i) => `p${i}`)] : ['qo_' + d, ...streamed.map((i) => `q${i}_${d}`)];
    const next = ['qo_' + (d + 1), ...streamed.map((i) => `q${i}_${d + 1}`)];
    const inner = [
      `let ${next.map((n, k) => `${n} = ${src[k]}`).join(', ')};`,
      `for (let i${d} = 0; i${d} < n${d}; i${d}++) {`,
      ...(d === rank - 1
        ? [...stmts, `out[qo_${rank}] = ${value};`, ...(usesIndex ? ['idx++;'] : [])]
        : open(d + 1)),
      `qo_${d + 1} += os${d};`,
      ...streamed.map((i) => `q${i}_${d + 1} += s${i}_${d};`),
      '}',
    ];
    return inner;
  };
  if (rank === 0) {
    const { stmts: s0, value: v0 } = renderJs(expr, (i) => (hoisted[i] ? `v${i}` : `A${i}[p${i}]`), 'idx', param);
    L.push(...s0, `out[po] = ${v0};`);
  } else {
    L.push(...open(0));
  }
  const body = L.join('\n');
  return new Function('out', 'outOff', 'outStrides', 'ins', 'offs', 'strides', 'shape', 'H', 'params', body) as Kernel;
}

/**
 * out[view] = expr(inputs) elementwise over `shape`; `jsExpr` (default `expr`) is what a
 * JavaScript kernel renders where the WebAssembly one declines (`expr` with every float32
 * operation rounded, for an expression those would round step by step: see round-steps.ts).
 */
export function runElementwise(expr: Expr, shape: readonly number[], out: StridedArray, inputs: readonly StridedArray[], jsExpr: Expr = expr): void {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n === 0) return;
  const { shape: cs, strides } = collapseDims(shape, [out.strides, ...inputs.map((x) => x.strides)]);
  const hoisted = inputs.map((_, i) => strides[i + 1]!.every((s) => s === 0));
  // NOTE: a fill is never compiled: its value is part of the expression, so a kernel per value
  // would be built and cached — one per call for the 0-d tensors every JS number operand becomes
  // (`x.mul(lr)` with a changing lr, a learning-rate schedule's refill)
  if (cs.length === 0 || (cs.length === 1 && strides[0]![0] === 1)) {
    // a plain copy or fill of one run: memmove / fill
    if (expr.k === 'const') {
      out.data.fill(expr.dtype === 'bool' ? (expr.v ? 1 : 0) : expr.v, out.offset, out.offset + n);
      return;
    }
    if (expr.k === 'in') {
      const x = inputs[expr.i]!;
      const s = strides[expr.i + 1]![0];
      // (between two arena arrays the WebAssembly path below copies faster: `set` on shared
      // memory copies with relaxed atomics, 25 µs per 800 KB against 10 for plain arrays)
      if (x.data.constructor === out.data.constructor && (s === 0 || (s === 1 && (arenaBlock(x.data) < 0 || arenaBlock(out.data) < 0)))) {
        if (s === 1) out.data.set(x.data.subarray(x.offset, x.offset + n) as never, out.offset);
        else out.data.fill(x.data[x.offset]!, out.offset, out.offset + n);
        return;
      }
    }
  }
  const ek = wasmKernelKey(expr);
  // float32 / bool operands and output, WASM_ELEMENTWISE_MIN (1024) elements or more, unit-stride
  // rows (of at least WASM_ELEMENTWISE_ROW_MIN when there are several) with per-row scalars allowed: WebAssembly SIMD
  // (./wasm/elementwise.ts; wasmElementwiseShaped says which loops qualify).
  // NOTE: there each op rounds to float32, while this JS kernel rounds a fused expression once.
  if (runWasmElementwise(expr, ek, cs, strides, out, inputs, hoisted)) return;
  const params = parametrize(jsExpr);
  const key = `${params.key}|${cs.length}|${hoisted.map((h) => (h ? 1 : 0)).join('')}`;
  let k = cache.get(key);
  if (!k) {
    k = build(jsExpr, inputs.length, cs.length, hoisted, params);
    cache.set(key, k);
  }
  k(out.data, out.offset, strides[0]!, inputs.map((x) => x.data), inputs.map((x) => x.offset), strides.slice(1), cs, H, params.values);
}

/** Number of distinct compiled elementwise kernels (for tests and stats). */
export function elementwiseKernelCount(): number {
  return cache.size;
}
