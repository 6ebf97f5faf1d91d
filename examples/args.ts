/** @file Tiny command-line parsing shared by the examples (`--name value` and `--flag`). */

/** The value after `--name`, or the default. */
export function arg(name: string, fallback: string): string;
export function arg(name: string): string | undefined;
export function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

/** A numeric option, validated. */
export function numArg(name: string, fallback: number): number {
  const v = arg(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${name} expects a number, got '${v}'`);
  return n;
}

/** Whether `--name` was given. */
export function flag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}

/**
 * Refuses command-line options the example does not know (a misspelt `--epoch` was silently
 * ignored while the default ran): exits with the list of known ones.
 */
export function knownArgs(...names: string[]): void {
  for (const a of process.argv.slice(2)) {
    if (a.startsWith('--') && !names.includes(a.slice(2))) {
      console.error(`unknown option '${a}'; the options are ${names.map((n) => `--${n}`).join(' ') || 'none'}`);
      process.exit(2);
    }
  }
}

/** A string option that must be one of `allowed`. */
export function choiceArg<T extends string>(name: string, fallback: T, allowed: readonly T[]): T {
  const v = arg(name, fallback);
  if (!(allowed as readonly string[]).includes(v)) {
    console.error(`--${name} must be one of ${allowed.join(', ')}; got '${v}'`);
    process.exit(2);
  }
  return v as T;
}
