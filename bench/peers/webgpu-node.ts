// WebGPU for the peers under Node: installs Dawn (npm `webgpu`) as `navigator.gpu`, but only when an
// adapter exists, so libraries that test `navigator.gpu` at import time do not pick a dead one.

export interface WebGPUStatus {
  ok: boolean;
  /** Adapter description when ok, otherwise why not. */
  detail: string;
}

let status: Promise<WebGPUStatus> | null = null;

async function probe(): Promise<WebGPUStatus> {
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (g.navigator?.gpu) {
    const a = await g.navigator.gpu.requestAdapter();
    if (a) return { ok: true, detail: describe(a) };
  }
  let mod: typeof import('webgpu');
  try {
    mod = await import('webgpu');
  } catch (e) {
    return { ok: false, detail: `npm 'webgpu' not loadable: ${(e as Error).message}` };
  }
  // Dawn prints a warning when libvulkan is missing; keep it, it explains a missing adapter.
  const gpu = mod.create([]);
  const adapter = await gpu.requestAdapter();
  if (!adapter) return { ok: false, detail: 'no WebGPU adapter (Dawn found none: install Mesa lavapipe / a Vulkan driver)' };
  Object.assign(globalThis, mod.globals);
  const nav = (g.navigator ?? {}) as { gpu?: GPU; userAgent?: string };
  // Node 21+ defines `navigator` as a getter on globalThis; Node 20 has none. jax-js's WebGPU
  // backend reads navigator.userAgent (browser-specific tuning), so give it one.
  if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: nav, configurable: true, writable: true });
  if (typeof nav.userAgent !== 'string') Object.defineProperty(nav, 'userAgent', { value: `Node.js/${process.version}`, configurable: true });
  Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true, writable: true });
  return { ok: true, detail: describe(adapter) };
}

function describe(a: GPUAdapter): string {
  const info = (a as { info?: GPUAdapterInfo }).info;
  return info ? [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' / ') || 'adapter' : 'adapter';
}

/** Makes `navigator.gpu` available when Dawn finds an adapter. Safe to call repeatedly. */
export function ensureWebGPU(): Promise<WebGPUStatus> {
  status ??= probe().catch((e) => ({ ok: false, detail: `WebGPU probe failed: ${(e as Error).message}` }));
  return status;
}
