/** @file Pieces shared by the WGSL templates: declarations, the linear invocation index, uniform packing. */
import type { GpuLimits } from '../device.ts';
import { internal } from '../../errors.ts';
import type { BindingKind, GpuBuf } from '../runtime.ts';

/** Workgroup size for one-thread-per-element kernels, within the adapter's limits. */
export function linearWorkgroupSize(maxInvocations: number, maxX: number): number {
  return Math.max(1, Math.min(256, maxInvocations, maxX));
}

/**
 * The shape of an element-per-invocation grid: workgroup size and elements per invocation. CPU
 * adapters pay a large cost per invocation (lavapipe: ~3.5× slower at one element each than at
 * sixteen), GPUs want one element per invocation.
 */
export function elementGrid(limits: GpuLimits, software: boolean, n: number): { wg: number; per: number } {
  if (!software) return { wg: linearWorkgroupSize(limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX), per: 1 };
  const wg = Math.min(64, limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX);
  return { wg, per: n >= wg * 64 ? 16 : n >= wg * 8 ? 4 : 1 };
}

/**
 * The entry point of an element-per-invocation kernel: `gid` is the element index; each
 * invocation handles `per` elements (a uniform, so it costs no extra pipelines), strided by the
 * workgroup size (gid grows with each step, so a body may `return` once gid is past the end).
 * Close it with ENTRY_CLOSE.
 */
export function entryLoop(wg: number, per: string): string {
  return `@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lix: u32) {
  let wlin = wid.y * nwg.x + wid.x;
  let per = ${per};
  for (var jj = 0u; jj < per; jj++) {
  let gid = (wlin * per + jj) * ${wg}u + lix;`;
}
export const ENTRY_CLOSE = '}\n}';

/** `@group(0)` declarations: the uniform block at binding 0, then storage buffers. */
export function declarations(uniformSlots: number, buffers: readonly { name: string; kind: BindingKind; type: string }[]): string {
  const n = Math.max(1, Math.ceil(uniformSlots / 4));
  const lines = [`@group(0) @binding(0) var<uniform> u: array<vec4<u32>, ${n}>;`];
  buffers.forEach((b, i) => {
    lines.push(`@group(0) @binding(${i + 1}) var<storage, ${b.kind === 'read' ? 'read' : 'read_write'}> ${b.name}: array<${b.type}>;`);
  });
  return lines.join('\n');
}

/** The entry point header of a workgroup-indexed kernel: `wlin` is the linear workgroup index. */
export function entry(wg: number): string {
  return `@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lix: u32) {
  let wlin = wid.y * nwg.x + wid.x;
  let gid = wlin * ${wg}u + lix;`;
}

/** Grows a list of uniform slots (u32 bit patterns). */
export class Uniforms {
  private data: number[] = [];
  /** appends values, returns the slot of the first */
  push(...vals: number[]): number {
    const at = this.data.length;
    for (const v of vals) this.data.push(v >>> 0);
    return at;
  }
  get length(): number {
    return this.data.length;
  }
  toArray(): Uint32Array {
    const n = Math.max(4, Math.ceil(this.data.length / 4) * 4);
    const a = new Uint32Array(n);
    a.set(this.data);
    return a;
  }
}

/** Whether index arithmetic on values below `bound` may use tg_divmod (float reciprocals; exact below 2^23). */
export function fastDiv(bound: number): boolean {
  return bound <= 2 ** 23;
}

/** The bit pattern of the float32 reciprocal of a size (0 for 0), for tg_divmod. */
export function invBits(d: number): number {
  f32[0] = d > 0 ? 1 / d : 0;
  return u32[0]!;
}
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Pushes a shape and, for fast division, its reciprocals; returns the slot of the shape. */
export function pushShape(u: Uniforms, shape: readonly number[], fast: boolean): number {
  const at = u.push(...shape);
  if (fast) u.push(...shape.map(invBits));
  return at;
}

/** `vec2(a / b, a % b)` for uniform divisor slot `b` (reciprocal in slot `inv` when fast). */
export function divmod(a: string, b: number, inv: number | null, slot: (k: number) => string): string {
  return inv === null ? `vec2<u32>(${a} / ${slot(b)}, ${a} % ${slot(b)})` : `tg_divmod(${a}, ${slot(b)}, bitcast<f32>(${slot(inv)}))`;
}

/**
 * WGSL that decomposes the u32 expression `lin` into indices i0..i{r-1} over a shape held in
 * uniform slots shapeSlot.. (row-major), declaring `let ${prefix}d = …`. With `fast`, the slots
 * after the shape hold its reciprocals (pushShape) and division goes through tg_divmod.
 */
export function unravel(lin: string, rank: number, shapeSlot: number, prefix: string, slot: (k: number) => string, fast = false): string[] {
  if (rank === 0) return [];
  if (rank === 1) return [`let ${prefix}0 = ${lin};`];
  const out = [`var ${prefix}rem = ${lin};`];
  for (let d = rank - 1; d >= 1; d--) {
    out.push(`let ${prefix}dm${d} = ${divmod(`${prefix}rem`, shapeSlot + d, fast ? shapeSlot + rank + d : null, slot)};`);
    out.push(`let ${prefix}${d} = ${prefix}dm${d}.y;`);
    out.push(`${prefix}rem = ${prefix}dm${d}.x;`);
  }
  out.push(`let ${prefix}0 = ${prefix}rem;`);
  return out;
}

/** `off + i0*s0 + …` for strides held in uniform slots. */
export function dot(offset: string, rank: number, idxPrefix: string, strideSlot: number, slot: (k: number) => string): string {
  let s = offset;
  for (let d = 0; d < rank; d++) s += ` + ${idxPrefix}${d} * ${slot(strideSlot + d)}`;
  return s;
}

/**
 * Storage bindings for a kernel writing `out` and reading `reads`: each read gets a binding of its
 * own (so `x·x` and `x·y` share a pipeline), unless that passes the device's `maxReads` read
 * bindings — then each distinct buffer is bound once (a fused jit kernel may read one buffer
 * through several views). A read of the output buffer itself goes through the output's read_write
 * binding — WebGPU forbids binding one buffer as writable and read-only in the same dispatch,
 * and a jit plan writes over operands it reads element for element. `of[i]` is the binding read
 * i uses: −1 for the output, else an index into `bufs`; `key` names the pattern for cache keys.
 */
export function bindReads(out: GpuBuf, reads: readonly GpuBuf[], maxReads: number): { bufs: GpuBuf[]; of: number[]; key: string } {
  const bufs: GpuBuf[] = [];
  const dedupe = reads.length > maxReads;
  const of = reads.map((b) => {
    if (b === out) return -1;
    const at = dedupe ? bufs.indexOf(b) : -1;
    return at >= 0 ? at : bufs.push(b) - 1;
  });
  const trivial = of.every((j, i) => j === i);
  return { bufs, of, key: trivial ? '' : `b${of.join('.')}` };
}

/** Checks that a read through the output binding has the output's storage type. */
export function checkAlias(outType: string, readType: string, what: string): void {
  if (outType !== readType) internal(`${what}: an operand aliasing the output is stored as ${readType}, the output as ${outType}`);
}
