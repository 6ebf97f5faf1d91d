/**
 * @file Common-subexpression elimination. Hash-consing already merges identical nodes as they
 * are built; this pass also puts the operands of commutative ops in a canonical order (constants
 * first, then by node id), so `a + b` and `b + a` — which rewrites can create — become one node.
 */
import { constValue, rebuild, type GNode, type Graph } from '../graph.ts';

const COMMUTATIVE: ReadonlySet<string> = new Set(['add', 'mul', 'maximum', 'minimum', 'eq', 'ne', 'logicalAnd', 'logicalOr']);

const rank = (n: GNode) => (constValue(n) !== undefined ? -1 : n.id);

/** The CSE pass. */
export function cse(g: Graph): Graph {
  return rebuild(g, (n, ins, b) => {
    if (!COMMUTATIVE.has(n.op!.name) || ins.length !== 2) return null;
    const [a, c] = ins as [GNode, GNode];
    return rank(c) < rank(a) ? b.add(n.op!, [c, a], n.attrs, n.device) : null;
  }).graph;
}
