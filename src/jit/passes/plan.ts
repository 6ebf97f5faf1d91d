/**
 * @file Buffer planning by liveness. Every value a kernel makes gets a slot: outputs get a fresh
 * buffer per call (they are handed to the caller); an update's value is written straight into its
 * state when no later kernel reads the state's pre-update value; an elementwise kernel may write
 * over an operand it reads last, element for element; everything else shares temporary slots,
 * reused once their value is dead. Temporary slots are allocated once, so a compiled step
 * allocates nothing per call beyond its outputs.
 */
import { contiguousStrides, hasContiguousStrides, sameShape } from '../../shape.ts';
import type { DType } from '../../dtype.ts';
import { kernelReads, kernelWrites, type Kernel, type Load, type Lowered } from '../lower.ts';

export type Slot =
  | { readonly kind: 'input'; readonly index: number }
  | { readonly kind: 'state'; readonly index: number }
  | { readonly kind: 'output'; readonly index: number; readonly dtype: DType; readonly numel: number }
  | { kind: 'temp'; readonly dtype: DType; numel: number };

export interface BufferPlan {
  readonly slots: Slot[];
  /** slot of every value */
  readonly slotOf: number[];
  /** updates written in place by their kernel (no copy after the run) */
  readonly direct: ReadonlySet<number>;
  /** per kernel: values whose last read is this kernel (for executors that free) */
  readonly dies: number[][];
  /** bytes of temporary slots */
  readonly tempBytes: number;
  /** values placed over an operand they replace element for element */
  readonly inPlace: number;
  /** kernels whose value is the same every call, in slots of their own (see PlanOptions.invariant) */
  readonly invariant: ReadonlySet<number>;
}

export interface PlanOptions {
  /** allow writing update values straight into states, and kernels over dying operands */
  readonly inPlace: boolean;
  /**
   * a matmul epilogue reads each operand element before it writes that element (WebGPU applies
   * it at the store), so its output may replace an operand it reads element for element
   */
  readonly epilogueInPlace?: boolean;
  /**
   * give the values of call-invariant kernels (`callInvariant`) temporary slots of their own, never
   * reused, so an executor may compute them on its first call only
   */
  readonly invariant?: boolean;
}

/**
 * Whether a kernel computes the same value at every call: elementwise over no operand (an arange,
 * an index-dependent mask: index sources are fusion roots), its constants fixed at trace time.
 */
export function callInvariant(k: Kernel): boolean {
  return k.kind === 'elementwise' && k.loads.length === 0;
}

const bytesOf = (d: DType) => (d === 'float64' ? 8 : d === 'bool' ? 1 : 4);

/** Is every load of `value` in kernel k an element-for-element read of a contiguous buffer? */
function identityReads(k: Kernel, value: number, epilogueInPlace = false): boolean {
  const identity = (loads: readonly Load[], shape: readonly number[]) =>
    loads.every((l) => l.value !== value || (l.view.offset === 0 && sameShape(l.view.shape, shape) && hasContiguousStrides(shape, l.view.strides)));
  if ((k.kind === 'matmul' || k.kind === 'reduce') && k.epilogue && epilogueInPlace) return !k.loads.some((l) => l.value === value) && identity(k.epilogue.loads, k.node.shape);
  if (k.kind !== 'elementwise') return !kernelReads(k).some((l) => l.value === value);
  return identity(k.loads, k.shape);
}

export function plan(low: Lowered, opts: PlanOptions = { inPlace: true }): BufferPlan {
  const { values, kernels } = low;
  const INF = kernels.length + 1;
  const lastUse = values.map(() => -1);
  kernels.forEach((k, i) => {
    for (const l of kernelReads(k)) lastUse[l.value] = Math.max(lastUse[l.value]!, i);
  });
  const outputSet = new Set(low.outputs);
  const updSource = new Map<number, number>();
  low.updates.forEach((u, i) => updSource.set(u.source, i));

  const slots: Slot[] = [];
  const slotOf = values.map(() => -1);
  for (const v of values) {
    if (v.source.kind === 'input') slotOf[v.id] = slots.push({ kind: 'input', index: v.source.index }) - 1;
    else if (v.source.kind === 'state') slotOf[v.id] = slots.push({ kind: 'state', index: v.source.index }) - 1;
  }
  low.outputs.forEach((v, i) => {
    if (slotOf[v] === -1) slotOf[v] = slots.push({ kind: 'output', index: i, dtype: values[v]!.dtype, numel: values[v]!.numel }) - 1;
  });

  // updates written directly: the state's old value is not read by any later kernel
  const direct = new Set<number>();
  const readsOf = (value: number) => kernels.map((k, i) => (kernelReads(k).some((l) => l.value === value) ? i : -1)).filter((i) => i >= 0);
  if (opts.inPlace) {
    low.updates.forEach((u, ui) => {
      const src = values[u.source]!;
      if (src.source.kind !== 'kernel' || outputSet.has(u.source) || slotOf[u.source] !== -1) return;
      const k = src.source.kernel;
      const reads = readsOf(u.target);
      if (reads.some((r) => r > k)) return;
      if (reads.includes(k) && !identityReads(kernels[k]!, u.target, opts.epilogueInPlace)) return;
      // a matmul's kept product is stored through a binding of its own: it may not alias a read
      if (reads.includes(k) && kernels[k]!.out !== u.source) return;
      // the value itself must not be read after the update target could change meaning: it lives in the state now, which is fine
      slotOf[u.source] = slotOf[u.target]!;
      direct.add(ui);
    });
  }
  for (const u of low.updates) if (!direct.has(low.updates.indexOf(u))) lastUse[u.source] = INF;
  for (const v of low.outputs) lastUse[v] = INF;
  // call-invariant values that are only read inside the step: kept (never freed) in slots of their own
  const invariant = new Set<number>();
  const ownSlot = new Set<number>();
  if (opts.invariant) {
    kernels.forEach((k, i) => {
      if (!callInvariant(k) || outputSet.has(k.out) || updSource.has(k.out) || slotOf[k.out] !== -1) return;
      invariant.add(i);
      ownSlot.add(k.out);
      lastUse[k.out] = INF;
    });
  }

  const free: number[] = [];
  const dies: number[][] = kernels.map(() => []);
  let inPlace = 0;
  kernels.forEach((k, i) => {
    for (const [w, v] of kernelWrites(k).entries()) {
      if (slotOf[v] === -1) {
        const want = values[v]!;
        // over a dying operand, element for element
        if (opts.inPlace && k.kind === 'elementwise' && w === 0) {
          for (const l of k.loads) {
            const s = slots[slotOf[l.value]!];
            if (lastUse[l.value] === i && s?.kind === 'temp' && s.dtype === want.dtype && s.numel >= want.numel && values[l.value]!.numel === want.numel && identityReads(k, l.value)) {
              slotOf[v] = slotOf[l.value]!;
              lastUse[l.value] = -2; // its slot lives on as v's
              inPlace++;
              break;
            }
          }
        }
        if (slotOf[v] === -1 && ownSlot.has(v)) slotOf[v] = slots.push({ kind: 'temp', dtype: want.dtype, numel: want.numel }) - 1;
        if (slotOf[v] === -1) {
          // best fit among free temporaries of the dtype
          let best = -1;
          for (let j = 0; j < free.length; j++) {
            const s = slots[free[j]!] as { dtype: DType; numel: number };
            if (s.dtype !== want.dtype || s.numel < want.numel) continue;
            if (best < 0 || s.numel < (slots[free[best]!] as { numel: number }).numel) best = j;
          }
          if (best >= 0) {
            slotOf[v] = free[best]!;
            free.splice(best, 1);
          } else {
            // grow the largest free slot of the dtype rather than adding one
            slotOf[v] = slots.push({ kind: 'temp', dtype: want.dtype, numel: want.numel }) - 1;
          }
        }
      }
    }
    freeAfter(k, i);
  });

  /** Frees the slots of values kernel i read last, and of values it wrote that nobody reads. */
  function freeAfter(k: Kernel, i: number): void {
    const written = kernelWrites(k).map((v) => slotOf[v]!);
    const seen = new Set<number>();
    for (const l of kernelReads(k)) {
      if (seen.has(l.value)) continue;
      seen.add(l.value);
      if (lastUse[l.value] === i) {
        dies[i]!.push(l.value);
        const s = slotOf[l.value]!;
        if (slots[s]!.kind === 'temp' && !written.includes(s)) free.push(s);
      }
    }
    // a value nobody reads dies right away
    for (const v of kernelWrites(k)) {
      if (lastUse[v] === -1 && slots[slotOf[v]!]!.kind === 'temp') {
        dies[i]!.push(v);
        free.push(slotOf[v]!);
      }
    }
  }
  const tempBytes = slots.reduce((acc, s) => acc + (s.kind === 'temp' ? s.numel * bytesOf(s.dtype) : 0), 0);
  return { slots, slotOf, direct, dies, tempBytes, inPlace, invariant };
}
