/**
 * @file tapegrad in a real browser: bundles tests/browser/page.ts (the library plus a small MLP
 * training loop) with esbuild for the browser — no Node built-ins may end up in it — serves it
 * from http://127.0.0.1 (WebGPU needs a secure context), and drives Debian's headless chromium
 * through playwright-core with --enable-unsafe-webgpu (SwiftShader on machines without a GPU).
 * Skips with a visible message when chromium is missing locally; fails in CI (`CI` set).
 */
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--enable-unsafe-webgpu', '--no-sandbox', '--disable-background-networking', '--no-first-run',
  ...(process.env.TAPEGRAD_CHROMIUM_EXTRA_ARGS ?? '').split(/\s+/).filter(Boolean)];

const have = existsSync(CHROMIUM);
if (!have) {
  if (process.env.CI) throw new Error(`browser tests need chromium at ${CHROMIUM} in CI; run scripts/setup-webgpu.sh`);
  console.warn(`\n*** browser tests SKIPPED: no chromium at ${CHROMIUM} (run sudo bash scripts/setup-webgpu.sh, or set CHROMIUM_PATH)\n`);
}

let server: Server | null = null;
let browser: Browser | null = null;
afterAll(async () => {
  await browser?.close().catch(() => {});
  server?.close();
});

/** The bundle and what went into it. */
async function bundle() {
  const r = await build({
    entryPoints: ['tests/browser/page.ts'], bundle: true, format: 'esm', platform: 'browser', target: 'es2022',
    write: false, metafile: true, logLevel: 'silent',
  });
  return { js: r.outputFiles[0]!.text, inputs: Object.keys(r.metafile.inputs) };
}

describe('browser bundle', () => {
  it('contains the library and no Node built-ins or Node-only packages', async () => {
    const { js, inputs } = await bundle();
    expect(inputs.some((i) => i.startsWith('src/gpu/'))).toBe(true);
    expect(inputs.filter((i) => i.startsWith('node:') || i.includes('node_modules/'))).toEqual([]);
    // no static imports or requires of Node modules (Node-only code is behind computed dynamic imports)
    expect(js).not.toMatch(/\bfrom\s*["'](node:|fs|path|module|url|v8|vm|worker_threads)["'/]/);
    expect(js).not.toMatch(/\brequire\(/);
    expect(js).not.toMatch(/dawn\.node/);
  });
});

describe.skipIf(!have)('browser: WebGPU through navigator.gpu', () => {
  it('trains a small MLP in headless chromium and the loss falls', async () => {
    const { js } = await bundle();
    const html = '<!doctype html><meta charset="utf-8"><title>tapegrad browser test</title><script type="module" src="/page.js"></script>';
    server = createServer((req, res) => {
      if (req.url === '/page.js') {
        res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
        res.end(js);
      } else {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(html);
      }
    });
    await new Promise<void>((resolve, reject) => server!.listen(0, '127.0.0.1', resolve).on('error', reject));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
    const page = await browser.newPage();
    const logs: string[] = [];
    page.on('console', (m) => logs.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
    await page.goto(url);
    await page.waitForFunction(() => (globalThis as { __tapegrad?: unknown }).__tapegrad !== undefined, undefined, { timeout: 90_000 });
    const r = await page.evaluate(() => (globalThis as unknown as { __tapegrad: {
      ok: boolean; error?: string; adapter?: string; losses?: number[]; pipelines?: number; ms?: number;
      memory?: { bytesInUse: number; bytesPooled: number };
    } }).__tapegrad);
    if (!r.ok) throw new Error(`the page failed: ${r.error}\n${logs.join('\n')}`);
    console.log(`browser: ${browser.version()} on "${r.adapter}": losses ${r.losses!.map((l) => l.toFixed(3)).join(' ')}; ` +
      `${r.pipelines} pipelines, ${(r.memory!.bytesInUse / 1024).toFixed(0)} KiB in use, ${r.ms!.toFixed(0)} ms`);
    const L = r.losses!;
    expect(L.length).toBe(12);
    expect(L.every(Number.isFinite)).toBe(true);
    expect(L[L.length - 1]!).toBeLessThan(L[0]! * 0.7);
    expect(logs.filter((l) => l.startsWith('[pageerror]') || /uncaptured WebGPU error/.test(l))).toEqual([]);
  }, 150_000);
});
