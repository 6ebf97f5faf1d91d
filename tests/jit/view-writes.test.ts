/**
 * @file In-place writes to views inside a traced function (PyTorch semantics: the write lands in
 * the base tensor): of parameters and other state, of arguments and of intermediates, through
 * narrow/slice, integer index, transpose/permute, reshape/view and chains of them. jit equals
 * eager — outputs, state and arguments after every call — with the fused CPU executor, the
 * generic (WebGPU's) executor and fusion off; and on WebGPU where an adapter exists.
 */
import { describe, expect, it } from 'vitest';
import { AutogradError, Tensor, arange, noGrad, randn, tensor } from '../../src/index.ts';
import * as F from '../../src/ops/functional.ts';
import { jit, type JitOptions } from '../../src/jit/index.ts';
import { gpuStatus } from '../gpu-setup.ts';

const arr = (t: Tensor) => Array.from(t.dataSync());
const same = (got: unknown, want: unknown, what: string): void => {
  if (got instanceof Tensor) {
    const w = want as Tensor;
    expect(got.shape, what).toEqual(w.shape);
    expect(got.dtype, what).toBe(w.dtype);
    const a = arr(got), b = arr(w);
    a.forEach((v, i) => {
      if (Number.isNaN(b[i]!)) expect(v, `${what}[${i}]`).toBeNaN();
      else if (v !== b[i]) expect(Math.abs(v - b[i]!), `${what}[${i}]`).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(b[i]!)));
    });
  } else if (Array.isArray(got)) got.forEach((g, i) => same(g, (want as unknown[])[i], `${what}[${i}]`));
  else expect(got, what).toEqual(want);
};

type Body = (s: Tensor[], ...args: Tensor[]) => unknown;

/**
 * Runs `body` eagerly and compiled (three executor settings) on separate copies of the state
 * and the arguments, `calls` times, comparing outputs, state and arguments after each call.
 */
function agree(state: () => Tensor[], body: Body, args: () => Tensor[], calls = 3): void {
  const init = state(), a0 = args();
  for (const o of [{}, { executor: 'generic' }, { fuse: false }] as JitOptions[]) {
    // leaves again (a clone of a parameter would be a non-leaf, with no .grad)
    const copy = (t: Tensor) => {
      const c = noGrad(() => t.clone());
      return t.requiresGrad ? c.requiresGrad_() : c;
    };
    const se = init.map(copy), sj = init.map(copy);
    const ae = a0.map((t) => t.clone()), aj = a0.map((t) => t.clone());
    const f = jit((...xs: Tensor[]) => body(sj, ...xs), { ...o, eagerFirstCall: false });
    for (let c = 0; c < calls; c++) {
      const want = body(se, ...ae), got = f(...aj);
      const tag = `${JSON.stringify(o)} call ${c}`;
      same(got, want, `${tag} output`);
      sj.forEach((t, i) => same(t, se[i], `${tag} state ${i}`));
      aj.forEach((t, i) => same(t, ae[i], `${tag} argument ${i}`));
    }
  }
}

const W = () => [arange(12).float().reshape(3, 4).sub(5)];

describe('jit: in-place writes to views of state', () => {
  it('narrow(…).fill_(0) under noGrad lands in the parameter; later reads see it', () => {
    agree(W, ([w], x) => {
      noGrad(() => w!.narrow(0, 0, 1).fill_(0));
      return x!.add(w!.sum(0));
    }, () => [randn([4])]);
  });

  it('an integer index (select) .copy_(v) writes one row', () => {
    agree(W, ([w], v) => {
      w!.index(2).copy_(v!);
      return w!.mul(1);
    }, () => [randn([4])]);
  });

  it('t().mul_(2) and a permute of a 3-d state, then an integer index of it', () => {
    agree(() => [...W(), randn([2, 3, 4])], ([w, s], x) => {
      w!.t().mul_(2);
      s!.permute(2, 0, 1).index(1).add_(x!);
      return [w!.t().add(0), s!.sum()];
    }, () => [randn([2, 3])]);
  });

  it('view/reshape of a contiguous state, chained with narrow; squeeze/unsqueeze', () => {
    agree(W, ([w], x) => {
      w!.view(12).narrow(0, 3, 4).add_(x!);
      w!.unsqueeze(0).narrow(1, 1, 1).squeeze(0).mul_(-1);
      w!.reshape(2, 6).index(null, [0, 6, 5]).sub_(1);
      return w!.add(0);
    }, () => [randn([4])]);
  });

  it('strided slices, column writes and index with ranges', () => {
    agree(W, ([w], x) => {
      w!.slice(1, 0, null, 2).mul_(-1);
      w!.index(null, 3).fill_(7);
      w!.index([1, 3], [1, 3]).copy_(x!.reshape(2, 2));
      return w!.exp().sum();
    }, () => [randn([4])]);
  });

  it('a view taken before the write, and another view of the same base, read the written values', () => {
    agree(W, ([w]) => {
      const row0 = w!.index(0), col1 = w!.index(null, 1), flat = w!.view(12);
      w!.index(0).fill_(1);
      w!.narrow(1, 1, 2).add_(10);
      return [row0.add(0), col1.mul(1), flat.sum(), w!.add(0)];
    }, () => []);
  });

  it('overlapping writes apply in program order', () => {
    agree(W, ([w], x) => {
      w!.narrow(0, 0, 2).mul_(2);
      w!.narrow(0, 1, 2).add_(x!);
      w!.index(null, 0).copy_(w!.index(null, 3));
      return w!.add(0);
    }, () => [randn([4])]);
  });

  it('a reshape that eager must copy (of a transposed view), contiguous() of a view and clone() do not write back, as eagerly', () => {
    agree(W, ([w]) => {
      const c = w!.t().reshape(12);
      c.fill_(0);
      const d = w!.t().contiguous();
      d.mul_(2);
      const e = w!.narrow(0, 1, 1).contiguous(); // not the whole storage: a copy eagerly
      e.add_(1);
      const f = w!.clone();
      f.narrow(0, 0, 1).fill_(9);
      const same = w!.contiguous(); // already dense: w itself, so this write lands in w
      same.narrow(1, 3, 1).fill_(-1);
      return [c, d, e, f, w!.add(0)];
    }, () => []);
  });

  it('a training step with a masked (partly zeroed) weight and backward', () => {
    const init = () => [randn([3, 4]).requiresGrad_()];
    agree(init, ([w], x) => {
      noGrad(() => w!.narrow(1, 0, 1).zero_());
      w!.grad = null;
      const loss = F.matmul(x!, w!.t()).tanh().sum();
      loss.backward();
      noGrad(() => w!.sub_(w!.grad!.mul(0.1)));
      return loss;
    }, () => [randn([5, 4])]);
  });
});

describe('jit: in-place writes to views of arguments and intermediates', () => {
  it('a view of an argument: the argument is updated after the call', () => {
    agree(() => [], (_s, x) => {
      x!.narrow(0, 1, 2).zero_();
      return x!.mul(2);
    }, () => [randn([5])]);
  });

  it('a transposed view of a 2-d argument and an index of it', () => {
    agree(() => [], (_s, x) => {
      x!.t().index(1).fill_(-3);
      return x!.sum(1);
    }, () => [randn([3, 4])]);
  });

  it('a view of an intermediate, and a view of it taken before the write', () => {
    agree(() => [], (_s, x) => {
      const y = x!.mul(2);
      const tail = y.narrow(0, 2, 3);
      y.narrow(0, 0, 3).fill_(7);
      y.index(4).add_(100);
      return [y, tail.add(0)];
    }, () => [randn([5])]);
  });

  it('detach() shares elements: writes to it (or a view of it) reach the argument or intermediate', () => {
    agree(() => [], (_s, x) => {
      x!.detach().narrow(0, 0, 2).fill_(3);
      const y = x!.exp();
      const yd = y.detach();
      yd.mul_(2);
      x!.detach().index(4).copy_(yd.index(0));
      return [y, yd.add(0), x!.add(0)];
    }, () => [randn([5])]);
  });

  it('int32 and bool state', () => {
    agree(() => [tensor([1, 2, 3, 4], { dtype: 'int32' }), tensor([true, false, true, false])], ([i, b]) => {
      i!.narrow(0, 1, 2).mul_(5);
      b!.index(1).fill_(1);
      return [i!.sum(), b!.logicalNot()];
    }, () => []);
  });

  it('writes NaN and Inf through a view as they are', () => {
    agree(W, ([w], x) => {
      w!.index(1).copy_(x!);
      return w!.add(0);
    }, () => [tensor([NaN, Infinity, -Infinity, 0])]);
  });
});

describe('jit: view writes that have no meaning', () => {
  it('a write through a broadcast (expand) view is a typed error naming it', () => {
    const w = randn([3, 4]);
    const f = jit(() => w.index(0).unsqueeze(0).expand(3, 4).fill_(0), { eagerFirstCall: false });
    expect(() => f()).toThrow(AutogradError);
    expect(() => f()).toThrow(/broadcast view \(expand of \[1, 4\] to \[3, 4\]\)/);
  });

  it('expand that adds only size-1 dims is written back', () => {
    agree(W, ([w]) => {
      w!.index(0).expand(1, 4).fill_(2);
      return w!.add(0);
    }, () => []);
  });
});

const gpu = await gpuStatus();
describe.skipIf(!gpu.ok)('jit: view writes on WebGPU', () => {
  it('a narrow, an index and a transpose of a state match the CPU', async () => {
    const w0 = randn([3, 4]), x0 = randn([4]);
    const body = (w: Tensor, x: Tensor) => {
      w.narrow(0, 0, 1).fill_(0);
      w.index(2).copy_(x);
      w.t().mul_(2);
      return w.sum(0);
    };
    const wc = w0.clone(), wg = w0.to('webgpu');
    const want = body(wc, x0);
    const got = jit((x: Tensor) => body(wg, x), { eagerFirstCall: false })(x0.to('webgpu'));
    same(tensor(Array.from(await got.data())), tensor(arr(want)), 'output');
    same(tensor(Array.from(await wg.data())).reshape(3, 4), wc, 'state');
  });
});

describe('writes through views: layouts and later writes to the base', () => {
  const base = () => tensor([[1, 2], [3, 4]]);

  it('an argument of another layout gets its own trace: contiguous() is a copy for a transposed argument, itself for a plain one', () => {
    const f = (a: Tensor) => { a.contiguous().add_(100); return a.mul(1); };
    for (const order of [['plain', 'transposed'], ['transposed', 'plain']] as const) {
      const j = jit(f, { eagerFirstCall: false });
      for (const kind of order) {
        const mk = () => (kind === 'plain' ? base() : base().t());
        const ea = mk(), ja = mk();
        const want = f(ea), got = j(ja);
        expect(got.toArraySync(), `${order.join('→')}: ${kind}`).toEqual(want.toArraySync());
        expect(ja.toArraySync(), `${order.join('→')}: ${kind} argument`).toEqual(ea.toArraySync());
      }
      expect(j.stats.traces).toBe(2);
    }
  });

  it('a reshape(-1) of a transposed argument is a copy: a write to it does not reach the argument', () => {
    const f = (a: Tensor) => { a.reshape(-1).narrow(0, 0, 2).add_(100); return a.mul(1); };
    const mk = () => arange(9).reshape(3, 3).t();
    const ea = mk(), ja = mk();
    expect(jit(f, { eagerFirstCall: false })(ja).toArraySync()).toEqual(f(ea).toArraySync());
    expect(ja.toArraySync()).toEqual(ea.toArraySync());
  });

  it('after a write through a view, the base itself can be written in place', () => {
    const f = (a: Tensor) => { a.reshape(-1).add_(1); a.mul_(10); return a.mul(1); };
    const g = (a: Tensor) => { const y = a.add(0); y.transpose(0, 1).narrow(0, 0, 1).fill_(0); y.add_(1); return y; };
    const h = (a: Tensor, b: Tensor) => { const y = a.add(0); y.copy_(b.t()); y.add_(1); return y; };
    expect(jit(f, { eagerFirstCall: false })(base()).toArraySync()).toEqual(f(base()).toArraySync());
    expect(jit(g, { eagerFirstCall: false })(base()).toArraySync()).toEqual(g(base()).toArraySync());
    const b = tensor([[5, 6], [7, 8]]);
    expect(jit(h, { eagerFirstCall: false })(base(), b).toArraySync()).toEqual(h(base(), b).toArraySync());
  });
});
