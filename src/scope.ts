/**
 * @file Deterministic memory release: `scope(fn)` disposes the tensors created while `fn` runs,
 * except those it returns, those passed to `keep()`, gradients stored into `.grad`, and what the
 * autograd graph of a kept tensor saved for its backward. Works on every device; it matters most
 * on WebGPU, where buffers are not reclaimed until the garbage collector notices.
 * @example
 * const loss = scope(() => {
 *   const l = crossEntropy(model(x), y);
 *   l.backward();
 *   opt.step();
 *   return l;            // kept; every other intermediate is released here
 * });
 * console.log(await loss.item());
 * loss.dispose();
 */
import { ValueError } from './errors.ts';
import { Tensor } from './tensor.ts';
import type { Node } from './tape.ts';

interface Frame {
  readonly created: Tensor[];
  /** tensors whose .grad was set in the scope (their current gradient escapes) */
  readonly gradOwners: Tensor[];
}

const frames: Frame[] = [];
const keptForever = new WeakSet<Tensor>();

const hooks = {
  created(t: Tensor): void {
    frames[frames.length - 1]?.created.push(t);
  },
  gradSet(owner: Tensor): void {
    frames[frames.length - 1]?.gradOwners.push(owner);
  },
};

/** Whether a `scope()` is running (what is made now is released at its end, unless it escapes). */
export function inScope(): boolean {
  return frames.length > 0;
}

/** Marks a tensor created inside a scope as surviving every enclosing scope. Returns it. */
export function keep<T extends Tensor>(t: T): T {
  if (!(t instanceof Tensor)) throw new ValueError(`keep: expected a Tensor, got ${t === null ? 'null' : typeof t}`);
  keptForever.add(t);
  return t;
}

function isPlainObject(v: object): boolean {
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

/** Tensors reachable from a returned value (arrays, plain objects, Maps and Sets are searched). */
function collectTensors(value: unknown, out: Set<Tensor>): void {
  const seen = new Set<unknown>();
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object' || seen.has(v)) continue;
    seen.add(v);
    if (v instanceof Tensor) out.add(v);
    else if (Array.isArray(v)) stack.push(...v);
    else if (v instanceof Map) stack.push(...v.keys(), ...v.values());
    else if (v instanceof Set) stack.push(...v);
    else if (isPlainObject(v)) stack.push(...Object.values(v));
  }
}

/** Adds what the autograd graphs behind `roots` saved for backward (so backward works after the scope). */
function collectSaved(roots: Iterable<Tensor>, out: Set<Tensor>): void {
  const seen = new Set<Node>();
  const stack: Node[] = [];
  for (const t of roots) if (t.gradFn) stack.push(t.gradFn);
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    for (const s of n.saved ?? []) if (s) out.add(s);
    if (n.savedOut) out.add(n.savedOut);
    if (n.retainTarget) out.add(n.retainTarget);
    for (const e of n.edges) if (e && 'node' in e) stack.push(e.node);
  }
}

function release(frame: Frame, result: unknown): void {
  const keepSet = new Set<Tensor>();
  collectTensors(result, keepSet);
  // gradients still stored in .grad when the scope ends (one set to null inside it is released)
  for (const o of frame.gradOwners) if (o._grad) keepSet.add(o._grad);
  for (const t of frame.created) if (keptForever.has(t)) keepSet.add(t);
  collectSaved([...keepSet], keepSet);
  const keptStorages = new Set(Array.from(keepSet, (t) => t._storage));
  // storages created in this scope (by an op or an upload, not views of older storages)
  const owned = new Set(frame.created.filter((t) => t._base === null && t._storage).map((t) => t._storage));
  const parent = frames[frames.length - 1];
  const released = new Set<unknown>();
  for (const t of frame.created) {
    const s = t._storage;
    if (t._disposed || !owned.has(s) || keptStorages.has(s)) {
      // survivors (and views of older storages) belong to the enclosing scope, if any
      if (parent && !t._disposed && owned.has(s)) parent.created.push(t);
      continue;
    }
    if (!released.has(s)) {
      released.add(s);
      t.dispose();
    } else t._disposed = true;
  }
  if (parent) parent.gradOwners.push(...frame.gradOwners);
}

/**
 * Runs `fn` and disposes every tensor it created that does not escape: the return value (searched
 * through arrays, plain objects, Maps and Sets), tensors passed to `keep()`, gradients still stored
 * in a `.grad` when the scope ends, and tensors saved by the autograd graph of those. `fn` must
 * be synchronous: a function that returns a Promise is a TypeError (dispose manually across
 * `await`).
 */
export function scope<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new ValueError(`scope: expected a function to run, got ${typeof fn}`);
  if (fn.constructor?.name === 'AsyncFunction') {
    throw new TypeError('scope() callbacks must be synchronous: tensors created after an await would escape the scope; dispose manually across await');
  }
  const frame: Frame = { created: [], gradOwners: [] };
  frames.push(frame);
  Tensor._scopeHooks = hooks;
  let result: T | undefined;
  try {
    result = fn();
    if (result instanceof Promise) {
      result.catch(() => {});
      throw new TypeError('scope() callbacks must be synchronous (this one returned a Promise): tensors created after an await would escape the scope; dispose manually across await');
    }
    return result;
  } finally {
    frames.pop();
    if (!frames.length) Tensor._scopeHooks = null;
    release(frame, result instanceof Promise ? undefined : result);
  }
}
