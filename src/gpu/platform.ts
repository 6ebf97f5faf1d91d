/**
 * @file The platform seam of the WebGPU backend: `navigator.gpu` in browsers, else the Dawn
 * bindings of the npm package `webgpu`, imported at run time (../platform.ts) so a browser bundle
 * of the library contains none of it.
 */

import { isNode, nodeImport } from '../platform.ts';

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
