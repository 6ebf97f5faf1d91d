/**
 * @file The jit's graph. Nodes are hash-consed on (op, input ids, canonical attrs), so identical
 * subgraphs merge as they are built; creation order is a topological order. Inputs are the
 * function's tensor arguments, states the concrete tensors it reads (parameters, optimizer state,
 * `.grad`), bound at every call; updates are in-place writes to states or arguments, applied after
 * the graph ran and all computed from pre-update values.
 */
import type { Aval, Device } from '../backend.ts';
import type { DType } from '../dtype.ts';
import { internal } from '../errors.ts';
import type { OpDef } from '../ops/registry.ts';
import { prims } from '../ops/prims.ts';
import { numel, sameShape } from '../shape.ts';

export type NodeKind = 'input' | 'state' | 'op';

/** One node: an input, a state, or an op applied to earlier nodes. */
export class GNode {
  /** printing name (inputs, states; op nodes may get one from the user) */
  name: string | undefined;
  /** inputs and states: position in graph.inputs / graph.states */
  index = -1;
  /** states: how the caller binds it at every call (opaque to the graph) */
  binding: unknown = undefined;

  constructor(
    readonly graph: Graph,
    readonly id: number,
    readonly kind: NodeKind,
    readonly op: OpDef | null,
    readonly inputs: readonly GNode[],
    readonly attrs: unknown,
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly device: Device,
    readonly key: string,
  ) {}

  get numel(): number {
    return numel(this.shape);
  }
  get aval(): Aval {
    return { shape: this.shape, dtype: this.dtype };
  }
  /** the op's name, or 'input'/'state' */
  get opName(): string {
    return this.op ? this.op.name : this.kind;
  }
}

/** An in-place write applied after the graph ran: target (an input or state) ← value. */
export interface Update {
  readonly target: GNode;
  readonly value: GNode;
}

/** A stable string for attribute values (object keys sorted; -0, NaN, ±Infinity kept). */
export function canon(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  switch (typeof v) {
    case 'number': return Object.is(v, -0) ? '-0' : String(v);
    case 'string': return JSON.stringify(v);
    case 'boolean': case 'bigint': return String(v);
    case 'object': {
      if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`;
      const o = v as Record<string, unknown>;
      return `{${Object.keys(o).sort().map((k) => `${k}:${canon(o[k])}`).join(',')}}`;
    }
    default: return String(v);
  }
}

export class Graph {
  readonly nodes: GNode[] = [];
  readonly inputs: GNode[] = [];
  readonly states: GNode[] = [];
  outputs: GNode[] = [];
  updates: Update[] = [];
  /** set when tracing ended: symbolic tensors of a closed graph must not be used again */
  closed = false;
  private readonly table = new Map<string, GNode>();
  private nextId = 0;

  private make(kind: NodeKind, op: OpDef | null, inputs: readonly GNode[], attrs: unknown, aval: Aval, device: Device, key: string): GNode {
    const n = new GNode(this, this.nextId++, kind, op, inputs, attrs, aval.shape, aval.dtype, device, key);
    this.nodes.push(n);
    return n;
  }

  /** A new argument placeholder. */
  addInput(aval: Aval, device: Device, name?: string): GNode {
    const n = this.make('input', null, [], undefined, aval, device, `input#${this.inputs.length}`);
    n.index = this.inputs.length;
    n.name = name;
    this.inputs.push(n);
    return n;
  }

  /** A new state input, bound by the caller at every call. */
  addState(aval: Aval, device: Device, binding: unknown, name?: string): GNode {
    const n = this.make('state', null, [], undefined, aval, device, `state#${this.states.length}`);
    n.index = this.states.length;
    n.name = name;
    n.binding = binding;
    this.states.push(n);
    return n;
  }

  /** `op(inputs; attrs)`, or the identical node if one exists. `aval` skips re-running the shape rule. */
  add(op: OpDef, inputs: readonly GNode[], attrs: unknown, device: Device, aval?: Aval): GNode {
    for (const i of inputs) if (i.graph !== this) internal(`jit: node #${i.id} of another graph used in ${op.name}`);
    const key = `${op.name}(${inputs.map((i) => i.id).join(',')})${canon(attrs)}@${device}`;
    const hit = this.table.get(key);
    if (hit) return hit;
    const out = aval ?? op.infer(inputs.map((i) => i.aval), attrs as never);
    const n = this.make('op', op, inputs, attrs, { shape: [...out.shape], dtype: out.dtype }, device, key);
    this.table.set(key, n);
    return n;
  }

  /** A constant: `full(shape, value)` (0-d by default). */
  constant(value: number, dtype: DType, device: Device, shape: readonly number[] = []): GNode {
    return this.add(prims.full, [], { shape: [...shape], value, dtype }, device);
  }

  /** Consumers of every node (in creation order). */
  users(): Map<GNode, GNode[]> {
    const m = new Map<GNode, GNode[]>();
    for (const n of this.nodes) {
      for (const i of n.inputs) {
        let l = m.get(i);
        if (!l) m.set(i, (l = []));
        if (!l.includes(n)) l.push(n);
      }
    }
    return m;
  }

  /** Number of op nodes (inputs and states not counted). */
  get opCount(): number {
    return this.nodes.filter((n) => n.kind === 'op').length;
  }
}

/** The value of a constant node (`full`), else undefined. */
export function constValue(n: GNode): number | undefined {
  return n.op === prims.full ? (n.attrs as { value: number }).value : undefined;
}
export function isConst(n: GNode, v?: number): boolean {
  const c = constValue(n);
  return c !== undefined && (v === undefined || Object.is(c, v) || c === v);
}

/** Nodes reachable (backwards) from the outputs and updates. */
export function liveNodes(g: Graph): Set<GNode> {
  const live = new Set<GNode>();
  const stack: GNode[] = [...g.outputs, ...g.updates.flatMap((u) => [u.target, u.value])];
  while (stack.length) {
    const n = stack.pop()!;
    if (live.has(n)) continue;
    live.add(n);
    stack.push(...n.inputs);
  }
  return live;
}

/**
 * Called for every op node while rebuilding: returns its replacement in the new graph (built on
 * the already-mapped inputs), or null for the default copy.
 */
export type Visit = (n: GNode, inputs: GNode[], b: Graph) => GNode | null;

/**
 * Copies `g` node by node in topological order (inputs and states keep their index, name and
 * binding), letting `visit` replace op nodes; `keep` restricts the copy (DCE).
 */
export function rebuild(g: Graph, visit?: Visit, keep?: Set<GNode>): { graph: Graph; map: Map<GNode, GNode> } {
  const b = new Graph();
  const map = new Map<GNode, GNode>();
  for (const n of g.inputs) {
    const m = b.addInput(n.aval, n.device, n.name);
    map.set(n, m);
  }
  for (const n of g.states) {
    const m = b.addState(n.aval, n.device, n.binding, n.name);
    map.set(n, m);
  }
  for (const n of g.nodes) {
    if (n.kind !== 'op' || (keep && !keep.has(n))) continue;
    const ins = n.inputs.map((i) => map.get(i) ?? internal(`jit: rebuild reached node #${i.id} before its producer`));
    let m = visit?.(n, ins, b) ?? null;
    if (!m) m = b.add(n.op!, ins, n.attrs, n.device);
    if (!sameShape(m.shape, n.shape) || m.dtype !== n.dtype) {
      internal(`jit: rewrite of ${n.opName} changed its type from ${n.dtype}[${n.shape}] to ${m.dtype}[${m.shape}]`);
    }
    if (n.name && !m.name) m.name = n.name;
    map.set(n, m);
  }
  const get = (n: GNode) => map.get(n) ?? internal(`jit: output node #${n.id} was dropped`);
  b.outputs = g.outputs.map(get);
  b.updates = g.updates.map((u) => ({ target: get(u.target), value: get(u.value) }));
  return { graph: b, map };
}

/** Short dtype names for printing. */
export function dtypeShort(d: DType): string {
  switch (d) {
    case 'float32': return 'f32';
    case 'float64': return 'f64';
    case 'int32': return 'i32';
    case 'bool': return 'bool';
    default: return d satisfies never;
  }
}
