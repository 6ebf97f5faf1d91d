/**
 * @file The README's TypeScript snippets run as written (each in its own process, importing the
 * package by name), so the README cannot drift from the API. A snippet that uses names defined
 * in the prose around it (the jit one: a batch `x`, `y`) gets them from a short prelude.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { gpuStatus } from './gpu-setup.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const tsxCli = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');
// (inside the repository, outside node_modules, so that `import … from 'tapegrad'` resolves to
// the package itself; /tmp/ is ignored by git)
mkdirSync(join(root, 'tmp'), { recursive: true });
const work = mkdtempSync(join(root, 'tmp', 'readme-snippets-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const readme = readFileSync(join(root, 'README.md'), 'utf8');
const snippets = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);

/** Names the prose defines for a snippet: a batch of MNIST-shaped inputs and labels. */
const PRELUDE = "import { randn as __randn, randint as __randint } from 'tapegrad';\nconst x = __randn([64, 784]), y = __randint(0, 10, [64]);\n";

function run(file: string): Promise<{ code: number; out: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [tsxCli, file], { cwd: root, timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

describe('README', () => {
  it('has the snippets this test knows about', () => {
    expect(snippets.length).toBeGreaterThanOrEqual(5);
  });

  snippets.forEach((code, i) => {
    const first = code.split('\n').find((l) => l.trim() && !l.startsWith('import')) ?? '';
    it(`snippet ${i + 1} runs (${first.slice(0, 60)})`, async () => {
      if (code.includes('initWebGPU') && !(await gpuStatus()).ok) return;
      const usesBatch = /\bstep\(x, y\)/.test(code) && !/const x\b/.test(code);
      // (top-level await and `import` lines: a module; the prelude's imports go first)
      const body = usesBatch ? PRELUDE + code : code;
      const file = join(work, `snippet-${i + 1}.mts`);
      writeFileSync(file, `${body}\nexport {};\n`);
      const r = await run(file);
      expect(r.code, `README snippet ${i + 1} failed:\n${code}\n--- output:\n${r.out}`).toBe(0);
      // a printed value the README shows in a comment (`console.log(…); // tensor([2., 4., 6.])`)
      for (const m of code.matchAll(/console\.log\(.*\);\s*\/\/\s*(tensor\(.*\))\s*$/gm)) expect(r.out).toContain(m[1]!);
    }, 70_000);
  });
});
