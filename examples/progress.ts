/**
 * @file A Keras/tqdm-like progress bar for the examples. On a terminal it redraws one line in place
 * (at most ~10 times a second): `Epoch 1/3  312/938 [=========>...] 4s<9s  14ms/step  loss 0.31  acc 0.91`.
 * When output is not a terminal (a pipe, a CI log) it prints one plain line per epoch at `finish`.
 */

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** `1m05s`, `12s`, `0.4s` */
export function fmtDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  if (s < 10) return `${s.toFixed(1)}s`;
  if (s < 60) return `${Math.round(s)}s`;
  const m = Math.floor(s / 60), rest = Math.round(s - m * 60);
  return `${m}m${String(rest).padStart(2, '0')}s`;
}

/** `name value` pairs: 4 decimals, NaN shown as `-`. */
export function fmtMetrics(metrics: Record<string, number>): string {
  return Object.entries(metrics).map(([k, v]) => `${k} ${Number.isFinite(v) ? v.toFixed(4) : '-'}`).join('  ');
}

export class ProgressBar {
  private readonly start = performance.now();
  private lastDraw = 0;
  private stopped: number | null = null;
  private readonly tty: boolean;

  constructor(
    readonly total: number,
    readonly label: string,
    private readonly stream: ProgressStream = process.stdout,
    private readonly width = 30,
  ) {
    this.tty = stream.isTTY === true;
  }

  /** Seconds since the bar was created (until `stop()`). */
  get elapsed(): number {
    return ((this.stopped ?? performance.now()) - this.start) / 1000;
  }

  /** Freezes the clock (e.g. before an evaluation whose results `finish` shows). */
  stop(): void {
    this.stopped ??= performance.now();
  }

  /** Whether an `update` now would redraw (so callers can skip reading metrics back when it would not). */
  due(): boolean {
    return this.tty && performance.now() - this.lastDraw >= 100;
  }

  /** Redraws the bar at `current` of `total` steps (a terminal only; throttled). */
  update(current: number, metrics: Record<string, number>): void {
    if (!this.due()) return;
    this.lastDraw = performance.now();
    this.draw(current, metrics, false);
  }

  /** The final state: on a terminal the full bar and a newline, otherwise one plain line. */
  finish(metrics: Record<string, number>): void {
    if (this.tty) this.draw(this.total, metrics, true);
    else {
      const secs = this.elapsed;
      const perStep = this.total ? (secs / this.total) * 1000 : 0;
      this.stream.write(`${this.label}: ${this.total} steps in ${fmtDuration(secs)} (${perStep.toFixed(1)}ms/step)  ${fmtMetrics(metrics)}\n`);
    }
  }

  private draw(current: number, metrics: Record<string, number>, done: boolean): void {
    const frac = this.total ? Math.min(1, current / this.total) : 1;
    const filled = Math.floor(frac * this.width);
    const bar = done || filled >= this.width
      ? '='.repeat(this.width)
      : '='.repeat(filled) + '>' + '.'.repeat(this.width - filled - 1);
    const secs = this.elapsed;
    const perStep = current ? (secs / current) * 1000 : 0;
    const time = done ? fmtDuration(secs) : `${fmtDuration(secs)}<${current ? fmtDuration((secs / current) * (this.total - current)) : '?'}`;
    const digits = String(this.total).length;
    let line = `${this.label}  ${String(current).padStart(digits)}/${this.total} [${bar}] ${time}  ${perStep.toFixed(0)}ms/step  ${fmtMetrics(metrics)}`;
    const cols = this.stream.columns;
    if (cols && line.length > cols - 1) line = line.slice(0, cols - 1);
    this.stream.write(`\r${line}\x1b[K${done ? '\n' : ''}`);
  }
}
