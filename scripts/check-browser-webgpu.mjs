#!/usr/bin/env node
// Smoke test for WebGPU in a headless Chromium (Debian's `chromium`, software
// WebGPU via SwiftShader), driven by playwright-core.
//
// Serves a tiny page from http://127.0.0.1:<ephemeral> (a secure context, as
// WebGPU requires), requests an adapter and device in the page, prints the
// adapter info and limits, runs a trivial compute shader (y = 2 * x over 1024
// floats) and verifies the readback.  Exit 0 on success, 1 otherwise.
//
// Env:
//   CHROMIUM_PATH                 browser binary (default /usr/bin/chromium)
//   TAPEGRAD_CHROMIUM_EXTRA_ARGS  extra whitespace-separated flags
//   TAPEGRAD_BROWSER_CHECK_TIMEOUT_MS  overall watchdog (default 120000)

import { createServer } from 'node:http';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';

const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// Flags that give a working navigator.gpu on a machine without a GPU:
// --enable-unsafe-webgpu is required on Linux (WebGPU is otherwise blocklisted
// there); SwiftShader is then used as the (fallback) adapter.
const CHROMIUM_WEBGPU_ARGS = [
  '--enable-unsafe-webgpu',
  '--no-sandbox',
  '--disable-background-networking',
  '--no-first-run',
];
const args = [
  ...CHROMIUM_WEBGPU_ARGS,
  ...(process.env.TAPEGRAD_CHROMIUM_EXTRA_ARGS ?? '').split(/\s+/).filter(Boolean),
];
const WATCHDOG_MS = Number(process.env.TAPEGRAD_BROWSER_CHECK_TIMEOUT_MS ?? 120_000);
const N = 1024;

let browser;
let server;
async function cleanup() {
  await browser?.close().catch(() => {});
  server?.close();
}
async function fail(msg, err) {
  console.error(`check-browser-webgpu: FAIL: ${msg}`);
  if (err) console.error(err?.stack ?? String(err));
  await cleanup();
  process.exit(1);
}
const watchdog = setTimeout(() => {
  console.error(`check-browser-webgpu: FAIL: timed out after ${WATCHDOG_MS} ms`);
  process.exit(2);
}, WATCHDOG_MS);
watchdog.unref();

if (!existsSync(executablePath)) {
  await fail(`no browser at ${executablePath}: run \`sudo bash scripts/setup-webgpu.sh\` (installs Debian's chromium) or set CHROMIUM_PATH`);
}

const html = `<!doctype html><meta charset="utf-8"><title>webgpu check</title><body>webgpu check</body>`;
server = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(html);
});
await new Promise((resolve, reject) => server.listen(0, '127.0.0.1', resolve).on('error', reject));
const url = `http://127.0.0.1:${server.address().port}/`;

console.log(`check-browser-webgpu: ${executablePath} ${args.join(' ')}`);
const tLaunch = performance.now();
try {
  browser = await chromium.launch({ executablePath, headless: true, args });
} catch (err) {
  await fail('chromium failed to launch', err);
}
const launchMs = performance.now() - tLaunch;
console.log(`  browser ${browser.version()} launched in ${launchMs.toFixed(0)} ms`);

const tPage = performance.now();
const page = await browser.newPage();
page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.error(`  [page ${m.type()}] ${m.text()}`); });
page.on('pageerror', (e) => console.error(`  [page error] ${e.message}`));
await page.goto(url);

// Runs inside the page: plain JS, no imports.
const result = await page.evaluate(async (n) => {
  if (!isSecureContext) return { error: 'page is not a secure context' };
  if (!('gpu' in navigator)) return { error: 'navigator.gpu is undefined (WebGPU disabled: missing --enable-unsafe-webgpu?)' };
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) return { error: 'navigator.gpu.requestAdapter() returned null' };
  const info = {};
  for (const k of ['vendor', 'architecture', 'device', 'description', 'subgroupMinSize', 'subgroupMaxSize', 'isFallbackAdapter']) {
    if (adapter.info?.[k] !== undefined) info[k] = adapter.info[k];
  }
  const limits = {};
  for (const k of ['maxStorageBufferBindingSize', 'maxStorageBuffersPerShaderStage', 'maxComputeWorkgroupsPerDimension',
    'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupStorageSize', 'maxBufferSize', 'maxBindGroups']) {
    limits[k] = adapter.limits[k];
  }
  const features = [...adapter.features].sort();
  const requiredLimits = {};
  for (const k of ['maxStorageBufferBindingSize', 'maxStorageBuffersPerShaderStage', 'maxBufferSize', 'maxComputeInvocationsPerWorkgroup']) {
    requiredLimits[k] = adapter.limits[k];
  }
  const device = await adapter.requestDevice({ requiredLimits });
  device.pushErrorScope('validation');
  const module = device.createShaderModule({
    code: `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i < arrayLength(&x)) { y[i] = 2.0 * x[i]; }
}` });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const input = new Float32Array(n);
  for (let i = 0; i < n; i++) input[i] = i - 100.25;
  const xBuf = device.createBuffer({ size: input.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const yBuf = device.createBuffer({ size: input.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const readBuf = device.createBuffer({ size: input.byteLength, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(xBuf, 0, input);
  const bindGroup = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: xBuf } }, { binding: 1, resource: { buffer: yBuf } }],
  });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(Math.ceil(n / 64));
  pass.end();
  enc.copyBufferToBuffer(yBuf, 0, readBuf, 0, input.byteLength);
  device.queue.submit([enc.finish()]);
  const vErr = await device.popErrorScope();
  if (vErr) return { error: `validation error: ${vErr.message}`, info, limits };
  await readBuf.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(readBuf.getMappedRange().slice(0));
  readBuf.unmap();
  const mismatches = [];
  for (let i = 0; i < n; i++) if (out[i] !== 2 * input[i]) mismatches.push([i, out[i], 2 * input[i]]);
  device.destroy();
  return { info, limits, features, bad: mismatches.length, firstBad: mismatches.slice(0, 5) };
}, N).catch((err) => ({ error: `page.evaluate threw: ${err.message}` }));

if (result.info) {
  console.log('adapter info:');
  for (const [k, v] of Object.entries(result.info)) console.log(`  ${k}: ${JSON.stringify(v)}`);
}
if (result.features) console.log(`  features: ${result.features.join(' ')}`);
if (result.limits) {
  console.log('adapter limits:');
  for (const [k, v] of Object.entries(result.limits)) console.log(`  ${k}: ${v}`);
}
if (result.error) await fail(result.error);
if (result.bad) await fail(`compute readback wrong in ${result.bad}/${N} elements, e.g. [index, got, want] ${JSON.stringify(result.firstBad)}`);

const pageMs = performance.now() - tPage;
await cleanup();
console.log(`check-browser-webgpu: OK: doubled ${N} floats in the page (launch ${launchMs.toFixed(0)} ms, page+compute ${pageMs.toFixed(0)} ms)`);
process.exit(0);
