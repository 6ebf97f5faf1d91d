/**
 * @file Learning-rate schedulers: StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LambdaLR.
 * Each `step()` (once per epoch, after the optimizer's steps) updates every group's current lr
 * as PyTorch's chainable forms do — StepLR multiplies it by γ every stepSize epochs, and so on —
 * so schedulers stepped one after the other compose, and an lr set by hand carries on; the
 * construction (and a resume at lastEpoch) sets the closed form from the initial lr. LambdaLR is
 * a closed form (as PyTorch's). Setting `group.lr` refills the optimizer's lr tensors in place, so
 * a schedule also drives a `jit`-compiled training step.
 * @example
 * const sched = new StepLR(opt, { stepSize: 30, gamma: 0.1 });
 * for (let epoch = 0; epoch < 90; epoch++) { train(); sched.step(); }
 */
import { ValueError } from '../errors.ts';
import { checkOption, Optimizer, type BaseOptions } from './optimizer.ts';
import { checkOptions } from '../options.ts';

/** A snapshot of a scheduler (restore it with loadStateDict). */
export interface SchedulerStateDict {
  lastEpoch: number;
  baseLrs: number[];
  lastLr: number[];
}

export abstract class LRScheduler {
  readonly optimizer: Optimizer<BaseOptions>;
  /** the initial lr of each group */
  baseLrs: number[];
  /** the number of step() calls (0 right after construction) */
  lastEpoch: number;
  private lastLr: number[] = [];

  /**
   * @param lastEpoch the epoch to resume after (−1 to start; then each group's lr is saved as its
   *   `initialLr`, which resuming needs)
   */
  constructor(optimizer: Optimizer<BaseOptions>, lastEpoch = -1) {
    const name = this.constructor.name;
    if (!(optimizer instanceof Optimizer)) throw new ValueError(`${name}: expected an Optimizer (e.g. new optim.SGD(model.parameters(), {lr: 0.1})) as the first argument, got ${optimizer === null ? 'null' : typeof optimizer}`);
    if (!Number.isInteger(lastEpoch) || lastEpoch < -1) throw new ValueError(`${name}: lastEpoch must be an integer ≥ −1, got ${lastEpoch}`);
    this.optimizer = optimizer;
    for (const [i, g] of optimizer.paramGroups.entries()) {
      if (lastEpoch === -1) g.initialLr = g.lr;
      else if (g.initialLr === undefined) throw new ValueError(`${name}: resuming at lastEpoch ${lastEpoch} needs 'initialLr' in parameter group ${i}`);
    }
    this.baseLrs = optimizer.paramGroups.map((g) => g.initialLr!);
    this.lastEpoch = lastEpoch;
  }

  /** Finishes construction (subclasses call it after setting their fields): applies epoch lastEpoch + 1. */
  protected init(): void {
    this.advance(true);
  }

  /** The lr of a group at `epoch`, given its initial lr (PyTorch's closed form). */
  protected abstract lrAt(epoch: number, baseLr: number, group: number): number;

  /**
   * The lr of a group at `epoch` (≥ 1) from its current lr `lr` (PyTorch's chainable form); the
   * closed form unless the schedule overrides it.
   */
  protected chainedLr(epoch: number, lr: number, baseLr: number, group: number): number {
    return this.lrAt(epoch, baseLr, group);
  }

  /** Advances one epoch and sets each group's lr. */
  step(): void {
    this.advance(false);
  }

  private advance(closed: boolean): void {
    this.lastEpoch++;
    this.lastLr = this.optimizer.paramGroups.map((g, i) => {
      const base = this.baseLrs[i]!;
      g.lr = closed || this.lastEpoch === 0 ? this.lrAt(this.lastEpoch, base, i) : this.chainedLr(this.lastEpoch, g.lr, base, i);
      return g.lr;
    });
  }

  /** The lrs the last step() set, one per group. */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  stateDict(): SchedulerStateDict {
    return { lastEpoch: this.lastEpoch, baseLrs: [...this.baseLrs], lastLr: [...this.lastLr] };
  }

  loadStateDict(sd: SchedulerStateDict): void {
    if (!sd || !Number.isInteger(sd.lastEpoch) || !Array.isArray(sd.baseLrs) || sd.baseLrs.length !== this.optimizer.paramGroups.length) {
      throw new ValueError(`${this.constructor.name}.loadStateDict: expected {lastEpoch, baseLrs, lastLr} with one base lr per parameter group (${this.optimizer.paramGroups.length})`);
    }
    this.lastEpoch = sd.lastEpoch;
    this.baseLrs = [...sd.baseLrs];
    this.lastLr = [...(sd.lastLr ?? [])];
  }
}

/** lr = initialLr · γ^⌊epoch / stepSize⌋. */
export class StepLR extends LRScheduler {
  readonly stepSize: number;
  readonly gamma: number;
  constructor(optimizer: Optimizer<BaseOptions>, opts: { stepSize: number; gamma?: number; lastEpoch?: number }) {
    super(optimizer, checkOptions('StepLR', opts, ['stepSize', 'gamma', 'lastEpoch'], ['stepSize']).lastEpoch);
    if (!Number.isInteger(opts.stepSize) || opts.stepSize < 1) throw new ValueError(`StepLR: stepSize must be an integer ≥ 1, got ${opts.stepSize}`);
    this.stepSize = opts.stepSize;
    this.gamma = opts.gamma ?? 0.1;
    checkOption('StepLR', 'gamma', this.gamma, 0);
    this.init();
  }
  protected lrAt(epoch: number, base: number): number {
    return base * this.gamma ** Math.floor(epoch / this.stepSize);
  }

  protected override chainedLr(epoch: number, lr: number): number {
    return epoch % this.stepSize === 0 ? lr * this.gamma : lr;
  }
}

/** lr = initialLr · γ^(number of milestones ≤ epoch). */
export class MultiStepLR extends LRScheduler {
  readonly milestones: readonly number[];
  readonly gamma: number;
  constructor(optimizer: Optimizer<BaseOptions>, opts: { milestones: readonly number[]; gamma?: number; lastEpoch?: number }) {
    super(optimizer, checkOptions('MultiStepLR', opts, ['milestones', 'gamma', 'lastEpoch'], ['milestones']).lastEpoch);
    if (!Array.isArray(opts.milestones) || !opts.milestones.every((m) => Number.isInteger(m) && m >= 0)) {
      throw new ValueError(`MultiStepLR: milestones must be non-negative integers, got ${JSON.stringify(opts.milestones)}`);
    }
    this.milestones = [...opts.milestones].sort((a, b) => a - b);
    this.gamma = opts.gamma ?? 0.1;
    checkOption('MultiStepLR', 'gamma', this.gamma, 0);
    this.init();
  }
  protected lrAt(epoch: number, base: number): number {
    return base * this.gamma ** this.milestones.filter((m) => m <= epoch).length;
  }

  protected override chainedLr(epoch: number, lr: number): number {
    // (a milestone listed twice counts twice, as PyTorch's Counter)
    const hits = this.milestones.filter((m) => m === epoch).length;
    return hits ? lr * this.gamma ** hits : lr;
  }
}

/** lr = initialLr · γ^epoch. */
export class ExponentialLR extends LRScheduler {
  readonly gamma: number;
  constructor(optimizer: Optimizer<BaseOptions>, opts: { gamma: number; lastEpoch?: number }) {
    super(optimizer, checkOptions('ExponentialLR', opts, ['gamma', 'lastEpoch'], ['gamma']).lastEpoch);
    this.gamma = opts.gamma;
    checkOption('ExponentialLR', 'gamma', this.gamma, 0);
    this.init();
  }
  protected lrAt(epoch: number, base: number): number {
    return base * this.gamma ** epoch;
  }

  protected override chainedLr(_epoch: number, lr: number): number {
    return lr * this.gamma;
  }
}

/** lr = etaMin + (initialLr − etaMin)·(1 + cos(π·epoch / tMax)) / 2. */
export class CosineAnnealingLR extends LRScheduler {
  readonly tMax: number;
  readonly etaMin: number;
  constructor(optimizer: Optimizer<BaseOptions>, opts: { tMax: number; etaMin?: number; lastEpoch?: number }) {
    super(optimizer, checkOptions('CosineAnnealingLR', opts, ['tMax', 'etaMin', 'lastEpoch'], ['tMax']).lastEpoch);
    if (!Number.isInteger(opts.tMax) || opts.tMax < 1) throw new ValueError(`CosineAnnealingLR: tMax must be an integer ≥ 1, got ${opts.tMax}`);
    this.tMax = opts.tMax;
    this.etaMin = opts.etaMin ?? 0;
    checkOption('CosineAnnealingLR', 'etaMin', this.etaMin, 0);
    this.init();
  }
  protected lrAt(epoch: number, base: number): number {
    return this.etaMin + ((base - this.etaMin) * (1 + Math.cos((Math.PI * epoch) / this.tMax))) / 2;
  }

  /** PyTorch's recursive form (it follows the current lr; past tMax it climbs back, period 2·tMax). */
  protected override chainedLr(epoch: number, lr: number, base: number): number {
    const T = this.tMax, eta = this.etaMin;
    if ((epoch - 1 - T) % (2 * T) === 0) return lr + ((base - eta) * (1 - Math.cos(Math.PI / T))) / 2;
    return ((1 + Math.cos((Math.PI * epoch) / T)) / (1 + Math.cos((Math.PI * (epoch - 1)) / T))) * (lr - eta) + eta;
  }
}

/** lr = initialLr · f(epoch), with one f for all groups or one per group. */
export class LambdaLR extends LRScheduler {
  private readonly fns: ((epoch: number) => number)[];
  constructor(optimizer: Optimizer<BaseOptions>, opts: { lrLambda: ((epoch: number) => number) | ((epoch: number) => number)[]; lastEpoch?: number }) {
    super(optimizer, checkOptions('LambdaLR', opts, ['lrLambda', 'lastEpoch'], ['lrLambda']).lastEpoch);
    const n = optimizer.paramGroups.length;
    const fns = Array.isArray(opts.lrLambda) ? opts.lrLambda : Array.from({ length: n }, () => opts.lrLambda as (e: number) => number);
    if (fns.length !== n || !fns.every((f) => typeof f === 'function')) throw new ValueError(`LambdaLR: expected one function or ${n} functions (one per group)`);
    this.fns = fns;
    this.init();
  }
  protected lrAt(epoch: number, base: number, group: number): number {
    return base * this.fns[group]!(epoch);
  }
}
