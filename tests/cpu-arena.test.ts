/**
 * @file Tensor memory in the CPU kernels' linear memory (src/cpu/arena.ts): the allocator (reuse by
 * size, lowering the top, splitting when full, reference counts, the cap), the CPU backend's use
 * of it (op outputs, release, a second owner, readback), and kernels run in place on it, which
 * must give the bits the copy path gives (the same kernel) for every shape the in-place path
 * takes or declines: 1-D with a partial last step, split across threads, rows, operands mixed
 * with plain arrays.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { fromTypedArray, nn, tensor, type Tensor } from '../src/index.ts';
import type { TypedArray } from '../src/dtype.ts';
import { jit } from '../src/jit/index.ts';
import {
  ARENA_BASE, arenaAddress, arenaArray, arenaBlock, arenaEnabled, arenaRelease, arenaRetain, arenaStats, scratchFits, setArena,
} from '../src/cpu/arena.ts';
import { cpuBackend, trimCpuPool, type CpuStorage } from '../src/cpu/backend.ts';
import { runElementwise, type StridedArray } from '../src/cpu/elementwise.ts';
import { wasmElementwiseStats, wasmElementwiseSupported } from '../src/cpu/wasm/elementwise.ts';
import { getNumThreads, kernelMemoryShared } from '../src/cpu/threads.ts';
import { E, type Expr } from '../src/ops/expr.ts';
import { unfoldWasm } from '../src/cpu/wasm/unfold.ts';
import { wasmGemmInPlaceOperands } from '../src/cpu/wasm/gemm.ts';
import { copyRowsInMemory } from '../src/cpu/wasm/copy.ts';
import { runReduce } from '../src/cpu/reduce.ts';
import { runGather, runScatterAdd } from '../src/cpu/indexing.ts';
import { IndexError } from '../src/errors.ts';
import { rng } from './helpers/rng.ts';

// the arena needs a shared kernel memory (Node with worker threads); elsewhere it is off
const here = kernelMemoryShared() && wasmElementwiseSupported();
const CAP = 128 * 2 ** 20; // the default

afterEach(() => {
  setArena(true, CAP);
});

const dataOf = (t: Tensor) => (t._storage as CpuStorage).data;
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer instanceof ArrayBuffer ? a.buffer : a.slice().buffer, a.buffer instanceof ArrayBuffer ? a.byteOffset : 0, a.length));

describe.runIf(here)('cpu arena: allocator', () => {
  it('is on with a shared kernel memory, and hands out aligned, disjoint views above ARENA_BASE', () => {
    expect(arenaEnabled()).toBe(true);
    const a = arenaArray('float32', 1000)!, b = arenaArray('int32', 17)!, c = arenaArray('bool', 5)!;
    for (const x of [a, b, c]) {
      expect(arenaAddress(x)).toBeGreaterThanOrEqual(ARENA_BASE);
      expect(arenaAddress(x) % 64).toBe(0);
    }
    expect(b).toBeInstanceOf(Int32Array);
    expect(c).toBeInstanceOf(Uint8Array);
    const spans = [a, b, c].map((x) => [arenaAddress(x), arenaAddress(x) + x.byteLength]).sort((p, q) => p[0]! - q[0]!);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]!);
    a.fill(7);
    b.fill(-3);
    expect(a[999]).toBe(7); // writing b did not touch a
    expect(arenaAddress(new Float32Array(4))).toBe(-1);
    expect(arenaArray('float64', 10)).toBeNull();
    for (const x of [a, b, c]) arenaRelease(arenaBlock(x));
  });

  it('reuses a released block of the same size, and lowers the top when the top block is released', () => {
    const a = arenaArray('float32', 4096)!;
    const at = arenaAddress(a);
    arenaRelease(arenaBlock(a));
    const s0 = arenaStats();
    const b = arenaArray('float32', 4096)!;
    expect(arenaAddress(b)).toBe(at);
    const top = arenaStats().topBytes;
    arenaRelease(arenaBlock(b));
    const after = arenaStats();
    expect(after.topBytes).toBeLessThanOrEqual(top - 4096 * 4);
    expect(after.reused + after.allocated).toBeGreaterThan(s0.reused + s0.allocated);
  });

  it('keeps a block until its last owner releases it', () => {
    const a = arenaArray('float32', 2048)!;
    const block = arenaBlock(a);
    arenaRetain(block);
    arenaRelease(block);
    const live = arenaStats().liveBytes;
    const b = arenaArray('float32', 2048)!;
    expect(arenaAddress(b)).not.toBe(arenaAddress(a)); // still owned once: not reused
    arenaRelease(block);
    expect(arenaStats().liveBytes).toBe(live); // a gone, b added
    arenaRelease(arenaBlock(b));
  });

  it('refuses past its cap (callers fall back to plain arrays), then splits a larger free block', () => {
    trimCpuPool();
    const base = arenaStats().topBytes;
    setArena(true, (base + 3 * 65536) / 0.75); // 192 KiB more for ordinary arrays
    const big = arenaArray('float32', 2 * 16384)!; // 128 KiB
    const mid = arenaArray('float32', 16384)!; // 64 KiB: the arena is now full
    expect(big).not.toBeNull();
    expect(mid).not.toBeNull();
    expect(arenaArray('float32', 16384)).toBeNull();
    const refused = arenaStats().refused;
    expect(refused).toBeGreaterThan(0);
    // free the big block (not at the top: mid is above it); a smaller request splits it
    arenaRelease(arenaBlock(big));
    const small = arenaArray('float32', 1000)!;
    expect(arenaAddress(small)).toBe(arenaAddress(big));
    expect(arenaStats().split).toBeGreaterThan(0);
    for (const x of [mid, small]) arenaRelease(arenaBlock(x));
    // every byte came back: the top is where it started
    expect(arenaStats().topBytes).toBe(base);
  });

  it('merges a released block with free neighbours, so a full arena still serves an array as large as them together', () => {
    trimCpuPool();
    const base = arenaStats().topBytes;
    setArena(true, (base + 4 * 65536) / 0.75); // 256 KiB more for ordinary arrays
    const [a, b, c, d] = [0, 1, 2, 3].map(() => arenaArray('float32', 16384)!) as [TypedArray, TypedArray, TypedArray, TypedArray]; // 4 × 64 KiB: full
    expect(arenaArray('float32', 16384)).toBeNull();
    // release b, then a and c around it (d stays above, so the top cannot come down)
    for (const x of [b, a, c]) arenaRelease(arenaBlock(x));
    expect(arenaStats().freeBytes).toBe(3 * 65536);
    const whole = arenaArray('float32', 3 * 16384); // 192 KiB: only the three merged fit
    expect(whole).not.toBeNull();
    expect(arenaAddress(whole!)).toBe(arenaAddress(a));
    expect(arenaStats().freeBytes).toBe(0);
    for (const x of [whole!, d]) arenaRelease(arenaBlock(x));
    expect(arenaStats().topBytes).toBe(base);
    expect(arenaStats().freeBytes).toBe(0);
  });

  it('keeps a quarter of its cap for long-lived arrays (a compiled function\'s temporaries)', () => {
    trimCpuPool();
    const base = arenaStats().topBytes;
    // ordinary arrays may fill the cap up to three quarters: exactly 192 KiB more here
    setArena(true, (base + 3 * 65536) / 0.75);
    const a = arenaArray('float32', 3 * 16384)!;
    expect(a).not.toBeNull();
    expect(arenaArray('float32', 16384)).toBeNull();
    const kept = arenaArray('float32', 16384, true);
    expect(kept).not.toBeNull();
    for (const x of [a, kept!]) arenaRelease(arenaBlock(x));
    expect(arenaStats().topBytes).toBe(base);
  });

  it('keeps kernels\' scratch below the arena', () => {
    expect(scratchFits(ARENA_BASE)).toBe(true);
    expect(scratchFits(ARENA_BASE + 1)).toBe(false);
  });
});

describe.runIf(here)('cpu arena: storages', () => {
  it('op outputs live in the arena; release returns the array for reuse; readback is a plain copy', () => {
    trimCpuPool();
    const x = fromTypedArray(Float32Array.from({ length: 5000 }, (_, i) => i), [5000], 'float32');
    expect(arenaAddress(dataOf(x))).toBe(-1); // a user's array is adopted as it is
    const y = x.mul(2);
    const arr = dataOf(y);
    expect(arenaAddress(arr)).toBeGreaterThanOrEqual(ARENA_BASE);
    const back = y.dataSync() as Float32Array;
    expect(back.buffer).toBeInstanceOf(ArrayBuffer);
    expect(back[4999]).toBe(9998);
    y.dispose();
    const z = x.add(1);
    expect(dataOf(z)).toBe(arr); // the pool handed the same arena array out again
    expect(z.dataSync()[10]).toBe(11);
  });

  it('an arena array adopted by a second storage survives the first one\'s release', () => {
    const y = fromTypedArray(new Float32Array(3000).fill(1), [3000], 'float32').mul(3);
    const arr = dataOf(y);
    const second = cpuBackend.fromArray(arr, 'float32') as CpuStorage;
    y.dispose();
    // reuse pressure: same-size outputs must not land on the shared array
    const others = Array.from({ length: 4 }, () => fromTypedArray(new Float32Array(3000), [3000], 'float32').add(5));
    for (const o of others) expect(dataOf(o)).not.toBe(arr);
    expect(second.data[2999]).toBe(3);
    cpuBackend.release(second);
  });

  it('a large readback is a plain array of its own, every element written', () => {
    const n = 300_001;
    const x = fromTypedArray(Float32Array.from({ length: n }, (_, i) => i % 1000), [n], 'float32');
    const y = x.add(1);
    expect(arenaAddress(dataOf(y))).toBeGreaterThanOrEqual(ARENA_BASE);
    const back = y.dataSync() as Float32Array;
    expect(back).toBeInstanceOf(Float32Array);
    expect(back.buffer).toBeInstanceOf(ArrayBuffer);
    expect(back.byteOffset).toBe(0);
    expect(back.buffer.byteLength).toBe(4 * n);
    let bad = 0;
    for (let i = 0; i < n; i++) if (back[i] !== (i % 1000) + 1) bad++;
    expect(bad).toBe(0);
  });

  it('an in-place op trades arrays with its temporary result: views see it, no copy is made', () => {
    trimCpuPool();
    const x = fromTypedArray(new Float32Array(5000).fill(1), [5000], 'float32').mul(1); // an array of ours
    const v = x.narrow(0, 10, 5);
    const before = dataOf(x);
    x.add_(2);
    expect(dataOf(x)).not.toBe(before); // the temporary's array, not a copy into the old one
    expect(v.toArraySync()).toEqual([3, 3, 3, 3, 3]);
    expect(x.dataSync()[4999]).toBe(3);
    const y = x.mul(1); // the old array went back to the pool
    expect(dataOf(y)).toBe(before);
  });

  it('an array adopted from the program keeps receiving in-place writes (as torch.from_numpy)', () => {
    const mine = new Float32Array(5000).fill(1);
    const x = fromTypedArray(mine, [5000], 'float32');
    x.mul_(4);
    expect(dataOf(x)).toBe(mine);
    expect(mine[123]).toBe(4);
  });

  it('tensor(typedArray) copies into the arena (fromTypedArray adopts the array as it is)', () => {
    const src = Float32Array.from({ length: 5000 }, (_, i) => i * 0.5);
    const t = tensor(src, { shape: [50, 100] });
    expect(arenaAddress(dataOf(t))).toBeGreaterThanOrEqual(ARENA_BASE);
    src[7] = -1; // a copy: the tensor does not see later writes to the source
    expect(t.shape).toEqual([50, 100]);
    expect(t.dataSync()[7]).toBe(3.5);
    expect(t.dataSync()[4999]).toBe(2499.5);
    // converted to the dtype asked for
    const i = tensor(Float32Array.from([1.7, -2.2, 3]), { dtype: 'int32' });
    expect(i.dtype).toBe('int32');
    expect(Array.from(i.dataSync())).toEqual([1, -2, 3]);
    expect(() => tensor(src, { shape: [7, 7] })).toThrow(/5000 values do not fill shape \[7, 7\]/);
    expect(arenaAddress(dataOf(fromTypedArray(src, [5000], 'float32')))).toBe(-1);
  });

  it('a compiled function keeps its outputs in the arena while an eager loop fills it with garbage', () => {
    trimCpuPool();
    const base = arenaStats().topBytes;
    // room for 16 ordinary blocks of 64 KiB (three quarters of the cap), and the reserve
    setArena(true, (base + 16 * 65536) / 0.75);
    const x = fromTypedArray(Float32Array.from({ length: 16384 }, (_, i) => (i % 7) - 3), [16384], 'float32');
    const f = jit((t: Tensor) => t.neg().exp().add(1).reciprocal());
    const garbage: Tensor[] = [];
    let inArena = 0;
    for (let i = 0; i < 12; i++) {
      // eager: three intermediates the program drops (kept here, as if the collector had not run)
      const e = x.neg();
      const g = e.exp().add(1);
      garbage.push(e, g, g.neg());
      // an eager result disposed at once: its array returns to the pool eager ops take from
      x.mul(2).dispose();
      const y = f(x);
      if (arenaAddress(dataOf(y)) >= ARENA_BASE) inArena++;
      expect(y.dataSync()[3]).toBeCloseTo(1 / (1 + Math.exp(-0)), 6);
      y.dispose(); // back to the compiled function's own pool, which eager ops do not take from
    }
    expect(arenaStats().refused).toBeGreaterThan(0); // the eager garbage did fill the arena
    expect(inArena).toBe(12);
    for (const t of garbage) t.dispose();
  });

  it('with the arena off, outputs are plain arrays (once the pool holds no arena arrays)', () => {
    setArena(false);
    trimCpuPool();
    const y = fromTypedArray(new Float32Array(5000).fill(2), [5000], 'float32').sqrt();
    expect(arenaAddress(dataOf(y))).toBe(-1);
  });
});

/** Float32 operands as arena arrays (or plain ones), filled from a seeded generator. */
function operand(n: number, seed: number, inArena: boolean): Float32Array {
  const a = inArena ? (arenaArray('float32', n) as Float32Array) : new Float32Array(n);
  const r = rng(seed);
  for (let i = 0; i < n; i++) a[i] = r.uniform(-3, 3);
  return a;
}

/**
 * Runs `expr` over `shape` with the given operand layouts twice, once with every array plain (the
 * copy path) and once with the arrays chosen by `arena`, and compares the bits.
 */
function compare(expr: Expr, shape: number[], operands: { strides: number[]; len: number }[], arena: boolean[], outArena: boolean) {
  const n = shape.reduce((a, b) => a * b, 1);
  const outStrides = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
  const run = (useArena: boolean[], useOut: boolean): Float32Array => {
    const ins: StridedArray[] = operands.map((o, i) => ({ data: operand(o.len, 100 + i, useArena[i]!), offset: 0, strides: o.strides }));
    const out: StridedArray = { data: useOut ? (arenaArray('float32', n) as Float32Array) : new Float32Array(n), offset: 0, strides: outStrides };
    (out.data as Float32Array).fill(NaN);
    runElementwise(expr, shape, out, ins);
    const copy = (out.data as Float32Array).slice();
    for (const x of [...ins, out]) if (arenaBlock(x.data) >= 0) arenaRelease(arenaBlock(x.data));
    return copy;
  };
  const plain = run(operands.map(() => false), false);
  const before = wasmElementwiseStats();
  const mixed = run(arena, outArena);
  const after = wasmElementwiseStats();
  expect(bits(mixed)).toEqual(bits(plain));
  return { inPlace: after.inPlace - before.inPlace, threaded: after.threaded - before.threaded };
}

const x0 = E.input(0, 'float32'), x1 = E.input(1, 'float32'), x2 = E.input(2, 'float32');
const fused = E.bin('add', x0, E.bin('mul', E.const(0.25, 'float32'), E.bin('div', x1, E.bin('add', E.un('abs', x2), E.const(1, 'float32')))));
const heavy = E.un('exp', E.bin('mul', x0, E.const(0.5, 'float32')));

describe.runIf(here)('cpu arena: kernels in place', () => {
  it('1-D runs in place, the partial last step included, with the same bits', () => {
    for (const n of [1024, 1027, 4099, 20000]) {
      const ops = [0, 1, 2].map(() => ({ strides: [1], len: n }));
      const r = compare(fused, [n], ops, [true, true, true], true);
      expect(r.inPlace).toBe(1);
    }
  });

  it('writes nothing past the result when it ends inside a step (a result at an offset of its array)', () => {
    for (const n of [1027, 4099]) {
      const big = arenaArray('float32', n + 40) as Float32Array;
      big.fill(123);
      const ins = [0, 1, 2].map((i) => ({ data: operand(n, 7 + i, true), offset: 0, strides: [1] }));
      const before = wasmElementwiseStats().inPlace;
      runElementwise(fused, [n], { data: big, offset: 5, strides: [1] }, ins);
      expect(wasmElementwiseStats().inPlace).toBe(before + 1);
      expect(Array.from(big.subarray(0, 5))).toEqual([123, 123, 123, 123, 123]);
      expect(Array.from(big.subarray(5 + n))).toEqual(new Array(35).fill(123));
      for (const x of [...ins.map((i) => i.data), big]) arenaRelease(arenaBlock(x));
    }
  });

  it('large 1-D loops split across threads in place, cheap and heavy', () => {
    const n = 600_003;
    expect(compare(heavy, [n], [{ strides: [1], len: n }], [true], true).inPlace).toBe(1);
    const r = compare(fused, [n], [0, 1, 2].map(() => ({ strides: [1], len: n })), [true, true, true], true);
    expect(r.inPlace).toBe(1);
    if (getNumThreads() > 1) expect(r.threaded).toBe(1);
  });

  it('rows run in place, a bias broadcast over rows included', () => {
    const r = compare(fused, [64, 136], [{ strides: [136, 1], len: 64 * 136 }, { strides: [0, 1], len: 136 }, { strides: [136, 1], len: 64 * 136 }], [true, true, true], true);
    expect(r.inPlace).toBe(1);
    // a row that is not a whole number of steps, or a per-row scalar: the copy path
    expect(compare(fused, [64, 100], [{ strides: [100, 1], len: 6400 }, { strides: [0, 1], len: 100 }, { strides: [100, 1], len: 6400 }], [true, true, true], true).inPlace).toBe(0);
    expect(compare(fused, [64, 136], [{ strides: [136, 1], len: 64 * 136 }, { strides: [1, 0], len: 64 }, { strides: [136, 1], len: 64 * 136 }], [true, true, true], true).inPlace).toBe(0);
  });

  it('operands mixed with plain arrays read in place where they can, with the same bits', () => {
    for (const n of [5000, 40003]) {
      const ops = [0, 1, 2].map(() => ({ strides: [1], len: n }));
      expect(compare(fused, [n], ops, [true, false, true], true).inPlace).toBe(0);
      compare(fused, [n], ops, [false, true, false], false);
      compare(fused, [n], ops, [false, false, false], true);
      compare(fused, [n], ops, [true, true, true], false);
    }
    // heavy loops split across threads in rounds: the result written in place, the operand copied, and the other way round
    for (const n of [600_000, 600_003]) {
      const r = compare(heavy, [n], [{ strides: [1], len: n }], [false], true);
      if (getNumThreads() > 1) expect(r.threaded).toBe(1);
      compare(heavy, [n], [{ strides: [1], len: n }], [true], false);
    }
  });
});

describe.runIf(here)('cpu arena: convolution kernels in place', () => {
  it('unfold writes nothing past its result, which ends exactly at its block', () => {
    // 2 images 1×8×8, 1×3 taps, padding 1 along x: 2·3·64 floats = 1,536 bytes, a multiple of the
    // block alignment; the last row is a run of 7 pixels and a pixel of padding (vector writes)
    const x = arenaArray('float32', 128) as Float32Array;
    for (let i = 0; i < 128; i++) x[i] = i + 1;
    const out = arenaArray('float32', 2 * 3 * 64) as Float32Array;
    const guard = arenaArray('float32', 37) as Float32Array;
    expect(arenaAddress(guard)).toBe(arenaAddress(out) + out.byteLength); // the next block
    guard.fill(-5);
    expect(unfoldWasm(x, 0, 64, 64, 8, 1, 2, 1, 8, 8, 1, 3, 1, 1, 0, 1, 1, 1, 0, out)).toBe(true);
    expect(Array.from(guard)).toEqual(new Array(37).fill(-5));
    // the centre tap's columns are the images themselves
    expect(Array.from(out.subarray(64, 128))).toEqual(Array.from(x.subarray(0, 64)));
    expect(Array.from(out.subarray(3 * 64 + 64, 3 * 64 + 128))).toEqual(Array.from(x.subarray(64, 128)));
    for (const a of [x, out, guard]) arenaRelease(arenaBlock(a));
  });

  it('unfold (im2col) and fold give the same bits on arena arrays as through scratch', () => {
    const run = (on: boolean) => {
      const r = rng(5);
      setArena(on);
      trimCpuPool();
      const t = (shape: number[]) => fromTypedArray(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r.uniform(-1, 1)), shape, 'float32').mul(1);
      const x = t([5, 3, 13, 11]).requiresGrad_(), w = t([4, 3, 3, 5]).requiresGrad_();
      const y = nn.functional.conv2d(x, w, null, { padding: [1, 2] });
      if (on) expect(arenaAddress(dataOf(y))).toBeGreaterThanOrEqual(ARENA_BASE);
      y.mul(y).sum().backward();
      return [y, x.grad!, w.grad!].map((z) => bits(z.dataSync() as Float32Array));
    };
    const arena = run(true);
    const plain = run(false); // the same inputs, every array plain
    expect(arena).toEqual(plain);
  });
});

describe.runIf(here)('cpu arena: copies inside the kernels\' memory', () => {
  it('copyRowsInMemory moves rows between pitches with memory.copy, and no row when there are none', () => {
    const src = arenaArray('float32', 40) as Float32Array, dst = arenaArray('float32', 40) as Float32Array;
    src.forEach((_, i) => { src[i] = i; });
    dst.fill(-1);
    // 3 rows of 5 floats, source pitch 8, destination pitch 6
    expect(copyRowsInMemory(arenaAddress(dst), 24, arenaAddress(src), 32, 20, 3)).toBe(true);
    expect(Array.from(dst.subarray(0, 18))).toEqual([0, 1, 2, 3, 4, -1, 8, 9, 10, 11, 12, -1, 16, 17, 18, 19, 20, -1]);
    expect(dst[18]).toBe(-1);
    expect(copyRowsInMemory(arenaAddress(dst), 24, arenaAddress(src), 32, 20, 0)).toBe(true);
    expect(dst[0]).toBe(0);
    for (const x of [src, dst]) arenaRelease(arenaBlock(x));
  });
});

describe.runIf(here)('cpu arena: matrix products read operands in place', () => {
  const cases: [string, number[], number[], (a: Tensor, b: Tensor) => Tensor][] = [
    ['rows', [37, 50], [50, 29], (a, b) => a.matmul(b)],
    ['A transposed', [50, 37], [50, 29], (a, b) => a.t().matmul(b)],
    ['B transposed', [37, 50], [29, 50], (a, b) => a.matmul(b.t())],
    ['batched', [6, 13, 40], [6, 40, 17], (a, b) => a.matmul(b)],
    ['A broadcast over the batch', [13, 40], [6, 40, 17], (a, b) => a.matmul(b)],
    ['B broadcast over the batch', [6, 13, 40], [40, 17], (a, b) => a.matmul(b)],
    ['large enough for threads', [128, 784], [128, 784], (a, b) => a.matmul(b.t())],
    ['batched, large', [64, 6, 25], [64, 25, 784], (a, b) => a.matmul(b)],
  ];
  for (const [name, as, bs, f] of cases) {
    it(`${name}: ${JSON.stringify(as)} · ${JSON.stringify(bs)} gives the same bits as from copies`, () => {
      const run = (on: boolean) => {
        setArena(on);
        const r = rng(11);
        const t = (shape: number[]) => fromTypedArray(Float32Array.from({ length: shape.reduce((p, q) => p * q, 1) }, () => r.uniform(-1, 1)), shape, 'float32').mul(1);
        const a = t(as), b = t(bs);
        const before = wasmGemmInPlaceOperands();
        const y = f(a, b);
        return { bits: bits(y.dataSync() as Float32Array), inPlace: wasmGemmInPlaceOperands() - before };
      };
      const arena = run(true);
      const plain = run(false);
      expect(arena.bits).toEqual(plain.bits);
      expect(plain.inPlace).toBe(0);
      expect(arena.inPlace).toBeGreaterThan(0);
    });
  }
});

describe.runIf(here)('cpu arena: max-pooling pairs (argmax and scatterAdd over a dim of two) in place', () => {
  // data with ties, NaNs, ±0 and infinities mixed in, so every rule of the pick is exercised
  const special = [NaN, -0, 0, Infinity, -Infinity, 1, 1];
  const fill = (a: Float32Array, seed: number) => {
    const r = rng(seed);
    for (let i = 0; i < a.length; i++) a[i] = r.next() < 0.15 ? special[r.int(0, special.length - 1)]! : Math.round(r.uniform(-4, 4) * 2) / 2;
  };
  const shapes: [number, number][] = [[150, 1], [7, 1], [33, 14], [21, 5], [9, 3], [4, 8]];
  for (const kind of ['argmax', 'argmin'] as const) {
    for (const [rows, inner] of shapes) {
      it(`${kind} over [${rows}, 2, ${inner}] with values: the JavaScript kernel's bits`, () => {
        const n = rows * 2 * inner;
        const x = arenaArray('float32', n + 3) as Float32Array;
        fill(x, rows * 31 + inner);
        const plainX = x.slice();
        const shape = [rows, 2, inner];
        const xs = { offset: 3, strides: [2 * inner, inner, 1] };
        const idx = arenaArray('int32', rows * inner) as Int32Array, vals = arenaArray('float32', rows * inner) as Float32Array;
        runReduce(kind, { data: x, ...xs }, shape, [1], idx, vals);
        const jIdx = new Int32Array(rows * inner), jVals = new Float32Array(rows * inner);
        runReduce(kind, { data: plainX, ...xs }, shape, [1], jIdx, jVals); // plain arrays: the JavaScript kernel
        expect(Array.from(idx)).toEqual(Array.from(jIdx));
        expect(bits(vals)).toEqual(bits(jVals));
        const idx2 = arenaArray('int32', rows * inner) as Int32Array;
        runReduce(kind, { data: x, ...xs }, shape, [1], idx2, null);
        expect(Array.from(idx2)).toEqual(Array.from(jIdx));
        for (const a of [x, idx, vals, idx2]) arenaRelease(arenaBlock(a));
      });
    }
  }
  for (const [rows, inner] of shapes) {
    it(`scatterAdd into [${rows}, 2, ${inner}]: the JavaScript kernel's bits; a bad index is an IndexError`, () => {
      const n = rows * inner;
      const out = arenaArray('float32', 2 * n) as Float32Array;
      fill(out, 5 + n);
      const plainOut = out.slice();
      const src = arenaArray('float32', n + 1) as Float32Array;
      fill(src, 9 + n);
      const idx = arenaArray('int32', n) as Int32Array;
      const r = rng(n);
      for (let i = 0; i < n; i++) idx[i] = r.int(0, 1);
      const shape = [rows, 2, inner], ishape = [rows, 1, inner];
      runScatterAdd(out, shape, { data: idx, offset: 0, strides: [inner, inner, 1] }, ishape, { data: src, offset: 1, strides: [inner, inner, 1] }, 1);
      runScatterAdd(plainOut, shape, { data: idx.slice(), offset: 0, strides: [inner, inner, 1] }, ishape, { data: src.slice(), offset: 1, strides: [inner, inner, 1] }, 1);
      expect(bits(out)).toEqual(bits(plainOut));
      idx[n - 1] = 2;
      expect(() => runScatterAdd(out, shape, { data: idx, offset: 0, strides: [inner, inner, 1] }, ishape, { data: src, offset: 1, strides: [inner, inner, 1] }, 1))
        .toThrow(IndexError);
      idx[n - 1] = 0;
      idx[0] = -1;
      expect(() => runScatterAdd(out, shape, { data: idx, offset: 0, strides: [inner, inner, 1] }, ishape, { data: src, offset: 1, strides: [inner, inner, 1] }, 1))
        .toThrow(/index -1 is out of range/);
      for (const a of [out, src, idx]) arenaRelease(arenaBlock(a));
    });
  }
  for (const [rows, inner] of shapes) {
    it(`gather from [${rows}, 2, ${inner}]: the JavaScript kernel's bits; a bad index is an IndexError`, () => {
      const n = rows * inner;
      const x = arenaArray('float32', 2 * n + 2) as Float32Array;
      fill(x, 7 + n);
      const idx = arenaArray('int32', n) as Int32Array;
      const r = rng(n + 1);
      for (let i = 0; i < n; i++) idx[i] = r.int(0, 1);
      const out = arenaArray('float32', n) as Float32Array, plain = new Float32Array(n);
      const shape = [rows, 2, inner], ishape = [rows, 1, inner];
      const xs = { offset: 2, strides: [2 * inner, inner, 1] }, is = { offset: 0, strides: [inner, inner, 1] };
      runGather({ data: x, ...xs }, shape, { data: idx, ...is }, ishape, 1, out);
      runGather({ data: x.slice(), ...xs }, shape, { data: idx.slice(), ...is }, ishape, 1, plain);
      expect(bits(out)).toEqual(bits(plain));
      idx[n >> 1] = 3;
      expect(() => runGather({ data: x, ...xs }, shape, { data: idx, ...is }, ishape, 1, out)).toThrow(/gather: index 3 is out of range/);
      for (const a of [x, idx, out]) arenaRelease(arenaBlock(a));
    });
  }
  it('max-pooling runs through them (LeNet-sized), forward and backward, with the same bits as plain arrays', () => {
    const run = (on: boolean) => {
      setArena(on);
      const r = rng(3);
      const x = fromTypedArray(Float32Array.from({ length: 8 * 6 * 28 * 28 }, () => r.uniform(-1, 1)), [8, 6, 28, 28], 'float32').mul(1).requiresGrad_();
      const y = nn.functional.maxPool2d(x, 2);
      y.mul(y).sum().backward();
      return [bits(y.dataSync() as Float32Array), bits(x.grad!.dataSync() as Float32Array)];
    };
    expect(run(true)).toEqual(run(false));
  });
});
