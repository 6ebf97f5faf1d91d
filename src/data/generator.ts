/**
 * @file A small seedable pseudo-random generator for host-side randomness (shuffling, splits),
 * in the spirit of `torch.Generator`. Pure JavaScript: no tensors, no Node built-ins.
 *
 * The stream is counter-based: output k is a 32-bit avalanche hash of (stream key, k), so a
 * generator's whole state is two integers (`getState`/`setState`) and two generators built from
 * the same seed produce the same numbers.
 */
import { nextSeed } from '../creation.ts';
import { ValueError } from '../errors.ts';

/** The 32-bit finaliser of MurmurHash3: every input bit flips each output bit with probability ≈ ½. */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Folds any safe integer (negative, or wider than 32 bits) into a 32-bit key. */
function keyOf(seed: number): number {
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 0x1_0000_0000) >>> 0;
  return fmix32(lo ^ fmix32(hi ^ 0x5bd1e995));
}

/** A generator's position in its stream, for checkpointing with `getState`/`setState`. */
export interface GeneratorState {
  seed: number;
  counter: number;
}

/**
 * Seedable random numbers on the host.
 * @example
 * const g = new Generator(42);
 * g.randperm(5); // the same permutation on every run
 */
export class Generator {
  private seed = 0;
  private key = 0;
  private counter = 0;

  /** Seeds from `seed`, or from tapegrad's global stream (so `manualSeed` makes it deterministic). */
  constructor(seed?: number) {
    this.manualSeed(seed ?? nextSeed());
  }

  /** Restarts the stream from `seed` (any safe integer). Returns this generator. */
  manualSeed(seed: number): this {
    if (!Number.isSafeInteger(seed)) {
      throw new ValueError(`Generator.manualSeed: seed must be a safe integer, got ${seed}`);
    }
    this.seed = seed;
    this.key = keyOf(seed);
    this.counter = 0;
    return this;
  }

  /** The seed this generator was last seeded with. */
  initialSeed(): number {
    return this.seed;
  }

  getState(): GeneratorState {
    return { seed: this.seed, counter: this.counter };
  }

  setState(state: GeneratorState): this {
    this.manualSeed(state.seed);
    if (!Number.isSafeInteger(state.counter) || state.counter < 0) {
      throw new ValueError(`Generator.setState: counter must be a non-negative integer, got ${state.counter}`);
    }
    this.counter = state.counter;
    return this;
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    this.counter++;
    // Weyl step on the key, then two avalanche rounds; the counter's high bits join in the second round
    const x = (this.key + Math.imul(this.counter, 0x9e3779b9)) >>> 0;
    return fmix32(fmix32(x) ^ Math.floor(this.counter / 0x1_0000_0000));
  }

  /** A uniform float in [0, 1) with 53 random bits. */
  random(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A uniform integer in [0, n), without modulo bias; n must be an integer in 1..2³². */
  randint(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 0x1_0000_0000) {
      throw new ValueError(`Generator.randint: n must be an integer in 1..2^32, got ${n}`);
    }
    // reject the top (2³² mod n) values so every residue is equally likely
    const limit = 0x1_0000_0000 - (0x1_0000_0000 % n);
    for (;;) {
      const r = this.nextUint32();
      if (r < limit) return r % n;
    }
  }

  /** A uniformly random permutation of 0..n−1 (Fisher–Yates). */
  randperm(n: number): Int32Array {
    if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) {
      throw new ValueError(`Generator.randperm: n must be a non-negative integer below 2^31, got ${n}`);
    }
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.randint(i + 1);
      const t = p[i]!;
      p[i] = p[j]!;
      p[j] = t;
    }
    return p;
  }
}
