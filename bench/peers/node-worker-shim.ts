// A minimal Web `Worker` global for Node 20, built on worker_threads, so jax-js's wasm backend can
// run its kernels on several threads (it checks `typeof Worker` and `SharedArrayBuffer` when the
// wasm backend starts; install this before `init('wasm')`).
//
// jax-js creates workers from a Blob URL of classic-script source that uses `self.onmessage` and
// `postMessage`, and posts a shared WebAssembly.Memory and compiled WebAssembly.Modules; Node's
// structured clone carries both. The source comes from a Blob, read asynchronously, so messages
// posted before the thread starts are queued.

import { resolveObjectURL } from 'node:buffer';
import { Worker as NodeWorker } from 'node:worker_threads';

const PRELUDE = `
const { parentPort } = require('node:worker_threads');
globalThis.self = globalThis;
globalThis.postMessage = (m) => parentPort.postMessage(m);
parentPort.on('message', (data) => { const h = globalThis.onmessage || self.onmessage; if (h) h({ data }); });
`;

class ShimWorker {
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onerror: ((e: { message: string }) => void) | null = null;
  #w: NodeWorker | null = null;
  #queue: unknown[] = [];
  #terminated = false;

  constructor(url: string | URL) {
    const blob = resolveObjectURL(String(url));
    if (!blob) throw new Error(`Worker shim: only blob: URLs are supported (${String(url)})`);
    void blob.text().then(
      (src) => {
        if (this.#terminated) return;
        const w = new NodeWorker(PRELUDE + src, { eval: true });
        w.on('message', (data) => this.onmessage?.({ data }));
        w.on('error', (err) => this.onerror?.({ message: err.message }));
        this.#w = w;
        for (const m of this.#queue) w.postMessage(m);
        this.#queue = [];
      },
      (err: Error) => this.onerror?.({ message: err.message }),
    );
  }

  postMessage(m: unknown): void {
    if (this.#w) this.#w.postMessage(m);
    else this.#queue.push(m);
  }

  terminate(): void {
    this.#terminated = true;
    void this.#w?.terminate();
  }
}

/**
 * Installs `globalThis.Worker` (if absent) and sets `navigator.hardwareConcurrency` to `threads`
 * (jax-js sizes its pool from it). Returns false if a Worker global already existed.
 */
export function installNodeWorkerShim(threads: number): boolean {
  const g = globalThis as Record<string, unknown>;
  let nav = g.navigator as Record<string, unknown> | undefined;
  if (!nav) {
    nav = {};
    Object.defineProperty(globalThis, 'navigator', { value: nav, configurable: true, writable: true });
  }
  Object.defineProperty(nav, 'hardwareConcurrency', { value: threads, configurable: true });
  if (typeof nav.userAgent !== 'string') Object.defineProperty(nav, 'userAgent', { value: `Node.js/${process.version}`, configurable: true });
  if (typeof g.Worker !== 'undefined') return false;
  g.Worker = ShimWorker;
  return true;
}
