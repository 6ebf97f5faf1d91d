/**
 * @file The pass pipeline: trace → fold/simplify/CSE (to a fixpoint) → DCE → fuse → plan → codegen,
 * recording the graph and its node count after every pass for introspection.
 */
import { getBackend, type Device } from '../backend.ts';
import type { Graph } from './graph.ts';
import { fold } from './passes/fold.ts';
import { simplify, type SimplifyOptions } from './passes/simplify.ts';
import { cse } from './passes/cse.ts';
import { dce } from './passes/dce.ts';
import { defaultFuseOptions, type FuseOptions } from './passes/fuse.ts';
import { plan, type BufferPlan } from './passes/plan.ts';
import { lower, type Lowered } from './lower.ts';
import { cpuProgram } from './exec/cpu.ts';
import { genericProgram } from './exec/generic.ts';
import { gpuProgram } from './exec/gpu.ts';
import type { Program } from './exec/program.ts';

export interface CompileOptions {
  /** constant folding (default true) */
  fold?: boolean;
  /** algebraic simplification; options pick rules (default true) */
  simplify?: boolean | SimplifyOptions;
  /** common-subexpression elimination (default true) */
  cse?: boolean;
  /** dead-code elimination (default true) */
  dce?: boolean;
  /** kernel fusion (default true) */
  fuse?: boolean;
  /** in-place buffer reuse and direct state updates (default true) */
  inPlace?: boolean;
  /** 'auto': the device's own executor (cpu, webgpu); 'generic': every kernel through `Backend.run` */
  executor?: 'auto' | 'generic';
}

/** A snapshot of the graph after one pass. */
export interface PassRecord {
  readonly name: string;
  /** op nodes (inputs and states not counted) */
  readonly nodes: number;
  readonly ms: number;
  readonly graph: Graph;
  /** rewrite rules that fired (simplify only) */
  readonly fired?: readonly string[];
}

export interface Compiled {
  readonly passes: PassRecord[];
  /** the optimized graph the kernels compute */
  readonly graph: Graph;
  readonly lowered: Lowered;
  readonly plan: BufferPlan;
  readonly program: Program;
}

/** Runs the graph passes (no lowering). */
export function optimize(g: Graph, opts: CompileOptions = {}): { graph: Graph; passes: PassRecord[] } {
  const passes: PassRecord[] = [{ name: 'trace', nodes: g.opCount, ms: 0, graph: g }];
  const run = (name: string, f: (x: Graph) => Graph, fired?: string[]) => {
    const t0 = performance.now();
    g = f(g);
    passes.push({ name, nodes: g.opCount, ms: performance.now() - t0, graph: g, ...(fired ? { fired } : {}) });
  };
  const simp = opts.simplify ?? true;
  for (let round = 0; round < 4; round++) {
    const start = passes.length;
    const beforeCount = g.opCount;
    if (opts.fold ?? true) run('fold', fold);
    if (simp) {
      const fired: string[] = [];
      const so: SimplifyOptions = { ...(typeof simp === 'object' ? simp : {}), onFire: (r) => fired.push(r) };
      run('simplify', (x) => simplify(x, so), fired);
    }
    if (opts.cse ?? true) run('cse', cse);
    if (opts.dce ?? true) run('dce', dce);
    // a fixpoint: nothing fired and the node count held
    const fired = passes.slice(start).some((p) => (p.fired?.length ?? 0) > 0);
    if (!fired && g.opCount === beforeCount) break;
  }
  if (simp) {
    // rules whose condition depends on what the others remove (a live range check), once at the end
    const fired: string[] = [];
    const so: SimplifyOptions = { ...(typeof simp === 'object' ? simp : {}), late: true, onFire: (r) => fired.push(r) };
    run('simplify-late', (x) => simplify(x, so), fired);
    if (fired.length) {
      if (opts.cse ?? true) run('cse', cse);
      if (opts.dce ?? true) run('dce', dce);
    }
  }
  return { graph: g, passes };
}

/**
 * Elements up to which WebGPU recomputes a small shared intermediate in each kernel reading it
 * rather than launching a kernel for it (a launch costs ~30–70 µs on lavapipe, an elementwise op
 * a few ns per element).
 */
const RECOMPUTE_BELOW = 16384;

/** The fusion limits of a device. */
export function fuseOptionsFor(device: Device, enabled: boolean, generic: boolean): FuseOptions {
  if (device === 'cpu' && !generic) return { ...defaultFuseOptions, enabled, epilogueThroughReshape: true, argValues: true };
  const b = getBackend(device) as { ctx?: { limits?: { maxStorageBuffersPerShaderStage?: number } } };
  const stor = b.ctx?.limits?.maxStorageBuffersPerShaderStage ?? (device === 'cpu' ? 65 : 8);
  // one binding is the output; the generic executor runs plain primitives (no prologue/epilogue
  // hooks), the WebGPU one hands fused expressions to the reduce and matmul templates
  const hooks = device === 'webgpu' && !generic;
  return {
    enabled, reducePrologue: hooks, maxInputs: Math.max(2, stor - 1), matmulEpilogue: hooks,
    recomputeBelow: hooks ? RECOMPUTE_BELOW : 0, epilogueKeepsProduct: hooks, epilogueThroughReshape: hooks, reduceEpilogue: hooks, epilogueChangesDtype: hooks, argValues: hooks,
  };
}

/** Optimizes, lowers, plans and generates code for `g` on `device`. */
export function compileGraph(g: Graph, device: Device, opts: CompileOptions = {}): Compiled {
  const { graph, passes } = optimize(g, opts);
  const generic = opts.executor === 'generic' || (device !== 'cpu' && device !== 'webgpu');
  const t0 = performance.now();
  const lowered = lower(graph, { fuse: fuseOptionsFor(device, opts.fuse ?? true, generic) });
  const t1 = performance.now();
  // WebGPU epilogues run at the store, reading each operand element once before writing it, so
  // an update may be written by its matmul straight into the parameter (the CPU writes the
  // product first and applies the epilogue after, so it may not)
  // (WebGPU computes call-invariant values, such as an arange, on the first call only)
  const p = plan(lowered, { inPlace: !generic && (opts.inPlace ?? true), epilogueInPlace: !generic && device === 'webgpu', invariant: !generic && device === 'webgpu' });
  const t2 = performance.now();
  const program = generic ? genericProgram(lowered, p, device) : device === 'webgpu' ? gpuProgram(lowered, p) : cpuProgram(lowered, p);
  const t3 = performance.now();
  passes.push(
    { name: 'fuse', nodes: lowered.kernels.length, ms: t1 - t0, graph },
    { name: 'plan', nodes: p.slots.filter((s) => s.kind === 'temp').length, ms: t2 - t1, graph },
    { name: 'codegen', nodes: program.kernels.length, ms: t3 - t2, graph },
  );
  return { passes, graph, lowered, plan: p, program };
}
