/** @file The registry of every primitive op, keyed by name. Tests and the jit iterate it. */
import * as elementwise from './elementwise.ts';
import * as reduce from './reduce.ts';
import * as movement from './movement.ts';
import { matmul } from './matmul.ts';
import { unfold, fold } from './conv.ts';
import { gather, scatterAdd } from './indexing.ts';
import type { OpDef } from './registry.ts';

const { viewStrides: _vs, ...movementOps } = movement;
const { keptShape: _ks, ...reduceOps } = reduce;

export const prims = {
  ...elementwise,
  ...reduceOps,
  ...movementOps,
  matmul,
  unfold,
  fold,
  gather,
  scatterAdd,
} satisfies Record<string, OpDef>;

export type PrimName = keyof typeof prims;
