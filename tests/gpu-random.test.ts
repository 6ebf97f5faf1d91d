/**
 * @file WebGPU random numbers against the CPU's: wide-range randint (32-bit draws in int32
 * arithmetic) gives the same integers on both devices.
 */
import { gpuStatus } from './gpu-setup.ts';
import { describe, expect, it } from 'vitest';
import { manualSeed, randint } from '../src/index.ts';

const gpu = await gpuStatus();
const G = { device: 'webgpu' as const };

describe.skipIf(!gpu.ok)('webgpu: random numbers', () => {
  it('randint over a range wider than 2^24 gives the same integers as the CPU (32-bit draws in int32 arithmetic)', async () => {
    for (const [lo, hi] of [[0, 2 ** 31], [-(2 ** 31), 2 ** 31], [-(2 ** 30), 2 ** 31], [1e9, 1e9 + 5]] as const) {
      manualSeed(3);
      const c = randint(lo, hi, [2000]);
      manualSeed(3);
      const g = randint(lo, hi, [2000], G);
      const got = await g.data();
      expect(Array.from(got)).toEqual(Array.from(c.dataSync()));
      expect(got.some((v) => v % 2 !== 0)).toBe(true);
    }
  });

});
