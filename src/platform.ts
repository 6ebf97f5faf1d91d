/**
 * @file What only Node offers beyond the web platform (a forced garbage collection, built-in
 * modules), reached through dynamic imports of computed specifiers so a browser bundle of the
 * library contains none of it; and yielding to the event loop, which both have.
 */

/** True when running under Node (not a browser, not a worker without `process`). */
export function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

// NOTE: specifiers are computed so bundlers (esbuild, vite) leave these imports alone.
/** A Node built-in or package, imported at run time. */
export const nodeImport = (name: string): Promise<unknown> => import(/* @vite-ignore */ /* webpackIgnore: true */ name);

/**
 * A function that runs a full, synchronous garbage collection, or null where none can be had
 * (browsers). Under Node it comes from `v8.setFlagsFromString('--expose-gc')` plus a fresh context.
 */
export async function findForcedGc(): Promise<(() => void) | null> {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return existing;
  if (!isNode()) return null;
  try {
    const v8 = (await nodeImport('node:v8')) as { setFlagsFromString(f: string): void };
    const vm = (await nodeImport('node:vm')) as { runInNewContext(code: string): unknown };
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    return null;
  }
}

/**
 * Resolves in a later macrotask. Past it, WeakRefs made or read by the caller's synchronous code
 * (and the microtasks after it) no longer hold their targets, so a collection can clear them.
 */
export function nextMacrotask(): Promise<void> {
  const immediate = (globalThis as { setImmediate?: (f: () => void) => unknown }).setImmediate;
  return new Promise<void>((resolve) => (immediate ? immediate(resolve) : setTimeout(resolve, 0)));
}
