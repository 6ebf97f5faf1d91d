/**
 * @file Helper threads for the CPU kernels: worker threads that run exported functions of
 * WebAssembly modules over one *shared* linear memory, so a kernel call can be cut into pieces
 * that the calling thread and its helpers take as they come free.
 *
 * Node only (worker_threads, found through `process.getBuiltinModule` — Node ≥ 20.16 — so
 * bundlers for the browser see no import): a browser's main thread may not block in `Atomics.wait`, and
 * SharedArrayBuffer there needs cross-origin isolation, so browsers run every kernel on one
 * thread. Helpers start lazily; threads in all default to the cores (`os.availableParallelism()`,
 * at most `MAX_HELPERS + 1`); `TAPEGRAD_CPU_THREADS` or `setNumThreads` overrides.
 *
 * Protocol (`splitAcrossThreads`): the caller writes the call — function id, the first piece's
 * arguments, how each argument advances per piece, the piece count — into a control block shared
 * with every helper, then publishes a new generation in the *ticket* word (generation << 16 |
 * pieces taken) and wakes the helpers. Every thread, the caller included, takes pieces by
 * compare-and-swap on the ticket, so a piece is taken only under the generation whose arguments
 * the taker read (the caller rewrites them only once every piece of the previous call is taken),
 * and counts each finished piece; the caller returns when all are finished. A helper that is
 * asleep, or preempted (V8's garbage-collector threads want the same cores), simply takes fewer
 * pieces: with a fixed split the caller waited for it, and an eager loop that allocates heavily
 * ran slower on two threads than on one (1/(1+exp(−x)) over 1M floats: 3.2 → 5.5 ms).
 * Modules travel once per helper by `postMessage`, drained synchronously
 * (`receiveMessageOnPort`) when the helper wakes. Idle helpers block in `Atomics.wait` and are
 * `unref`'d, so they never keep a process alive.
 */
import { internal, ValueError } from '../errors.ts';
import type { ModuleSpec } from './wasm/emit.ts';

/** Most helper threads, whatever the core count. */
const MAX_HELPERS = 7;
/** Most arguments of a split function. */
const MAX_ARGS = 24;
/** Int32 words: ticket, finished, failed, hold; then (from byte 64) the call as float64s. */
const W_TICKET = 0, W_FINISHED = 1, W_FAILED = 2, W_HOLD = 3;
const CALL_OFFSET = 64;
/** Call layout (float64s): fn id, argument count, pieces, index of the count argument, its value in the last piece, active helpers, args…, steps… */
const C_FN = 0, C_NARGS = 1, C_PIECES = 2, C_COUNT_INDEX = 3, C_LAST_COUNT = 4, C_ACTIVE = 5, C_ARGS = 6;
const CTL_BYTES = CALL_OFFSET + 8 * (C_ARGS + 2 * MAX_ARGS);
/** Pieces per call: the ticket's low 16 bits. */
export const MAX_PIECES = 0xffff;
/**
 * How long a thread polls before sleeping in `Atomics.wait`: the caller for the pieces helpers
 * still run, a helper for the next call while the caller holds it (`holdCpuHelpers`). Sleeping and
 * waking cost ~60 µs a call here (784×128×128 GEMMs: 2 threads 0.57 ms against 0.45 on one without
 * polling, 0.26 ms with it). Polling outside a held run (after every kernel) slowed eager steps
 * that allocate heavily: the polling core is the one V8's concurrent garbage collector needs.
 */
const SPIN_MS = 0.5;
/**
 * Helpers run at this niceness (Linux; set through /proc/thread-self): when V8's garbage-collector
 * threads need a core, they get the helper's, and the helper just takes fewer pieces. At the
 * default priority, an eager 1/(1+exp(−x)) over 1M floats, allocating a fresh array per op, took
 * 4.4–4.8 ms on 2 threads against 3.6 on one; at 10, 3.8–3.9.
 */
const HELPER_NICE = 10;
/** A call whose pieces are not all finished after this long has lost a helper. */
const WAIT_LIMIT_MS = 60_000;

// source evaluated in each worker (`eval: true`); see the protocol above
const HELPER_SOURCE = `
const { workerData, receiveMessageOnPort } = process.getBuiltinModule('node:worker_threads');
const { mem, ctl, port, index, spinMs } = workerData;
const w = new Int32Array(ctl, 0, 16);
const a = new Float64Array(ctl, ${CALL_OFFSET});
const fns = [];
let gen = 0;
if (workerData.nice) {
  try {
    const tid = Number(process.getBuiltinModule('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
    process.getBuiltinModule('node:os').setPriority(tid, workerData.nice);
  } catch {}
}
for (;;) {
  let t = Atomics.load(w, ${W_TICKET});
  if (t >>> 16 === gen) {
    const t0 = performance.now();
    while ((t = Atomics.load(w, ${W_TICKET})) >>> 16 === gen && Atomics.load(w, ${W_HOLD}) !== 0 && performance.now() - t0 < spinMs);
    if (t >>> 16 === gen) {
      Atomics.wait(w, ${W_TICKET}, t);
      continue;
    }
  }
  gen = t >>> 16;
  for (let m; (m = receiveMessageOnPort(port)); ) {
    const { id, module, name } = m.message;
    fns[id] = new WebAssembly.Instance(module, { env: { mem } }).exports[name];
  }
  if (index >= a[${C_ACTIVE}]) continue;
  const fn = fns[a[${C_FN}]], n = a[${C_NARGS}], pieces = a[${C_PIECES}], ci = a[${C_COUNT_INDEX}], last = a[${C_LAST_COUNT}];
  const base = new Array(n), step = new Array(n), args = new Array(n);
  for (let k = 0; k < n; k++) { base[k] = a[${C_ARGS} + k]; step[k] = a[${C_ARGS} + n + k]; }
  for (;;) {
    const cur = Atomics.load(w, ${W_TICKET});
    if (cur >>> 16 !== gen || (cur & 0xffff) >= pieces) break;
    if (Atomics.compareExchange(w, ${W_TICKET}, cur, cur + 1) !== cur) continue;
    const i = cur & 0xffff;
    for (let k = 0; k < n; k++) args[k] = base[k] + i * step[k];
    if (i === pieces - 1) args[ci] = last;
    try { fn.apply(null, args); } catch { Atomics.store(w, ${W_FAILED}, 1); }
    Atomics.add(w, ${W_FINISHED}, 1);
    Atomics.notify(w, ${W_FINISHED});
  }
}
`;

interface NodeWorker {
  unref(): void;
}
interface NodePort {
  postMessage(m: unknown): void;
}
interface WorkerThreads {
  Worker: new (src: string, opts: { eval: true; workerData: unknown; transferList: unknown[] }) => NodeWorker;
  MessageChannel: new () => { port1: NodePort; port2: unknown };
}

/** A module function helpers can run: instantiated by each helper against the shared memory. */
export interface SharedKernel {
  readonly id: number;
  readonly module: WebAssembly.Module;
  readonly name: string;
}

/**
 * One kernel call cut into `pieces`: piece i runs `fn(args[k] + i·step[k] …)`, except that in the
 * last piece argument `last.index` is `last.value` (a shorter last piece). Pieces must write
 * disjoint memory.
 */
export interface SplitCall {
  readonly kernel: SharedKernel;
  /** the caller's instance of the same function */
  readonly fn: (...args: number[]) => void;
  readonly args: readonly number[];
  readonly step: readonly number[];
  readonly pieces: number;
  readonly last?: { readonly index: number; readonly value: number };
}

interface Helper {
  readonly port: NodePort;
  readonly sent: Set<number>;
}

let threads: number | undefined;
const helpers: Helper[] = [];
let memory: WebAssembly.Memory | undefined;
let nextId = 1;
let gen = 0;
let ctl: { w: Int32Array; a: Float64Array } | undefined;

function workerThreads(): WorkerThreads | undefined {
  const p = (globalThis as { process?: { getBuiltinModule?: (name: string) => unknown } }).process;
  if (typeof SharedArrayBuffer === 'undefined' || typeof Atomics === 'undefined' || !p?.getBuiltinModule) return undefined;
  return p.getBuiltinModule('node:worker_threads') as WorkerThreads | undefined;
}

function control(): { w: Int32Array; a: Float64Array } {
  if (!ctl) {
    const sab = new SharedArrayBuffer(CTL_BYTES);
    ctl = { w: new Int32Array(sab, 0, 16), a: new Float64Array(sab, CALL_OFFSET) };
  }
  return ctl;
}

let coreCount: number | undefined;
/** Cores this process may use (Node; 1 elsewhere). */
function cores(): number {
  if (coreCount === undefined) {
    const p = (globalThis as { process?: { getBuiltinModule?: (name: string) => unknown } }).process;
    const os = p?.getBuiltinModule?.('node:os') as { availableParallelism?: () => number; cpus: () => unknown[] } | undefined;
    coreCount = Math.max(1, os ? (os.availableParallelism?.() ?? os.cpus().length) : 1);
  }
  return coreCount;
}

function defaultThreads(): number {
  if (!workerThreads()) return 1;
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.TAPEGRAD_CPU_THREADS;
  if (env !== undefined && /^\d+$/.test(env) && Number(env) >= 1) return Math.min(Number(env), MAX_HELPERS + 1);
  const n = Math.min(cores(), MAX_HELPERS + 1);
  // as OMP_NUM_THREADS does for PyTorch: a bad value warns and the default applies
  if (env !== undefined && env !== '') console.warn(`tapegrad: TAPEGRAD_CPU_THREADS=${JSON.stringify(env)} is not a positive integer; using ${n} CPU threads`);
  return n;
}

/**
 * Whether threads poll before sleeping: only when each has a core. With more threads than cores
 * a polling thread takes the core a working one needs (a 784×128×128 GEMM on 3 threads, 2 cores:
 * 6.1 ms against 0.45 on one thread).
 */
function polling(): boolean {
  return getNumThreads() <= cores();
}

/**
 * Threads the CPU kernels split a large call across (1: no helpers), as `torch.get_num_threads()`.
 * Default: the cores (at most 8) in Node, 1 in browsers; `TAPEGRAD_CPU_THREADS` sets it.
 */
export function getNumThreads(): number {
  threads ??= defaultThreads();
  return threads;
}

/**
 * Sets how many threads the CPU kernels use (the caller's plus `n − 1` helpers; clamped to what
 * this runtime supports: 1 in browsers), as `torch.set_num_threads(n)`. Returns the previous
 * count. Helpers above the count stay asleep.
 * @example setNumThreads(1) // every CPU kernel on the calling thread
 */
export function setNumThreads(n: number): number {
  const prev = getNumThreads();
  if (!Number.isInteger(n) || n < 1) throw new ValueError(`setNumThreads: expected a positive integer number of threads, got ${n}`);
  threads = workerThreads() ? Math.min(n, MAX_HELPERS + 1) : 1;
  return prev;
}

/** Largest size of the shared memory, in 64 KiB pages (4 GiB, wasm32's limit, as a plain memory may grow). */
const SHARED_MAX_PAGES = 65536;

/**
 * The linear memory of the CPU kernels (elementwise and GEMM; they never run at once, and nothing
 * in it outlives a call): shared, so helpers see it, when this runtime has helper threads, else a
 * plain one. Decided once, at first use.
 */
export function kernelMemory(): WebAssembly.Memory {
  if (!memory && workerThreads()) {
    try {
      memory = new WebAssembly.Memory({ initial: 1, maximum: SHARED_MAX_PAGES, shared: true });
    } catch {
      // an engine without shared WebAssembly memory: one thread
    }
  }
  memory ??= new WebAssembly.Memory({ initial: 1 });
  return memory;
}

/** How a kernel module imports `kernelMemory()` (`env.mem`; shared, with its maximum, when it is). */
export function kernelMemoryImport(): ModuleSpec['memoryImport'] {
  return { module: 'env', name: 'mem', minPages: 1, shared: kernelMemoryShared() ? { maxPages: SHARED_MAX_PAGES } : undefined };
}

/** Whether `kernelMemory()` is shared (helpers can run its modules). */
export function kernelMemoryShared(): boolean {
  return kernelMemory().buffer instanceof SharedArrayBuffer;
}

/** A function of a module compiled against `kernelMemory()` that helpers may run. */
export function sharedKernel(module: WebAssembly.Module, name: string): SharedKernel {
  return { id: nextId++, module, name };
}

/**
 * Keeps helpers polling for the next call (true) or lets them sleep after a call (false): a
 * kernel that splits several calls in one run (GEMM blocks, elementwise rounds) holds them for
 * the run.
 */
export function holdCpuHelpers(on: boolean): void {
  if (ctl || on) Atomics.store(control().w, W_HOLD, on && polling() ? 1 : 0);
}

/** Helpers a call of `pieces` pieces may use (0: run it on the calling thread). */
export function helpersFor(pieces: number): number {
  return kernelMemoryShared() ? Math.max(0, Math.min(pieces - 1, getNumThreads() - 1)) : 0;
}

/**
 * Makes sure `n` helpers exist; false (and one thread from then on) where this runtime refuses
 * to start one (a Node-compatible runtime without evaluated workers, say).
 */
function startHelpers(n: number): boolean {
  const wt = workerThreads()!;
  const c = control();
  try {
    while (helpers.length < n) {
      const { port1, port2 } = new wt.MessageChannel();
      const workerData = { mem: kernelMemory(), ctl: c.w.buffer, port: port2, index: helpers.length, spinMs: SPIN_MS, nice: HELPER_NICE };
      const w = new wt.Worker(HELPER_SOURCE, { eval: true, workerData, transferList: [port2] });
      w.unref();
      helpers.push({ port: port1, sent: new Set() });
    }
    return true;
  } catch {
    threads = 1;
    return helpers.length >= n;
  }
}

/**
 * Runs every piece of `call`, on this thread and up to `helpersFor(call.pieces)` helpers; returns
 * once all are finished. Pieces are taken in order as threads come free.
 */
export function splitAcrossThreads(call: SplitCall): void {
  finishSplit(startSplit(call));
}

/** A split call started by `startSplit`: helpers may be running its pieces. */
export interface StartedSplit {
  readonly call: SplitCall;
  readonly active: number;
}

/**
 * Publishes `call` to the helpers and returns at once, so this thread can do other work (copy the
 * next operands in) while they take pieces; `finishSplit` then takes what is left and waits. Only
 * one split may be started at a time.
 */
export function startSplit(call: SplitCall): StartedSplit {
  const { args, step, pieces } = call;
  const n = args.length;
  if (n > MAX_ARGS || step.length !== n || pieces < 1 || pieces > MAX_PIECES) internal(`splitAcrossThreads: ${n} arguments, ${pieces} pieces`);
  if (pending) internal('startSplit: a split call is already running');
  let active = helpersFor(pieces);
  if (active > 0 && !startHelpers(active)) active = 0;
  if (active === 0) return { call, active };
  for (const h of helpers) {
    if (h.sent.has(call.kernel.id)) continue;
    h.port.postMessage({ id: call.kernel.id, module: call.kernel.module, name: call.kernel.name });
    h.sent.add(call.kernel.id);
  }
  const { w, a } = control();
  const { index, value } = lastPiece(call);
  a[C_FN] = call.kernel.id;
  a[C_NARGS] = n;
  a[C_PIECES] = pieces;
  a[C_COUNT_INDEX] = index;
  a[C_LAST_COUNT] = value;
  a[C_ACTIVE] = active;
  for (let k = 0; k < n; k++) {
    a[C_ARGS + k] = args[k]!;
    a[C_ARGS + n + k] = step[k]!;
  }
  Atomics.store(w, W_FINISHED, 0);
  Atomics.store(w, W_FAILED, 0);
  gen = gen === 0x7fff ? 1 : gen + 1;
  Atomics.store(w, W_TICKET, gen << 16);
  Atomics.notify(w, W_TICKET);
  pending = { call, active };
  return pending;
}

let pending: StartedSplit | undefined;

function lastPiece(call: SplitCall): { index: number; value: number } {
  return call.last ?? { index: 0, value: call.args[0]! + (call.pieces - 1) * call.step[0]! };
}

/** Takes the pieces of a started split that no helper has taken, then waits for the helpers' pieces. */
export function finishSplit(started: StartedSplit): void {
  const { fn, args, step, pieces } = started.call;
  const n = args.length;
  const { index: countIndex, value: lastCount } = lastPiece(started.call);
  const buf = new Array<number>(n);
  const piece = (i: number): void => {
    for (let k = 0; k < n; k++) buf[k] = args[k]! + i * step[k]!;
    if (i === pieces - 1) buf[countIndex] = lastCount;
    fn.apply(null, buf);
  };
  if (started.active === 0) {
    for (let i = 0; i < pieces; i++) piece(i);
    return;
  }
  if (pending !== started) internal('finishSplit: not the running split call');
  pending = undefined;
  const { w } = control();
  let mine = 0;
  for (;;) {
    const cur = Atomics.load(w, W_TICKET);
    if ((cur & 0xffff) >= pieces) break;
    if (Atomics.compareExchange(w, W_TICKET, cur, cur + 1) !== cur) continue;
    piece(cur & 0xffff);
    mine++;
  }
  // the helpers' pieces: poll briefly (they are usually about done), then sleep
  const done = (): boolean => Atomics.load(w, W_FINISHED) + mine >= pieces;
  const s0 = performance.now();
  const spin = polling() ? SPIN_MS : 0;
  while (!done() && performance.now() - s0 < spin);
  const t0 = Date.now();
  while (!done()) {
    Atomics.wait(w, W_FINISHED, Atomics.load(w, W_FINISHED), 100);
    if (!done() && Date.now() - t0 > WAIT_LIMIT_MS) internal('a CPU helper thread stopped answering');
  }
  if (Atomics.load(w, W_FAILED) !== 0) internal('a WebAssembly kernel failed on a CPU helper thread');
}
