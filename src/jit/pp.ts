/**
 * @file Printing graphs: `pp` writes an expression the way Theano's tutorial does (`(x + y)`),
 * `ppGraph` lists a whole graph one node per line, `toDot` exports Graphviz.
 */
import type { ReduceAttrs } from '../ops/registry.ts';
import { isDivisorCheck } from '../errors.ts';
import { Tensor } from '../tensor.ts';
import { constValue, dtypeShort, liveNodes, type GNode, type Graph } from './graph.ts';

const UNARY_PREFIX: Record<string, string> = { neg: '-' };

function fmtNum(value: number, dtype: string): string {
  // a float32 integer as the kernels see it (16777217 is 16777216); other values print below in
  // the shortest form that reads back as the same float32
  const v = dtype === 'float32' && Number.isInteger(value) ? Math.fround(value) : value;
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  if (Number.isInteger(v)) return String(v);
  // shortest form that reads back as the value: a float32 constant in 8 significant digits at
  // most, a float64 one in full (1 + 1e-12 is not 1: printing it so would hide a real multiply)
  const s = String(v);
  if (dtype !== 'float32') return s;
  const short = Number(v.toPrecision(8));
  return Math.fround(short) === Math.fround(v) && s.length > 10 ? String(short) : s;
}

function leafName(n: GNode): string {
  if (n.kind === 'input') return n.name ?? `in${n.index}`;
  if (n.kind === 'state') return n.name ?? `s${n.index}`;
  return n.name ?? `%${n.id}`;
}

function attrText(n: GNode): string {
  const a = n.attrs as Record<string, unknown>;
  switch (n.op?.name) {
    case 'sum': case 'prod': case 'amax': case 'amin': case 'argmax': case 'argmin': {
      const r = a as unknown as ReduceAttrs;
      const all = r.dims.length === n.inputs[0]!.shape.length;
      return `${all ? '' : `, dims=[${r.dims.join(', ')}]`}${r.keepdim ? ', keepdim' : ''}`;
    }
    case 'reshape': case 'expand': return `, [${(a.shape as number[]).join(', ')}]`;
    case 'permute': return `, [${(a.perm as number[]).join(', ')}]`;
    case 'cast': return '';
    case 'slice': return `, starts=[${a.starts}], sizes=[${a.sizes}], steps=[${a.steps}]`;
    default: {
      const keys = a && typeof a === 'object' ? Object.keys(a) : [];
      return keys.length ? `, ${keys.map((k) => `${k}=${JSON.stringify(a[k])}`).join(', ')}` : '';
    }
  }
}

/**
 * `(a op b)`; a negative number as the base of `**` in parentheses: `-2 ** x` would read as
 * −(2 ** x) in Python, whose notation Theano's pp follows, and is no JavaScript.
 */
export function infixText(a: string, op: string, b: string): string {
  return `(${op === '**' && /^-/.test(a) ? `(${a})` : a} ${op} ${b})`;
}

/** One node as an expression over its operands' strings. */
function render(n: GNode, args: readonly string[]): string {
  const c = constValue(n);
  if (c !== undefined) return n.shape.length === 0 ? fmtNum(c, n.dtype) : `fill([${n.shape.join(', ')}], ${fmtNum(c, n.dtype)})`;
  const op = n.op!;
  // an integer division truncates: no `/`, which reads as true division in Theano's notation
  if (op.name === 'div' && n.dtype === 'int32') return `trunc_div(${args.join(', ')})`;
  if (op.infix && args.length === 2) return infixText(args[0]!, op.infix, args[1]!);
  const pre = UNARY_PREFIX[op.name];
  if (pre && args.length === 1) return `(${pre}${args[0]})`;
  if (op.name === 'cast') return `${n.dtype}(${args[0]})`;
  if (op.name === 'reciprocal') return `(1 / ${args[0]})`;
  return `${op.name}(${args.join(', ')}${attrText(n)})`;
}

/** The check an integer division adds to its divisor: reshape(gather(zeros, index that is −1 at a 0, what: …)). */
function isDivisorGuard(n: GNode): boolean {
  const g = n.op?.name === 'reshape' ? n.inputs[0] : n;
  return g?.op?.name === 'gather' && isDivisorCheck((g.attrs as { what?: unknown } | null)?.what);
}

/** The node a tensor or node argument stands for. */
function nodeArg(x: Tensor | GNode): GNode {
  if (x instanceof Tensor) {
    if (!x._sym) throw new TypeError('pp: expected a symbolic tensor (from T.* or inside jit tracing), got a concrete one');
    return x._sym as GNode;
  }
  return x;
}

/**
 * Prints an expression as a tree, e.g. `(x + y)`. Graph inputs and states print by name;
 * constants by value.
 */
export function ppNode(x: Tensor | GNode): string {
  const memo = new Map<GNode, string>();
  const go = (n: GNode): string => {
    const hit = memo.get(n);
    if (hit !== undefined) return hit;
    // an integer divisor's zero check (y + gather(…) that adds 0 or fails) prints as y
    const guarded = n.op?.name === 'add' ? n.inputs.findIndex(isDivisorGuard) : -1;
    if (guarded >= 0) return go(n.inputs[1 - guarded]!);
    const s = n.kind !== 'op' ? leafName(n) : render(n, n.inputs.map(go));
    memo.set(n, s);
    return s;
  };
  return go(nodeArg(x));
}

/** The outputs of a graph as expressions (one per line, updates as `name ← expr`). */
export function ppOutputs(g: Graph): string {
  const lines = g.outputs.map((o) => ppNode(o));
  for (const u of g.updates) lines.push(`${leafName(u.target)} ← ${ppNode(u.value)}`);
  return lines.join('\n');
}

const typeOf = (n: GNode) => `${dtypeShort(n.dtype)}[${n.shape.join(',')}]`;

/**
 * A whole graph, one node per line, e.g.
 * ```
 * in (x: f32[3], y: f32[3])
 * %2 = add x y : f32[3]
 * out (%2)
 * ```
 * Only live nodes are listed unless `all`.
 */
export function ppGraph(g: Graph, opts: { all?: boolean } = {}): string {
  const live = opts.all ? null : liveNodes(g);
  const names = new Map<GNode, string>();
  const lines: string[] = [];
  const name = (n: GNode) => names.get(n) ?? leafName(n);
  if (g.inputs.length) lines.push(`in (${g.inputs.map((n) => `${leafName(n)}: ${typeOf(n)}`).join(', ')})`);
  if (g.states.length) lines.push(`state (${g.states.map((n) => `${leafName(n)}: ${typeOf(n)}`).join(', ')})`);
  let k = 0;
  for (const n of g.nodes) {
    if (n.kind !== 'op' || (live && !live.has(n))) continue;
    const c = constValue(n);
    if (c !== undefined && n.shape.length === 0) {
      names.set(n, fmtNum(c, n.dtype));
      continue;
    }
    const id = `%${k++}`;
    names.set(n, id);
    const rhs = c !== undefined ? `fill ${fmtNum(c, n.dtype)}` : `${n.op!.name}${n.inputs.length ? ' ' : ''}${n.inputs.map(name).join(' ')}${attrText(n).replace(/^, /, ' ')}`;
    lines.push(`${id} = ${rhs} : ${typeOf(n)}`);
  }
  lines.push(`out (${g.outputs.map(name).join(', ')})`);
  for (const u of g.updates) lines.push(`${name(u.target)} ← ${name(u.value)}`);
  return lines.join('\n');
}

/** The graph in Graphviz dot format. */
export function toDot(g: Graph, title = 'jit'): string {
  const live = liveNodes(g);
  const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  const L = [`digraph "${esc(title)}" {`, '  rankdir=TB;', '  node [shape=box, fontname="monospace", fontsize=10];'];
  for (const n of g.nodes) {
    if (!live.has(n) && n.kind === 'op') continue;
    const c = constValue(n);
    const parts = n.kind !== 'op' ? [leafName(n), typeOf(n)] : c !== undefined ? [fmtNum(c, n.dtype)] : [n.op!.infix ?? n.op!.name, typeOf(n)];
    const label = parts.map(esc).join('\\n');
    const style = n.kind === 'input' ? ', style=filled, fillcolor="#dde8ff"' : n.kind === 'state' ? ', style=filled, fillcolor="#ffe8c8"' : c !== undefined ? ', shape=ellipse' : '';
    L.push(`  n${n.id} [label="${label}"${style}];`);
  }
  for (const n of g.nodes) {
    if (!live.has(n)) continue;
    for (const i of n.inputs) L.push(`  n${i.id} -> n${n.id};`);
  }
  g.outputs.forEach((o, i) => {
    L.push(`  out${i} [label="out ${i}", shape=plaintext];`, `  n${o.id} -> out${i};`);
  });
  for (const u of g.updates) L.push(`  n${u.value.id} -> n${u.target.id} [style=dashed, label="update"];`);
  L.push('}');
  return L.join('\n');
}
