/**
 * @file Tensor memory inside the CPU kernels' linear memory, so WebAssembly kernels (and their
 * helper threads) read operands and write results where they live instead of copying them in and
 * out (src/cpu/wasm/elementwise.ts: a 200K-element add 0.109 → 0.024 ms, addcdiv 0.145 → 0.034).
 *
 * Layout of `kernelMemory()`: kernels keep their scratch regions below `ARENA_BASE` (they grow
 * from offset 0 as before; `scratchFits` bounds them), and arrays of op outputs are blocks from
 * `ARENA_BASE` up, at most `arenaCapBytes()` of them. Only a shared memory hosts the arena: its
 * buffer never detaches when it grows, so a view taken once stays valid (a plain memory's buffer
 * is replaced by every grow, which would cut every tensor off its values). Elsewhere (browsers,
 * one thread) `arenaArray` returns null and tensors keep plain typed arrays.
 *
 * Blocks are reference-counted by their owners (a storage, or the output pool holding a free
 * array): the last release returns the block. Free blocks are kept by size and reused for the
 * same size first; when the arena is full, a larger free block is split, and free blocks at the
 * top lower the top. When nothing fits, callers fall back to a plain array (the arena is a fast
 * path, never a limit). Arrays of tensors the garbage collector finds unreachable come back when
 * their storage's FinalizationRegistry callback runs (src/cpu/backend.ts).
 */
import { arrayOver, bytesPerElement, type DType, type TypedArray } from '../dtype.ts';
import { kernelMemory, kernelMemoryShared } from './threads.ts';
import { growMemory } from './wasm/memory.ts';

/** Where the arena starts: kernels' scratch stays below (GEMM operands of up to 1 GiB of scratch). */
export const ARENA_BASE = 2 ** 30;
/** Bytes of memory kept readable above the top block (reads past an operand's end stay in bounds). */
const SLACK = 4096;
/** Block alignment in bytes (a cache line; WebAssembly SIMD wants 16). */
const ALIGN = 64;
/**
 * Default most bytes of arena blocks. Blocks of tensors the collector
 * frees come back only when their finalization callbacks run, which needs the program to yield to
 * the event loop: a synchronous loop that leaves garbage (gradients replaced each step) fills the
 * arena, then gets plain arrays. The memory stays with the process (a WebAssembly memory does not
 * shrink), and the first touch of its pages costs page faults (an eager loop that frees nothing
 * bump-allocates through fresh pages until the arena is full: MLP steps of bench/trainers.ts, 30
 * steps in, took 3.0 ms with a 256 MiB cap, 2.7 with 128, 2.5 with plain arrays), so this is kept
 * modest. At most 1 GiB: addresses stay below 2 GiB (positive i32).
 */
const DEFAULT_CAP = 128 * 2 ** 20;

/**
 * Largest block: bigger arrays (a whole dataset as one tensor: MNIST's 60,000 images are 188 MB)
 * would take the arena from the many op outputs that are read and written again and again.
 */
const MAX_BLOCK = 16 * 2 ** 20;

let cap = DEFAULT_CAP;
let enabled: boolean | undefined;
/** first byte above every block ever handed out (relative to ARENA_BASE) */
let top = 0;
/** free blocks by size: addresses */
const freeBySize = new Map<number, number[]>();
/** free blocks by their end address (relative): start; by their start: size (for merging neighbours) */
const freeByEnd = new Map<number, number>();
const freeByStart = new Map<number, number>();
/** reference counts of live blocks, by address (relative); sizes of live blocks */
const refs = new Map<number, number>();
const sizes = new Map<number, number>();
/** arena arrays → their block address (relative): only arrays this file made */
const addressOf = new WeakMap<TypedArray, number>();
let freeBytes = 0;

const stats = {
  allocated: 0, reused: 0, split: 0, refused: 0,
  /** bytes of every block handed out so far, and of every request refused */
  handedOutBytes: 0, refusedBytes: 0,
};

/** Whether op outputs may live in the arena (a shared kernel memory; not switched off). */
export function arenaEnabled(): boolean {
  enabled ??= kernelMemoryShared();
  return enabled;
}

/**
 * Turns the arena on or off for arrays allocated from now on (benchmarks compare both in one
 * process; off when the kernel memory is not shared) and sets its cap in bytes (tests).
 * Returns the previous state. Arrays already in the arena stay valid.
 */
export function setArena(on: boolean, capBytes = DEFAULT_CAP): boolean {
  const prev = arenaEnabled();
  enabled = on && kernelMemoryShared();
  cap = Math.min(capBytes, 2 ** 30);
  return prev;
}

/** Whether a kernel's scratch of `bytes` from offset 0 stays clear of the arena. */
export function scratchFits(bytes: number): boolean {
  return bytes <= ARENA_BASE;
}

const round = (bytes: number): number => Math.ceil(bytes / ALIGN) * ALIGN;

function takeFree(size: number): number {
  const list = freeBySize.get(size);
  if (!list || list.length === 0) return -1;
  const at = list.pop()!;
  if (list.length === 0) freeBySize.delete(size);
  freeByEnd.delete(at + size);
  freeByStart.delete(at);
  freeBytes -= size;
  return at;
}

/** Takes the free block [at, at + size) out of the free lists (it is being merged). */
function unlinkFree(at: number, size: number): void {
  const list = freeBySize.get(size)!;
  list.splice(list.lastIndexOf(at), 1);
  // (sizes without a free block go: the search for a block to split walks the sizes)
  if (list.length === 0) freeBySize.delete(size);
  freeByEnd.delete(at + size);
  freeByStart.delete(at);
  freeBytes -= size;
}

/**
 * Returns [at, at + size) to the free blocks, merged with free neighbours on either side, so the
 * arena does not crumble into blocks too small for a large array: after a training loop's mix of
 * sizes, 90 MB were free in pieces and a 4 MB output was refused. A free block reaching the top
 * lowers it instead.
 */
function putFree(at: number, size: number): void {
  const below = freeByEnd.get(at);
  if (below !== undefined) {
    unlinkFree(below, at - below);
    size += at - below;
    at = below;
  }
  const above = freeByStart.get(at + size);
  if (above !== undefined) {
    unlinkFree(at + size, above);
    size += above;
  }
  if (at + size === top) {
    top = at;
    return;
  }
  let list = freeBySize.get(size);
  if (!list) freeBySize.set(size, (list = []));
  list.push(at);
  freeByEnd.set(at + size, at);
  freeByStart.set(at, size);
  freeBytes += size;
}

/**
 * The part of the cap that only long-lived arrays may take (a compiled function's temporaries):
 * an eager loop leaving garbage fills the rest, and a function compiled after it still gets its
 * buffers in place (LeNet's compiled step holds 14.7 MiB of temporaries).
 */
const RESERVE_FRACTION = 0.25;

/** A block of `size` bytes (a multiple of ALIGN), relative address, or −1 (counted unless `probe`). */
function allocate(size: number, reserved: boolean, probe = false): number {
  let at = takeFree(size);
  if (at >= 0) {
    stats.reused++;
    return at;
  }
  const limit = reserved ? cap : cap * (1 - RESERVE_FRACTION);
  // (plus slack: kernels may read past an operand's end, GEMM's edge tiles up to ~200 bytes)
  if (top + size <= limit && growMemory(kernelMemory(), ARENA_BASE + top + size + SLACK)) {
    at = top;
    top += size;
    stats.allocated++;
    return at;
  }
  // full: split the smallest free block that holds it
  let best = -1;
  for (const s of freeBySize.keys()) if (s > size && (best < 0 || s < best)) best = s;
  if (best < 0) {
    if (!probe) {
      stats.refused++;
      stats.refusedBytes += size;
    }
    return -1;
  }
  at = takeFree(best);
  putFree(at + size, best - size);
  stats.split++;
  return at;
}

/**
 * A fresh array of `n` elements in the arena (stale contents), owned once (release it with
 * `arenaRelease`), or null when the arena is off, the dtype is float64, the array is larger than
 * MAX_BLOCK or the arena is full. `reserved`: a long-lived array, which may also take the part of
 * the cap kept from the others (RESERVE_FRACTION). `probe`: a refusal is not counted (an attempt
 * to move an array that already has memory, which the reclaimer must not read as pressure).
 */
export function arenaArray(dtype: DType, n: number, reserved = false, probe = false): TypedArray | null {
  if (!arenaEnabled() || dtype === 'float64' || n === 0) return null;
  const size = round(n * bytesPerElement(dtype));
  if (size > MAX_BLOCK) return null;
  const at = allocate(size, reserved, probe);
  if (at < 0) return null;
  stats.handedOutBytes += size;
  refs.set(at, 1);
  sizes.set(at, size);
  const buf = kernelMemory().buffer;
  const addr = ARENA_BASE + at;
  const a = arrayOver(dtype, buf, addr, n);
  addressOf.set(a, at);
  return a;
}

/** The byte address of an arena array's first element in `kernelMemory()`, or −1 for any other array. */
export function arenaAddress(a: TypedArray): number {
  const at = addressOf.get(a);
  return at === undefined ? -1 : ARENA_BASE + at;
}

/** The block of an arena array (an id for `arenaRetain`/`arenaRelease`), or −1. */
export function arenaBlock(a: TypedArray): number {
  return addressOf.get(a) ?? -1;
}

/** One more owner of `block` (a second storage adopting the same array). */
export function arenaRetain(block: number): void {
  const r = refs.get(block);
  if (r !== undefined) refs.set(block, r + 1);
}

/** One owner fewer of `block`; the last returns it to the arena. */
export function arenaRelease(block: number): void {
  const r = refs.get(block);
  if (r === undefined) return;
  if (r > 1) {
    refs.set(block, r - 1);
    return;
  }
  refs.delete(block);
  const size = sizes.get(block)!;
  sizes.delete(block);
  putFree(block, size);
}

/** One owner fewer of the block of `a`, if `a` is an arena array (nothing otherwise). */
export function releaseArenaArray(a: TypedArray): void {
  const block = arenaBlock(a);
  if (block >= 0) arenaRelease(block);
}

/** The allocator's counters and its cap, without walking the blocks (the reclaimer asks at every readback). */
export function arenaCounters(): Readonly<typeof stats> & { capBytes: number } {
  return { ...stats, capBytes: cap };
}

/** Bytes of live blocks, free blocks, the top, and counters (tests, diagnosis). */
export function arenaStats(): ReturnType<typeof arenaCounters> & { liveBytes: number; freeBytes: number; topBytes: number; blocks: number } {
  let live = 0;
  for (const s of sizes.values()) live += s;
  return { liveBytes: live, freeBytes, topBytes: top, blocks: sizes.size, ...arenaCounters() };
}
