/** @file What an executor offers the jit: run a lowered, planned graph on bound tensors. */
import type { Device, Storage } from '../../backend.ts';
import { internal } from '../../errors.ts';
import { Tensor } from '../../tensor.ts';
import type { Lowered } from '../lower.ts';

/** Description of one kernel for introspection. */
export interface KernelInfo {
  readonly kind: string;
  /** the graph node it computes, e.g. `%12 = add` */
  readonly label: string;
  /** nodes computed inline */
  readonly fused: number;
  /** generated source (CPU: JavaScript; WebGPU: WGSL, once the function has run; else the scalar expression) */
  readonly source: string;
}

export interface Program {
  readonly device: string;
  /**
   * Runs the graph with inputs and states bound to tensors; returns one fresh tensor per graph
   * output and applies the updates (bumping the written tensors' versions). `seeds` maps
   * trace-time seeds of random sources to this call's seeds.
   */
  run(inputs: readonly Tensor[], states: readonly Tensor[], seeds: ReadonlyMap<number, number>): Tensor[];
  /** kernels launched per call (including update copies) */
  readonly launches: number;
  readonly kernels: readonly KernelInfo[];
  /**
   * WebGPU: calls that replayed the commands recorded from a planned call instead of planning
   * every kernel again, and why recording was last refused (null when it was not).
   */
  readonly replay?: { readonly calls: number; readonly refused: string | null };
  /** bytes of temporary buffers the plan holds */
  readonly tempBytes: number;
  /** WebGPU: the device it was planned on is gone (lost, or replaced by initWebGPU()): it can never run again */
  stale?(): boolean;
  /** releases the temporary buffers now */
  dispose(): void;
  /** Times every kernel from now on (off by default); `profile()` reads the totals. */
  setProfiling(on: boolean): void;
  profile(): { label: string; kind: string; calls: number; ms: number }[];
}

/** The tensor an update writes: the argument or state bound to value `v`. */
export function updateTarget(low: Lowered, v: number, inputs: readonly Tensor[], states: readonly Tensor[]): Tensor {
  const src = low.values[v]!.source;
  return src.kind === 'input' ? inputs[src.index]! : src.kind === 'state' ? states[src.index]! : internal('jit: update target is not an input or state');
}

/** One fresh tensor per graph output over the storage `storageOf` gives; an output listed twice is one tensor. */
export function outputTensors(low: Lowered, storageOf: (v: number) => Storage, device: Device): Tensor[] {
  const made = new Map<number, Tensor>();
  return low.outputs.map((v) => {
    let t = made.get(v);
    if (!t) {
      const val = low.values[v]!;
      made.set(v, (t = Tensor._fromStorage(storageOf(v), val.node.shape, null, 0, val.dtype, device, null)));
    }
    return t;
  });
}
