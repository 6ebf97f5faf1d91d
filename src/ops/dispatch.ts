/**
 * @file dispatch(): the one entry point of every primitive. The shape/dtype rule runs first in
 * every mode; then a backend runs the kernel now (eager) or the active tracer adds a graph node
 * (jit); either way the tape records a node when gradients are needed.
 */
import { getBackend, type Aval, type BufView, type Device } from '../backend.ts';
import { DeviceError, UseAfterDisposeError, ValueError, internal } from '../errors.ts';
import { isGradEnabled, recordOp } from '../tape.ts';
import { Tensor, type ViewStep } from '../tensor.ts';
import { fmtShape } from '../shape.ts';
import type { OpDef, ViewMeta } from './registry.ts';

/** What jit installs while tracing: ops become graph nodes instead of kernels. */
export interface Tracer {
  record(op: OpDef, inputs: readonly Tensor[], attrs: unknown, aval: Aval, device: Device): Tensor;
  /** an in-place write `dst ← src` (src already has dst's shape and dtype) */
  assign(dst: Tensor, src: Tensor): void;
  /**
   * Whether eager `contiguous(t)` would return `t` itself (its layout dense, at offset 0, the whole
   * of its storage); false makes contiguous() record a copy, so writes to it stay out of t's base.
   */
  isDense?(t: Tensor): boolean;
  /** `t` shares `of`'s elements (detach): writes to either are seen through both */
  alias?(t: Tensor, of: Tensor): void;
  /** the tensor whose elements `t` views (a state, an argument or an op result; `t` itself if it is no view) */
  viewRoot?(t: Tensor): Tensor;
  /** the view ops from that tensor to `t` (null where a detach() alias is on the way) */
  viewSteps?(t: Tensor): { root: Tensor; steps: ViewStep[] } | null;
  /**
   * JavaScript state the traced code branched on: the compiled function is reused only while
   * `holds()` is true, else it traces again (e.g. an optimizer's options that decide which terms
   * an update has). `what` names it in retrace warnings.
   */
  guard?(holds: () => boolean, what: string): void;
  /** the value of `t` when the trace knows it as a constant of one value (a lifted number), else undefined */
  constantValue?(t: Tensor): number | undefined;
  /**
   * Remembers a concrete tensor's autograd fields as they are now, to be put back when the trace
   * ends: for code that sets `requiresGrad` on a captured tensor for the trace only (the first
   * value the tracer saw would otherwise be the one restored).
   */
  keepAutograd?(t: Tensor): void;
  /**
   * JavaScript state the traced code created that only a run of the trace makes valid (an
   * optimizer's first-step buffers, whose first value is an update of the trace): `undo` removes
   * it when the trace is abandoned — an error while tracing, or compiled without running
   * (`lower`, `warmup`) — so the next call starts from the state before, as eager code would.
   */
  onDiscard?(undo: () => void): void;
  /** the layout (shape, strides, offset) `t` has or would have eagerly: view() checks it as eager does */
  layoutOf?(t: Tensor): ViewMeta;
}

let tracer: Tracer | null = null;

/** Installs (or removes, with null) the active tracer; returns the previous one. */
export function setTracer(t: Tracer | null): Tracer | null {
  const prev = tracer;
  tracer = t;
  return prev;
}
export function activeTracer(): Tracer | null {
  return tracer;
}

let defaultDevice: Device = 'cpu';
/** The device that creation functions use when none is given. */
export function getDefaultDevice(): Device {
  return defaultDevice;
}
/** Sets the device that creation functions use when none is given. */
export function setDefaultDevice(d: Device): void {
  getBackend(d); // fails clearly when the backend is not initialised
  defaultDevice = d;
}

export function bufView(t: Tensor): BufView {
  const storage = t._storage;
  if (!storage) internal(`tensor of shape ${fmtShape(t.shape)} has no storage`);
  return { storage, shape: t.shape, strides: t.strides, offset: t.offset, dtype: t.dtype };
}

/** Strides that read `t` broadcast to `shape` (0 for broadcast dims). */
export function broadcastView(t: Tensor, shape: readonly number[]): BufView {
  const lead = shape.length - t.ndim;
  const strides = shape.map((d, i) => (i < lead ? 0 : t.shape[i - lead] === d ? t.strides[i - lead]! : 0));
  return { ...bufView(t), shape, strides };
}

/** A non-tensor value in words, for errors. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 20 ? v.slice(0, 20) + '…' : v)}`;
  if (typeof v === 'object') return `an object (${(v as object).constructor?.name ?? 'Object'})`;
  return `${typeof v} ${String(v)}`;
}

/** A UseAfterDisposeError naming `op` when `t`, or the storage it views, was disposed. */
export function checkLive(op: string, t: Tensor): void {
  if (t._disposed) {
    throw new UseAfterDisposeError(`${op}: a tensor of shape ${fmtShape(t.shape)} (${t.dtype}, ${t.device}) was used after dispose()`);
  }
  // views share their base's storage: disposing the base (or another view) releases it for all
  if (t._storage?.disposed) {
    const by = t._base !== null
      ? 'by dispose() of the tensor it is a view of, or of another view of it'
      : 'by dispose() of a view or alias of it, or when the scope() it was created in ended (keep() it, or return it from the scope)';
    throw new UseAfterDisposeError(`${op}: a tensor of shape ${fmtShape(t.shape)} (${t.dtype}, ${t.device}) was used after its memory was released (${by})`);
  }
}

/** Runs primitive `op` on `inputs` (a device is needed only for sources without operands). */
export function dispatch(op: OpDef, inputs: readonly Tensor[], attrs: unknown, device?: Device): Tensor {
  inputs.forEach((t, i) => {
    if (!(t instanceof Tensor)) throw new ValueError(`${op.name}: operand ${i} is ${describeValue(t)}, expected a tensor`);
    checkLive(op.name, t);
  });
  const dev = inputs[0]?.device ?? device ?? defaultDevice;
  for (const t of inputs) {
    if (t.device !== dev) {
      throw new DeviceError(
        `${op.name}: operands are on different devices (${inputs.map((x) => `${x.device} ${fmtShape(x.shape)}`).join(', ')}); move them with .to('${dev}') first`,
      );
    }
  }
  const aval = op.infer(inputs.map((t) => ({ shape: t.shape, dtype: t.dtype })), attrs as never);
  const out = tracer ? tracer.record(op, inputs, attrs, aval, dev) : runEager(op, inputs, attrs, aval, dev);
  recordOp(op, inputs, attrs, out);
  if (op.kind === 'view' && isGradEnabled()) out._viewWithGrad = true;
  return out;
}

function runEager(op: OpDef, inputs: readonly Tensor[], attrs: unknown, aval: Aval, device: Device): Tensor {
  if (op.kind === 'view') {
    const x = inputs[0]!;
    const meta = op.view({ shape: x.shape, strides: x.strides, offset: x.offset }, attrs);
    if (!meta) internal(`${op.name}: view of a non-viewable layout reached dispatch`);
    const v = Tensor._fromStorage(x._storage!, meta.shape, meta.strides, meta.offset, aval.dtype, device, x);
    v._viewOp = { op, attrs };
    return v;
  }
  const backend = getBackend(device);
  const views = op.kind === 'elementwise' ? inputs.map((t) => broadcastView(t, aval.shape)) : inputs.map(bufView);
  const storage = backend.run(op, views, attrs, aval);
  return Tensor._fromStorage(storage, aval.shape, null, 0, aval.dtype, device, null);
}
