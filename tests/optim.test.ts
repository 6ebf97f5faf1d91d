import { afterEach, describe, expect, it, vi } from 'vitest';
import { getBackend } from '../src/backend.ts';
import { tensor, Tensor, ValueError, type DType } from '../src/index.ts';
import { Linear, Parameter } from '../src/nn/index.ts';
import {
  Adam, AdamW, clipGradNorm_, clipGradValue_, CosineAnnealingLR, ExponentialLR, LambdaLR, MultiStepLR, Optimizer, RMSprop, SGD, StepLR,
  type BaseOptions,
} from '../src/optim/index.ts';

// The fixed problem: L(w) = ½·Σ cᵢ·wᵢ² with c = [1, 4], so ∂L/∂w = c·w; w starts at [1, −2].
const C = [1, 4];
const W0 = [1, -2];
const lossOf = (w: Tensor) => w.mul(w).mul(tensor(C, { dtype: w.dtype })).sum().mul(0.5);
const gradOf = (w: number[]) => w.map((v, i) => C[i]! * v);

function run(make: (ps: Tensor[]) => Optimizer<BaseOptions>, steps: number, dtype: DType = 'float64'): number[][] {
  const w = new Parameter(tensor(W0, { dtype }));
  const opt = make([w]);
  const out: number[][] = [];
  for (let i = 0; i < steps; i++) {
    opt.zeroGrad();
    lossOf(w).backward();
    opt.step();
    out.push(Array.from(w.dataSync()));
  }
  return out;
}
function expectClose(got: number[][], want: number[][], tol: number): void {
  expect(got.length).toBe(want.length);
  got.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - want[i]![j]!)).toBeLessThan(tol)));
}

// Reference rules, transcribed from the update formulas in PyTorch's documentation (torch.optim.SGD,
// RMSprop, Adam, AdamW), on plain numbers, one element at a time.
function refSGD(o: { lr: number; momentum?: number; dampening?: number; nesterov?: boolean; weightDecay?: number }, steps: number): number[][] {
  const mu = o.momentum ?? 0, tau = o.dampening ?? 0, wd = o.weightDecay ?? 0;
  let w = [...W0];
  let b: number[] | null = null;
  const out: number[][] = [];
  for (let t = 1; t <= steps; t++) {
    let g = gradOf(w).map((gi, i) => gi + wd * w[i]!);
    if (mu !== 0) {
      b = b === null ? [...g] : b.map((bi, i) => mu * bi + (1 - tau) * g[i]!);
      const bb = b;
      g = o.nesterov ? g.map((gi, i) => gi + mu * bb[i]!) : [...bb];
    }
    w = w.map((wi, i) => wi - o.lr * g[i]!);
    out.push(w);
  }
  return out;
}
function refRMSprop(o: { lr: number; alpha: number; eps: number; momentum?: number; centered?: boolean; weightDecay?: number }, steps: number): number[][] {
  const mu = o.momentum ?? 0, wd = o.weightDecay ?? 0;
  let w = [...W0];
  let v = [0, 0], gavg = [0, 0], b = [0, 0];
  const out: number[][] = [];
  for (let t = 1; t <= steps; t++) {
    const g = gradOf(w).map((gi, i) => gi + wd * w[i]!);
    v = v.map((vi, i) => o.alpha * vi + (1 - o.alpha) * g[i]! ** 2);
    let vt = v;
    if (o.centered) {
      gavg = gavg.map((m, i) => o.alpha * m + (1 - o.alpha) * g[i]!);
      vt = v.map((vi, i) => vi - gavg[i]! ** 2);
    }
    const step = g.map((gi, i) => gi / (Math.sqrt(vt[i]!) + o.eps));
    if (mu > 0) {
      b = b.map((bi, i) => mu * bi + step[i]!);
      w = w.map((wi, i) => wi - o.lr * b[i]!);
    } else w = w.map((wi, i) => wi - o.lr * step[i]!);
    out.push(w);
  }
  return out;
}
function refAdam(o: { lr: number; betas: [number, number]; eps: number; weightDecay?: number; decoupled?: boolean; amsgrad?: boolean }, steps: number, w0 = W0, grad = gradOf): number[][] {
  const [b1, b2] = o.betas, wd = o.weightDecay ?? 0;
  let w = [...w0];
  let m = w.map(() => 0), v = w.map(() => 0), vmax = w.map(() => 0);
  const out: number[][] = [];
  for (let t = 1; t <= steps; t++) {
    let g = grad(w);
    if (wd !== 0 && o.decoupled) w = w.map((wi) => wi * (1 - o.lr * wd));
    else if (wd !== 0) g = g.map((gi, i) => gi + wd * w[i]!);
    m = m.map((mi, i) => b1 * mi + (1 - b1) * g[i]!);
    v = v.map((vi, i) => b2 * vi + (1 - b2) * g[i]! ** 2);
    vmax = vmax.map((x, i) => Math.max(x, v[i]!));
    const vUse = o.amsgrad ? vmax : v;
    const mhat = m.map((mi) => mi / (1 - b1 ** t)), vhat = vUse.map((vi) => vi / (1 - b2 ** t));
    w = w.map((wi, i) => wi - (o.lr * mhat[i]!) / (Math.sqrt(vhat[i]!) + o.eps));
    out.push(w);
  }
  return out;
}

describe('SGD', () => {
  it('plain: p ← p − lr·g', () => {
    // g = [1, −8] → w1 = [1 − 0.1, −2 + 0.8] = [0.9, −1.2]; g = [0.9, −4.8] → w2 = [0.81, −0.72]
    expectClose(run((ps) => new SGD(ps, { lr: 0.1 }), 2), [[0.9, -1.2], [0.81, -0.72]], 1e-12);
  });

  it('momentum 0.9, worked by hand', () => {
    // step 1: b = g = [1, −8];                         w = [1, −2] − 0.1·b = [0.9, −1.2]
    // step 2: g = [0.9, −4.8]; b = 0.9·[1, −8] + g = [1.8, −12];  w = [0.72, 0]
    // step 3: g = [0.72, 0];   b = 0.9·[1.8, −12] + g = [2.34, −10.8]; w = [0.486, 1.08]
    const want = [[0.9, -1.2], [0.72, 0], [0.486, 1.08]];
    expectClose(run((ps) => new SGD(ps, { lr: 0.1, momentum: 0.9 }), 3), want, 1e-12);
    expectClose(run((ps) => new SGD(ps, { lr: 0.1, momentum: 0.9 }), 3, 'float32'), want, 1e-6);
  });

  it('dampening, Nesterov and weight decay follow the documented rule', () => {
    const cases = [
      { lr: 0.05, momentum: 0.8, dampening: 0.3 },
      { lr: 0.05, momentum: 0.9, nesterov: true },
      { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.1 },
      { lr: 0.1, weightDecay: 0.5 },
    ];
    for (const c of cases) expectClose(run((ps) => new SGD(ps, c), 3), refSGD(c, 3), 1e-12);
  });

  it('maximize ascends', () => {
    expectClose(run((ps) => new SGD(ps, { lr: 0.1, maximize: true }), 1), [[1.1, -2.8]], 1e-12);
  });

  it('rejects bad options with the option named', () => {
    const p = [new Parameter(tensor([1]))];
    expect(() => new SGD(p, { lr: -1 })).toThrow('SGD: lr must be a number ≥ 0, got -1');
    expect(() => new SGD(p, { lr: 0.1, nesterov: true })).toThrow(/Nesterov momentum needs momentum > 0/);
    expect(() => new SGD([], { lr: 0.1 })).toThrow(/empty parameter list/);
    expect(() => new SGD([p[0]!, p[0]!], { lr: 0.1 })).toThrow(/appears more than once/);
    const leaf = tensor([1], { requiresGrad: true });
    expect(() => new SGD([leaf.mul(2)], { lr: 0.1 })).toThrow(/not a leaf/);
    expect(() => new SGD([tensor([1], { dtype: 'int32' })])).toThrow(/only floating-point/);
  });
});

describe('RMSprop', () => {
  it('first step is ≈ lr/√(1−α) per coordinate, by hand', () => {
    // v = 0.01·g² → g/(√v + ε) = sign(g)/0.1 → w1 = w0 − 0.01·10·sign(g) = [0.9, −1.9]
    expectClose(run((ps) => new RMSprop(ps, { lr: 0.01 }), 1), [[0.9, -1.9]], 1e-7);
  });

  it('plain, centered, momentum and weight decay follow the documented rule', () => {
    const cases = [
      { lr: 0.01, alpha: 0.99, eps: 1e-8 },
      { lr: 0.01, alpha: 0.9, eps: 1e-8, centered: true },
      { lr: 0.01, alpha: 0.99, eps: 1e-8, momentum: 0.9 },
      { lr: 0.02, alpha: 0.95, eps: 1e-6, momentum: 0.5, centered: true, weightDecay: 0.1 },
    ];
    for (const c of cases) expectClose(run((ps) => new RMSprop(ps, c), 3), refRMSprop(c, 3), 1e-10);
    expectClose(run((ps) => new RMSprop(ps, cases[1]!), 3, 'float32'), refRMSprop(cases[1]!, 3), 1e-5);
  });
});

describe('Adam', () => {
  it('first step moves each coordinate by ≈ lr (m̂/√v̂ = sign g), by hand', () => {
    // m = 0.1·g, v = 0.001·g²; m̂ = g, v̂ = g² → w1 = w0 − 0.1·g/(|g| + 1e-8) ≈ [0.9, −1.9]
    expectClose(run((ps) => new Adam(ps, { lr: 0.1 }), 1), [[0.9, -1.9]], 1e-7);
  });

  it('follows the documented rule over 3 steps (float64 and float32)', () => {
    const o = { lr: 0.1, betas: [0.9, 0.999] as [number, number], eps: 1e-8 };
    expectClose(run((ps) => new Adam(ps, o), 3), refAdam(o, 3), 1e-10);
    expectClose(run((ps) => new Adam(ps, o), 3, 'float32'), refAdam(o, 3), 2e-6);
    const o2 = { lr: 0.05, betas: [0.8, 0.9] as [number, number], eps: 1e-6, weightDecay: 0.1 };
    expectClose(run((ps) => new Adam(ps, o2), 3), refAdam(o2, 3), 1e-10);
  });

  it('β₁ = 0 works (bias correction 1)', () => {
    const o = { lr: 0.1, betas: [0, 0.99] as [number, number], eps: 1e-8 };
    expectClose(run((ps) => new Adam(ps, o), 3), refAdam(o, 3), 1e-10);
  });

  it('AMSGrad uses the running maximum of v', () => {
    // L = ½w², w0 = 1, lr 0.9, β₂ = 0.5: g₁ = 1, w₁ ≈ 0.1; g₂ = 0.1 → v₂ = 0.25 + 0.005 < v₁ = 0.5,
    // so AMSGrad keeps v₁ and takes a smaller second step than Adam
    const o = { lr: 0.9, betas: [0.9, 0.5] as [number, number], eps: 1e-8 };
    const runOne = (amsgrad: boolean) => {
      const w = new Parameter(tensor([1], { dtype: 'float64' }));
      const opt = new Adam([w], { ...o, amsgrad });
      const out: number[][] = [];
      for (let i = 0; i < 3; i++) {
        opt.zeroGrad();
        w.mul(w).mul(0.5).sum().backward();
        opt.step();
        out.push(Array.from(w.dataSync()));
      }
      return out;
    };
    const grad = (w: number[]) => w;
    const ams = runOne(true), plain = runOne(false);
    expectClose(ams, refAdam({ ...o, amsgrad: true }, 3, [1], grad), 1e-10);
    expectClose(plain, refAdam(o, 3, [1], grad), 1e-10);
    expect(Math.abs(ams[1]![0]! - plain[1]![0]!)).toBeGreaterThan(1e-3);
  });

  it('rejects bad betas', () => {
    const p = [new Parameter(tensor([1]))];
    expect(() => new Adam(p, { betas: [0.9, 1] })).toThrow('Adam: betas[1] must be a number in [0, 1), got 1');
    expect(() => new AdamW(p, { eps: -1 })).toThrow(/AdamW: eps/);
  });
});

describe('AdamW', () => {
  it('decays the weights before the Adam step, by hand and by the rule', () => {
    // step 1: w ← w·(1 − 0.1·0.1) = [0.99, −1.98], then the Adam step ≈ −0.1·sign(g) → [0.89, −1.88]
    expectClose(run((ps) => new AdamW(ps, { lr: 0.1, weightDecay: 0.1 }), 1), [[0.89, -1.88]], 1e-7);
    const o = { lr: 0.1, betas: [0.9, 0.999] as [number, number], eps: 1e-8, weightDecay: 0.1 };
    expectClose(run((ps) => new AdamW(ps, o), 3), refAdam({ ...o, decoupled: true }, 3), 1e-10);
    expect(new AdamW([new Parameter(tensor([1]))]).defaults.weightDecay).toBe(0.01);
  });
});

describe('Optimizer base', () => {
  afterEach(() => vi.restoreAllMocks());

  it('supports parameter groups with their own options', () => {
    const a = new Parameter(tensor([1])), b = new Parameter(tensor([1]));
    const opt = new SGD([{ params: [a] }, { params: [b], lr: 0 }], { lr: 0.5 });
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.5, 0]);
    a.mul(b).sum().backward();
    opt.step();
    expect(a.dataSync()[0]).toBe(0.5);
    expect(b.dataSync()[0]).toBe(1);
    opt.zeroGrad();
    expect(a.grad).toBeNull();
    expect(() => opt.addParamGroup({ params: [a] })).toThrow(/more than once/);
  });

  it('skips parameters without gradients', () => {
    const a = new Parameter(tensor([1])), b = new Parameter(tensor([1]));
    const opt = new Adam([a, b], { lr: 0.1 });
    a.sum().backward();
    opt.step();
    expect(opt.state.has(a)).toBe(true);
    expect(opt.state.has(b)).toBe(false);
    expect(b.dataSync()[0]).toBe(1);
  });

  it('does not modify gradients in place (several leaves can share one gradient tensor)', () => {
    const a = new Parameter(tensor([1, 1])), b = new Parameter(tensor([1, 1]));
    a.add(b).sum().backward();
    const opt = new SGD([a, b], { lr: 0.1, momentum: 0.9, weightDecay: 0.1 });
    opt.step();
    opt.step();
    expect(Array.from(a.grad!.dataSync())).toEqual([1, 1]);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
  });

  it('steps with in-place tensor ops and never reads values back to the host', () => {
    const backend = getBackend('cpu');
    const fc = new Linear(3, 2);
    const params = fc.parameters();
    const storages = params.map((p) => p._storage);
    const opts = [
      new SGD(params, { lr: 0.1, momentum: 0.9, nesterov: true }), new RMSprop(params, { momentum: 0.5, centered: true }),
      new Adam(params, { amsgrad: true }), new AdamW(params),
    ];
    fc.call(tensor([[1, 2, 3]])).sum().backward();
    const read = vi.spyOn(backend, 'readSync');
    const readAsync = vi.spyOn(backend, 'read');
    for (const o of opts) {
      o.step();
      o.step();
    }
    expect(read).not.toHaveBeenCalled();
    expect(readAsync).not.toHaveBeenCalled();
    // parameters were updated in place, in their own storage
    expect(params.map((p) => p._storage)).toEqual(storages);
    expect(params.every((p) => p._version > 0)).toBe(true);
  });

  it('stateDict/loadStateDict resume training exactly', () => {
    const o = { lr: 0.1, betas: [0.9, 0.99] as [number, number], amsgrad: true };
    const w1 = new Parameter(tensor(W0, { dtype: 'float64' }));
    const opt1 = new Adam([w1], o);
    for (let i = 0; i < 2; i++) {
      opt1.zeroGrad();
      lossOf(w1).backward();
      opt1.step();
    }
    const sd = opt1.stateDict();
    expect(Object.keys(sd.state)).toEqual(['0']);
    expect(Object.keys(sd.state[0]!).sort()).toEqual(['expAvg', 'expAvgSq', 'maxExpAvgSq', 'step']);
    expect(sd.state[0]!.step!.itemSync()).toBe(2);
    expect(sd.paramGroups).toEqual([{ lr: 0.1, betas: [0.9, 0.99], eps: 1e-8, weightDecay: 0, amsgrad: true, maximize: false, params: [0] }]);

    const w2 = new Parameter(w1.detach().clone());
    const opt2 = new Adam([w2], { lr: 0.5 });
    opt2.loadStateDict(sd);
    expect(opt2.paramGroups[0]!.lr).toBe(0.1);
    expect(opt2.paramGroups[0]!.amsgrad).toBe(true);
    for (const [w, opt] of [[w1, opt1], [w2, opt2]] as const) {
      opt.zeroGrad();
      lossOf(w).backward();
      opt.step();
    }
    expect(Array.from(w2.dataSync())).toEqual(Array.from(w1.dataSync()));
    // the loaded state is a copy
    expect(opt2.state.get(w2)!.expAvg).not.toBe(opt1.state.get(w1)!.expAvg);
  });

  it('loadStateDict rejects a dict for a different layout', () => {
    const opt = new SGD([new Parameter(tensor([1])), new Parameter(tensor([1]))], { lr: 0.1 });
    const other = new SGD([new Parameter(tensor([1]))], { lr: 0.1 });
    expect(() => opt.loadStateDict(other.stateDict())).toThrow(/group 0 has 1 parameters in the state dict, 2 in the optimizer/);
    expect(() => opt.loadStateDict({ state: {}, paramGroups: [] })).toThrow(/0 parameter groups, the optimizer has 1/);
  });

  it('step(closure) evaluates the closure and returns its loss', () => {
    const w = new Parameter(tensor([2]));
    const opt = new SGD([w], { lr: 0.25 });
    const loss = opt.step(() => {
      opt.zeroGrad();
      const l = w.mul(w).sum();
      l.backward();
      return l;
    });
    expect(loss!.itemSync()).toBe(4);
    expect(w.dataSync()[0]).toBe(1); // 2 − 0.25·4
  });
});

describe('schedulers', () => {
  const opt = (lr = 1) => new SGD([new Parameter(tensor([1]))], { lr });
  const seq = (s: { step(): void; getLastLr(): number[] }, n: number) => {
    const out = [s.getLastLr()[0]!];
    for (let i = 0; i < n; i++) {
      s.step();
      out.push(s.getLastLr()[0]!);
    }
    return out;
  };
  const near = (a: number[], b: number[]) => a.forEach((v, i) => expect(v).toBeCloseTo(b[i]!, 12));

  it('schedulers stepped one after the other compose, and an lr set by hand carries on (PyTorch\'s chainable forms)', () => {
    const o = opt();
    const a = new ExponentialLR(o, { gamma: 0.9 }), b = new StepLR(o, { stepSize: 3, gamma: 0.1 });
    const got: number[] = [];
    for (let e = 0; e < 7; e++) {
      got.push(o.paramGroups[0]!.lr);
      a.step();
      b.step();
    }
    near(got, [1, 0.9, 0.81, 0.0729, 0.06561, 0.059049, 0.00531441]);
    const o2 = opt();
    const s = new StepLR(o2, { stepSize: 3, gamma: 0.5 });
    const lrs: number[] = [];
    for (let e = 0; e < 7; e++) {
      if (e === 1) o2.paramGroups[0]!.lr = 0.2;
      lrs.push(o2.paramGroups[0]!.lr);
      s.step();
    }
    near(lrs, [1, 0.2, 0.2, 0.1, 0.1, 0.1, 0.05]);
    // cosine follows a hand-set lr towards etaMin too
    const o3 = opt();
    const c = new CosineAnnealingLR(o3, { tMax: 4 });
    c.step();
    o3.paramGroups[0]!.lr = 0.5;
    c.step();
    // (1 + cos(2π/4)) / (1 + cos(π/4)) · 0.5
    expect(o3.paramGroups[0]!.lr).toBeCloseTo(0.5 / (1 + Math.SQRT1_2), 12);
  });

  it('StepLR: lr·γ^⌊epoch/stepSize⌋', () => {
    const o = opt();
    near(seq(new StepLR(o, { stepSize: 2, gamma: 0.1 }), 5), [1, 1, 0.1, 0.1, 0.01, 0.01]);
    expect(o.paramGroups[0]!.lr).toBeCloseTo(0.01, 12);
    expect(o.paramGroups[0]!.initialLr).toBe(1);
  });

  it('MultiStepLR: γ per milestone passed', () => {
    near(seq(new MultiStepLR(opt(), { milestones: [3, 1], gamma: 0.5 }), 4), [1, 0.5, 0.5, 0.25, 0.25]);
  });

  it('ExponentialLR: lr·γ^epoch', () => {
    near(seq(new ExponentialLR(opt(0.8), { gamma: 0.5 }), 3), [0.8, 0.4, 0.2, 0.1]);
  });

  it('CosineAnnealingLR: ηmin + (lr − ηmin)(1 + cos(π·epoch/tMax))/2', () => {
    const c = (e: number) => 0.1 + 0.9 * (1 + Math.cos((Math.PI * e) / 4)) / 2;
    // 1, 0.868198, 0.55, 0.231802, 0.1, then back up (PyTorch's closed form is periodic)
    near(seq(new CosineAnnealingLR(opt(), { tMax: 4, etaMin: 0.1 }), 5), [0, 1, 2, 3, 4, 5].map(c));
    expect(c(1)).toBeCloseTo(0.868198, 6);
  });

  it('LambdaLR, per group; the lr reaches the optimizer', () => {
    const a = new Parameter(tensor([1])), b = new Parameter(tensor([1]));
    const o = new SGD([{ params: [a] }, { params: [b], lr: 10 }], { lr: 1 });
    const s = new LambdaLR(o, { lrLambda: [(e) => e + 1, (e) => 1 / (e + 1)] });
    s.step();
    expect(s.getLastLr()).toEqual([2, 5]);
    expect(o.paramGroups.map((g) => g.lr)).toEqual([2, 5]);
  });

  it('resumes from lastEpoch and from a state dict', () => {
    const o = opt();
    const s = new StepLR(o, { stepSize: 1, gamma: 0.5 });
    s.step();
    s.step();
    const sd = s.stateDict();
    const s2 = new StepLR(o, { stepSize: 1, gamma: 0.5, lastEpoch: 1 });
    expect(s2.getLastLr()[0]).toBeCloseTo(0.25);
    s2.loadStateDict(sd);
    s2.step();
    expect(s2.getLastLr()[0]).toBeCloseTo(0.125);
    expect(() => new StepLR(opt(), { stepSize: 1, lastEpoch: 3 })).toThrow(/needs 'initialLr'/);
    expect(() => new StepLR(opt(), { stepSize: 0 })).toThrow(ValueError);
  });
});

describe('clipGradNorm_ / clipGradValue_', () => {
  function withGrads(...gs: number[][]): Parameter[] {
    return gs.map((g) => {
      const p = new Parameter(tensor(g.map(() => 0)));
      p.grad = tensor(g);
      return p;
    });
  }
  const grads = (ps: Tensor[]) => ps.map((p) => Array.from(p.grad!.dataSync()));

  it('scales all grads by maxNorm/total when the total 2-norm is larger', () => {
    const ps = withGrads([3, 4], [12]); // total = √(9 + 16 + 144) = 13
    const total = clipGradNorm_(ps, 6.5);
    expect(total.itemSync()).toBeCloseTo(13, 5);
    grads(ps).flat().forEach((v, i) => expect(v).toBeCloseTo([1.5, 2, 6][i]!, 5));
  });

  it('leaves small grads alone and returns the norm', () => {
    const ps = withGrads([3, 4]);
    expect(clipGradNorm_(ps, 100).itemSync()).toBeCloseTo(5, 5);
    expect(grads(ps)).toEqual([[3, 4]]);
  });

  it('supports the ∞-norm and 1-norm', () => {
    const ps = withGrads([3, -4], [1]);
    expect(clipGradNorm_(ps, 100, Infinity).itemSync()).toBe(4);
    expect(clipGradNorm_(ps, 100, 1).itemSync()).toBe(8);
    clipGradNorm_(ps, 2, Infinity);
    grads(ps).flat().forEach((v, i) => expect(v).toBeCloseTo([1.5, -2, 0.5][i]!, 5));
  });

  it('is correct when backward gave several leaves the same gradient tensor', () => {
    const a = new Parameter(tensor([0, 0, 0])), b = new Parameter(tensor([0, 0, 0]));
    a.add(b).sum().backward(); // both grads are ones; total = √6
    clipGradNorm_([a, b], Math.sqrt(6) / 2);
    grads([a, b]).flat().forEach((v) => expect(v).toBeCloseTo(0.5, 5));
  });

  it('clipGradValue_ clamps elementwise', () => {
    const ps = withGrads([3, -4, 0.5]);
    clipGradValue_(ps, 1);
    expect(grads(ps)).toEqual([[1, -1, 0.5]]);
  });

  it('returns 0 with no grads', () => {
    expect(clipGradNorm_([new Parameter(tensor([1]))], 1).itemSync()).toBe(0);
  });
});

describe('optimizer state and scope()', () => {
  it('state created by a step inside scope() survives the scope', async () => {
    const { scope, tensor, optim } = await import('tapegrad');
    const w = tensor([1, 2], { requiresGrad: true });
    const opt = new optim.Adam([w], { lr: 0.1 });
    for (let i = 0; i < 3; i++) {
      scope(() => {
        opt.zeroGrad();
        w.mul(w).sum().backward();
        opt.step();
      });
    }
    expect((w.toArraySync() as number[]).every((v) => v < 2)).toBe(true);
  });
});
