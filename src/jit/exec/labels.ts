/** @file Short labels of kernels for stats and printing. */
import { canon, dtypeShort } from '../graph.ts';
import type { Kernel } from '../lower.ts';

/** e.g. `%7 add f32[128, 10]` (the node a kernel computes). */
export function kernelLabel(k: Kernel): string {
  const n = k.node;
  const attrs = n.op && n.kind === 'op' && n.attrs && Object.keys(n.attrs as object).length ? ` ${canon(n.attrs)}` : '';
  return `%${n.id} ${n.opName}${attrs} ${dtypeShort(n.dtype)}[${n.shape.join(', ')}]`;
}
