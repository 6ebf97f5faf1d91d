/**
 * @file Shared set-up of the WebGPU suites: opens the device once per test file, skips loudly
 * when no adapter exists locally, and fails when `CI` is set (CI installs a software adapter, so
 * a missing one there is a broken set-up, never a reason to skip).
 */
import '../src/index.ts';
import { expect } from 'vitest';
import { initWebGPU, type Tensor, type WebGPUInfo } from '../src/index.ts';

export interface GpuStatus {
  ok: boolean;
  why: string;
  info: WebGPUInfo | null;
}

let status: Promise<GpuStatus> | null = null;

/** Opens WebGPU (once); resolves to whether the suite can run. */
export function gpuStatus(): Promise<GpuStatus> {
  status ??= (async (): Promise<GpuStatus> => {
    if (typeof process !== 'undefined') process.env.XDG_RUNTIME_DIR ??= '/tmp';
    try {
      const info = await initWebGPU();
      return { ok: true, why: '', info };
    } catch (e) {
      const why = (e as Error).message;
      if (process.env.CI) throw new Error(`WebGPU is required in CI (CI=${process.env.CI}) but unavailable: ${why}`);
      console.warn(`\n*** WebGPU tests SKIPPED: ${why}\n`);
      return { ok: false, why, info: null };
    }
  })();
  return status;
}

/** NaN matches NaN, infinities match exactly, finite values within atol + rtol·|expected|. */
export function closeEnough(a: number, e: number, rtol: number, atol: number): boolean {
  if (Number.isNaN(e)) return Number.isNaN(a);
  if (!Number.isFinite(e)) return a === e;
  return Math.abs(a - e) <= atol + rtol * Math.abs(e);
}

/** Throws a readable error unless `got` matches `want` elementwise. */
export function expectAllClose(label: string, got: ArrayLike<number>, want: ArrayLike<number>, rtol: number, atol: number): void {
  if (got.length !== want.length) throw new Error(`${label}: ${got.length} values, expected ${want.length}`);
  for (let i = 0; i < got.length; i++) {
    const a = Number(got[i]), e = Number(want[i]);
    if (!closeEnough(a, e, rtol, atol)) {
      const show = (x: ArrayLike<number>) => Array.from(x).slice(0, 24).map((v) => Number(v).toPrecision(6)).join(', ');
      throw new Error(`${label}: element ${i} is ${a}, expected ${e} (|diff| ${Math.abs(a - e).toExponential(3)})\n  webgpu: ${show(got)}\n  cpu:    ${show(want)}`);
    }
  }
}

/** Compares a WebGPU tensor with a CPU tensor: shape, dtype and values. */
export async function expectSameTensor(label: string, gpu: Tensor, cpu: Tensor, rtol = 1e-5, atol = 1e-6): Promise<void> {
  expect(gpu.device, `${label}: device`).toBe('webgpu');
  expect(gpu.shape, `${label}: shape`).toEqual(cpu.shape);
  expect(gpu.dtype, `${label}: dtype`).toBe(cpu.dtype);
  expectAllClose(label, await gpu.data(), cpu.dataSync(), rtol, atol);
}
