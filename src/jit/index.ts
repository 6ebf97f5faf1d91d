/**
 * @file The jit and the symbolic layer: `jit(fn)` compiles PyTorch-style code (a whole training
 * step included) to fused kernels; `T`, `fn`, `shared` are the Theano-style front end over the same
 * graphs; `pp`, `ppGraph` and `toDot` print them.
 */
export { jit, warmup, type Jitted, type JitOptions, type JitStats, type Lowering } from './jit.ts';
export { T, fn, shared, pp, lift, Var, type TheanoFunction, type FnOptions, type SharedOptions } from './theano.ts';
export { ppNode, ppGraph, ppOutputs, toDot } from './pp.ts';
export { Graph, GNode } from './graph.ts';
export { rules as simplifyRules, type Rule } from './passes/simplify.ts';
export { setTensorName } from './trace.ts';
export type { CompileOptions } from './compile.ts';
export type { KernelInfo } from './exec/program.ts';
