/**
 * @file Copies within the kernels' linear memory with `memory.copy` (a memmove): between regions
 * of a shared memory, `TypedArray.prototype.set` and `copyWithin` copy with relaxed atomics, 2.3×
 * slower (1.2 MB: 16 µs against 37.6, in cache). Used where a kernel's result is copied from its
 * scratch region to an arena array (the GEMM's C tiles).
 */
import { emitModule, FuncBuilder, Op, ValType } from './emit.ts';
import { kernelMemory, kernelMemoryImport, kernelMemoryShared } from '../threads.ts';

type CopyRowsFn = (dst: number, dstPitch: number, src: number, srcPitch: number, rowBytes: number, rows: number) => void;

/** copyRows(dst, dstPitch, src, srcPitch, rowBytes, rows): `rows` rows of `rowBytes` bytes, pitches in bytes. */
function copyRowsFunc(): FuncBuilder {
  const { i32 } = ValType;
  const f = new FuncBuilder([i32, i32, i32, i32, i32, i32], []);
  const [dst, dstPitch, src, srcPitch, rowBytes, rows] = [0, 1, 2, 3, 4, 5] as const;
  f.get(rows).op(Op.i32_eqz).if().op(Op.return).end();
  f.loop();
  f.get(dst).get(src).get(rowBytes).memoryCopy();
  f.get(dst).get(dstPitch).op(Op.i32_add).set(dst);
  f.get(src).get(srcPitch).op(Op.i32_add).set(src);
  f.get(rows).i32(1).op(Op.i32_sub).tee(rows).brIf(0);
  f.end();
  return f;
}

let copyRows: CopyRowsFn | null | undefined;

/**
 * Copies `rows` rows of `rowBytes` bytes from byte address `src` (rows `srcPitch` bytes apart) to
 * `dst` (rows `dstPitch` apart) inside `kernelMemory()`. False, having done nothing, where the
 * memory is not shared (elsewhere typed-array copies are as fast) or the module cannot be made.
 */
export function copyRowsInMemory(dst: number, dstPitch: number, src: number, srcPitch: number, rowBytes: number, rows: number): boolean {
  if (copyRows === undefined) {
    copyRows = null;
    try {
      if (kernelMemoryShared()) {
        const bytes = emitModule({ memoryImport: kernelMemoryImport(), funcs: [{ name: 'copyRows', fn: copyRowsFunc() }] });
        copyRows = new WebAssembly.Instance(new WebAssembly.Module(bytes as BufferSource), { env: { mem: kernelMemory() } }).exports.copyRows as CopyRowsFn;
      }
    } catch {
      copyRows = null; // no bulk memory, or a policy forbids compiling: callers copy as before
    }
  }
  if (!copyRows) return false;
  copyRows(dst, dstPitch, src, srcPitch, rowBytes, rows);
  return true;
}
