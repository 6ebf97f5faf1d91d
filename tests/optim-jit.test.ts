// The optimizers under jit: a whole training step (forward, backward, clipGradNorm_, step, with
// BatchNorm's running statistics) traces to in-place updates of parameters and optimizer state and
// gives the eager result. Adam's step count is a tensor, so its bias correction stays right on
// every compiled call (a JS number would be frozen at trace time); so are the learning rate and
// the other options a schedule or the user changes, so a scheduler drives a compiled step with one
// trace.
import { describe, expect, it } from 'vitest';
import { manualSeed, randn, scope, tensor, Tensor } from '../src/index.ts';
import { ValueError } from '../src/errors.ts';
import { jit } from '../src/jit/index.ts';
import { BatchNorm1d, functional as F, Linear, Parameter, ReLU, Sequential } from '../src/nn/index.ts';
import {
  Adam, AdamW, clipGradNorm_, CosineAnnealingLR, LRScheduler, Optimizer, RMSprop, SGD, StepLR, type BaseOptions,
} from '../src/optim/index.ts';
import { classifierStep } from './helpers/train-step.ts';

const makers: [string, (ps: Tensor[]) => Optimizer<BaseOptions>][] = [
  ['SGD', (ps) => new SGD(ps, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 })],
  ['RMSprop', (ps) => new RMSprop(ps, { lr: 0.01, momentum: 0.5, centered: true })],
  ['Adam', (ps) => new Adam(ps, { lr: 0.05, amsgrad: true })],
  ['AdamW', (ps) => new AdamW(ps, { lr: 0.05 })],
];

/** 5 steps eagerly, under jit, or under jit after `warmup` (which traces the first step without running it). */
function train(make: (ps: Tensor[]) => Optimizer<BaseOptions>, mode: 'eager' | 'jit' | 'warmup'): number[] {
  manualSeed(3);
  const model = new Sequential(new Linear(4, 8), new ReLU(), new BatchNorm1d(8), new Linear(8, 3));
  const x = randn([16, 4]), y = tensor(Array.from({ length: 16 }, (_, i) => i % 3), { dtype: 'int32' });
  const opt = make(model.parameters());
  const stepFn = (xx: Tensor, yy: Tensor) => {
    opt.zeroGrad();
    const loss = F.crossEntropy(model.forward(xx), yy);
    loss.backward();
    clipGradNorm_(model.parameters(), 1);
    opt.step();
    return loss;
  };
  const step = mode === 'eager' ? stepFn : jit(stepFn);
  // warmup traces the first step, whose optimizer state does not exist yet: the state must be
  // created concrete (a symbolic tensor left in opt.state would break the next call)
  if (mode === 'warmup') (step as ReturnType<typeof jit<[Tensor, Tensor], Tensor>>).warmup(x, y);
  const losses: number[] = [];
  for (let i = 0; i < 5; i++) losses.push(step(x, y).itemSync());
  const state = Object.values(model.stateDict()).flatMap((t) => Array.from(t.dataSync()));
  return [...losses, ...state];
}

describe('optimizers under jit', () => {
  for (const [name, make] of makers) {
    it(`${name}: 5 jitted steps equal 5 eager steps`, () => {
      const eager = train(make, 'eager'), jitted = train(make, 'jit');
      expect(jitted.length).toBe(eager.length);
      jitted.forEach((v, i) => expect(Math.abs(v - eager[i]!)).toBeLessThan(1e-6));
      // training did something
      expect(eager[4]!).toBeLessThan(eager[0]!);
    });
    it(`${name}: warmup, then 5 compiled steps equal 5 eager steps`, () => {
      const eager = train(make, 'eager'), warmed = train(make, 'warmup');
      expect(warmed.length).toBe(eager.length);
      warmed.forEach((v, i) => expect(Math.abs(v - eager[i]!)).toBeLessThan(1e-6));
    });
  }
});

type Make = (ps: Tensor[]) => Optimizer<BaseOptions>;
type MakeSched = (o: Optimizer<BaseOptions>) => LRScheduler;

const scheduled: [string, Make, MakeSched][] = [
  ['SGD (momentum, StepLR)', (ps) => new SGD(ps, { lr: 0.2, momentum: 0.9, dampening: 0.1, weightDecay: 0.01 }), (o) => new StepLR(o, { stepSize: 2, gamma: 0.5 })],
  ['RMSprop (CosineAnnealingLR)', (ps) => new RMSprop(ps, { lr: 0.02, momentum: 0.5, weightDecay: 0.01 }), (o) => new CosineAnnealingLR(o, { tMax: 6 })],
  ['Adam (StepLR)', (ps) => new Adam(ps, { lr: 0.05, weightDecay: 0.01 }), (o) => new StepLR(o, { stepSize: 3, gamma: 0.3 })],
  ['AdamW (CosineAnnealingLR)', (ps) => new AdamW(ps, { lr: 0.05, weightDecay: 0.1 }), (o) => new CosineAnnealingLR(o, { tMax: 6, etaMin: 0.001 })],
];

interface Run {
  model: Sequential;
  opt: Optimizer<BaseOptions>;
  step: (x: Tensor, y: Tensor) => Tensor;
  x: Tensor;
  y: Tensor;
  params: () => number[];
}

/** A small model, its optimizer and its training step (jitted or not). */
function setup(make: Make, useJit: boolean, jitOpts: { eagerFirstCall?: boolean } = {}): Run {
  manualSeed(5);
  const model = new Sequential(new Linear(4, 6), new ReLU(), new Linear(6, 3));
  const x = randn([12, 4]), y = tensor(Array.from({ length: 12 }, (_, i) => i % 3), { dtype: 'int32' });
  const opt = make(model.parameters());
  const step = classifierStep(model, opt, useJit, jitOpts);
  const params = () => model.parameters().flatMap((p) => Array.from(p.dataSync()));
  return { model, opt, step, x, y, params };
}

const expectNear = (got: number[], want: number[], tol: number) => {
  expect(got.length).toBe(want.length);
  got.forEach((v, i) => expect(Math.abs(v - want[i]!), `element ${i}: ${v} vs ${want[i]}`).toBeLessThan(tol));
};

describe('learning-rate schedules under jit', () => {
  for (const [name, make, sched] of scheduled) {
    it(`${name}: 8 jitted steps with a scheduler equal the eager loop, with one trace`, () => {
      const runs = [false, true].map((useJit) => {
        const r = setup(make, useJit);
        const s = sched(r.opt);
        const lrs: number[] = [];
        for (let i = 0; i < 8; i++) {
          r.step(r.x, r.y);
          s.step();
          lrs.push(r.opt.paramGroups[0]!.lr);
        }
        return { r, lrs };
      });
      const [eager, jitted] = runs as [(typeof runs)[0], (typeof runs)[0]];
      expect(jitted.lrs).toEqual(eager.lrs);
      expect(new Set(eager.lrs).size).toBeGreaterThan(2); // the schedule really moved
      expectNear(jitted.r.params(), eager.r.params(), 1e-6);
      const stats = (jitted.r.step as ReturnType<typeof jit>).stats;
      expect(stats.traces).toBe(1);
      expect(stats.eagerCalls).toBe(1);
      expect(stats.calls).toBe(8);
    });
  }

  it('a constant lr gives different parameters than the schedule (the schedule is not ignored)', () => {
    const [, make, sched] = scheduled[0]!;
    const run = (withSched: boolean) => {
      const r = setup(make, true);
      const s = withSched ? sched(r.opt) : null;
      for (let i = 0; i < 6; i++) {
        r.step(r.x, r.y);
        s?.step();
      }
      return r.params();
    };
    const a = run(true), b = run(false);
    expect(a.some((v, i) => Math.abs(v - b[i]!) > 1e-4)).toBe(true);
  });
});

describe('options changed by hand between compiled calls', () => {
  for (const [name, make] of scheduled) {
    it(`${name}: paramGroups[0].lr = … takes effect on the next compiled call`, () => {
      const lrsOf = (r: Run) => [r.opt.paramGroups[0]!.lr, 0, r.opt.paramGroups[0]!.lr * 0.1, 0.03];
      const runs = [false, true].map((useJit) => {
        const r = setup(make, useJit);
        const lrs = lrsOf(r);
        const frozen: boolean[] = [];
        for (let i = 0; i < 8; i++) {
          if (i % 2 === 0) r.opt.paramGroups[0]!.lr = lrs[(i / 2) % lrs.length]!;
          const before = r.params();
          r.step(r.x, r.y);
          frozen.push(r.params().every((v, j) => v === before[j]));
        }
        return { r, frozen };
      });
      const [eager, jitted] = runs as [(typeof runs)[0], (typeof runs)[0]];
      // lr 0 (steps 2 and 3) leaves every parameter exactly as it was, compiled or not
      expect(jitted.frozen).toEqual([false, false, true, true, false, false, false, false]);
      expect(eager.frozen).toEqual(jitted.frozen);
      expectNear(jitted.r.params(), eager.r.params(), 1e-6);
      expect((jitted.r.step as ReturnType<typeof jit>).stats.traces).toBe(1);
    });
  }

  it("Adam's betas are frozen: an in-place edit (which the compiled step would ignore) throws, assigning a new pair retraces", () => {
    const w = new Parameter(tensor([1, 2]));
    const opt = new Adam([w], { lr: 0.1, betas: [0.9, 0.999] });
    const step = jit((x: Tensor) => {
      opt.zeroGrad();
      w.mul(x).sum().backward();
      opt.step();
      return w;
    });
    step(tensor([1, 1]));
    step(tensor([1, 1]));
    expect(Object.isFrozen(opt.paramGroups[0]!.betas)).toBe(true);
    expect(() => { (opt.paramGroups[0]!.betas as unknown as number[])[0] = 0.1; }).toThrow(TypeError);
    expect(opt.paramGroups[0]!.betas).toEqual([0.9, 0.999]);
    const traces = step.stats.traces;
    opt.paramGroups[0]!.betas = [0.1, 0.999];
    step(tensor([1, 1]));
    expect(step.stats.traces).toBe(traces + 1);
    expect(Object.isFrozen(opt.paramGroups[0]!.betas)).toBe(true);
  });

  it('SGD: momentum and weight decay changed by hand also reach the compiled step', () => {
    const make: Make = (ps) => new SGD(ps, { lr: 0.1, momentum: 0.9, weightDecay: 0.01 });
    const runs = [false, true].map((useJit) => {
      const r = setup(make, useJit);
      for (let i = 0; i < 6; i++) {
        if (i === 3) Object.assign(r.opt.paramGroups[0]!, { momentum: 0.5, weightDecay: 0.2 });
        r.step(r.x, r.y);
      }
      return r;
    });
    expectNear(runs[1]!.params(), runs[0]!.params(), 1e-6);
    expect((runs[1]!.step as ReturnType<typeof jit>).stats.traces).toBe(1);
  });

  it('loadStateDict into the optimizer of a compiled step changes its lr', () => {
    const make: Make = (ps) => new SGD(ps, { lr: 0.1 });
    const r = setup(make, true);
    for (let i = 0; i < 3; i++) r.step(r.x, r.y);
    const sd = r.opt.stateDict();
    sd.paramGroups[0]!.lr = 0;
    r.opt.loadStateDict(sd);
    expect(r.opt.paramGroups[0]!.lr).toBe(0);
    const before = r.params();
    r.step(r.x, r.y);
    expect(r.params()).toEqual(before);
    // loading replaces the optimizer's state tensors (bound by reference): one retrace
    expect((r.step as ReturnType<typeof jit>).stats.traces).toBe(2);
  });

  it('with eagerFirstCall: false the lr tensor is made outside the trace and still followed', () => {
    const make: Make = (ps) => new SGD(ps, { lr: 0.1 });
    let tracesAfter2 = -1;
    const runs = [false, true].map((useJit) => {
      const r = setup(make, useJit, { eagerFirstCall: false });
      const s = new StepLR(r.opt, { stepSize: 1, gamma: 0.5 });
      for (let i = 0; i < 5; i++) {
        r.step(r.x, r.y);
        s.step();
        if (useJit && i === 1) tracesAfter2 = (r.step as ReturnType<typeof jit>).stats.traces;
      }
      return r;
    });
    expectNear(runs[1]!.params(), runs[0]!.params(), 1e-6);
    const stats = (runs[1]!.step as ReturnType<typeof jit>).stats;
    expect(stats.eagerCalls).toBe(0);
    // the second call retraces once because .grad went from null to a tensor; the lr never does
    expect(stats.traces).toBe(tracesAfter2);
  });
});

describe('lr tensors', () => {
  it('survive scope() and keep eager results exact (float64 parameters get a float64 lr)', () => {
    const w = new Parameter(tensor([1, -2, 0.5], { dtype: 'float64' }));
    const opt = new SGD([w], { lr: 0.1 });
    for (let i = 0; i < 2; i++) {
      scope(() => {
        opt.zeroGrad();
        w.mul(w).sum().backward();
        opt.step();
      });
    }
    // w ← w − 0.1·2w = 0.8·w per step, in float64 (a float32 lr would be off by ~1e-9)
    const want = [1, -2, 0.5].map((v) => v - 0.1 * 2 * v).map((v) => v - 0.1 * 2 * v);
    expect(Array.from(w.dataSync())).toEqual(want);
  });

  it('an option set to something that is not a finite number throws and is left unchanged', () => {
    const w = new Parameter(tensor([1]));
    const opt = new Adam([w], { lr: 0.1 });
    w.sum().backward();
    opt.step();
    expect(() => (opt.paramGroups[0]!.lr = Number.NaN)).toThrow(ValueError);
    expect(() => ((opt.paramGroups[0] as unknown as { lr: unknown }).lr = '0.1')).toThrow(/lr must be a finite number/);
    expect(opt.paramGroups[0]!.lr).toBe(0.1);
    expect(opt.stateDict().paramGroups[0]!.lr).toBe(0.1);
  });
});

describe('options that change an update\'s terms retrace a compiled step', () => {
  /** 6 steps; after step 2 weight decay turns on, after step 3 momentum (so a buffer is created), after step 4 Nesterov. */
  function run(useJit: boolean): { w: number[]; traces: number } {
    manualSeed(1);
    const w = randn([4]).requiresGrad_();
    const opt = new SGD([w], { lr: 0.1, weightDecay: 0 });
    const body = () => {
      opt.zeroGrad();
      w.mul(w).sum().backward();
      opt.step();
      return w.sum();
    };
    const f = useJit ? jit(body) : body;
    for (let i = 0; i < 6; i++) {
      scope(() => f());
      if (i === 1) opt.paramGroups[0]!.weightDecay = 5;
      if (i === 2) opt.paramGroups[0]!.momentum = 0.9;
      if (i === 3) opt.paramGroups[0]!.nesterov = true;
    }
    return { w: Array.from(w.dataSync()), traces: useJit ? (f as ReturnType<typeof jit>).stats.traces : 0 };
  }

  it('weight decay and momentum turned on, Nesterov switched: jit equals eager', () => {
    const eager = run(false), jitted = run(true);
    jitted.w.forEach((v, i) => expect(v).toBeCloseTo(eager.w[i]!, 6));
    // one trace per structure: decay on, momentum's first step, momentum's later steps, Nesterov
    expect(jitted.traces).toBeGreaterThanOrEqual(4);
  });

  it('a learning-rate change alone does not retrace', () => {
    manualSeed(1);
    const w = randn([4]).requiresGrad_();
    const opt = new SGD([w], { lr: 0.1, momentum: 0.9 });
    const f = jit(() => { opt.zeroGrad(); w.mul(w).sum().backward(); opt.step(); return w.sum(); });
    for (let i = 0; i < 6; i++) { scope(() => f()); opt.paramGroups[0]!.lr = 0.1 / (i + 2); }
    expect(f.stats.traces).toBe(1);
  });
});

describe('assigning an option inside a traced function', () => {
  it('is a ValueError naming the option (it would run only at trace time)', () => {
    const w = randn([3]).requiresGrad_();
    const opt = new SGD([w], { lr: 0.1 });
    const f = jit(() => { opt.paramGroups[0]!.lr = 0.05; opt.zeroGrad(); w.sum().backward(); opt.step(); return w.sum(); }, { eagerFirstCall: false });
    expect(() => f()).toThrow(/SGD: option 'lr' was assigned inside a jit-traced function/);
  });
});

describe('optimizers under jit: the same bits as eager', () => {
  // Linear(40, 32): a weight of 1280 elements (the WebAssembly kernels) and a bias of 32 (the
  // JavaScript ones); the fused updates (lerp_, addcmul_, addcdiv_) must round step by step on both
  const exact: [string, Make][] = [
    ['Adam', (ps) => new Adam(ps, { lr: 0.01 })],
    ['AdamW (amsgrad)', (ps) => new AdamW(ps, { lr: 0.01, amsgrad: true })],
    ['RMSprop (centered, momentum)', (ps) => new RMSprop(ps, { lr: 0.01, centered: true, momentum: 0.9 })],
    ['RMSprop', (ps) => new RMSprop(ps, { lr: 0.01 })],
  ];
  for (const [name, make] of exact) {
    it(`${name}: 4 compiled steps leave exactly the eager parameters`, () => {
      const run = (useJit: boolean): number[] => {
        manualSeed(5);
        const model = new Sequential(new Linear(40, 32), new ReLU(), new Linear(32, 3));
        const x = randn([8, 40]), y = tensor([0, 1, 2, 0, 1, 2, 0, 1], { dtype: 'int32' });
        const opt = make(model.parameters());
        const f = (xx: Tensor, yy: Tensor) => { opt.zeroGrad(); const l = F.crossEntropy(model.forward(xx), yy); l.backward(); opt.step(); return l; };
        const step = useJit ? jit(f) : f;
        for (let i = 0; i < 4; i++) step(x, y);
        return model.parameters().flatMap((p) => Array.from(p.dataSync()));
      };
      const eager = run(false), compiled = run(true);
      expect(compiled.findIndex((v, i) => !Object.is(v, eager[i]))).toBe(-1);
    });
  }
});

describe('groups and state changed without the optimizer\'s methods between compiled calls', () => {
  it('a parameter pushed into a group and the state map cleared take effect: the step retraces, as eager computes', () => {
    const run = (useJit: boolean) => {
      const a = tensor([1, 2], { requiresGrad: true }), b = tensor([3, 4], { requiresGrad: true });
      const opt = new SGD([a], { lr: 0.1, momentum: 0.9 });
      const f = () => {
        opt.zeroGrad();
        const l = a.pow(2).sum().add(b.pow(2).sum());
        l.backward();
        opt.step();
        return l;
      };
      const step = useJit ? jit(f) : f;
      for (let i = 0; i < 3; i++) step();
      opt.paramGroups[0]!.params.push(b);
      for (let i = 0; i < 3; i++) step();
      opt.state.clear();
      for (let i = 0; i < 2; i++) step();
      return [...a.dataSync(), ...b.dataSync()];
    };
    expect(run(true)).toEqual(run(false));
  });
});
