/**
 * @file The CPU backend: storages are typed arrays; kernels are rendered JS loops (elementwise)
 * and hand-written templates (reduce, matmul, im2col, gather, layout copies).
 */
import { raiseMallocThresholds } from './malloc-threshold.ts';
import { arenaArray, arenaBlock, arenaEnabled, arenaRelease, arenaRetain, releaseArenaArray } from './arena.ts';
import { registerBackend, type Aval, type Backend, type BufView, type MemoryInfo, type Storage } from '../backend.ts';
import { arrayFor, arrayForOverwrite, bytesPerElement, type DType, type TypedArray } from '../dtype.ts';
import { internal } from '../errors.ts';
import { E, type Expr } from '../ops/expr.ts';
import type { AxisAttrs, OpDef } from '../ops/registry.ts';
import { contiguousStrides, hasContiguousStrides, numel } from '../shape.ts';
import { runElementwise, type StridedArray } from './elementwise.ts';
import { roundAll } from './round-steps.ts';
import { ArenaReclaimer, type Charge } from './reclaim.ts';
import { WeakOwners, type Owned } from '../weak-owners.ts';
import { runReduce } from './reduce.ts';
import { runGather, runScatterAdd } from './indexing.ts';
import { runFold, runUnfold } from './conv.ts';
import { matmulInto, type NumArray } from './matmul.ts';
import { batchOffsets } from './batch-offsets.ts';
import { inScope } from '../scope.ts';

export class CpuStorage implements Storage {
  readonly device = 'cpu' as const;
  version = 0;
  disposed = false;
  /** @internal what the collector's callback and the reclaimer know of it */
  watched: Owned<Charge> | null = null;
  constructor(public data: TypedArray, readonly dtype: DType) {}
  get size(): number { return this.data.length; }
}

const empties = new Map<DType, TypedArray>();
function emptyArray(dtype: DType): TypedArray {
  let e = empties.get(dtype);
  if (!e) empties.set(dtype, (e = arrayFor(dtype, 0)));
  return e;
}

function arr(v: BufView): StridedArray {
  const s = v.storage as CpuStorage;
  if (s.disposed) internal('read of a released CPU storage');
  return { data: s.data, offset: v.offset, strides: v.strides };
}

// ---------------------------------------------------------------- output array pool
//
// Every op output used to be a fresh typed array. A fresh array costs page faults and zeroing on
// first touch: filling a fresh 3.8 MB Float32Array took 1.41 ms, a reused one 0.06 ms. So arrays
// of storages released by dispose() or scope() go into a pool (by dtype and length) that later
// outputs of the same size take from. Measured (one process, pool off/on alternating, steps in
// scope()): LeNet eager step 32.4 → 22.9 ms, MLP 3.7 → 2.2 ms; examples/mnist.ts trains in
// 8.6–10.2 s instead of 10.5–12.2 s. Only arrays this backend allocated for op outputs are
// recycled: `recyclable` holds them, and an array adopted by `fromArray` (a user's array, or one
// the jit executor wraps as a second storage) leaves it for good, so an array that two storages
// share is never pooled. Releasing a storage swaps its `data` for an empty array, so no tensor
// can reach a pooled array.

/** Arrays this backend allocated for op outputs, the only ones it may recycle. */
const recyclable = new WeakSet<TypedArray>();
/**
 * Arrays a compiled function took (its temporaries and outputs, which may use the arena's
 * reserve): they go back to `reservedPool`, where eager ops cannot take them. An eager loop that
 * leaves garbage takes whatever the shared pool holds and drops it to the collector (W4 paired
 * with the eager formula: the compiled logistic's output went to the eager `neg` of the next
 * call, and after six calls the compiled function wrote plain arrays, through scratch).
 */
const reservedArrays = new WeakSet<TypedArray>();
/** Free arrays by `dtype:length`. */
const pool = new Map<string, TypedArray[]>();
const reservedPool = new Map<string, TypedArray[]>();
let bytesPooled = 0;
/** Pool cap, as the GPU backend's (changeable for tests through `setCpuPooling`). */
let poolMaxBytes = 256 * 2 ** 20;
/** Smaller arrays are not pooled: fresh ones are cheap, and the lookup would cost more. */
const POOL_MIN_BYTES = 4096;
let pooling = true;

/**
 * An output array of `n` elements, from the pool when one of that size is free. Kernels that
 * write every element pass `zero = false`; those that accumulate into the output (fold) or leave
 * parts of it untouched (pad with value 0) pass true. `compiled`: for a compiled function, from
 * its own pool and the arena's reserve.
 */
function acquire(dtype: DType, n: number, zero: boolean, compiled = false): TypedArray {
  const bytes = n * bytesPerElement(dtype);
  if (bytes < POOL_MIN_BYTES) return arrayFor(dtype, n);
  const key = `${dtype}:${n}`;
  let a = (compiled ? reservedPool.get(key)?.pop() : undefined) ?? pool.get(key)?.pop();
  // a plain array pooled while the arena was full is traded for arena memory once there is
  // room again: otherwise it would circulate for good (W4's output after the training suites)
  if (a && arenaBlock(a) < 0 && arenaEnabled()) {
    const inArena = arenaArray(dtype, n, compiled, true);
    if (inArena) {
      bytesPooled -= bytes;
      a = inArena;
      if (zero) a.fill(0);
      recyclable.add(a);
      if (compiled) reservedArrays.add(a);
      return a;
    }
  }
  if (a) {
    bytesPooled -= bytes;
    if (zero) a.fill(0);
    if (compiled) reservedArrays.add(a);
    return a;
  }
  // in the kernels' memory when there is room (WebAssembly kernels then run on it in place)
  const inArena = arenaArray(dtype, n, compiled);
  const fresh = inArena ?? arrayFor(dtype, n);
  if (inArena && zero) fresh.fill(0);
  recyclable.add(fresh);
  if (compiled) reservedArrays.add(fresh);
  return fresh;
}

/**
 * Returns a released storage's array to the pool, if it is one of ours and the cap allows; an
 * arena array that is not pooled gives up its owner's hold on its block.
 */
function recycle(a: TypedArray, dtype: DType): void {
  const bytes = a.byteLength;
  if (!pooling || !recyclable.has(a) || bytesPooled + bytes > poolMaxBytes) {
    releaseArenaArray(a);
    return;
  }
  const key = `${dtype}:${a.length}`;
  const into = reservedArrays.has(a) ? reservedPool : pool;
  let list = into.get(key);
  if (!list) into.set(key, (list = []));
  list.push(a);
  bytesPooled += bytes;
}

/**
 * @internal An array for a compiled function's output (src/jit/exec/cpu.ts), from the pool like an
 * op's output: stale contents (the executor's kernels write every element or clear first).
 * Wrap it with `adoptOutput`, once.
 */
export function acquireOutputArray(dtype: DType, n: number): TypedArray {
  return acquire(dtype, n, false, true);
}

/**
 * @internal The storage of an array from `acquireOutputArray` (one storage per array): it stays
 * recyclable, so disposing the tensor returns it to the pool as an op's output would.
 */
export function adoptOutput(data: TypedArray, dtype: DType): Storage {
  return track(new CpuStorage(data, dtype));
}

/** Drops every pooled array (garbage-collected as usual; arena blocks return to the arena). */
export function trimCpuPool(): void {
  for (const p of [pool, reservedPool]) {
    for (const list of p.values()) for (const a of list) releaseArenaArray(a);
    p.clear();
  }
  bytesPooled = 0;
}

/**
 * @internal Turns output-array recycling on or off (benchmarks compare both in one process) and
 * sets the pool's cap in bytes (tests); turning it off empties the pool.
 */
export function setCpuPooling(on: boolean, capBytes = 256 * 2 ** 20): void {
  pooling = on;
  poolMaxBytes = capBytes;
  if (!on) trimCpuPool();
}

function contiguousOut(shape: readonly number[], dtype: DType, zero = false): { storage: CpuStorage; view: StridedArray } {
  const data = acquire(dtype, numel(shape), zero);
  return { storage: new CpuStorage(data, dtype), view: { data, offset: 0, strides: contiguousStrides(shape) } };
}

const identity = (dtype: DType) => E.input(0, dtype);

/**
 * An operand's expression. Single values that are small integers are inlined as constants, so
 * x**2 renders as x*x and x*2 folds; there are few such values, so kernels stay few. Not into a
 * result of one element: folding gains nothing there, and a counter (Adam's step) would compile
 * a kernel for each of its first 64 values.
 */
function operandExpr(v: BufView, i: number, outSize: number): Expr {
  if (outSize > 1 && v.storage.size === 1 && v.dtype !== 'bool') {
    const c = (v.storage as CpuStorage).data[0]!;
    if (Number.isInteger(c) && Math.abs(c) <= 64) return E.const(c, v.dtype);
  }
  return E.input(i, v.dtype);
}

/** Copies `src` into the (possibly strided) `dst` elementwise. */
function copyInto(dst: StridedArray, src: StridedArray, shape: readonly number[], dtype: DType): void {
  runElementwise(identity(dtype), shape, dst, [src]);
}

let bytesInUse = 0;
let liveStorages = 0;
// NOTE: storages the garbage collector finds unreachable are only counted out here; their arrays
// are not recycled. Recycling them would mean holding each array in the registry until its
// callback runs, and callbacks run only once the program yields to a macrotask: in a loop that
// never yields, every output array stayed alive (W4's 1M-element jit logistic went from 2.1 to
// about 4 ms a call, eager 3.7 to 8 ms). dispose() and scope() release, and recycle, explicitly.
raiseMallocThresholds();

// An arena array's block is an exception: the callback gets its block number (not the array)
// and returns it, so arena memory of unreachable tensors is reused once callbacks run, or sooner
// at a readback (./reclaim.ts); until then, a full arena just means plain arrays (./arena.ts).
function drop(w: Charge): void {
  bytesInUse -= w.bytes;
  liveStorages--;
  if (w.block >= 0) arenaRelease(w.block);
}

/** Storages nobody released: counted out, and their arena blocks returned, once unreachable. */
const owners = new WeakOwners<Charge>(drop);

/** @internal Frees the arena blocks of storages the program dropped (at readbacks). */
export const cpuReclaimer = new ArenaReclaimer(owners);

/** Has `s` counted out (and its arena block returned) if it is never released; arena storages may be swept. */
function watch(s: CpuStorage): void {
  const block = arenaBlock(s.data);
  // NOTE: a WeakRef keeps its target alive until the running job ends (ECMAScript's kept
  // objects), so a loop that never yields kept every storage it made, disposed or not (~0.5 KB
  // each). A storage made inside scope() is released by the scope; if it escapes, the
  // finalization callback alone returns its block — no WeakRef, no sweep at readbacks
  s.watched = owners.track(s, { bytes: s.data.length * bytesPerElement(s.dtype), block }, block >= 0 && !inScope());
}

/** Stops watching `s` (released by hand, or about to be watched anew). */
function unwatch(s: CpuStorage): void {
  if (s.watched) owners.forget(s.watched);
  s.watched = null;
}

function track(s: CpuStorage): CpuStorage {
  bytesInUse += s.data.length * bytesPerElement(s.dtype);
  liveStorages++;
  watch(s);
  return s;
}

/**
 * @internal A storage of `n` zeros that a compiled function keeps as a temporary (src/jit/exec/cpu.ts):
 * in the kernels' memory when there is room, released with `cpuBackend.release`.
 */
export function temporaryStorage(dtype: DType, n: number): CpuStorage {
  return track(new CpuStorage(acquire(dtype, n, true, true), dtype));
}

export const cpuBackend: Backend = {
  device: 'cpu',
  fromArray(data: TypedArray, dtype: DType): Storage {
    // adopted, not copied: if the array is one of our outputs, another storage now shares it
    // (never pooled again; an arena block gets a second owner)
    recyclable.delete(data);
    const block = arenaBlock(data);
    if (block >= 0) arenaRetain(block);
    return track(new CpuStorage(data, dtype));
  },
  copyFrom(data: TypedArray, dtype: DType): Storage {
    const a = acquire(dtype, data.length, false);
    a.set(data as never);
    return track(new CpuStorage(a, dtype));
  },
  async read(view: BufView): Promise<TypedArray> {
    // copied before yielding: the caller may release the tensor once data() has been called
    const data = this.readSync(view);
    await cpuReclaimer.atReadback();
    return data;
  },
  readSync(view: BufView): TypedArray {
    const n = numel(view.shape);
    const strides = contiguousStrides(view.shape);
    if (hasContiguousStrides(view.shape, view.strides)) {
      const src = arr(view).data;
      // dense: one memcpy (slice() of an arena array, on shared memory, copies element by element)
      if (arenaBlock(src) < 0) return src.slice(view.offset, view.offset + n);
      const data = arrayForOverwrite(view.dtype, n);
      data.set(src.subarray(view.offset, view.offset + n) as never);
      return data;
    }
    // handed to the caller for good: a plain array, never pooled
    const data = arrayFor(view.dtype, n);
    copyInto({ data, offset: 0, strides }, arr(view), view.shape, view.dtype);
    return data;
  },
  assign(dst: BufView, src: BufView, move = false): void {
    const d = dst.storage as CpuStorage, t = src.storage as CpuStorage;
    // a temporary (an in-place op's result) covering its whole storage trades arrays with the
    // destination instead of being copied, when both arrays are ours (an array adopted from the
    // program must keep receiving the writes, as torch.from_numpy's does); the temporary is
    // released right after, taking the old array with it
    if (move && t !== d && !t.disposed && t.dtype === d.dtype && t.data.length === d.data.length && numel(dst.shape) === d.data.length &&
      dst.offset === 0 && src.offset === 0 && hasContiguousStrides(dst.shape, dst.strides) && hasContiguousStrides(src.shape, src.strides) && recyclable.has(d.data) && recyclable.has(t.data)) {
      const mine = d.data;
      d.data = t.data;
      t.data = mine;
      // the collector's callbacks must return the blocks each storage now holds
      for (const s of [d, t]) {
        unwatch(s);
        watch(s);
      }
      return;
    }
    copyInto(arr(dst), arr(src), dst.shape, dst.dtype);
  },
  release(storage: Storage): void {
    const s = storage as CpuStorage;
    if (s.disposed) return;
    s.disposed = true;
    unwatch(s);
    bytesInUse -= s.data.length * bytesPerElement(s.dtype);
    liveStorages--;
    const data = s.data;
    // (one shared empty array per dtype: a loop that never yields keeps released storages alive
    // until it does, see watch())
    s.data = emptyArray(s.dtype);
    recycle(data, s.dtype);
  },
  memory(): MemoryInfo {
    return { bytesInUse, bytesPooled, storages: liveStorages };
  },
  run(op: OpDef, inputs: readonly BufView[], attrs: unknown, out: Aval): Storage {
    // fold accumulates into its output; pad writes only the interior when its value is 0
    const zero = op.kind === 'fold' || (op.kind === 'pad' && (attrs as { value: number }).value === 0);
    const { storage, view } = contiguousOut(out.shape, out.dtype, zero);
    const o = storage.data;
    switch (op.kind) {
      case 'elementwise': {
        const expr = op.expr(inputs.map((v, i) => operandExpr(v, i, numel(out.shape))), attrs, out);
        runElementwise(expr, out.shape, view, inputs.map(arr), op.roundSteps ? roundAll(expr) : expr);
        break;
      }
      case 'reduce': {
        const x = inputs[0]!;
        runReduce(op.reduce, arr(x), x.shape, (attrs as { dims: number[] }).dims, o);
        break;
      }
      case 'matmul': {
        const [a, b] = inputs as [BufView, BufView];
        const batch = out.shape.slice(0, -2);
        const M = a.shape[a.shape.length - 2]!, K = a.shape[a.shape.length - 1]!, N = b.shape[b.shape.length - 1]!;
        const ar = a.strides.length;
        const br = b.strides.length;
        matmulInto(
          o as NumArray, arr(a).data as NumArray, batchOffsets(a.shape, a.strides, a.offset, batch), a.strides[ar - 2]!, a.strides[ar - 1]!,
          arr(b).data as NumArray, batchOffsets(b.shape, b.strides, b.offset, batch), b.strides[br - 2]!, b.strides[br - 1]!,
          numel(batch), M, K, N,
        );
        break;
      }
      case 'unfold': runUnfold(arr(inputs[0]!), inputs[0]!.shape, attrs as never, o); break;
      case 'fold': runFold(arr(inputs[0]!), inputs[0]!.shape, attrs as never, o); break;
      case 'gather': {
        const [x, idx] = inputs as [BufView, BufView];
        runGather(arr(x), x.shape, arr(idx), idx.shape, (attrs as AxisAttrs).dim, o, (attrs as AxisAttrs).what);
        break;
      }
      case 'scatterAdd': {
        const [base, idx, src] = inputs as [BufView, BufView, BufView];
        copyInto(view, arr(base), base.shape, base.dtype);
        runScatterAdd(o, out.shape, arr(idx), idx.shape, arr(src), (attrs as { dim: number }).dim);
        break;
      }
      case 'cat': {
        const dim = (attrs as { dim: number }).dim;
        let at = 0;
        for (const x of inputs) {
          copyInto({ ...view, offset: at * view.strides[dim]! }, arr(x), x.shape, out.dtype);
          at += x.shape[dim]!;
        }
        break;
      }
      case 'pad': {
        const { pads, steps, value } = attrs as { pads: [number, number][]; steps: number[]; value: number };
        if (value !== 0) o.fill(value);
        const x = inputs[0]!;
        const offset = pads.reduce((acc, [lo], d) => acc + lo * view.strides[d]!, 0);
        copyInto({ data: o, offset, strides: view.strides.map((s, d) => s * steps[d]!) }, arr(x), x.shape, out.dtype);
        break;
      }
      case 'copy': copyInto(view, arr(inputs[0]!), out.shape, out.dtype); break;
      case 'view': internal('view ops run no kernel');
      // eslint-disable-next-line no-fallthrough
      default: op satisfies never;
    }
    return track(storage);
  },
};

registerBackend(cpuBackend);
