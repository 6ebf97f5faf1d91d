/**
 * @file Split views: strided views whose dims may each be several sub-dims, so that a chain of
 * views the plain strided form cannot express (a reshape that merges a broadcast dim with a real
 * one, as a max-pool's gradient `where(iota == idx, g, 0)` read back as the image) still lowers
 * to strided loads — over a finer iteration shape.
 *
 * The lowering applies view rules to plain `ViewMeta`s as long as they succeed; when a reshape
 * (or expand, permute) of a meta has no plain strides, it switches to a `SplitView` for the rest
 * of the chain. An elementwise kernel whose loads include split views iterates over the common
 * refinement of them all (`refine`): each of its dims cut where any load's sub-dims are cut. The
 * output is still written contiguously (splitting a dim of a contiguous layout keeps it
 * contiguous), so nothing outside the kernel sees the difference.
 */
import type { ViewMeta } from '../ops/registry.ts';

/** A sub-dim: [size, stride]. */
type Sub = readonly [number, number];

/** A dim of a split view: its size and its sub-dims, outermost first (their sizes multiply to it). */
interface SplitDim {
  readonly size: number;
  readonly subs: readonly Sub[];
}

export interface SplitView {
  readonly split: true;
  readonly dims: readonly SplitDim[];
  readonly offset: number;
}

export const isSplitView = (v: ViewMeta | SplitView): v is SplitView => (v as SplitView).split === true;

/** Drops size-1 sub-dims and merges neighbours that address like one dim. */
function normalize(subs: readonly Sub[]): Sub[] {
  const out: Sub[] = [];
  for (const s of subs) {
    if (s[0] === 1) continue;
    const last = out[out.length - 1];
    if (last && last[1] === s[1] * s[0]) out[out.length - 1] = [last[0] * s[0], s[1]];
    else out.push(s);
  }
  return out;
}

const dim = (size: number, subs: readonly Sub[]): SplitDim => ({ size, subs: normalize(subs) });

/** A plain view as a split view (one sub-dim per dim). */
export function fromMeta(m: ViewMeta): SplitView {
  return { split: true, dims: m.shape.map((d, i) => dim(d, [[d, m.strides[i]!]])), offset: m.offset };
}

/** The plain view a split view amounts to, when every dim is at most one sub-dim; else null. */
export function toMeta(v: SplitView): ViewMeta | null {
  if (v.dims.some((d) => d.subs.length > 1)) return null;
  return { shape: v.dims.map((d) => d.size), strides: v.dims.map((d) => d.subs[0]?.[1] ?? 0), offset: v.offset };
}

/** The view reshaped to `shape` (same element count), or null when a sub-dim would need an uneven cut. */
export function reshapeSplit(v: SplitView, shape: readonly number[]): SplitView | null {
  if (shape.some((d) => d === 0) || v.dims.some((d) => d.size === 0)) return null;
  const queue: Sub[] = v.dims.flatMap((d) => d.subs);
  const dims: SplitDim[] = [];
  for (const d of shape) {
    const subs: Sub[] = [];
    let need = d;
    while (need > 1) {
      const s = queue.shift();
      if (!s) return null;
      const [a, stride] = s;
      if (a <= need) {
        if (need % a !== 0) return null;
        subs.push(s);
        need /= a;
      } else {
        if (a % need !== 0) return null;
        // the outer part of s completes this dim; the inner part starts the next
        subs.push([need, stride * (a / need)]);
        queue.unshift([a / need, stride]);
        need = 1;
      }
    }
    dims.push(dim(d, subs));
  }
  return queue.length === 0 ? { split: true, dims, offset: v.offset } : null;
}

/** The view broadcast to `shape` (new leading dims and size-1 dims read with stride 0). */
export function expandSplit(v: SplitView, shape: readonly number[]): SplitView {
  const lead = shape.length - v.dims.length;
  const dims = shape.map((d, i) => {
    const src = i < lead ? null : v.dims[i - lead]!;
    return src && src.size === d ? src : dim(d, [[d, 0]]);
  });
  return { split: true, dims, offset: v.offset };
}

/** The view's dims reordered. */
export function permuteSplit(v: SplitView, perm: readonly number[]): SplitView {
  return { split: true, dims: perm.map((d) => v.dims[d]!), offset: v.offset };
}

/** A canonical string (load deduplication). */
export function splitKey(v: SplitView): string {
  return `s${v.offset}|${v.dims.map((d) => `${d.size}:${d.subs.map((s) => s.join('x')).join(',')}`).join(';')}`;
}

/**
 * The common refinement of views over one `shape`: each dim cut wherever any view's sub-dims
 * are cut (its cuts must nest: sizes of inner blocks dividing the outer ones). Returns the
 * refined shape and every view as a plain one over it, or null when cuts do not nest.
 */
export function refine(views: readonly (ViewMeta | SplitView)[], shape: readonly number[]): { shape: number[]; metas: ViewMeta[] } | null {
  if (shape.some((d) => d === 0)) return null;
  const splits = views.map((v) => (isSplitView(v) ? v : fromMeta(v)));
  // per dim: the block sizes (products of trailing sub-dims) at which some view cuts it
  const blocks = shape.map((size, i) => {
    const cuts = new Set<number>([size]);
    for (const v of splits) {
      let p = 1;
      const subs = v.dims[i]!.subs;
      for (let j = subs.length - 1; j > 0; j--) cuts.add((p *= subs[j]![0]));
    }
    return [...cuts].sort((a, b) => a - b);
  });
  for (const bs of blocks) for (let j = 1; j < bs.length; j++) if (bs[j]! % bs[j - 1]! !== 0) return null;
  // refined sizes per dim, outermost first
  const sizes = blocks.map((bs) => bs.map((b, j) => b / (j > 0 ? bs[j - 1]! : 1)).reverse());
  const refined = sizes.flat();
  const metas: ViewMeta[] = [];
  for (const v of splits) {
    const strides: number[] = [];
    v.dims.forEach((d, i) => {
      // each sub-dim covers a run of the refined sizes; their strides follow from its own
      const subs = d.subs.length ? d.subs : [[d.size, 0] as Sub];
      let k = 0;
      for (const [a, stride] of subs) {
        const run: number[] = [];
        let p = 1;
        while (p < a) {
          const s = sizes[i]![k++];
          if (s === undefined) return;
          run.push(s);
          p *= s;
        }
        if (p !== a) return;
        let inner = 1;
        const rs = run.map(() => 0);
        for (let j = run.length - 1; j >= 0; j--) {
          rs[j] = stride * inner;
          inner *= run[j]!;
        }
        strides.push(...rs);
      }
      // refined size-1 dims (a dim of size 1 has no sub-dims)
      while (k < sizes[i]!.length) {
        if (sizes[i]![k] !== 1) return;
        strides.push(0);
        k++;
      }
    });
    if (strides.length !== refined.length) return null;
    metas.push({ shape: refined, strides, offset: v.offset });
  }
  return { shape: refined, metas };
}
