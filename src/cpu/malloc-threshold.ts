/**
 * @file Raises glibc malloc's dynamic thresholds once, so large typed arrays freed by the garbage
 * collector are reused instead of being handed back to the kernel and faulted in again.
 *
 * Why: Node allocates ArrayBuffer memory with calloc. glibc serves requests above its mmap
 * threshold (128 KiB at start) with fresh mappings, and trims the heap's free top once it exceeds
 * the trim threshold (twice the mmap threshold). Every large output array an eager op allocates
 * and the collector later frees was therefore returned to the kernel and, on the next allocation,
 * faulted in page by page again: on this project's VM, a 4 MB `slice()` took 1.4–1.5 ms (a page
 * fault per 4 KiB page) where reused memory takes 0.1 ms. glibc raises both thresholds when a
 * mapped chunk is freed (to that chunk's size, at most 32 MiB on 64-bit), so allocating and
 * dropping one 30 MiB buffer at start makes arrays up to 30 MiB come from the heap, and lets up
 * to 60 MiB of freed memory stay there for reuse. The buffer is never touched (calloc maps it
 * zeroed without faulting pages in), so it costs a mapping and an unmapping.
 *
 * Elsewhere (browsers, other C libraries) the allocation is equally cheap and has no effect.
 */

/** Bytes of the one buffer: the largest size glibc's dynamic threshold may take (32 MiB) less headroom. */
const WARM_BYTES = 30 * 2 ** 20;

let done = false;

/** Allocates and drops one large untouched buffer (once per process); see the file comment. */
export function raiseMallocThresholds(): void {
  if (done) return;
  done = true;
  // dropped at once: the collector frees it at its next pass, and glibc adjusts then (a runtime
  // that refuses 30 MiB loses nothing but the tweak)
  try {
    void new ArrayBuffer(WARM_BYTES);
  } catch {
    // out of memory or address space: carry on without it
  }
}
