/**
 * @file The WebGPU executor: runs a lowered graph by calling the WGSL templates directly on the
 * buffers the plan assigned — fused elementwise kernels, reductions with their fused prologue,
 * matmuls with their fused epilogue (bias + ReLU, or a whole parameter update), and the other
 * templates through the backend's `runInto`. Temporary buffers are acquired on the first call and
 * kept (the same buffers every call); updates the plan marks `direct` are written by their kernel
 * straight into the state's buffer; only outputs get fresh buffers per call. Pipelines come from
 * the runtime's cache under the keys eager ops use plus a suffix (compiled steps bind one group
 * over all of a kernel's buffers, eager ops a group per buffer: see Runtime.oneGroup), so they
 * are shared across compiled functions and batch sizes.
 */
import { getBackend, type Aval, type BufView, type Storage } from '../../backend.ts';
import { DeviceError, internal } from '../../errors.ts';
import { exprKey, type Expr } from '../../ops/expr.ts';
import { GpuStorage, type GpuBackend } from '../../gpu/backend.ts';
import { runElementwise, type BufOperand } from '../../gpu/kernels/elementwise.ts';
import { runMatmul, type MatmulEpilogue } from '../../gpu/kernels/matmul.ts';
import { runReduce, type ReduceEpilogue } from '../../gpu/kernels/reduce.ts';
import { Recording } from '../../gpu/replay.ts';
import type { GpuBuf } from '../../gpu/runtime.ts';
import { prims } from '../../ops/prims.ts';
import type { ViewOp } from '../../ops/registry.ts';
import { contiguousStrides, sameShape } from '../../shape.ts';
import { Tensor } from '../../tensor.ts';
import { kernelReads, type Kernel, type Load, type Lowered } from '../lower.ts';
import type { BufferPlan } from '../passes/plan.ts';
import { kernelLabel } from './labels.ts';
import { outputTensors, updateTarget, type KernelInfo, type Program } from './program.ts';

/** Storage of every slot for one call. */
type Stores = (Storage | null)[];
type Step = (stores: Stores, seeds: ReadonlyMap<number, number>) => void;

/**
 * Values that are one constant and read only as the base of scatterAdd (the zeros a gather's
 * gradient starts from): the template takes the base as a constant, so they get no kernel and no
 * buffer — one launch and one fill of the whole output fewer.
 */
function lazyConstants(low: Lowered): Map<number, GpuStorage> {
  const out = new Map<number, GpuStorage>();
  const kept = new Set([...low.outputs, ...low.updates.map((u) => u.source)]);
  for (const k of low.kernels) {
    if (k.kind !== 'elementwise' || k.expr.k !== 'const' || kept.has(k.out)) continue;
    const v = k.out;
    const ok = low.kernels.every((r) => !kernelReads(r).some((l) => l.value === v) ||
      (r.kind === 'op' && r.op.kind === 'scatterAdd' && r.loads.every((l, i) => l.value !== v || i === 0)));
    if (!ok) continue;
    const s = new GpuStorage(k.dtype, low.values[v]!.numel);
    s.constValue = k.expr.v;
    out.set(v, s);
  }
  return out;
}

/** An epilogue operand (a view over the epilogue root's shape) as a view over the result's shape. */
function asShape(l: Load, shape: readonly number[]): Load {
  if (sameShape(l.view.shape, shape)) return l;
  const view = (prims.reshape as ViewOp<unknown>).view(l.view, { shape: [...shape] });
  return { value: l.value, view: view ?? internal('jit: an epilogue operand is not a view of the result\'s shape') };
}

function makeStep(k: Kernel, low: Lowered, slotOf: readonly number[], backend: GpuBackend, info: KernelInfo[], lazy: ReadonlyMap<number, GpuStorage>): Step {
  const rt = backend.rt;
  const n = k.node;
  const label = kernelLabel(k);
  const os = slotOf[k.out]!;
  const outStrides = contiguousStrides(n.shape);
  const dtypeOf = (l: Load) => low.values[l.value]!.dtype;
  const storeOf = (stores: Stores, slot: number): Storage => stores[slot] ?? internal(`jit: slot ${slot} has no buffer`);
  const operand = (stores: Stores, l: Load): BufOperand => ({
    buf: backend.bufferOf(storeOf(stores, slotOf[l.value]!), n.opName), offset: l.view.offset, strides: l.view.strides, dtype: dtypeOf(l),
  });
  const output = (stores: Stores, strides: readonly number[] = outStrides): BufOperand => ({ buf: backend.bufferOf(storeOf(stores, os), n.opName), offset: 0, strides, dtype: n.dtype });
  switch (k.kind) {
    case 'elementwise': {
      info.push({ kind: 'elementwise', label, fused: k.fused, source: exprKey(k.expr) });
      // the kernel may iterate over a refinement of the node's shape (split views): same layout
      const strides = contiguousStrides(k.shape);
      return (stores) => runElementwise(rt, n.opName, k.expr, k.shape, output(stores, strides), k.loads.map((l) => operand(stores, l)));
    }
    case 'rand': {
      const op = n.op as { expr: (i: never[], a: never, o: Aval) => Expr };
      info.push({ kind: 'rand', label, fused: 0, source: n.opName });
      return (stores, seeds) => {
        const attrs = { ...(n.attrs as object), seed: seeds.get(k.seed) ?? k.seed };
        runElementwise(rt, n.opName, op.expr([], attrs as never, n.aval), n.shape, output(stores), []);
      };
    }
    case 'reduce': {
      const epi = k.epilogue;
      const red = k.red ?? n;
      const resultSlot = epi?.product === undefined ? undefined : slotOf[epi.product];
      const valuesSlot = k.values === undefined ? undefined : slotOf[k.values];
      const epiLoads = epi?.loads.map((l) => asShape(l, red.shape));
      info.push({
        kind: 'reduce', label, fused: k.fused + (epi?.fused ?? 0),
        source: `${k.reduce} of ${exprKey(k.expr)}${epi ? `, then at the store${resultSlot !== undefined ? ' (keeping the result)' : ''}: ${exprKey(epi.expr)}` : ''}`,
      });
      return (stores) => {
        const e: ReduceEpilogue | undefined = epi && {
          expr: epi.expr,
          operands: epiLoads!.map((l) => (l.value < 0 ? 'result' as const : operand(stores, l))),
          shape: red.shape,
          dtype: red.dtype,
          ...(resultSlot !== undefined ? {
            result: { buf: backend.bufferOf(storeOf(stores, resultSlot), n.opName), offset: 0, strides: contiguousStrides(red.shape), dtype: red.dtype },
          } : {}),
        };
        const values: BufOperand | undefined = valuesSlot === undefined ? undefined
          : { buf: backend.bufferOf(storeOf(stores, valuesSlot), n.opName), offset: 0, strides: [], dtype: low.values[k.values!]!.dtype };
        runReduce(rt, k.reduce, { expr: k.expr, loads: k.loads.map((l) => operand(stores, l)) }, k.inShape, k.dims, output(stores), e, values);
      };
    }
    case 'matmul': {
      const [la, lb] = k.loads as [Load, Load];
      const epi = k.epilogue;
      // the product's shape; an epilogue root may be a reshape of it (its loads are reshaped to match)
      const mmShape = k.mm.shape;
      const epiLoads = epi?.loads.map((l) => asShape(l, mmShape));
      const productSlot = epi?.product === undefined ? undefined : slotOf[epi.product];
      info.push({
        kind: 'matmul', label, fused: epi?.fused ?? 0,
        source: epi ? `matmul, then at the store${productSlot !== undefined ? ' (keeping the product)' : ''}: ${exprKey(epi.expr)}` : 'matmul',
      });
      return (stores) => {
        const e: MatmulEpilogue | undefined = epi && {
          expr: epi.expr,
          operands: epiLoads!.map((l) => (l.value < 0 ? 'product' as const : operand(stores, l))),
          ...(productSlot !== undefined ? {
            product: { buf: backend.bufferOf(storeOf(stores, productSlot), n.opName), offset: 0, strides: contiguousStrides(mmShape), dtype: k.mm.dtype },
          } : {}),
        };
        runMatmul(rt, operand(stores, la), la.view.shape, operand(stores, lb), lb.view.shape, output(stores), mmShape, e);
      };
    }
    case 'op': {
      info.push({ kind: k.op.kind, label, fused: 0, source: `${k.op.name} (WGSL template)` });
      const aval: Aval = { shape: n.shape, dtype: n.dtype };
      return (stores) => {
        const views: BufView[] = k.loads.map((l) => ({ storage: lazy.get(l.value) ?? storeOf(stores, slotOf[l.value]!), shape: l.view.shape, strides: l.view.strides, offset: l.view.offset, dtype: dtypeOf(l) }));
        backend.runInto(k.op, views, n.attrs, aval, output(stores));
      };
    }
    default:
      return k satisfies never;
  }
}

/** Builds the WebGPU program of a lowered, planned graph. */
export function gpuProgram(low: Lowered, plan: BufferPlan): Program {
  const backend = getBackend('webgpu') as unknown as GpuBackend;
  const info: KernelInfo[] = [];
  const { slots, slotOf } = plan;
  const lazy = lazyConstants(low);
  const described: KernelInfo[] = [];
  const kept = low.kernels.map((k, i) => ({ k, i })).filter(({ k }) => !lazy.has(k.out));
  const steps = kept.map(({ k }) => makeStep(k, low, slotOf, backend, described, lazy));
  // call-invariant kernels (an arange) write slots of their own: computed on the first call only
  const once = kept.map(({ i }) => plan.invariant.has(i));
  let onceDone = false;
  // each kernel's WGSL, recorded from the dispatches of the first call (the templates choose a
  // variant by shapes and limits at run time); until then, the expression it computes
  const wgsl: string[][] = described.map(() => []);
  let recorded = false;
  for (const [i, d] of described.entries()) {
    info.push({
      kind: d.kind, label: d.label, fused: d.fused,
      get source() {
        return recorded && wgsl[i]!.length ? `// ${d.source}\n${wgsl[i]!.join('\n')}` : d.source;
      },
    });
  }
  // Once a planned call has recorded the runtime commands it issued (replay.ts), later calls
  // replay them — the same kernels, uniforms and temporaries — over their own buffers. Random
  // kernels take a new seed per call in their uniforms, so programs with one keep planning.
  const rt = backend.rt;
  const canReplay = !low.kernels.some((k) => k.kind === 'rand');
  let recording: Recording | null = null;
  let refusals = 0;
  let replayed = 0;
  let refused: string | null = canReplay ? null : 'the program has random kernels (a new seed per call)';
  /** every slot's buffer, or null when a slot has none (a lazy constant) */
  const slotBuffers = (stores: Stores): GpuBuf[] | null => {
    const bufs: GpuBuf[] = new Array(stores.length);
    for (let i = 0; i < stores.length; i++) {
      const s = stores[i] as GpuStorage | null;
      // (an empty tensor gets the smallest buffer, so a program with one replays like any other)
      const b = s?.buf ?? (s && s.size === 0 ? backend.bufferOf(s, 'jit') : undefined);
      if (!b) return null;
      bufs[i] = b;
    }
    return bufs;
  };
  /** GPU time per kernel while profiling (setProfiling): calls counted as issued, ms as measured */
  let timing: { label: string; kind: string; calls: number; ms: number }[] | null = null;
  /** Runs every step; on the first call also records each kernel's WGSL for introspection. */
  const planned = (stores: Stores, seeds: ReadonlyMap<number, number>) => {
    const prev = rt.onDispatch;
    // the step's buffers repeat every call: one cached bind group per dispatch (see Runtime.oneGroup)
    rt.oneGroup = true;
    try {
      steps.forEach((step, i) => {
        if (once[i] && onceDone) return;
        if (!recorded) rt.onDispatch = (k) => { if (!wgsl[i]!.includes(k.code)) wgsl[i]!.push(k.code); };
        // a call-invariant kernel is left out of a recording: a replay must not compute it again
        const rec = rt.recorder;
        if (once[i]) rt.recorder = null;
        const t = timing?.[i];
        if (t) {
          t.calls++;
          rt.beginTimed((ns) => { t.ms += ns / 1e6; });
        }
        try {
          step(stores, seeds);
        } finally {
          rt.recorder = rec;
          if (t) rt.endTimed();
        }
      });
      // (not in precompileWebGPU's collect mode, whose dispatches of new kernels are skipped: the
      // call-invariant ones would never have run, and would never run again)
      if (!rt.isCollecting) {
        onceDone = true;
        recorded = true;
      }
    } finally {
      rt.onDispatch = prev;
      rt.oneGroup = false;
    }
  };
  const runSteps = (stores: Stores, seeds: ReadonlyMap<number, number>) => {
    // (a replay issues the commands without the kernels' boundaries, so profiling plans every call)
    const bufs = canReplay && !timing ? slotBuffers(stores) : null;
    if (bufs && recording?.fits(bufs, rt)) {
      recording.replay(rt, bufs);
      replayed++;
      return;
    }
    if (!bufs || refusals >= 3) return planned(stores, seeds);
    // plan this call and record what it issues
    const raw: NonNullable<typeof rt.recorder> = [];
    rt.recorder = raw;
    try {
      planned(stores, seeds);
    } finally {
      rt.recorder = null;
    }
    const r = Recording.from(raw, bufs, rt);
    if (typeof r === 'string') {
      recording = null;
      refused = r;
      refusals++;
    } else {
      recording = r;
      refused = null;
    }
  };
  const temps: (GpuStorage | null)[] = slots.map(() => null);
  /** contiguous copies of bound tensors that are strided or offset, per slot (kept across calls) */
  const staging: (GpuStorage | null)[] = slots.map(() => null);
  const stores: Stores = slots.map(() => null);
  const copies = low.updates.map((u, i) => ({ ...u, i })).filter((u) => !plan.direct.has(u.i));
  const directTargets = low.updates.filter((_, i) => plan.direct.has(i)).map((u) => u.target);
  const targets = low.updates.map((u) => u.target);
  let disposed = false;

  const view = (t: Tensor): BufView => ({ storage: t._storage!, shape: t.shape, strides: t.strides, offset: t.offset, dtype: t.dtype });
  const dense = (slot: number, t: Tensor): BufView => ({ storage: stores[slot]!, shape: t.shape, strides: contiguousStrides(t.shape), offset: 0, dtype: t.dtype });
  const bind = (slot: number, t: Tensor, what: string) => {
    if (t._disposed || !t._storage) throw new DeviceError(`jit: ${what} (shape [${t.shape}]) was disposed or is symbolic`);
    if (t.isContiguous && t.offset === 0) {
      stores[slot] = t._storage;
      return;
    }
    // kernels index bound buffers from element 0 with the traced (contiguous) strides
    let s = staging[slot];
    if (!s || s.size < t.numel || s.dtype !== t.dtype) {
      if (s) backend.release(s);
      staging[slot] = s = backend.allocate(t.dtype, t.numel, 'jit');
    }
    stores[slot] = s;
    backend.assign(dense(slot, t), view(t));
  };

  return {
    device: 'webgpu',
    kernels: info,
    // per call once the call-invariant kernels have run
    launches: steps.length - once.filter(Boolean).length + copies.length,
    get replay() { return { calls: replayed, refused }; },
    tempBytes: plan.tempBytes,
    stale() {
      if (backend.rt.ctx.lostReason !== null) return true;
      try {
        return (getBackend('webgpu') as unknown) !== backend;
      } catch {
        return true; // (WebGPU destroyed and not initialised again)
      }
    },
    run(inputs, states, seeds) {
      if (disposed) throw new DeviceError('jit: this compiled function was disposed');
      slots.forEach((s, i) => {
        switch (s.kind) {
          case 'input': bind(i, inputs[s.index]!, `argument ${s.index}`); break;
          case 'state': bind(i, states[s.index]!, `state ${s.index}`); break;
          case 'output': stores[i] = backend.allocate(s.dtype, s.numel, 'jit'); break;
          case 'temp':
            if (!temps[i]) temps[i] = backend.allocate(s.dtype, s.numel, 'jit');
            stores[i] = temps[i];
            break;
          default: s satisfies never;
        }
      });
      runSteps(stores, seeds);
      const tensorOf = (v: number): Tensor => updateTarget(low, v, inputs, states);
      // updates not written in place: copied after every kernel ran (values are pre-update)
      for (const u of copies) {
        const t = tensorOf(u.target);
        backend.assign(view(t), dense(slotOf[u.source]!, t));
      }
      for (const v of directTargets) {
        const t = tensorOf(v);
        const slot = slotOf[v]!;
        if (stores[slot] !== t._storage) backend.assign(view(t), dense(slot, t)); // through a staging copy
        // written by a kernel: no longer a lazy constant (if it was one)
        else (t._storage as GpuStorage).constValue = undefined;
      }
      for (const v of targets) tensorOf(v)._bumpVersion();
      const result = outputTensors(low, (v) => stores[slotOf[v]!]!, 'webgpu');
      // drop references to the caller's storages (the program must not keep them alive)
      slots.forEach((s, i) => { if (s.kind !== 'temp') stores[i] = null; });
      return result;
    },
    setProfiling(on) {
      if (on && !rt.canTime) {
        throw new DeviceError(`setProfiling: timing WebGPU kernels needs the timestamp-query feature, which ${rt.ctx.adapter.description || 'this adapter'} does not offer (or a device passed to initWebGPU did not request)`);
      }
      timing = on ? info.map((k) => ({ label: k.label, kind: k.kind, calls: 0, ms: 0 })) : null;
    },
    profile: () => timing?.map((t) => ({ ...t })) ?? [],
    dispose() {
      disposed = true;
      for (const list of [temps, staging]) {
        for (const s of list) if (s) backend.release(s);
        list.fill(null);
      }
    },
  };
}
