#!/usr/bin/env node
// Smoke test for WebGPU in Node via the npm package `webgpu` (Dawn's dawn.node).
//
// Requests an adapter and a device, prints the adapter info and the limits
// tapegrad cares about, runs a trivial compute shader (y = 2 * x over 1024
// floats) and verifies the readback.  Exit 0 on success, 1 with a message on
// any failure, 2 if it hangs past the watchdog.
//
// Usage: node scripts/check-webgpu.mjs [dawn-option ...]
//   Options are passed to webgpu's create(), e.g. `backend=vulkan`,
//   `adapter=llvmpipe`, `enable-dawn-features=dump_shaders`.
//   Also read from the env var TAPEGRAD_DAWN_OPTIONS (comma-separated would be
//   ambiguous with Dawn's own toggle lists, so it is whitespace-separated).
//
// Without a GPU this needs Mesa's lavapipe (Vulkan on the CPU) from
// bookworm-backports: run `bash scripts/setup-webgpu.sh` first.

import { existsSync, readdirSync } from 'node:fs';

const WATCHDOG_MS = Number(process.env.TAPEGRAD_WEBGPU_CHECK_TIMEOUT_MS ?? 60_000);
const N = 1024;
const t0 = performance.now();

function fail(msg, err) {
  console.error(`check-webgpu: FAIL: ${msg}`);
  if (err) console.error(err?.stack ?? String(err));
  // process.exit, not a thrown error: dawn.node keeps background threads alive
  // as long as the GPU object is reachable, so a natural exit could hang.
  process.exit(1);
}

const watchdog = setTimeout(() => {
  console.error(`check-webgpu: FAIL: timed out after ${WATCHDOG_MS} ms (adapter/device/mapAsync never resolved)`);
  process.exit(2);
}, WATCHDOG_MS);
watchdog.unref();

function vulkanDiagnostics() {
  const lines = [];
  const libs = ['/usr/lib/x86_64-linux-gnu/libvulkan.so.1', '/usr/lib/aarch64-linux-gnu/libvulkan.so.1'];
  const lib = libs.find((p) => existsSync(p));
  lines.push(`  libvulkan.so.1: ${lib ?? 'NOT FOUND (apt-get install libvulkan1)'}`);
  const icdDir = '/usr/share/vulkan/icd.d';
  const icds = existsSync(icdDir) ? readdirSync(icdDir) : [];
  lines.push(`  Vulkan ICDs in ${icdDir}: ${icds.length ? icds.join(', ') : 'NONE (apt-get install mesa-vulkan-drivers)'}`);
  if (process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES) {
    lines.push(`  VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES ?? ''} VK_DRIVER_FILES=${process.env.VK_DRIVER_FILES ?? ''}`);
  }
  lines.push('  Debian 12\'s own Mesa 22 lavapipe is too old for Dawn; install Mesa from bookworm-backports:');
  lines.push('    sudo bash scripts/setup-webgpu.sh');
  return lines.join('\n');
}

let webgpu;
try {
  webgpu = await import('webgpu');
} catch (err) {
  fail('cannot load the npm package `webgpu` (dawn.node). Did `npm ci` run? Is this platform supported?', err);
}
const { create, globals } = webgpu;
const { GPUBufferUsage, GPUMapMode } = globals;

const options = [
  ...process.argv.slice(2),
  ...(process.env.TAPEGRAD_DAWN_OPTIONS ?? '').split(/\s+/).filter(Boolean),
];
console.log(`check-webgpu: node ${process.version}, webgpu create(${JSON.stringify(options)})`);

let gpu;
try {
  gpu = create(options);
} catch (err) {
  fail('webgpu create() threw', err);
}

let adapter;
try {
  adapter = await gpu.requestAdapter();
} catch (err) {
  fail('requestAdapter() threw', err);
}
if (!adapter) {
  fail(`requestAdapter() returned null: no WebGPU adapter.\n${vulkanDiagnostics()}`);
}

const info = adapter.info ?? {};
console.log('adapter info:');
for (const k of ['vendor', 'architecture', 'device', 'description', 'subgroupMinSize', 'subgroupMaxSize', 'isFallbackAdapter']) {
  if (info[k] !== undefined) console.log(`  ${k}: ${JSON.stringify(info[k])}`);
}
console.log(`  features: ${[...adapter.features].sort().join(' ')}`);

const LIMITS = [
  'maxStorageBufferBindingSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupsPerDimension',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupStorageSize',
  'maxBufferSize',
  'maxBindGroups',
];
console.log('adapter limits:');
for (const k of LIMITS) console.log(`  ${k}: ${adapter.limits[k]}`);

// Ask for the adapter's maxima of the limits tapegrad raises, so a driver that
// advertises but cannot grant them fails here rather than deep inside a test.
const requiredLimits = {};
for (const k of ['maxStorageBufferBindingSize', 'maxStorageBuffersPerShaderStage', 'maxBufferSize', 'maxComputeInvocationsPerWorkgroup']) {
  requiredLimits[k] = adapter.limits[k];
}

let device;
try {
  device = await adapter.requestDevice({ requiredLimits });
} catch (err) {
  fail(`requestDevice(${JSON.stringify({ requiredLimits })}) failed`, err);
}
let lost = false;
device.lost.then((i) => {
  lost = true;
  if (i.reason !== 'destroyed') console.error(`check-webgpu: device lost: ${i.reason}: ${i.message}`);
});
device.addEventListener?.('uncapturederror', (ev) => console.error(`check-webgpu: uncaptured error: ${ev.error?.message}`));

const code = /* wgsl */ `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i < arrayLength(&x)) { y[i] = 2.0 * x[i]; }
}`;

try {
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });

  const input = new Float32Array(N);
  for (let i = 0; i < N; i++) input[i] = i - 100.25;
  const bytes = input.byteLength;
  const xBuf = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const yBuf = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const readBuf = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(xBuf, 0, input);

  const bindGroup = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [
      { binding: 0, resource: { buffer: xBuf } },
      { binding: 1, resource: { buffer: yBuf } },
    ],
  });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(Math.ceil(N / 64));
  pass.end();
  enc.copyBufferToBuffer(yBuf, 0, readBuf, 0, bytes);
  device.queue.submit([enc.finish()]);

  const vErr = await device.popErrorScope();
  if (vErr) fail(`WebGPU validation error: ${vErr.message}`);

  await readBuf.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(readBuf.getMappedRange().slice(0));
  readBuf.unmap();

  let bad = 0;
  for (let i = 0; i < N; i++) {
    if (out[i] !== 2 * input[i]) {
      if (bad < 5) console.error(`  mismatch at ${i}: got ${out[i]}, want ${2 * input[i]}`);
      bad++;
    }
  }
  if (bad) fail(`compute readback wrong in ${bad}/${N} elements`);
  if (lost) fail('device was lost during the check');

  xBuf.destroy();
  yBuf.destroy();
  readBuf.destroy();
} catch (err) {
  fail('compute check threw', err);
}

device.destroy();
console.log(`check-webgpu: OK: doubled ${N} floats on "${info.description || info.device || info.vendor}" in ${(performance.now() - t0).toFixed(0)} ms`);
// Exit explicitly: dawn.node may keep the event loop alive while `gpu` is reachable.
process.exit(0);
