/**
 * @file Checks of option objects: a misspelled option name (`momemtum`, `batch_size`) is refused
 * with a ValueError naming the call, the key, the nearest accepted key and every accepted key,
 * instead of being silently ignored while its default applies.
 */
import { ValueError } from './errors.ts';
import { describeValue } from './ops/dispatch.ts';

/**
 * Every key of an options type, written as `{ key: true, … }` so that the compiler checks the list
 * against the interface both ways (a key missing here or not in the interface is a type error).
 */
export type OptionKeys<T> = { readonly [K in keyof Required<T>]: true };

/** The accepted names of an `OptionKeys` record, for `checkOptions`. */
export function optionNames<T>(keys: OptionKeys<T>): readonly string[] {
  return Object.keys(keys);
}

/** Edit distance (insertions, deletions, substitutions, adjacent swaps), for the suggestion. */
function distance(a: string, b: string): number {
  const m = a.length, n = b.length;
  let prev2: number[] = [];
  let prev = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= m; i++) {
    const cur = [i];
    for (let j = 1; j <= n; j++) {
      let d = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, prev2[j - 2]! + 1);
      cur.push(d);
    }
    prev2 = prev;
    prev = cur;
  }
  return prev[n]!;
}

/** Lower case without '_' and '-', so that `batch_size` and `BatchSize` meet `batchSize`. */
const squash = (s: string) => s.toLowerCase().replace(/[_-]/g, '');

/** The accepted name closest to `key`, or undefined when none is close. */
export function nearestName(key: string, known: readonly string[]): string | undefined {
  const k = squash(key);
  const same = known.find((n) => squash(n) === k);
  if (same !== undefined) return same;
  let best: string | undefined, bestD = Infinity;
  for (const n of known) {
    const d = distance(k, squash(n));
    if (d < bestD) [best, bestD] = [n, d];
  }
  // a suggestion for 'foo' among unrelated names would mislead: at most a third of the name wrong
  if (bestD <= Math.max(1, Math.floor(Math.max(k.length, 3) / 3))) return best;
  // else a name sharing a long start: 'batch' for 'batchSize', 'kernel_size' for 'kernel', 'reduce' for 'reduction'
  const common = (a: string, b: string) => {
    let i = 0;
    while (i < a.length && i < b.length && a[i] === b[i]) i++;
    return i;
  };
  const scored = known.map((n) => {
    const m = squash(n), c = common(k, m);
    return { n, ok: c >= 4 && c >= 0.6 * Math.min(k.length, m.length), c };
  }).filter((x) => x.ok);
  const top = Math.max(0, ...scored.map((x) => x.c));
  const winners = scored.filter((x) => x.c === top);
  return winners.length === 1 ? winners[0]!.n : undefined;
}

/** The accepted names for a message (built only when one is thrown: checkOptions runs on every call). */
function acceptedList(known: readonly string[]): string {
  return `accepted options: ${known.map(q).join(', ')}`;
}

/** One option's name, as quoted in messages. */
const q = (s: string) => `'${s}'`;

/**
 * Refuses an options argument that is not an object, lacks a required key or has a key outside
 * `known` (ValueError naming `op`, the key, the nearest accepted key and all of them). `undefined`
 * passes (every option defaulted) unless a key is required. Returns `opts` for use in expressions.
 * O(number of keys): meant for every call, hot paths included.
 */
export function checkOptions<T>(op: string, opts: T, known: readonly string[], required: readonly string[] = []): T {
  if (opts === undefined && required.length === 0) return opts;
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
    const got = opts === null ? 'null' : Array.isArray(opts) ? 'an array' : typeof opts;
    const need = required.length ? ` with ${required.map(q).join(', ')}` : '';
    throw new ValueError(`${op}: expected an options object${need}, got ${got}; ${acceptedList(known)}`);
  }
  for (const key of Object.keys(opts)) {
    if (known.includes(key)) continue;
    const near = nearestName(key, known);
    throw new ValueError(`${op}: unknown option ${q(key)}${near !== undefined ? ` (did you mean ${q(near)}?)` : ''}; ${acceptedList(known)}`);
  }
  for (const key of required) {
    if ((opts as Record<string, unknown>)[key] === undefined) throw new ValueError(`${op}: missing the required option ${q(key)}; ${acceptedList(known)}`);
  }
  for (const key of Object.keys(opts)) {
    const v = (opts as Record<string, unknown>)[key];
    if (BOOLEAN_OPTIONS.has(key) && v !== undefined) boolArg(op, key, v);
  }
  return opts;
}

/**
 * Options that are flags wherever they appear: their value must be true or false. Tested by
 * truthiness, 'false' (a string) turned a feature on — SGD({maximize: 'false'}) maximised.
 */
const BOOLEAN_OPTIONS: ReadonlySet<string> = new Set([
  'requiresGrad', 'useBias', 'elementwiseAffine', 'affine', 'trackRunningStats', 'maximize', 'nesterov', 'amsgrad',
  'centered', 'training', 'shuffle', 'dropLast', 'retainGraph', 'createGraph', 'allowUnused', 'keepdim', 'eagerFirstCall',
  'fold', 'cse', 'dce', 'fuse', 'inPlace', 'unsafe', 'late', 'strict', 'allowInputDowncast', 'persistent', 'unbiased',
]);

/** `v` when it is a boolean; a ValueError naming `op` and the flag otherwise (no truthiness: 'false' is not false). */
export function boolArg(op: string, name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new ValueError(`${op}: ${name} is ${describeValue(v)}; expected true or false`);
  return v;
}

/**
 * Option `key` of `opts` (undefined when left out); a ValueError naming `op` unless it is one of
 * `allowed` (`leftOut` says what leaving it out means).
 */
export function optionValue<V extends string>(op: string, opts: unknown, key: string, allowed: readonly V[], leftOut: string): V | undefined {
  if (opts === undefined || opts === null) return undefined;
  if (typeof opts !== 'object') {
    throw new ValueError(`${op}: options must be an object such as { ${key}: '${allowed[0]}' }, got ${describeValue(opts)}`);
  }
  const v: unknown = (opts as Record<string, unknown>)[key];
  if (v === undefined || v === null) return undefined;
  if (!(allowed as readonly unknown[]).includes(v)) {
    throw new ValueError(`${op}: ${key} must be ${allowed.map((a) => `'${a}'`).join(' or ')} (or left out for ${leftOut}), got ${describeValue(v)}`);
  }
  return v as V;
}
