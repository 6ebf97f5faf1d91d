// Every example in examples/ runs as a child process (`tsx examples/X.ts …`, as a user would run
// it) with small settings, and its printed values are checked: the tutorial's numbers for the
// tour, accuracies above chance for the trainers, a well-formed training-curve SVG and a loadable
// safetensors file for mnist.ts, and a clear message for the options whose features may be missing.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { load } from 'tapegrad';
import { ProgressBar, fmtDuration } from '../examples/progress.ts';
import { gpuStatus } from './gpu-setup.ts';
import { niceTicks, plotSvg } from '../examples/svg-plot.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const tsxCli = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const work = mkdtempSync(join(tmpdir(), 'tapegrad-examples-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `tsx examples/<name>.ts ...args` from the repository root; never rejects. */
function runExample(name: string, args: string[] = []): Promise<Run> {
  return new Promise((done) => {
    execFile(process.execPath, [tsxCli, join('examples', `${name}.ts`), ...args], {
      cwd: root,
      timeout: 110_000,
      maxBuffer: 16 << 20,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
    }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

/** Runs an example that must succeed, and returns its standard output. */
async function output(name: string, args: string[] = []): Promise<string> {
  const r = await runExample(name, args);
  if (r.code !== 0) throw new Error(`examples/${name}.ts ${args.join(' ')} exited with ${r.code}:\n${r.stderr || r.stdout}`);
  return r.stdout;
}

/** The number captured by `re` in `text` (fails the test when absent). */
function num(text: string, re: RegExp): number {
  const m = re.exec(text);
  expect(m, `expected output to match ${re}:\n${text}`).not.toBeNull();
  return Number(m![1]);
}

/** Checks an SVG file is a well-formed-looking standalone SVG with drawn curves. */
function checkSvg(path: string): void {
  expect(existsSync(path), `SVG file ${path}`).toBe(true);
  const svg = readFileSync(path, 'utf8');
  expect(svg.startsWith('<?xml')).toBe(true);
  expect(svg).toMatch(/<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*width="\d+"[^>]*height="\d+"/);
  expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  expect(svg).toMatch(/<path d="M[\d.]+,[\d.]+( L[\d.]+,[\d.]+)+"/); // at least one polyline
  expect(svg).not.toMatch(/NaN|undefined|Infinity/);
  // tags balance: every opened <g>, <text>, <clipPath> is closed
  for (const tag of ['g', 'text', 'clipPath', 'svg']) {
    const opened = svg.match(new RegExp(`<${tag}[\\s>]`, 'g'))?.length ?? 0;
    const closed = svg.match(new RegExp(`</${tag}>`, 'g'))?.length ?? 0;
    expect(closed, `<${tag}> opened ${opened}, closed ${closed}`).toBe(opened);
  }
  // no stray '&' or '<' inside text
  expect(svg).not.toMatch(/&(?!(amp|lt|gt|quot|apos);)/);
}

describe('examples (run as child processes)', () => {
  it("theano-tour prints the tutorial's values", async () => {
    const out = await output('theano-tour');
    expect(out).toContain('f(2, 3) = 5');
    expect(out).toMatch(/a \+ a\*\*10 = tensor\(\[\s*0\.,\s*2\.,\s*1026\.\]\)/);
    expect(out).toMatch(/a\*\*2 \+ 2ab \+ b\*\*2 = tensor\(\[25\., 49\.\]\)/);
    expect(out).toMatch(/logistic = tensor\(\[\[0\.5000, 0\.7311\],\s*\[0\.2689, 0\.1192\]\]\)/);
    expect(out).toMatch(/diff = tensor\(\[\[ 1\.,\s+0\.\],\s*\[-1\., -2\.\]\]\)/);
    expect(out).toMatch(/abs diff = tensor\(\[\[1\., 0\.\],\s*\[1\., 2\.\]\]\)/);
    expect(out).toMatch(/squared diff = tensor\(\[\[1\., 0\.\],\s*\[1\., 4\.\]\]\)/);
    // the accumulator returns the old state and adds in place
    const acc = out.split('\n').filter((l) => /^(state =|accumulator)/.test(l));
    expect(acc).toEqual([
      'state = 0', 'accumulator(1) returns 0', 'state = 1', 'accumulator(300) returns 1', 'state = 301',
    ]);
    expect(out).toContain('d(x**2)/dx at x = 4: 8');
  });

  it('quickstart fits y = 3x - 1', async () => {
    const out = await output('quickstart');
    expect(out).toMatch(/d\/dw sum\(w\*\*2\) = tensor\(\[2\., 4\., 6\.\]\)/);
    expect(num(out, /fitted slope (-?[\d.]+)/)).toBeCloseTo(3, 2);
    expect(num(out, /intercept (-?[\d.]+)/)).toBeCloseTo(-1, 2);
  });

  it('logistic-regression fits random D and tells two MNIST digits apart (300 steps)', async () => {
    const out = await output('logistic-regression', ['--steps', '300', '--limit', '2000']);
    expect(out).toMatch(/^target values for D: ([01] ){20}…$/m);
    const costs = [...out.matchAll(/random D step \d+: cost ([\d.]+)/g)].map((m) => Number(m[1]));
    expect(costs.length).toBeGreaterThanOrEqual(2);
    expect(costs[costs.length - 1]!).toBeLessThan(costs[0]!);
    // 784 features, 400 examples: the model can memorise random labels
    expect(num(out, /accuracy on D: ([\d.]+)%/)).toBeGreaterThan(90);
    expect(num(out, /accuracy telling 3 from 8 \(\d+ images\): ([\d.]+)%/)).toBeGreaterThan(90);
  });

  it('logistic-regression --symbolic and mlp-momentum --symbolic run the tutorial\'s symbolic versions', async () => {
    const lr = await output('logistic-regression', ['--symbolic', '--steps', '300']);
    expect(lr).toMatch(/train: \d+ traced nodes → \d+ after optimisation → \d+ kernels/);
    expect(num(lr, /accuracy on D: ([\d.]+)%/)).toBeGreaterThan(90);
    const mlp = await output('mlp-momentum', ['--symbolic', '--epochs', '20']);
    // the same figures as the eager version: same data, same initial weights, same updates
    expect(mlp).toContain('iteration 20: cost 216.454, accuracy 77.3%');
    expect(mlp).toMatch(/train compiled: \d+ traced nodes/);
  });

  it('mlp-momentum trains the toy two-class problem', async () => {
    const out = await output('mlp-momentum', ['--epochs', '20']);
    const lines = out.split('\n').filter((l) => l.startsWith('iteration '));
    expect(lines.length).toBe(20);
    for (const l of lines) expect(l).toMatch(/^iteration \d+: cost [\d.]+, accuracy [\d.]+%$/);
    const final = num(out, /final accuracy ([\d.]+)%/);
    expect(final).toBeGreaterThanOrEqual(0);
    expect(final).toBeLessThanOrEqual(100);
    expect(num(out, /iteration 20: cost ([\d.]+)/)).toBeLessThan(num(out, /iteration 1: cost ([\d.]+)/));
  });

  it('mnist (mlp, 2 epochs on 2,000 images): test accuracy > 80%, a training-curve SVG, saved weights', async () => {
    const out = join(work, 'mlp');
    const weights = join(work, 'mlp.safetensors');
    const text = await output('mnist', ['--epochs', '2', '--limit', '2000', '--out', out, '--save', weights]);
    expect(text).toMatch(/MNIST: 2,000 training and 10,000 test images/);
    expect(text).toContain('model: mlp (235,146 parameters)');
    expect(text).toContain('optimizer: adam, lr 0.002 (cosine decay to 0), batch size 64, 2 epochs, seed 0, device cpu');
    // not a terminal: one plain line per epoch
    for (const e of [1, 2]) {
      expect(text).toMatch(new RegExp(`^Epoch ${e}/2: 32 steps in .*loss [\\d.]+ {2}acc [\\d.]+ {2}test_loss [\\d.]+ {2}test_acc [\\d.]+$`, 'm'));
    }
    const acc = num(text, /test accuracy: ([\d.]+)% \(\d+\/10000\)/);
    expect(acc).toBeGreaterThan(80);
    expect(acc).toBeLessThanOrEqual(100);
    const svgPath = /training curve: (.+\.svg)$/m.exec(text)?.[1];
    expect(svgPath).toBe(join(out, 'mnist-mlp-curve.svg'));
    checkSvg(svgPath!);
    const sd = await load(weights);
    expect(Object.keys(sd).sort()).toEqual(['1.bias', '1.weight', '3.bias', '3.weight', '5.bias', '5.weight']);
    expect(sd['1.weight']!.shape).toEqual([256, 784]);
  });

  it('mnist --model lenet (1 epoch on 2,000 images) learns', async () => {
    const out = join(work, 'lenet');
    const text = await output('mnist', ['--model', 'lenet', '--epochs', '1', '--limit', '2000', '--test-limit', '1000', '--out', out]);
    expect(text).toContain('model: lenet (61,706 parameters)');
    expect(num(text, /test accuracy: ([\d.]+)% \(\d+\/1000\)/)).toBeGreaterThan(50);
    checkSvg(join(out, 'mnist-lenet-curve.svg'));
  });

  for (const [optimizer, lr] of [['sgd', '0.1'], ['momentum', '0.05'], ['rmsprop', '0.001']] as const) {
    it(`mnist --optimizer ${optimizer} learns`, async () => {
      const text = await output('mnist', [
        '--optimizer', optimizer, '--lr', lr, '--schedule', 'constant', '--epochs', '1', '--limit', '1000', '--test-limit', '1000', '--out', join(work, optimizer),
      ]);
      expect(text).toContain(`optimizer: ${optimizer}, lr ${lr}, batch size 64, 1 epoch`);
      expect(num(text, /test accuracy: ([\d.]+)% \(\d+\/1000\)/)).toBeGreaterThan(50);
    });
  }

  it('mnist rejects bad options with a clear message', async () => {
    for (const [args, message] of [
      [['--model', 'resnet'], "--model must be one of mlp, lenet; got 'resnet'"],
      [['--optimizer', 'adagrad'], "--optimizer must be one of adam, sgd, momentum, rmsprop; got 'adagrad'"],
      [['--epochs', '0'], '--epochs must be a positive integer; got 0'],
      [['--epoch', '3'], "unknown option '--epoch'"],
    ] as const) {
      const r = await runExample('mnist', [...args]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(message);
    }
  });

  it('mnist --jit trains with the compiled step', async () => {
    const r = await runExample('mnist', ['--jit', '--epochs', '1', '--limit', '2000', '--test-limit', '1000', '--out', join(work, 'jit')]);
    expect(r.code, r.stderr).toBe(0);
    expect(num(r.stdout, /test accuracy: ([\d.]+)%/)).toBeGreaterThan(60);
    expect(r.stdout).toMatch(/jit: 1 trace for 32 steps/);
  });

  it('mnist --device webgpu trains where an adapter exists, else says none could be opened', async () => {
    const r = await runExample('mnist', ['--device', 'webgpu', '--epochs', '1', '--limit', '2000', '--test-limit', '1000', '--out', join(work, 'webgpu')]);
    if ((await gpuStatus()).ok) {
      expect(r.code, r.stderr).toBe(0);
      expect(num(r.stdout, /test accuracy: ([\d.]+)%/)).toBeGreaterThan(60);
    } else {
      expect(r.stderr).toMatch(/mnist: --device webgpu: no WebGPU device could be opened/);
    }
  });

  it("keras-sequential runs the tutorial's snippet and a Keras-style MNIST classifier", async () => {
    const out = await output('keras-sequential', ['--epochs', '2', '--limit', '2000']);
    // the snippet: 10 epochs of batches of 32 over 1,000 samples, one line per epoch (not a terminal)
    const epochsLines = out.split('\n').filter((l) => /^Epoch \d+\/10 - 32\/32 - /.test(l));
    expect(epochsLines.length).toBe(10);
    const first = num(out, /snippet: mse loss ([\d.]+) \(epoch 1\)/), last = num(out, /-> ([\d.]+) \(epoch 10\)/);
    expect(last).toBeLessThan(first);
    // summary: Dense 784→128 (100,480), Dropout, Dense 128→10 (1,290)
    expect(out).toMatch(/Model: "mnist_mlp"/);
    expect(out).toMatch(/dense \(Dense\)\s+\(None, 128\)\s+100480/);
    expect(out).toMatch(/dropout \(Dropout\)\s+\(None, 128\)\s+0/);
    expect(out).toMatch(/dense_1 \(Dense\)\s+\(None, 10\)\s+1290/);
    expect(out).toContain('Total params: 101,770');
    // 2 epochs on 1,800 images (200 held out) with validation figures
    expect(out).toMatch(/^Epoch 2\/2 - 57\/57 - .*loss: [\d.]+ - accuracy: [\d.]+ - val_loss: [\d.]+ - val_accuracy: [\d.]+/m);
    expect(num(out, /test accuracy ([\d.]+)%/)).toBeGreaterThan(80);
    expect(out).toMatch(/first 10 test digits: predicted( \d){10}, labels 7 2 1 0 4 1 4 9 5 9/);
  });

  it('dropout trains the MLP with and without dropout and prints both accuracies', async () => {
    const out = await output('dropout', ['--epochs', '2', '--limit', '500']);
    for (const name of ['without dropout:', 'with dropout:']) {
      const m = new RegExp(`^${name}\\s+train accuracy ([\\d.]+)%, test accuracy ([\\d.]+)%, gap -?[\\d.]+ points$`, 'm').exec(out);
      expect(m, `a '${name}' line in:\n${out}`).not.toBeNull();
      expect(Number(m![1])).toBeGreaterThan(50);
      expect(Number(m![2])).toBeGreaterThan(50);
    }
    expect(out).toMatch(/^dropout (narrowed|widened) the train\/test gap by [\d.]+ points$/m);
  });

  it('examples refuse options they do not know and values they cannot use (a typo ran the defaults)', async () => {
    const typo = await runExample('jit-training', ['--epoch', '2']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("unknown option '--epoch'; the options are --limit --batch --epochs --optimizer");
    const bad = await runExample('jit-training', ['--optimizer', 'momentum']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--optimizer must be one of sgd, rmsprop, adam; got 'momentum'");
  });
});

describe('example helpers', () => {
  it('ProgressBar redraws one line in place on a terminal and prints one line per epoch otherwise', () => {
    const tty: string[] = [], plain: string[] = [];
    const a = new ProgressBar(4, 'Epoch 1/2', { write: (t: string) => tty.push(t), isTTY: true, columns: 200 });
    a.update(2, { loss: 0.5, acc: 0.75 });
    a.finish({ loss: 0.25, acc: 0.875 });
    expect(tty[0]).toMatch(/^\rEpoch 1\/2 {2}2\/4 \[={15}>\.{14}\] [\d.]+s<[\d.]+s {2}\d+ms\/step {2}loss 0\.5000 {2}acc 0\.7500\x1b\[K$/);
    expect(tty.at(-1)).toMatch(/^\rEpoch 1\/2 {2}4\/4 \[={30}\] [\d.]+s {2}\d+ms\/step {2}loss 0\.2500 {2}acc 0\.8750\x1b\[K\n$/);
    const b = new ProgressBar(4, 'Epoch 1/2', { write: (t: string) => plain.push(t), isTTY: false });
    b.update(2, { loss: 0.5 });
    b.finish({ loss: 0.25, acc: NaN });
    expect(plain).toHaveLength(1);
    expect(plain[0]).toMatch(/^Epoch 1\/2: 4 steps in [\d.]+s \([\d.]+ms\/step\) {2}loss 0\.2500 {2}acc -\n$/);
    expect([fmtDuration(0.42), fmtDuration(42.4), fmtDuration(65)]).toEqual(['0.4s', '42s', '1m05s']);
  });

  it('niceTicks steps by 1, 2 or 5 × 10^k; plotSvg escapes text and skips non-finite points', () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.91, 0.99)).toEqual([0.92, 0.94, 0.96, 0.98]);
    expect(niceTicks(0, 3)).toEqual([0, 1, 2, 3]);
    const path = join(work, 'helper.svg');
    const svg = plotSvg([{ title: 'a < b & c', xLabel: 'x', yLabel: 'y', series: [
      { name: 'one', color: '#000', points: [[0, 1], [1, NaN], [2, 3], [3, 2]] },
      { name: 'single', color: '#f00', points: [[1, 2]] },
    ] }]);
    expect(svg).toContain('a &lt; b &amp; c');
    expect(svg).toMatch(/<circle [^>]*fill="#f00"\/>/); // a one-point series still shows
    writeFileSync(path, svg);
    checkSvg(path);
  });
});
