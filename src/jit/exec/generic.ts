/**
 * @file The device-neutral executor: runs a lowered graph through the `Backend` interface every
 * device implements. A fused elementwise kernel is handed to the backend as an elementwise op
 * whose expression is the fused `Expr` — so the backend's own renderer (JavaScript on the CPU,
 * WGSL on WebGPU) compiles it like any eager op, just bigger. Reductions, matmul and the other
 * templates run as the primitive itself on strided views. Intermediates are released after their
 * last use (the backend's pool reuses them); updates are copied in after every kernel ran.
 */
import { getBackend, type Aval, type Backend, type BufView, type Device, type Storage } from '../../backend.ts';
import { DeviceError, internal } from '../../errors.ts';
import { exprKey, type Expr } from '../../ops/expr.ts';
import { prims } from '../../ops/prims.ts';
import { elementwise, type OpDef } from '../../ops/registry.ts';
import { contiguousStrides } from '../../shape.ts';
import { Tensor } from '../../tensor.ts';
import type { Kernel, Lowered } from '../lower.ts';
import type { BufferPlan } from '../passes/plan.ts';
import { kernelLabel } from './labels.ts';
import { outputTensors, updateTarget, type KernelInfo, type Program } from './program.ts';

const fusedOps = new Map<string, OpDef>();
/** An elementwise op record whose expression is a fused `Expr` (cached by expression). */
export function fusedOp(expr: Expr, out: Aval): OpDef {
  const key = exprKey(expr);
  let op = fusedOps.get(key);
  if (!op) {
    op = elementwise<Record<string, never>>({ name: 'fused', infer: () => out, expr: () => expr });
    fusedOps.set(key, op);
  }
  return op;
}

type Step = (bufs: (Storage | null)[], views: (BufView | null)[], seeds: ReadonlyMap<number, number>) => void;

function makeStep(k: Kernel, backend: Backend, info: KernelInfo[]): Step {
  const n = k.node;
  const aval: Aval = { shape: n.shape, dtype: n.dtype };
  const label = kernelLabel(k);
  const views = (bufs: (Storage | null)[]): BufView[] =>
    k.loads.map((l) => {
      const s = bufs[l.value] ?? internal(`jit: value ${l.value} is not computed yet`);
      return { storage: s, shape: l.view.shape, strides: l.view.strides, offset: l.view.offset, dtype: s.dtype };
    });
  switch (k.kind) {
    case 'elementwise': {
      // the kernel may iterate over a refinement of the node's shape (split views): same layout
      const kaval: Aval = { shape: k.shape, dtype: n.dtype };
      const op = fusedOp(k.expr, kaval);
      info.push({ kind: 'elementwise', label, fused: k.fused, source: exprKey(k.expr) });
      return (bufs) => {
        bufs[k.out] = backend.run(op, views(bufs), {}, kaval);
      };
    }
    case 'rand':
      info.push({ kind: 'rand', label, fused: 0, source: 'randUniform' });
      return (bufs, _v, seeds) => {
        const attrs = { ...(n.attrs as object), seed: seeds.get(k.seed) ?? k.seed };
        bufs[k.out] = backend.run(prims.randUniform, [], attrs, aval);
      };
    case 'reduce':
      if (k.expr.k !== 'in' || k.loads.length !== 1) internal('jit: a fused reduction prologue reached the generic executor');
      info.push({ kind: 'reduce', label, fused: 0, source: n.opName });
      return (bufs) => {
        bufs[k.out] = backend.run(n.op!, views(bufs), n.attrs, aval);
      };
    case 'matmul':
    case 'op':
      info.push({ kind: k.kind, label, fused: 0, source: n.opName });
      return (bufs) => {
        bufs[k.out] = backend.run(n.op!, views(bufs), n.attrs, aval);
      };
    default:
      return k satisfies never;
  }
}

export function genericProgram(low: Lowered, plan: BufferPlan, device: Device): Program {
  const backend = getBackend(device);
  const info: KernelInfo[] = [];
  const steps = low.kernels.map((k) => makeStep(k, backend, info));
  const outputSet = new Set(low.outputs);
  const kept = new Set([...low.outputs, ...low.updates.map((u) => u.source)]);
  const dies = plan.dies.map((d) => d.filter((v) => low.values[v]!.source.kind === 'kernel' && !kept.has(v)));
  return {
    device,
    kernels: info,
    launches: steps.length + low.updates.length,
    tempBytes: 0,
    run(inputs, states, seeds) {
      const bufs: (Storage | null)[] = low.values.map(() => null);
      const views: (BufView | null)[] = low.values.map(() => null);
      const bindT = (v: number, t: Tensor, what: string) => {
        if (t._disposed || !t._storage) throw new DeviceError(`jit: ${what} (shape [${t.shape}]) was disposed or is symbolic`);
        if (!t.isContiguous) internal('jit: non-contiguous binding reached the generic executor');
        bufs[v] = t._storage;
      };
      // inputs/states: contiguous views with an offset are passed by offsetting loads
      const extra = new Map<number, Tensor>();
      for (const val of low.values) {
        if (val.source.kind === 'input') extra.set(val.id, inputs[val.source.index]!);
        else if (val.source.kind === 'state') extra.set(val.id, states[val.source.index]!);
      }
      const staged: Tensor[] = [];
      for (const [v, t0] of extra) {
        let t = t0;
        if (!t.isContiguous || t.offset !== 0) {
          // a contiguous copy keeps every kernel's strides valid
          const copy = backend.run(prims.contiguous, [{ storage: t._storage!, shape: t.shape, strides: t.strides, offset: t.offset, dtype: t.dtype }], {}, { shape: t.shape, dtype: t.dtype });
          t = Tensor._fromStorage(copy, t.shape, null, 0, t.dtype, t.device, null);
          staged.push(t);
        }
        bindT(v, t, 'a bound tensor');
      }
      steps.forEach((step, i) => {
        step(bufs, views, seeds);
        for (const v of dies[i]!) {
          const s = bufs[v];
          if (s && !outputSet.has(v)) backend.release(s);
          bufs[v] = null;
        }
      });
      const tensorOf = (v: number): Tensor => updateTarget(low, v, inputs, states);
      for (const u of low.updates) {
        const t = tensorOf(u.target);
        const s = bufs[u.source]!;
        backend.assign(
          { storage: t._storage!, shape: t.shape, strides: t.strides, offset: t.offset, dtype: t.dtype },
          { storage: s, shape: t.shape, strides: contiguousStrides(t.shape), offset: 0, dtype: t.dtype },
        );
      }
      const released = new Set<number>();
      for (const u of low.updates) {
        tensorOf(u.target)._bumpVersion();
        if (!outputSet.has(u.source) && !released.has(u.source)) {
          released.add(u.source);
          backend.release(bufs[u.source]!);
        }
      }
      for (const t of staged) t.dispose();
      return outputTensors(low, (v) => bufs[v]!, device);
    },
    dispose() {},
    setProfiling() {},
    profile: () => [],
  };
}
