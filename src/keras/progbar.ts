/**
 * @file Keras's progress bar and its number formats. On a terminal the bar redraws in place
 * (`\r`); elsewhere (CI logs, files, pipes) `fit` prints one plain line per epoch instead.
 */

/** Where progress and summaries are written: `process.stdout`, or anything with `write`. */
export interface OutputStream {
  write(text: string): unknown;
  /** true on a terminal: the bar redraws in place; otherwise plain lines */
  isTTY?: boolean;
}

/** `process.stdout` in Node; in a browser, a stream that logs each completed line to the console. */
export function defaultStream(): OutputStream {
  const proc = (globalThis as { process?: { stdout?: OutputStream } }).process;
  if (proc?.stdout && typeof proc.stdout.write === 'function') return proc.stdout;
  let pending = '';
  return {
    isTTY: false,
    write(text: string) {
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) console.log(line.replace(/^.*\r/, ''));
    },
  };
}

/** Keras's metric format: 4 decimals, or scientific notation for tiny magnitudes (`1.2340e-05`). */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) > 1e-3) return v.toFixed(4);
  const [mant, exp = '0'] = v.toExponential(4).split('e');
  const sign = exp.startsWith('-') ? '-' : '+';
  return `${mant}e${sign}${exp.replace(/^[-+]/, '').padStart(2, '0')}`;
}

/** Time per step as Keras prints it: `2s/step`, `35ms/step` or `120us/step`. */
export function formatPerStep(seconds: number): string {
  if (seconds >= 1) return `${seconds.toFixed(0)}s/step`;
  if (seconds >= 1e-3) return `${(seconds * 1e3).toFixed(0)}ms/step`;
  return `${(seconds * 1e6).toFixed(0)}us/step`;
}

/** Remaining time as Keras prints it: `42s`, `3:07` or `1:02:03`. */
export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const two = (n: number) => String(n).padStart(2, '0');
  if (s >= 3600) return `${Math.floor(s / 3600)}:${two(Math.floor((s % 3600) / 60))}:${two(s % 60)}`;
  if (s >= 60) return `${Math.floor(s / 60)}:${two(s % 60)}`;
  return `${s}s`;
}

/** ` - loss: 0.1234 - accuracy: 0.9000` for the given name/value pairs. */
export function formatLogs(values: ReadonlyArray<readonly [string, number]>): string {
  return values.map(([k, v]) => ` - ${k}: ${formatValue(v)}`).join('');
}

/** `  7/10 [====================>.........]` */
export function renderBar(current: number, total: number, width = 30): string {
  const digits = String(total).length;
  const frac = total > 0 ? Math.min(1, current / total) : 1;
  const filled = Math.floor(width * frac);
  let bar = '';
  if (filled > 0) bar += '='.repeat(filled - 1) + (current < total ? '>' : '=');
  bar += '.'.repeat(width - filled);
  return `${String(current).padStart(digits)}/${total} [${bar}]`;
}

/**
 * The in-place bar for one epoch on a terminal: `update` redraws at most every `interval`
 * seconds; `finish` draws the final line (elapsed time and time per step) and ends it.
 */
export class Progbar {
  private readonly start = now();
  private lastDraw = -Infinity;
  private lastWidth = 0;

  constructor(private readonly total: number, private readonly stream: OutputStream, private readonly interval = 0.05) {}

  /** Whether an update now would be drawn (callers skip the readback otherwise). */
  due(): boolean {
    return now() - this.lastDraw >= this.interval;
  }

  update(current: number, values: ReadonlyArray<readonly [string, number]>): void {
    const t = now();
    this.lastDraw = t;
    const perStep = current > 0 ? (t - this.start) / current : 0;
    this.draw(`${renderBar(current, this.total)} - ETA: ${formatEta(perStep * (this.total - current))}${formatLogs(values)}`);
  }

  finish(values: ReadonlyArray<readonly [string, number]>): void {
    const elapsed = now() - this.start;
    const perStep = this.total > 0 ? elapsed / this.total : 0;
    this.draw(`${renderBar(this.total, this.total)} - ${elapsed.toFixed(0)}s ${formatPerStep(perStep)}${formatLogs(values)}`);
    this.stream.write('\n');
  }

  private draw(line: string): void {
    const pad = Math.max(0, this.lastWidth - line.length);
    this.lastWidth = line.length;
    this.stream.write(`\r${line}${' '.repeat(pad)}`);
  }
}

/** Seconds since an arbitrary origin. */
export function now(): number {
  return performance.now() / 1000;
}
