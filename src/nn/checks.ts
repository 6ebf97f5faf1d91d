/** @file Small argument checks shared by the layers. */
import { ValueError } from '../errors.ts';

/** A pair of sizes given as one number or two. */
export type Pair = number | readonly [number, number];

/** Checks an integer size ≥ `min`; returns it. */
export function checkSize(layer: string, name: string, v: number, min = 1): number {
  if (!Number.isInteger(v) || v < min) throw new ValueError(`${layer}: ${name} must be an integer ≥ ${min}, got ${v}`);
  return v;
}

/** Normalises a size pair, checking each entry is an integer ≥ `min`. */
export function checkPair(layer: string, name: string, v: Pair, min = 1): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (!Array.isArray(v) && typeof v !== 'number') throw new ValueError(`${layer}: ${name} must be a number or a pair of numbers`);
  if (Array.isArray(v) && v.length !== 2) throw new ValueError(`${layer}: ${name} must be a number or a pair of numbers, got ${v.length} numbers`);
  for (const x of p) if (!Number.isInteger(x) || x < min) throw new ValueError(`${layer}: ${name} must be integers ≥ ${min}, got ${JSON.stringify(v)}`);
  return p;
}

/** Prints a size as given: `2` or `[2, 3]`. */
export function fmtPair(v: Pair): string {
  return typeof v === 'number' ? String(v) : `[${v[0]}, ${v[1]}]`;
}

/** Checks a probability in [0, 1]. */
export function checkProb(layer: string, p: number): number {
  // (a number: '0.5' compared as one and failed only at the first call, naming an inner op)
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new ValueError(`${layer}: probability p must be a number in [0, 1], got ${typeof p === 'number' ? p : `${typeof p} ${JSON.stringify(p)}`}`);
  return p;
}

/** Checks a finite number (a slope, an eps); returns it. */
export function checkNumber(layer: string, name: string, v: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ValueError(`${layer}: ${name} must be a finite number, got ${typeof v === 'number' ? v : `${typeof v} ${JSON.stringify(v)}`}`);
  return v;
}

/** Checks a dim argument of a layer (an integer; its range is checked against the input). */
export function checkDim(layer: string, name: string, v: number): number {
  if (!Number.isInteger(v)) throw new ValueError(`${layer}: ${name} must be an integer, got ${typeof v === 'number' ? v : `${typeof v} ${JSON.stringify(v)}`}`);
  return v;
}
