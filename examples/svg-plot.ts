/**
 * @file A small hand-written SVG line-chart generator for the examples' training curves: one or
 * more panels side by side, each with axes, "nice" ticks, a grid, a legend and any number of line
 * series (optionally with point markers). No dependencies; the output is a standalone SVG file.
 * @example
 * const svg = plotSvg([{ title: 'loss', xLabel: 'epoch', yLabel: 'loss',
 *   series: [{ name: 'train', color: '#1f77b4', points: [[0, 2.3], [1, 0.4]] }] }]);
 * await writeFile('curve.svg', svg);
 */

export interface Series {
  name: string;
  /** (x, y) pairs; non-finite points are skipped */
  points: readonly (readonly [number, number])[];
  color: string;
  /** draw a dot at every point (for sparse series such as one value per epoch) */
  markers?: boolean;
  dashed?: boolean;
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  /** fixed y range; by default it fits the data */
  yRange?: readonly [number, number];
  /** fixed x range; by default it fits the data */
  xRange?: readonly [number, number];
  /** where the legend goes (default 'top-right') */
  legend?: 'top-right' | 'bottom-right';
}

export interface PlotOptions {
  /** a heading above the panels */
  title?: string;
  /** width of one panel in px (default 460) */
  panelWidth?: number;
  /** height of a panel in px (default 320) */
  panelHeight?: number;
}

/** Escapes text for use inside an SVG (XML) element or attribute. */
export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Tick positions covering [lo, hi] at a step of 1, 2 or 5 × 10^k, about `target` of them. */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** A tick label: few digits, no float noise. */
function fmtTick(v: number, ticks: readonly number[]): string {
  const step = ticks.length > 1 ? Math.abs(ticks[1]! - ticks[0]!) : Math.abs(v) || 1;
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(decimals);
}

/** The data's range along one coordinate, widened when flat, padded a little when asked. */
function extent(values: number[], fixed: readonly [number, number] | undefined, pad: number): [number, number] {
  if (fixed) return [fixed[0], fixed[1]];
  let lo = Math.min(...values), hi = Math.max(...values);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (hi === lo) {
    const d = Math.abs(lo) * 0.1 || 1;
    lo -= d;
    hi += d;
  }
  const p = (hi - lo) * pad;
  return [lo - p, hi + p];
}

const r = (v: number) => Number(v.toFixed(2));

function renderPanel(p: Panel, x0: number, y0: number, w: number, h: number): string[] {
  const m = { left: 58, right: 16, top: 30, bottom: 44 };
  const pw = w - m.left - m.right, ph = h - m.top - m.bottom;
  const pts = p.series.flatMap((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  const [xlo, xhi] = extent(pts.map(([x]) => x), p.xRange, 0);
  const [ylo, yhi] = extent(pts.map(([, y]) => y), p.yRange, 0.05);
  const sx = (x: number) => x0 + m.left + ((x - xlo) / (xhi - xlo)) * pw;
  const sy = (y: number) => y0 + m.top + ph - ((y - ylo) / (yhi - ylo)) * ph;
  const out: string[] = [];
  out.push(`<g class="panel">`);
  out.push(`<text x="${r(x0 + m.left + pw / 2)}" y="${r(y0 + 18)}" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(p.title)}</text>`);
  out.push(`<rect x="${r(x0 + m.left)}" y="${r(y0 + m.top)}" width="${r(pw)}" height="${r(ph)}" fill="#fff" stroke="#888"/>`);
  const xt = niceTicks(xlo, xhi), yt = niceTicks(ylo, yhi);
  for (const t of xt) {
    const X = r(sx(t));
    out.push(`<line x1="${X}" y1="${r(y0 + m.top)}" x2="${X}" y2="${r(y0 + m.top + ph)}" stroke="#eee"/>`);
    out.push(`<text x="${X}" y="${r(y0 + m.top + ph + 16)}" text-anchor="middle" font-size="11">${fmtTick(t, xt)}</text>`);
  }
  for (const t of yt) {
    const Y = r(sy(t));
    out.push(`<line x1="${r(x0 + m.left)}" y1="${Y}" x2="${r(x0 + m.left + pw)}" y2="${Y}" stroke="#eee"/>`);
    out.push(`<text x="${r(x0 + m.left - 6)}" y="${r(sy(t) + 4)}" text-anchor="end" font-size="11">${fmtTick(t, yt)}</text>`);
  }
  out.push(`<text x="${r(x0 + m.left + pw / 2)}" y="${r(y0 + h - 8)}" text-anchor="middle" font-size="12">${escapeXml(p.xLabel)}</text>`);
  const ly = r(y0 + m.top + ph / 2);
  out.push(`<text x="${r(x0 + 14)}" y="${ly}" text-anchor="middle" font-size="12" transform="rotate(-90 ${r(x0 + 14)} ${ly})">${escapeXml(p.yLabel)}</text>`);
  // the series, clipped to the plot area
  const clip = `clip${Math.round(x0)}_${Math.round(y0)}`;
  out.push(`<clipPath id="${clip}"><rect x="${r(x0 + m.left)}" y="${r(y0 + m.top)}" width="${r(pw)}" height="${r(ph)}"/></clipPath>`);
  out.push(`<g clip-path="url(#${clip})">`);
  for (const s of p.series) {
    const good = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (good.length > 1) {
      const d = good.map(([x, y], i) => `${i ? 'L' : 'M'}${r(sx(x))},${r(sy(y))}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${escapeXml(s.color)}" stroke-width="1.8"${s.dashed ? ' stroke-dasharray="5,3"' : ''}/>`);
    }
    if (s.markers || good.length === 1) {
      for (const [x, y] of good) out.push(`<circle cx="${r(sx(x))}" cy="${r(sy(y))}" r="3.5" fill="${escapeXml(s.color)}"/>`);
    }
  }
  out.push('</g>');
  // the legend, in a box inside the plot
  const lw = 24 + 6.5 * Math.max(0, ...p.series.map((s) => s.name.length)) + 8, lh = 16 * p.series.length + 6;
  const bx = x0 + m.left + pw - lw - 6;
  const by = p.legend === 'bottom-right' ? y0 + m.top + ph - lh - 6 : y0 + m.top + 6;
  if (p.series.length) out.push(`<rect x="${r(bx)}" y="${r(by)}" width="${r(lw)}" height="${r(lh)}" fill="#fff" fill-opacity="0.85" stroke="#ccc"/>`);
  p.series.forEach((s, i) => {
    const lx = bx + 6, lyy = by + 15 + i * 16;
    out.push(`<line x1="${r(lx)}" y1="${r(lyy - 4)}" x2="${r(lx + 18)}" y2="${r(lyy - 4)}" stroke="${escapeXml(s.color)}" stroke-width="2.5"${s.dashed ? ' stroke-dasharray="5,3"' : ''}/>`);
    out.push(`<text x="${r(lx + 24)}" y="${r(lyy)}" font-size="11">${escapeXml(s.name)}</text>`);
  });
  out.push('</g>');
  return out;
}

/** Renders the panels side by side as a standalone SVG document. */
export function plotSvg(panels: readonly Panel[], opts: PlotOptions = {}): string {
  const w = opts.panelWidth ?? 460, h = opts.panelHeight ?? 320;
  const top = opts.title ? 28 : 0;
  const width = w * Math.max(1, panels.length), height = h + top;
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#fafafa"/>`,
  ];
  if (opts.title) out.push(`<text x="${width / 2}" y="20" text-anchor="middle" font-size="15">${escapeXml(opts.title)}</text>`);
  panels.forEach((p, i) => out.push(...renderPanel(p, i * w, top, w, h)));
  out.push('</svg>', '');
  return out.join('\n');
}
