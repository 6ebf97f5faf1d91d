/**
 * @file The op record type. Every primitive is one record: its shape/dtype rule, what its backward
 * needs, its vector-Jacobian product written in Tensor ops, and — for elementwise ops — its scalar
 * expression. Backends, the tape, the jit and the tests all read these records.
 */
import type { Aval } from '../backend.ts';
import type { DType } from '../dtype.ts';
import type { Tensor } from '../tensor.ts';
import type { Expr } from './expr.ts';

export type ReduceKind = 'sum' | 'max' | 'min' | 'prod' | 'argmax' | 'argmin';

export interface ViewMeta {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

/** What a backward rule sees: saved tensors, the forward's attributes and its operands' metadata. */
export interface VjpCtx<A> {
  /** operands; only those listed in the op's `save.inputs` are present */
  readonly inputs: readonly (Tensor | undefined)[];
  /** the forward output, when the op saves it */
  readonly out: Tensor | undefined;
  readonly attrs: A;
  readonly inAvals: readonly Aval[];
  readonly outAval: Aval;
  /** which operands need a gradient (rules may skip the others) */
  readonly needsGrad: readonly boolean[];
}

export type Vjp<A> = (g: Tensor, ctx: VjpCtx<A>) => readonly (Tensor | null)[];

interface OpBase<A> {
  readonly name: string;
  /** shape/dtype rule; throws a named error for bad operands or attributes */
  readonly infer: (inputs: readonly Aval[], attrs: A) => Aval;
  /**
   * what the backward rule reads: operand indices (or a function of which operands need a
   * gradient, so e.g. x·3 does not keep x alive) and/or the output
   */
  readonly save?: { readonly inputs?: readonly number[] | ((needsGrad: readonly boolean[]) => readonly number[]); readonly out?: boolean };
  /** absent for ops without a gradient (comparisons, argmax, random) */
  readonly vjp?: Vjp<A>;
  /** operands never differentiated (indices, conditions) */
  readonly nondiff?: readonly number[];
  /** pretty-printer infix symbol, if any */
  readonly infix?: string;
}

export interface ElementwiseOp<A> extends OpBase<A> {
  readonly kind: 'elementwise';
  /** the scalar expression of one output element, given the operands' expressions */
  readonly expr: (inputs: readonly Expr[], attrs: A, out: Aval) => Expr;
  /**
   * The expression fuses several float32 operations that round one by one (the separate ops it
   * replaces did, and the WebAssembly and WGSL kernels do): JavaScript kernels render it through
   * `roundAll` (src/cpu/round-steps.ts) so every path, and the jit, gives the same bits.
   */
  readonly roundSteps?: boolean;
}
export interface ReduceOp<A extends ReduceAttrs = ReduceAttrs> extends OpBase<A> {
  readonly kind: 'reduce';
  readonly reduce: ReduceKind;
}
export interface ViewOp<A> extends OpBase<A> {
  readonly kind: 'view';
  /** the output view of the operand's view, or null when it cannot share storage (copy first) */
  readonly view: (src: ViewMeta, attrs: A) => ViewMeta | null;
}
export interface TemplateOp<K extends TemplateKind, A> extends OpBase<A> {
  readonly kind: K;
}

export interface ReduceAttrs { readonly dims: readonly number[]; readonly keepdim: boolean }
export interface UnfoldAttrs {
  readonly kernel: readonly [number, number];
  readonly stride: readonly [number, number];
  readonly padding: readonly [number, number];
  readonly dilation: readonly [number, number];
  /** value read outside the input (0 for convolution, -Infinity for max pooling) */
  readonly padValue: number;
}
export interface FoldAttrs extends UnfoldAttrs { readonly inputSize: readonly [number, number] }
export interface AxisAttrs {
  readonly dim: number;
  /** gather: the op the user called (crossEntropy, indexSelect…), which index-range errors name */
  readonly what?: string;
}
export interface PadAttrs {
  /** per dim: [before, after], non-negative */
  readonly pads: readonly (readonly [number, number])[];
  /** per dim: distance between consecutive operand elements in the output (1 = dense) */
  readonly steps: readonly number[];
  readonly value: number;
}
export interface CastAttrs { readonly dtype: DType }

/** Non-elementwise, non-view kernels: each is a hand-written template in every backend. */
export type TemplateKind = 'matmul' | 'unfold' | 'fold' | 'gather' | 'scatterAdd' | 'cat' | 'pad' | 'copy';

export type OpDef =
  | ElementwiseOp<any>
  | ReduceOp
  | ViewOp<any>
  | TemplateOp<'matmul', Record<string, never>>
  | TemplateOp<'unfold', UnfoldAttrs>
  | TemplateOp<'fold', FoldAttrs>
  | TemplateOp<'gather', AxisAttrs>
  | TemplateOp<'scatterAdd', AxisAttrs>
  | TemplateOp<'cat', AxisAttrs>
  | TemplateOp<'pad', PadAttrs>
  | TemplateOp<'copy', Record<string, never>>;

export type OpKind = OpDef['kind'];

/** Helper that keeps an elementwise record's attribute type. */
export function elementwise<A>(def: Omit<ElementwiseOp<A>, 'kind'>): ElementwiseOp<A> {
  return { kind: 'elementwise', ...def };
}
export function viewOp<A>(def: Omit<ViewOp<A>, 'kind'>): ViewOp<A> {
  return { kind: 'view', ...def };
}
