/** @file What an executor offers the jit: run a lowered, planned graph on bound tensors. */
import type { Tensor } from '../../tensor.ts';

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
  /** bytes of temporary buffers the plan holds */
  readonly tempBytes: number;
  /** releases the temporary buffers now */
  dispose(): void;
  /** Times every kernel from now on (off by default); `profile()` reads the totals. */
  setProfiling(on: boolean): void;
  profile(): { label: string; kind: string; calls: number; ms: number }[];
}
