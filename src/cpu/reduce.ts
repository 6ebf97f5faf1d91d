/** @file Reduction kernels: sum, max, min, prod, argmax, argmin over a set of dims. */
import type { TypedArray } from '../dtype.ts';
import type { ReduceKind } from '../ops/registry.ts';
import { collapseDims, type StridedArray } from './elementwise.ts';

/**
 * Reduces `x` (shape `shape`) over `dims` into the contiguous `out` (kept dims in order).
 * NaN propagates through max/min, and argmax/argmin pick the first NaN, as PyTorch does.
 */
export function runReduce(kind: ReduceKind, x: StridedArray, shape: readonly number[], dims: readonly number[], out: TypedArray): void {
  const keptIdx = shape.map((_, i) => i).filter((i) => !dims.includes(i));
  // kept dims (outer loop) and reduced dims (inner loop), each collapsed where contiguous
  const outer = collapseDims(keptIdx.map((i) => shape[i]!), [keptIdx.map((i) => x.strides[i]!)]);
  const inner = collapseDims(dims.map((i) => shape[i]!), [dims.map((i) => x.strides[i]!)]);
  const oShape = outer.shape, oStr = outer.strides[0]!;
  const iShape = inner.shape, iStr = inner.strides[0]!;
  const innerN = iShape.reduce((a, b) => a * b, 1);
  const outN = out.length;
  const data = x.data;
  const oPos = new Array<number>(oShape.length).fill(0);
  let base = x.offset;
  // the innermost reduced dim is looped directly; the rest by an odometer
  const lastLen = iShape.length ? iShape[iShape.length - 1]! : 1;
  const lastStr = iShape.length ? iStr[iStr.length - 1]! : 0;
  const upper = iShape.slice(0, -1), upperStr = iStr.slice(0, -1);
  const upperN = upper.reduce((a, b) => a * b, 1);
  const iPos = new Array<number>(upper.length).fill(0);
  for (let o = 0; o < outN; o++) {
    let acc = kind === 'sum' ? 0 : kind === 'prod' ? 1 : kind === 'min' || kind === 'argmin' ? Infinity : -Infinity;
    let best = 0, count = 0, sawNaN = false;
    if (innerN > 0) {
      iPos.fill(0);
      let p0 = base;
      for (let u = 0; u < upperN; u++) {
        let p = p0;
        switch (kind) {
          case 'sum': for (let j = 0; j < lastLen; j++, p += lastStr) acc += data[p]!; break;
          case 'prod': for (let j = 0; j < lastLen; j++, p += lastStr) acc *= data[p]!; break;
          case 'max': for (let j = 0; j < lastLen; j++, p += lastStr) { const v = data[p]!; if (v > acc || v !== v) acc = v !== v ? (sawNaN = true, NaN) : v; } break;
          case 'min': for (let j = 0; j < lastLen; j++, p += lastStr) { const v = data[p]!; if (v < acc || v !== v) acc = v !== v ? (sawNaN = true, NaN) : v; } break;
          case 'argmax':
            for (let j = 0; j < lastLen && !sawNaN; j++, p += lastStr) {
              const v = data[p]!;
              if (v !== v) { sawNaN = true; best = count + j; } else if (v > acc || count + j === 0) { acc = v; best = count + j; }
            }
            break;
          case 'argmin':
            for (let j = 0; j < lastLen && !sawNaN; j++, p += lastStr) {
              const v = data[p]!;
              if (v !== v) { sawNaN = true; best = count + j; } else if (v < acc || count + j === 0) { acc = v; best = count + j; }
            }
            break;
          default: kind satisfies never;
        }
        if (sawNaN && (kind === 'max' || kind === 'min')) acc = NaN;
        count += lastLen;
        // advance the odometer over the upper reduced dims
        for (let d = upper.length - 1; d >= 0; d--) {
          iPos[d]!++;
          p0 += upperStr[d]!;
          if (iPos[d]! < upper[d]!) break;
          p0 -= upperStr[d]! * upper[d]!;
          iPos[d] = 0;
        }
      }
    }
    out[o] = kind === 'argmax' || kind === 'argmin' ? best : acc;
    for (let d = oShape.length - 1; d >= 0; d--) {
      oPos[d]!++;
      base += oStr[d]!;
      if (oPos[d]! < oShape[d]!) break;
      base -= oStr[d]! * oShape[d]!;
      oPos[d] = 0;
    }
  }
}
