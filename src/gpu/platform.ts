/**
 * @file The platform seam of the WebGPU backend: everything that only Node has (the Dawn
 * bindings of the npm package `webgpu`, a forced garbage collection) is reached through dynamic
 * imports of computed specifiers, so a browser bundle of the library contains none of it.
 */

/** True when running under Node (not a browser, not a worker without `process`). */
export function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

// NOTE: specifiers are computed so bundlers (esbuild, vite) leave these imports alone.
const nodeImport = (name: string): Promise<unknown> => import(/* @vite-ignore */ /* webpackIgnore: true */ name);

/** Where the GPU object came from, for messages. */
export type GpuSource = 'navigator.gpu' | 'webgpu (Dawn)';

/** `navigator.gpu` where it exists, else (Node) the Dawn bindings of the npm package `webgpu`. */
export async function findGpu(dawnOptions: readonly string[] = []): Promise<{ gpu: GPU; source: GpuSource } | { gpu: null; why: string }> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return { gpu: nav.gpu, source: 'navigator.gpu' };
  if (!isNode()) {
    return { gpu: null, why: 'this browser has no navigator.gpu (WebGPU is disabled or unsupported; Chromium on Linux needs --enable-unsafe-webgpu)' };
  }
  let mod: { create: (opts: string[]) => GPU };
  try {
    mod = (await nodeImport('webgpu')) as typeof mod;
  } catch (e) {
    return { gpu: null, why: `the npm package 'webgpu' (Dawn for Node) could not be loaded: ${(e as Error).message}. Install it with npm install webgpu` };
  }
  return { gpu: mod.create([...dawnOptions]), source: 'webgpu (Dawn)' };
}

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
