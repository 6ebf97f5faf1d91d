/**
 * @file Dead-code elimination: keeps only the op nodes the outputs and updates depend on
 * (inputs and states stay: they are the compiled function's interface).
 */
import { liveNodes, rebuild, type Graph } from '../graph.ts';

/** The DCE pass. */
export function dce(g: Graph): Graph {
  return rebuild(g, undefined, liveNodes(g)).graph;
}
