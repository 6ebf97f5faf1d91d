/**
 * @file Issue #5: "examples/theano-tour.ts gains a symbolic section that prints, for each of the
 * tutorial's examples, what the tutorial prints". Runs the tour as a user would (a child process)
 * and checks every listed value of its symbolic section, and that the eager section still prints
 * its accumulator as before.
 */
import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tsxCli = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');

const run = (file: string): Promise<string> => new Promise((done, fail) => {
  execFile(process.execPath, [tsxCli, join('examples', file)], { cwd: root, timeout: 110_000, env: { ...process.env, NO_COLOR: '1' } }, (err, stdout, stderr) => {
    if (err) fail(new Error(`examples/${file} failed: ${stderr || err.message}`));
    else done(stdout);
  });
});

describe('examples/theano-tour.ts', () => {
  it('has a symbolic section printing what the tutorial prints', async () => {
    const out = await run('theano-tour.ts');
    const [eager, symbolic] = out.split('symbolically, as the tutorial writes it:');
    expect(symbolic, 'the symbolic section').toBeDefined();
    const lines = symbolic!.split('\n').map((l) => l.trim()).filter(Boolean);
    expect(lines).toEqual([
      'f(2, 3) = 5',
      'f(16.3, 12.1) = 28.4',
      'z.eval({x: 16.3, y: 12.1}) = 28.4',
      'pp(z) = (x + y)',
      'a + a**10 at [0, 1, 2] = [0, 2, 1026]',
      'a**2 + b**2 + 2ab at a=[1, 2], b=[4, 5] = [25, 49]',
      'logistic([[0, 1], [-1, -2]]) = [[0.5, 0.73105858], [0.26894142, 0.11920292]]',
      'diff = [[1, 0], [-1, -2]] ; abs_diff = [[1, 0], [1, 2]] ; diff_squared = [[1, 0], [1, 4]]',
      'state = 0',
      'accumulator(1) returns 0',
      'state = 1',
      'accumulator(300) returns 1',
      'state = 301',
      'pp(gy) before optimisation = (1 * (2 * (x ** (2 - 1))))',
      'f(4) = 8 ; f(94.2) = 188.4',
      'pp(f) after optimisation = (2 * x)',
      'pp((x*y)/y) = ((x * y) / y) ; after optimisation = x',
    ]);
    // the eager section is unchanged (tests/examples.test.ts filters its unindented lines)
    expect(out.split('\n').filter((l) => /^(state =|accumulator)/.test(l))).toEqual([
      'state = 0', 'accumulator(1) returns 0', 'state = 1', 'accumulator(300) returns 1', 'state = 301',
    ]);
    expect(eager).toContain('d(x**2)/dx at x = 4: 8');
  });
});
