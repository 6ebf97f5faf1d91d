/**
 * @file Property tests: jit(f)(x) equals f(x) bit for bit on random int32 programs — chains of
 * every elementwise primitive of the op registry that takes int32 operands (a new one joins
 * without a line here), over values that include −2³¹, 2³¹ − 1, 0 and −1, where int32 arithmetic
 * wraps — each program ending in a cast to float32 and a reciprocal, so a −0 or an unwrapped
 * value inside a fused kernel shows (int32 abs of −2³¹ and the remainder's −0 were found so).
 * CPU executor and WebGPU (its own executor) against eager on the same device.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Tensor, tensor, type Device } from '../../src/index.ts';
import { jit } from '../../src/jit/index.ts';
import { dispatch } from '../../src/ops/dispatch.ts';
import { prims } from '../../src/ops/prims.ts';
import type { OpDef } from '../../src/ops/registry.ts';
import type { Aval } from '../../src/backend.ts';
import { gpuStatus } from '../gpu-setup.ts';
import { primCases, type PrimCase } from '../property/prim-cases.ts';

/**
 * Elementwise primitives that take int32 operands and give int32 or bool, with the operand count
 * and attributes their registry case samples (sources and ops with index or mask operands left out).
 */
const INT_OPS: readonly { op: OpDef; arity: number; attrs: unknown }[] = Object.values(prims as Record<string, OpDef>)
  .filter((op) => op.kind === 'elementwise')
  .flatMap((op) => {
    const c = (primCases as Record<string, PrimCase | undefined>)[op.name];
    const sample = c ? fc.sample(c.gen, { numRuns: 1, seed: 3 })[0] : undefined;
    if (!sample || sample.consts?.length || sample.xs.length === 0) return [];
    try {
      const avals = sample.xs.map((): Aval => ({ shape: [3], dtype: 'int32' }));
      const out = op.infer(avals, sample.attrs as never);
      return out.dtype === 'int32' || out.dtype === 'bool' ? [{ op, arity: sample.xs.length, attrs: sample.attrs }] : [];
    } catch {
      return []; // float-only
    }
  });

const EDGE = [-(2 ** 31), 2 ** 31 - 1, 0, -1, 1, 2, -7, 13];
const valueArb = fc.oneof(fc.constantFrom(...EDGE), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: -20, max: 20 }));
const programArb = fc.record({
  a: fc.array(valueArb, { minLength: 4, maxLength: 4 }),
  b: fc.array(valueArb, { minLength: 4, maxLength: 4 }),
  steps: fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat()), { minLength: 1, maxLength: 6 }),
});

/** Runs the steps on int32 operands; bool results are cast back to int32. Ends as float32 1/x. */
function run(steps: readonly (readonly [number, number, number])[], a: Tensor, b: Tensor): Tensor {
  const pool = [a, b];
  for (const [k, i, j] of steps) {
    const { op, arity, attrs } = INT_OPS[k % INT_OPS.length]!;
    const operands = Array.from({ length: arity }, (_, m) => pool[(m === 0 ? i : j + m) % pool.length]!);
    let out = dispatch(op, operands, attrs as never);
    if (out.dtype === 'bool') out = out.to('int32');
    pool.push(out);
  }
  return pool[pool.length - 1]!.to('float32').reciprocal();
}

const gpu = await gpuStatus();
const bits = (v: ArrayLike<number>) => Array.from(v, (x) => (Object.is(x, -0) ? '-0' : String(x)));

async function check(device: Device, steps: readonly (readonly [number, number, number])[], av: number[], bv: number[]): Promise<void> {
  const a = tensor(av, { dtype: 'int32', device }), b = tensor(bv, { dtype: 'int32', device });
  let eager: string[] | Error;
  try {
    eager = bits(await run(steps, a, b).data());
  } catch (e) {
    eager = e as Error; // integer division by zero: the compiled function must raise too
  }
  const f = jit((x: Tensor, y: Tensor) => run(steps, x, y), { eagerFirstCall: false });
  if (eager instanceof Error) {
    await expect((async () => f(a, b).data())()).rejects.toThrow();
    return;
  }
  expect(bits(await f(a, b).data())).toEqual(eager);
}

describe('jit: random int32 programs (wrapping, signed zeros of int → float) equal eager', () => {
  it('covers the int32 elementwise primitives of the registry', () => {
    const names = INT_OPS.map((o) => o.op.name);
    for (const n of ['add', 'sub', 'mul', 'div', 'remainder', 'neg', 'abs', 'maximum', 'lt', 'eq']) expect(names).toContain(n);
  });

  it('on the CPU', async () => {
    await fc.assert(fc.asyncProperty(programArb, async ({ a, b, steps }) => check('cpu', steps, a, b)), { numRuns: 150, seed: 12 });
  });

  it.skipIf(!gpu.ok)('on WebGPU', async () => {
    await fc.assert(fc.asyncProperty(programArb, async ({ a, b, steps }) => check('webgpu', steps, a, b)), { numRuns: 40, seed: 12 });
  });
});
