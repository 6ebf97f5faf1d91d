/**
 * @file A float64 directional finite-difference gradient check.
 *
 * For f: Tensor[] → Tensor (or Tensor[]), a random output cotangent v and, per input i, a random
 * direction u_i, it compares
 *
 *     numeric_i  = ⟨v, (f(…, x_i + εu_i, …) − f(…, x_i − εu_i, …)) / 2ε⟩
 *     analytic_i = ⟨vjp_i(v), u_i⟩          (vjp from grad(f(x), x, {gradOutputs: v}))
 *
 * which costs two evaluations of f per input, not a full Jacobian. Inputs are differentiable
 * *leaves* that f may first view (transpose, slice, expand), so non-contiguous operands and the
 * views' own backward rules are covered. On failure it computes the full numeric gradient (for
 * small inputs) and reports it beside the analytic one.
 */
import { enableGrad, grad, noGrad, tensor, type Tensor } from '../../src/index.ts';
import { fmtValues, numel } from '../helpers/ndarray.ts';
import { rng, type Rng } from '../helpers/rng.ts';
import { describeSpec, leafOf, viewOf, type TensorSpec } from './arbitraries.ts';

/** One differentiable input: a contiguous float64 leaf, optionally viewed before f sees it. */
export interface GradInput {
  readonly shape: readonly number[];
  readonly values: ArrayLike<number>;
  /** maps the leaf to the operand f receives (default: the leaf itself) */
  readonly view?: (leaf: Tensor) => Tensor;
  /** how to print this input in a failure message */
  readonly describe?: string;
}

export interface GradcheckOptions {
  /** finite-difference step (default 1e-6) */
  eps?: number;
  /** relative tolerance (default 1e-5) */
  rtol?: number;
  /** absolute tolerance (default 1e-6) */
  atol?: number;
  /** seed of the random directions u and cotangents v */
  seed?: number;
  /** extra context for failure messages (attributes, …) */
  context?: string;
}

export class GradcheckError extends Error {
  override name = 'GradcheckError';
}

/** A TensorSpec as a gradcheck input: its leaf values, seen through its view. */
export function specInput(spec: TensorSpec): GradInput {
  return { shape: spec.baseShape, values: spec.base, view: (leaf) => viewOf(spec, leaf), describe: describeSpec(spec) };
}
/** A plain contiguous input. */
export function plainInput(shape: readonly number[], values: ArrayLike<number>): GradInput {
  return { shape, values };
}

type Fn = (xs: readonly Tensor[]) => Tensor | readonly Tensor[];

const f64 = (values: ArrayLike<number>, shape: readonly number[]) => tensor(Float64Array.from(values), { shape, dtype: 'float64' });
const asList = (y: Tensor | readonly Tensor[]): readonly Tensor[] => (Array.isArray(y) ? (y as readonly Tensor[]) : [y as Tensor]);
const valuesOf = (t: Tensor): number[] => Array.from(t.dataSync() as ArrayLike<number>);
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

/** Evaluates f on the inputs with leaf values `vals` (no gradient recorded). */
function evalAt(f: Fn, inputs: readonly GradInput[], vals: readonly ArrayLike<number>[]): number[][] {
  return noGrad(() => {
    const xs = inputs.map((inp, i) => {
      const leaf = f64(vals[i]!, inp.shape);
      return inp.view ? inp.view(leaf) : leaf;
    });
    return asList(f(xs)).map(valuesOf);
  });
}

/**
 * Throws a GradcheckError unless f's vector-Jacobian products agree with central differences.
 * `label` names the op in the message.
 */
export function gradcheck(label: string, f: Fn, inputs: readonly GradInput[], opts: GradcheckOptions = {}): void {
  const { eps = 1e-6, rtol = 1e-5, atol = 1e-6, seed = 1 } = opts;
  const r = rng(seed);

  // analytic: one forward with grad, one backward with a random cotangent per output
  const leaves = inputs.map((inp) => f64(inp.values, inp.shape).requiresGrad_());
  const ys = asList(f(leaves.map((leaf, i) => (inputs[i]!.view ? inputs[i]!.view!(leaf) : leaf))));
  const describe = () => describeCall(label, inputs, ys, opts);
  for (const [k, y] of ys.entries()) {
    if (y.dtype !== 'float64') throw new GradcheckError(`${describe()}\noutput ${k} is ${y.dtype}; gradcheck needs float64 outputs`);
  }
  const vs = ys.map((y) => r.array(y.numel));
  const diffOuts = ys.map((y, k) => [y, k] as const).filter(([y]) => y.requiresGrad && y.numel > 0);
  let grads: (Tensor | null)[] = inputs.map(() => null);
  if (diffOuts.length > 0) {
    grads = grad(diffOuts.map(([y]) => y), leaves, {
      gradOutputs: diffOuts.map(([y, k]) => f64(vs[k]!, y.shape)),
      allowUnused: true,
    });
  }
  const base = inputs.map((inp) => Array.from(inp.values));
  const y0 = ys.map(valuesOf);

  inputs.forEach((inp, i) => {
    const n = numel(inp.shape);
    const g = grads[i];
    if (g) {
      if (g.shape.length !== inp.shape.length || g.shape.some((d, k) => d !== inp.shape[k])) {
        throw new GradcheckError(`${describe()}\ngradient of input ${i} has shape [${g.shape}], expected [${inp.shape}]`);
      }
      if (g.dtype !== 'float64') throw new GradcheckError(`${describe()}\ngradient of input ${i} is ${g.dtype}, expected float64`);
    }
    if (n === 0) return;
    const gv = g ? valuesOf(g) : new Array<number>(n).fill(0);
    const u = r.array(n);
    const analytic = dot(gv, u);
    const plus = base.map((b, j) => (j === i ? b.map((x, k) => x + eps * u[k]!) : b));
    const minus = base.map((b, j) => (j === i ? b.map((x, k) => x - eps * u[k]!) : b));
    const yp = evalAt(f, inputs, plus), ym = evalAt(f, inputs, minus);
    let numeric = 0;
    yp.forEach((p, k) => {
      const m = ym[k]!, v = vs[k]!;
      for (let e = 0; e < p.length; e++) numeric += (v[e]! * (p[e]! - m[e]!)) / (2 * eps);
    });
    const err = Math.abs(analytic - numeric);
    const ok = err <= atol + rtol * Math.max(Math.abs(analytic), Math.abs(numeric));
    if (!ok || !Number.isFinite(analytic) || !Number.isFinite(numeric)) {
      const full = n <= 64 ? numericGradient(f, inputs, base, i, vs, eps) : null;
      throw new GradcheckError(
        `${describe()}\n` +
          `input ${i}: ⟨vjp(v), u⟩ = ${analytic} but central differences give ${numeric} (|diff| ${err.toExponential(3)}, ` +
          `tolerance ${atol} + ${rtol}·max)\n` +
          `  forward output(s): ${y0.map((y) => fmtValues(y)).join(' ; ')}\n` +
          `  v (output cotangent): ${vs.map((v) => fmtValues(v)).join(' ; ')}\n` +
          `  analytic gradient of input ${i}: ${g ? fmtValues(gv, 64) : 'none (input unused or output constant)'}\n` +
          (full ? `  numeric  gradient of input ${i}: ${fmtValues(full, 64)}\n` : ''),
      );
    }
  });
}

/** The numeric gradient ⟨v, ∂f/∂x_ij⟩ for every element j of input i (failure reports only). */
function numericGradient(f: Fn, inputs: readonly GradInput[], base: readonly number[][], i: number, vs: readonly number[][], eps: number): number[] {
  return base[i]!.map((_, j) => {
    const at = (s: number) => base.map((b, k) => (k === i ? b.map((x, e) => (e === j ? x + s * eps : x)) : b));
    const yp = evalAt(f, inputs, at(1)), ym = evalAt(f, inputs, at(-1));
    let acc = 0;
    yp.forEach((p, k) => p.forEach((pe, e) => { acc += (vs[k]![e]! * (pe - ym[k]![e]!)) / (2 * eps); }));
    return acc;
  });
}

function describeCall(label: string, inputs: readonly GradInput[], ys: readonly Tensor[], opts: GradcheckOptions): string {
  const ins = inputs.map((inp, i) => `  input ${i}: ${inp.describe ?? `[${inp.shape}]`} = ${fmtValues(inp.values)}`).join('\n');
  return (
    `gradcheck failed for ${label}${opts.context ? ` (${opts.context})` : ''}\n${ins}\n` +
    `  output(s): ${ys.map((y) => `[${y.shape}] ${y.dtype}`).join(', ')}; eps ${opts.eps ?? 1e-6}, seed ${opts.seed ?? 1}`
  );
}

/**
 * f's directional second derivative as a first-order function: x ↦ Σ_i ⟨vjp_i(f)(x; v), w_i⟩,
 * computed with grad(…, {createGraph: true}). Gradchecking it checks double backward.
 * v and w_i are drawn from `seed` once the shapes are known.
 */
export function vjpOf(f: Fn, seed: number): (xs: readonly Tensor[]) => Tensor {
  let r: Rng | null = null;
  let vs: number[][] | null = null;
  let ws: number[][] | null = null;
  return (xs) => {
    // the finite-difference evaluations run under noGrad with plain inputs: make them leaves here
    return enableGrad(() => {
      const ins = xs.map((x) => (x.requiresGrad ? x : x.detach().requiresGrad_()));
      const ys = asList(f(ins));
      r ??= rng(seed);
      vs ??= ys.map((y) => r!.array(y.numel));
      ws ??= ins.map((x) => r!.array(x.numel));
      const outs = ys.map((y, k) => [y, k] as const).filter(([y]) => y.requiresGrad && y.numel > 0);
      let total: Tensor = f64([0], []);
      if (outs.length === 0) return total;
      const gs = grad(outs.map(([y]) => y), ins, {
        gradOutputs: outs.map(([y, k]) => f64(vs![k]!, y.shape)),
        createGraph: true,
        allowUnused: true,
      });
      gs.forEach((g, i) => {
        if (g) total = total.add(g.mul(f64(ws![i]!, g.shape)).sum());
      });
      return total;
    });
  };
}
