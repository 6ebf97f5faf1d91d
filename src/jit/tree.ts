/**
 * @file Flattening of nested arguments and results (arrays and plain objects of tensors) into
 * tensor leaves plus a static skeleton, and the call signature the jit cache is keyed on.
 */
import { Tensor } from '../tensor.ts';
import { fmtShape } from '../shape.ts';

/** A description of one argument leaf, for cache keys and retrace messages. */
export interface LeafSig {
  readonly path: string;
  readonly desc: string;
}

export interface Flat {
  /** tensor leaves in a fixed order */
  readonly tensors: Tensor[];
  /** paths of the tensor leaves, e.g. `args[0]`, `args[1].w` */
  readonly paths: string[];
  /** every leaf (tensor or static) with its description */
  readonly sigs: LeafSig[];
  /** rebuilds the structure with new tensor leaves */
  readonly unflatten: (leaves: readonly unknown[]) => unknown;
}

const objIds = new WeakMap<object, number>();
let nextObjId = 0;
function objId(o: object): number {
  let id = objIds.get(o);
  if (id === undefined) objIds.set(o, (id = nextObjId++));
  return id;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

/** Describes a tensor for the signature: dtype, shape, device, autograd flags. */
export function tensorDesc(t: Tensor, withGrad: boolean): string {
  let s = `${t.dtype}${fmtShape(t.shape)}@${t.device}`;
  // The layout, where it is not the plain one: a trace decides from it whether a reshape of the
  // argument is a view or a copy and whether contiguous() returns the argument itself, so an
  // in-place write through them reaches the argument or not (as eagerly). A transposed or sliced
  // argument therefore gets its own trace.
  if (!t.isContiguous) s += ` strides${fmtShape(t.strides)}`;
  if (t.offset !== 0 || (t._storage && t._storage.size !== t.numel)) s += ' part of its storage';
  // (a non-leaf's gradient flows on into its history: a backward inside must not treat it as a leaf)
  if (withGrad && t.requiresGrad) s += (t.isLeaf ? '' : ' non-leaf') + (t.grad ? ' requiresGrad+grad' : ' requiresGrad');
  return s;
}

function staticDesc(v: unknown): string {
  switch (typeof v) {
    case 'number': return Object.is(v, -0) ? 'number -0' : `number ${v}`;
    case 'string': return `string ${JSON.stringify(v)}`;
    case 'boolean': case 'bigint': case 'undefined': return `${typeof v} ${String(v)}`;
    case 'symbol': return `symbol ${String(v)}`;
    case 'function': return `function #${objId(v as object)}`;
    case 'object': return v === null ? 'null' : `object #${objId(v)} (${(v as object).constructor?.name ?? 'Object'})`;
    default: return String(v);
  }
}

/** Flattens `value` (tensors inside arrays and plain objects; anything else is static). */
export function flatten(value: unknown, root: string, withGrad = true): Flat {
  const tensors: Tensor[] = [];
  const paths: string[] = [];
  const sigs: LeafSig[] = [];
  const build = (v: unknown, path: string): ((leaves: readonly unknown[]) => unknown) => {
    if (v instanceof Tensor) {
      const i = tensors.length;
      tensors.push(v);
      paths.push(path);
      sigs.push({ path, desc: tensorDesc(v, withGrad) });
      return (leaves) => leaves[i];
    }
    if (Array.isArray(v)) {
      sigs.push({ path, desc: `array(${v.length})` });
      const parts = v.map((x, i) => build(x, `${path}[${i}]`));
      return (leaves) => parts.map((p) => p(leaves));
    }
    if (isPlainObject(v)) {
      // in the object's own order: a compiled function returns (and is given) its objects with
      // the keys as eager code would see them; another order is another signature
      const keys = Object.keys(v);
      sigs.push({ path, desc: `object{${keys.join(',')}}` });
      const parts = keys.map((k) => [k, build(v[k], `${path}.${k}`)] as const);
      return (leaves) => {
        const o: Record<string, unknown> = {};
        for (const [k, p] of parts) o[k] = p(leaves);
        return o;
      };
    }
    sigs.push({ path, desc: staticDesc(v) });
    return () => v;
  };
  const unflatten = build(value, root);
  return { tensors, paths, sigs, unflatten };
}

/** The first leaf whose description differs between two signatures, in words. */
export function describeChange(prev: readonly LeafSig[], next: readonly LeafSig[]): string {
  const n = Math.max(prev.length, next.length);
  for (let i = 0; i < n; i++) {
    const a = prev[i], b = next[i];
    if (!a || !b) return `the number of argument leaves changed (${prev.length} → ${next.length})`;
    if (a.path !== b.path) return `the argument structure changed at ${a.path} / ${b.path}`;
    if (a.desc !== b.desc) return `${a.path} changed: ${a.desc} → ${b.desc}`;
  }
  return 'the arguments and grad mode are the same; a `.grad` read inside the function, or JavaScript state the trace branched on (such as an optimizer\'s options), changed';
}

/**
 * The path of a symbolic tensor that `value` holds where `flatten` does not look (inside a Map, a
 * Set or a class instance), if any: a traced function's result must not carry one, since the
 * caller would get the trace's placeholder instead of a value.
 */
export function hiddenTensor(value: unknown, root: string): string | null {
  const seen = new Set<object>();
  const walk = (v: unknown, path: string, hidden: boolean): string | null => {
    if (v instanceof Tensor) return hidden && v.isSymbolic ? path : null;
    if (typeof v !== 'object' || v === null || seen.has(v)) return null;
    seen.add(v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const p = walk(v[i], `${path}[${i}]`, hidden);
        if (p) return p;
      }
      return null;
    }
    if (v instanceof Map) {
      for (const [k, x] of v) {
        const p = walk(x, `${path}.get(${JSON.stringify(k) ?? String(k)})`, true);
        if (p) return p;
      }
      return null;
    }
    if (v instanceof Set) {
      for (const x of v) {
        const p = walk(x, `${path} (a Set)`, true);
        if (p) return p;
      }
      return null;
    }
    const plain = isPlainObject(v);
    for (const k of Object.keys(v)) {
      const p = walk((v as Record<string, unknown>)[k], `${path}.${k}`, hidden || !plain);
      if (p) return p;
    }
    return null;
  };
  return walk(value, root, false);
}