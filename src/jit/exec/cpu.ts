/**
 * @file The CPU executor: runs a lowered graph with generated JavaScript loops for fused
 * elementwise and reduction kernels and the CPU backend's own templates (matmul, gather, im2col…)
 * for the rest, writing into the buffers the plan assigned. Temporaries are allocated on the first
 * call and reused; only outputs are fresh per call.
 */
import { batchOffsets } from '../../cpu/batch-offsets.ts';
import { acquireOutputArray, adoptOutput, cpuBackend, temporaryStorage, type CpuStorage } from '../../cpu/backend.ts';
import { collapseDims, runElementwise, type StridedArray } from '../../cpu/elementwise.ts';
import { runGather, runScatterAdd } from '../../cpu/indexing.ts';
import { runFold, runUnfold } from '../../cpu/conv.ts';
import { runReduce } from '../../cpu/reduce.ts';
import { matmulInto, type NumArray } from '../../cpu/matmul.ts';
import { runWasmElementwise, wasmElementwiseDtype, wasmElementwiseShaped, wasmKernelKey } from '../../cpu/wasm/elementwise.ts';
import { arrayFor, type TypedArray } from '../../dtype.ts';
import { DeviceError, internal } from '../../errors.ts';
import { E, type Expr } from '../../ops/expr.ts';
import type { AxisAttrs, FoldAttrs, PadAttrs, UnfoldAttrs } from '../../ops/registry.ts';
import { contiguousStrides, numel } from '../../shape.ts';
import { Tensor } from '../../tensor.ts';
import type { Kernel, Load, Lowered } from '../lower.ts';
import type { BufferPlan } from '../passes/plan.ts';
import { exprSeeds, genElementwise, genReduce } from './cpu-codegen.ts';
import { roundAll } from '../../cpu/round-steps.ts';
import { outputTensors, updateTarget, type KernelInfo, type Program } from './program.ts';
import { kernelLabel } from './labels.ts';

type Step = (arrays: TypedArray[], bases: number[], seeds: ReadonlyMap<number, number>) => void;

const strided = (arrays: TypedArray[], bases: number[], slot: number, l: Load): StridedArray => ({
  data: arrays[slot]!, offset: bases[slot]! + l.view.offset, strides: l.view.strides,
});

const identity = (dtype: Tensor['dtype']) => E.input(0, dtype);

/**
 * Slot `slot`'s array from its base on: a template writing an update straight into a state or
 * argument that starts at an offset of its storage (a narrow of a bigger tensor) writes there.
 */
const from = (arrays: TypedArray[], bases: number[], slot: number): TypedArray => (bases[slot] ? arrays[slot]!.subarray(bases[slot]) : arrays[slot]!);

/**
 * An elementwise kernel through the CPU backend's own elementwise runner: WebAssembly SIMD where
 * it applies (float32 and bool operands and output, unit-stride rows, per-row scalars allowed;
 * every op rounds to float32 there), generated JS otherwise (then every float32 op is rounded explicitly, so results match eager bit for bit).
 * A load of value −1 reads the output itself (an epilogue over a product in place).
 */
function elementwiseRunner(kexpr: Expr, shape: readonly number[], dtype: Tensor['dtype'], loads: readonly Load[], low: Lowered, slotOf: readonly number[], os: number) {
  const { shape: cs, strides } = collapseDims(shape, [contiguousStrides(shape), ...loads.map((l) => l.view.strides)]);
  // the same shape test runElementwise's wasm path applies (runElementwise collapses the same
  // contiguous output strides the same way); the expression itself may still fall back to JS
  const simdShaped = wasmElementwiseDtype(dtype) && loads.every((l) => l.value < 0 || wasmElementwiseDtype(low.values[l.value]!.dtype)) &&
    wasmElementwiseShaped(cs, strides);
  const hoisted = strides.slice(1).map((st) => st.every((x) => x === 0));
  const key = wasmKernelKey(kexpr);
  // NOTE: the unrounded expression only where the wasm kernel takes it (it rounds every op to
  // float32 itself); wherever it declines (an op it cannot render: sin, erf, pow by a fraction…)
  // the JS kernel gets the expression with every op rounded, as eager computes it
  const rounded = roundAll(kexpr);
  const outStrides = contiguousStrides(shape);
  const ls = loads.map((l) => (l.value < 0 ? os : slotOf[l.value]!));
  const ins: StridedArray[] = loads.map(() => ({ data: new Float32Array(0), offset: 0, strides: [] }));
  return (arrays: TypedArray[], bases: number[]) => {
    for (let i = 0; i < ls.length; i++) {
      const l = loads[i]!;
      ins[i] = { data: arrays[ls[i]!]!, offset: bases[ls[i]!]! + l.view.offset, strides: l.view.strides };
    }
    const out: StridedArray = { data: arrays[os]!, offset: bases[os]!, strides: outStrides };
    if (simdShaped && runWasmElementwise(kexpr, key, cs, strides, out, ins, hoisted)) return;
    runElementwise(rounded, shape, out, ins);
  };
}

function makeStep(k: Kernel, slotOf: readonly number[], info: KernelInfo[], low: Lowered): Step {
  const os = slotOf[k.out]!;
  const ls = k.loads.map((l) => slotOf[l.value]!);
  const node = k.node;
  const label = kernelLabel(k);
  switch (k.kind) {
    case 'rand': {
      const expr = (node.op as { expr: (i: never[], a: never, o: unknown) => Expr }).expr([], node.attrs as never, node.aval);
      const seeds = exprSeeds(expr);
      const g = genElementwise(roundAll(expr), node.shape, [], seeds);
      info.push({ kind: 'rand', label, fused: 0, source: g.source });
      const S = new Array<number>(seeds.length).fill(0);
      return (arrays, bases, seedMap) => {
        for (let j = 0; j < seeds.length; j++) S[j] = seedMap.get(seeds[j]!) ?? seeds[j]!;
        g.fn(arrays[os], bases[os], S);
      };
    }
    case 'elementwise': {
      info.push({ kind: 'elementwise', label, fused: k.fused, source: genElementwise(roundAll(k.expr), k.shape, k.loads).source });
      return elementwiseRunner(k.expr, k.shape, k.dtype, k.loads, low, slotOf, os);
    }
    case 'reduce': {
      if ((k.reduce === 'argmax' || k.reduce === 'argmin') && k.expr.k === 'in') {
        // the CPU backend's own arg kernel (branch-free: ~3× the generated loop's speed on random
        // data), which also stores the picked elements when a gather of them was fused in
        const vs = k.values === undefined ? -1 : slotOf[k.values]!;
        info.push({ kind: 'reduce', label, fused: k.fused, source: `${k.reduce} (CPU template${vs >= 0 ? ', storing the values too' : ''})` });
        return (a, b) => runReduce(k.reduce, strided(a, b, ls[0]!, k.loads[0]!), k.inShape, k.dims, from(a, b, os), vs >= 0 ? from(a, b, vs) : null);
      }
      if (k.values !== undefined) internal('jit: an arg reduction with a prologue stores no values');
      const g = genReduce(k.reduce, roundAll(k.expr), k.inShape, k.dims, k.loads);
      info.push({ kind: 'reduce', label, fused: k.fused, source: g.source });
      const args: unknown[] = new Array(3 + 2 * ls.length);
      return (arrays, bases) => {
        args[0] = arrays[os];
        args[1] = bases[os];
        for (let i = 0; i < ls.length; i++) {
          args[2 + 2 * i] = arrays[ls[i]!];
          args[3 + 2 * i] = bases[ls[i]!];
        }
        g.fn(...args);
      };
    }
    case 'matmul': {
      const [la, lb] = k.loads as [Load, Load];
      // the product's own shape (node is the epilogue's root, which may be a reshape of it)
      const out = k.mm.shape;
      const batch = out.slice(0, -2);
      const M = la.view.shape[la.view.shape.length - 2]!, K = la.view.shape[la.view.shape.length - 1]!, N = lb.view.shape[lb.view.shape.length - 1]!;
      const ar = la.view.strides.length, br = lb.view.strides.length;
      const aRel = batchOffsets(la.view.shape, la.view.strides, 0, batch), bRel = batchOffsets(lb.view.shape, lb.view.strides, 0, batch);
      const aOff = new Int32Array(aRel.length), bOff = new Int32Array(bRel.length);
      const nb = numel(batch);
      const epi = k.epilogue;
      const epiStep = epi ? elementwiseRunner(epi.expr, node.shape, node.dtype, epi.loads, low, slotOf, os) : null;
      info.push({
        kind: 'matmul', label, fused: epi?.fused ?? 0,
        source: `matmul [${batch}] ${M}×${K} @ ${K}×${N}${epi ? `, then in place: ${genElementwise(roundAll(epi.expr), node.shape, epi.loads).source}` : ''}`,
      });
      return (arrays, bases) => {
        const ba = bases[ls[0]!]! + la.view.offset, bb = bases[ls[1]!]! + lb.view.offset;
        for (let i = 0; i < nb; i++) {
          aOff[i] = aRel[i]! + ba;
          bOff[i] = bRel[i]! + bb;
        }
        matmulInto(
          from(arrays, bases, os) as NumArray, arrays[ls[0]!] as NumArray, aOff, la.view.strides[ar - 2]!, la.view.strides[ar - 1]!,
          arrays[ls[1]!] as NumArray, bOff, lb.view.strides[br - 2]!, lb.view.strides[br - 1]!, nb, M, K, N,
        );
        epiStep?.(arrays, bases);
      };
    }
    case 'op': {
      const op = k.op;
      const attrs = node.attrs;
      const outStrides = contiguousStrides(node.shape);
      info.push({ kind: op.kind, label, fused: 0, source: `${op.name} (CPU template)` });
      const view = (arrays: TypedArray[], bases: number[], i: number) => strided(arrays, bases, ls[i]!, k.loads[i]!);
      switch (op.kind) {
        case 'gather':
          return (a, b) => runGather(view(a, b, 0), k.loads[0]!.view.shape, view(a, b, 1), k.loads[1]!.view.shape, (attrs as AxisAttrs).dim, from(a, b, os), (attrs as AxisAttrs).what);
        case 'scatterAdd':
          return (a, b) => {
            const o = from(a, b, os);
            runElementwise(identity(node.dtype), node.shape, { data: o, offset: 0, strides: outStrides }, [view(a, b, 0)]);
            runScatterAdd(o, node.shape, view(a, b, 1), k.loads[1]!.view.shape, view(a, b, 2), (attrs as AxisAttrs).dim);
          };
        case 'unfold':
          return (a, b) => runUnfold(view(a, b, 0), k.loads[0]!.view.shape, attrs as UnfoldAttrs, from(a, b, os));
        case 'fold':
          return (a, b) => {
            const o = from(a, b, os);
            o.fill(0, 0, node.numel);
            runFold(view(a, b, 0), k.loads[0]!.view.shape, attrs as FoldAttrs, o);
          };
        case 'cat': {
          const dim = (attrs as AxisAttrs).dim;
          return (a, b) => {
            let at = 0;
            k.loads.forEach((l, i) => {
              runElementwise(identity(node.dtype), l.view.shape, { data: a[os]!, offset: b[os]! + at * outStrides[dim]!, strides: outStrides }, [view(a, b, i)]);
              at += l.view.shape[dim]!;
            });
          };
        }
        case 'pad': {
          const { pads, steps, value } = attrs as PadAttrs;
          const offset = pads.reduce((acc, [lo], d) => acc + lo * outStrides[d]!, 0);
          const st = outStrides.map((s, d) => s * steps[d]!);
          return (a, b) => {
            a[os]!.fill(value, b[os]!, b[os]! + node.numel);
            runElementwise(identity(node.dtype), k.loads[0]!.view.shape, { data: a[os]!, offset: b[os]! + offset, strides: st }, [view(a, b, 0)]);
          };
        }
        case 'copy':
          return (a, b) => runElementwise(identity(node.dtype), node.shape, { data: a[os]!, offset: b[os]!, strides: outStrides }, [view(a, b, 0)]);
        default:
          return internal(`jit: no CPU kernel for ${op.name} (${op.kind})`);
      }
    }
    default:
      return k satisfies never;
  }
}

export function cpuProgram(low: Lowered, plan: BufferPlan): Program {
  const info: KernelInfo[] = [];
  const steps = low.kernels.map((k) => makeStep(k, plan.slotOf, info, low));
  const { slots, slotOf } = plan;
  const arrays: TypedArray[] = new Array(slots.length);
  const bases: number[] = new Array(slots.length).fill(0);
  const temps: (CpuStorage | null)[] = slots.map(() => null);
  const staging: (TypedArray | null)[] = slots.map(() => null);
  const copies = low.updates.map((u, i) => ({ ...u, i })).filter((u) => !plan.direct.has(u.i));
  const directTargets = low.updates.filter((_, i) => plan.direct.has(i)).map((u) => u.target);
  const targets = low.updates.map((u) => u.target);
  let disposed = false;
  let timing: { label: string; kind: string; calls: number; ms: number }[] | null = null;

  const bind = (slot: number, t: Tensor, what: string) => {
    if (t._disposed || !t._storage) throw new DeviceError(`jit: ${what} (shape [${t.shape}]) was disposed or is symbolic`);
    const data = (t._storage as CpuStorage).data;
    if (t.isContiguous) {
      arrays[slot] = data;
      bases[slot] = t.offset;
    } else {
      let s = staging[slot];
      if (!s || s.length < t.numel) staging[slot] = s = arrayFor(t.dtype, t.numel);
      runElementwise(identity(t.dtype), t.shape, { data: s, offset: 0, strides: contiguousStrides(t.shape) }, [{ data, offset: t.offset, strides: t.strides }]);
      arrays[slot] = s;
      bases[slot] = 0;
    }
  };

  return {
    device: 'cpu',
    kernels: info,
    launches: steps.length + copies.length,
    tempBytes: plan.tempBytes,
    run(inputs, states, seeds) {
      if (disposed) throw new DeviceError('jit: this compiled function was disposed');
      slots.forEach((s, i) => {
        switch (s.kind) {
          case 'input': bind(i, inputs[s.index]!, `argument ${s.index}`); break;
          case 'state': bind(i, states[s.index]!, `state ${s.index}`); break;
          // pooled like eager outputs: disposing (or scope()) a result recycles its array
          case 'output': arrays[i] = acquireOutputArray(s.dtype, s.numel); bases[i] = 0; break;
          case 'temp':
            if (!temps[i] || temps[i]!.data.length < s.numel) temps[i] = temporaryStorage(s.dtype, s.numel);
            arrays[i] = temps[i]!.data;
            bases[i] = 0;
            break;
          default: s satisfies never;
        }
      });
      if (timing) {
        steps.forEach((step, i) => {
          const t0 = performance.now();
          step(arrays, bases, seeds);
          timing![i]!.ms += performance.now() - t0;
          timing![i]!.calls++;
        });
      } else for (const step of steps) step(arrays, bases, seeds);
      const tensorOf = (v: number): Tensor => updateTarget(low, v, inputs, states);
      // updates not written in place: copy after every kernel ran (values are pre-update)
      for (const u of copies) {
        const t = tensorOf(u.target);
        const s = slotOf[u.source]!;
        runElementwise(identity(t.dtype), t.shape, { data: (t._storage as CpuStorage).data, offset: t.offset, strides: t.strides }, [{ data: arrays[s]!, offset: bases[s]!, strides: contiguousStrides(t.shape) }]);
      }
      // states written in place through a staging copy: copy back
      for (const v of directTargets) {
        const t = tensorOf(v);
        const s = slotOf[v]!;
        if (arrays[s] !== (t._storage as CpuStorage).data) {
          runElementwise(identity(t.dtype), t.shape, { data: (t._storage as CpuStorage).data, offset: t.offset, strides: t.strides }, [{ data: arrays[s]!, offset: 0, strides: contiguousStrides(t.shape) }]);
        }
      }
      for (const v of targets) tensorOf(v)._bumpVersion();
      return outputTensors(low, (v) => {
        const s = slotOf[v]!;
        // an output slot's array gets exactly one storage (outputTensors makes one tensor per value)
        return slots[s]!.kind === 'output' ? adoptOutput(arrays[s]!, low.values[v]!.dtype) : cpuBackend.fromArray(arrays[s]!, low.values[v]!.dtype);
      }, 'cpu');
    },
    setProfiling(on) {
      timing = on ? info.map((k) => ({ label: k.label, kind: k.kind, calls: 0, ms: 0 })) : null;
    },
    profile: () => timing?.map((t) => ({ ...t })) ?? [],
    dispose() {
      disposed = true;
      for (const t of temps) if (t) cpuBackend.release(t);
      temps.fill(null);
    },
  };
}
