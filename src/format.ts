/** @file PyTorch-style printing of tensors. */
import type { Tensor } from './tensor.ts';

function fmtFloats(vals: number[]): (v: number) => string {
  const finite = vals.filter((v) => Number.isFinite(v));
  const allInt = finite.every((v) => Number.isInteger(v));
  const maxAbs = Math.max(0, ...finite.map(Math.abs));
  const minAbs = Math.min(Infinity, ...finite.filter((v) => v !== 0).map(Math.abs));
  const special = (v: number) => (Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf');
  if (allInt && maxAbs < 1e8) return (v) => (Number.isFinite(v) ? `${v}.` : special(v));
  if (maxAbs >= 1e8 || (minAbs < 1e-4 && minAbs !== Infinity) || maxAbs / Math.max(minAbs, 1e-300) > 1e6) {
    return (v) => {
      if (!Number.isFinite(v)) return special(v);
      const [m, e] = v.toExponential(4).split('e');
      const ex = Number(e);
      return `${m}e${ex < 0 ? '-' : '+'}${String(Math.abs(ex)).padStart(2, '0')}`;
    };
  }
  return (v) => (Number.isFinite(v) ? v.toFixed(4) : special(v));
}

/** `tensor([[0.5000, 0.7311], …], requiresGrad=true)`, like PyTorch's repr. */
export function formatTensor(t: Tensor): string {
  const extras: string[] = [];
  if (t.device !== 'cpu') extras.push(`device='${t.device}'`);
  if (t.dtype !== 'float32' && t.dtype !== 'bool' && t.dtype !== 'int32') extras.push(`dtype=${t.dtype}`);
  if (t.gradFn) extras.push(`gradFn=<${t.gradFn.name}>`);
  else if (t.requiresGrad) extras.push('requiresGrad=true');
  const tail = extras.length ? `, ${extras.join(', ')}` : '';
  // (a view whose storage was released through its base or another view prints so too, on every device)
  if (t._disposed || t._storage?.disposed) return `tensor(<disposed>, shape=[${t.shape.join(', ')}])`;
  if (t.isSymbolic || t.device !== 'cpu') return `tensor(<${t.isSymbolic ? 'symbolic' : t.device}>, shape=[${t.shape.join(', ')}], dtype=${t.dtype}${tail})`;
  const data = Array.from(t.dataSync());
  let fmt: (v: number) => string;
  if (t.dtype === 'bool') fmt = (v) => (v ? 'true' : 'false');
  else if (t.dtype === 'int32') fmt = (v) => String(v);
  else fmt = fmtFloats(data);
  const strs = data.map(fmt);
  const width = Math.max(0, ...strs.map((s) => s.length));
  const pad = (s: string) => s.padStart(width);
  if (t.ndim === 0) return `tensor(${strs[0]}${tail})`;
  const summarize = t.numel > 1000;
  let pos = 0;
  const build = (d: number, indent: string): string => {
    const n = t.shape[d]!;
    const items: string[] = [];
    const show = (i: number) => !summarize || n <= 6 || i < 3 || i >= n - 3;
    for (let i = 0; i < n; i++) {
      const stride = t.shape.slice(d + 1).reduce((a, b) => a * b, 1);
      if (!show(i)) {
        if (i === 3) items.push('...');
        pos += stride;
        continue;
      }
      if (d === t.ndim - 1) items.push(pad(strs[pos++]!));
      else items.push(build(d + 1, indent + ' '));
    }
    const sep = d === t.ndim - 1 ? ', ' : ',' + '\n'.repeat(t.ndim - 1 - d) + indent + ' ';
    return `[${items.join(sep)}]`;
  };
  return `tensor(${build(0, '       ')}${tail})`;
}
