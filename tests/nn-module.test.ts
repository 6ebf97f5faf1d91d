import { describe, expect, it } from 'vitest';
import { manualSeed, noGrad, ones, tensor, zeros, Tensor, ValueError, type NestedArray } from '../src/index.ts';
import {
  BatchNorm1d, Dropout, Linear, Module, ModuleList, Parameter, ReLU, Sequential, StateDictError,
} from '../src/nn/index.ts';

const arr = (t: Tensor): NestedArray => t.toArraySync();

class Net extends Module {
  fc1 = new Linear(4, 3);
  act = new ReLU();
  fc2 = new Linear(3, 2, { bias: false });
  scale = new Parameter(ones([2]));
  notAParam = zeros([5]);
  forward(x: Tensor): Tensor {
    return this.fc2.call(this.act.call(this.fc1.call(x))).mul(this.scale);
  }
}

describe('Parameter', () => {
  it('is a leaf tensor that requires grad and shares storage with what it wraps', () => {
    const t = tensor([1, 2, 3]);
    const p = new Parameter(t);
    expect(p).toBeInstanceOf(Tensor);
    expect(p.requiresGrad).toBe(true);
    expect(p.isLeaf).toBe(true);
    expect(p._storage).toBe(t._storage);
    expect(new Parameter(t, false).requiresGrad).toBe(false);
    expect(p.toString()).toBe('Parameter containing:\ntensor([1., 2., 3.], requiresGrad=true)');
  });

  it('cuts a non-leaf off its graph', () => {
    const a = tensor([1, 2], { requiresGrad: true });
    const p = new Parameter(a.mul(2));
    expect(p.isLeaf).toBe(true);
    p.sum().backward();
    expect(arr(p.grad!)).toEqual([1, 1]);
    expect(a.grad).toBeNull();
  });

  it('refuses integer tensors', () => {
    expect(() => new Parameter(tensor([1, 2], { dtype: 'int32' }))).toThrow(/floating-point/);
  });
});

describe('Module registration', () => {
  it('finds parameters and submodules from fields, in definition order, with dotted names', () => {
    const net = new Net();
    expect(net.namedParameters().map(([n, p]) => [n, p.shape])).toEqual([
      ['scale', [2]], ['fc1.weight', [3, 4]], ['fc1.bias', [3]], ['fc2.weight', [2, 3]],
    ]);
    expect(net.parameters()).toHaveLength(4);
    expect(net.namedChildren().map(([n]) => n)).toEqual(['fc1', 'act', 'fc2']);
    expect(net.children()[0]).toBe(net.fc1);
    expect(net.namedModules().map(([n, m]) => [n, m.constructor.name])).toEqual([
      ['', 'Net'], ['fc1', 'Linear'], ['act', 'ReLU'], ['fc2', 'Linear'],
    ]);
    expect(net.modules()).toHaveLength(4);
    expect(net.parameters({ recurse: false })).toEqual([net.scale]);
  });

  it('names Sequential layers 0, 1, … and nests prefixes', () => {
    const m = new Sequential(new Linear(2, 3), new ReLU(), new Sequential(new Linear(3, 1)));
    expect(m.namedParameters().map(([n]) => n)).toEqual(['0.weight', '0.bias', '2.0.weight', '2.0.bias']);
    expect(m.length).toBe(3);
    expect(m[0]).toBeInstanceOf(Linear);
    expect(m.at(-1)).toBeInstanceOf(Sequential);
    expect(() => m.at(3)).toThrow(ValueError);
    m.append(new ReLU());
    expect(m.namedChildren().map(([n]) => n)).toEqual(['0', '1', '2', '3']);
    expect([...m].length).toBe(4);
    expect(m.slice(0, 2).length).toBe(2);
  });

  it('builds a Sequential from named layers', () => {
    const m = new Sequential({ fc: new Linear(2, 2), act: new ReLU() });
    expect(m.namedParameters().map(([n]) => n)).toEqual(['fc.weight', 'fc.bias']);
    expect(m.call(zeros([1, 2])).shape).toEqual([1, 2]);
  });

  it('lists a shared parameter once but keeps it under every name in the state dict', () => {
    const a = new Linear(2, 2);
    const m = new Sequential(a, a);
    expect(m.parameters()).toHaveLength(2);
    expect(Object.keys(m.stateDict())).toEqual(['0.weight', '0.bias', '1.weight', '1.bias']);
  });

  it('ModuleList registers its items and has no forward', () => {
    class Stack extends Module {
      layers = new ModuleList([new Linear(2, 2), new Linear(2, 2)]);
      forward(x: Tensor) {
        for (const l of this.layers) x = l.call(x);
        return x;
      }
    }
    const s = new Stack();
    expect(s.namedParameters().map(([n]) => n)).toEqual(['layers.0.weight', 'layers.0.bias', 'layers.1.weight', 'layers.1.bias']);
    expect(s.call(zeros([1, 2])).shape).toEqual([1, 2]);
    expect(() => s.layers.forward()).toThrow(/no forward/);
  });

  it('registers buffers, persistent or not, and parameters/modules under computed names', () => {
    class M extends Module {
      constructor() {
        super();
        this.registerBuffer('count', zeros([1]));
        this.registerBuffer('scratch', zeros([2]), { persistent: false });
        this.registerParameter('w0', new Parameter(ones([1])));
        this.registerModule('sub', new Linear(1, 1));
      }
      forward(x: Tensor) { return x; }
    }
    const m = new M();
    expect(m.namedBuffers().map(([n]) => n)).toEqual(['count', 'scratch']);
    expect(Object.keys(m.stateDict())).toEqual(['w0', 'count', 'sub.weight', 'sub.bias']);
    expect(() => m.registerBuffer('a.b', zeros([1]))).toThrow(/no '\.'/);
    expect(() => m.registerBuffer('w0', zeros([1]))).toThrow(/already has a parameter/);
    expect(() => m.registerBuffer('p', new Parameter(zeros([1])))).toThrow(/is a Parameter/);
  });
});

describe('train/eval and zeroGrad', () => {
  it("calls each child's own train(), so an override (a BatchNorm kept frozen) holds inside a bigger model", () => {
    class Frozen extends Module {
      bn = new BatchNorm1d(2);
      override train(mode = true): this {
        super.train(mode);
        this.bn.training = false;
        return this;
      }
      forward(x: Tensor): Tensor { return this.bn.call(x); }
    }
    class Outer extends Module {
      f = new Frozen();
      forward(x: Tensor): Tensor { return this.f.call(x); }
    }
    const n = new Outer().train();
    expect(n.training).toBe(true);
    expect(n.f.training).toBe(true);
    expect(n.f.bn.training).toBe(false);
  });

  it('a plain tensor assigned over a parameter is refused (it would leave parameters() and the state dict)', () => {
    const l = new Linear(2, 2);
    l.parameters();
    (l as unknown as { weight: Tensor }).weight = zeros([2, 2]);
    expect(() => l.parameters()).toThrow(/Linear\.weight: a plain tensor \(shape \[2, 2\]\) was assigned where a Parameter was/);
    l.weight = new Parameter(zeros([2, 2]));
    expect(l.namedParameters().map(([k]) => k)).toEqual(['weight', 'bias']);
  });

  it('append after a removal takes a new name: no layer is replaced', () => {
    const m = new ModuleList([new Linear(1, 1), new Linear(1, 1), new Linear(1, 1)]);
    const third = m.at(2);
    m.registerModule('1', null);
    m.append(new Linear(1, 9));
    expect(m.namedChildren().map(([k]) => k)).toEqual(['0', '2', '3']);
    expect(m.namedChildren()[1]![1]).toBe(third);
  });

  it('a submodule held by two fields is one child: apply visits it once', () => {
    const shared = new Linear(1, 1);
    class Tied extends Module {
      a = shared;
      b = shared;
      forward(x: Tensor): Tensor { return this.b.call(this.a.call(x)); }
    }
    const t = new Tied();
    expect(t.namedChildren().map(([k]) => k)).toEqual(['a']);
    const seen: string[] = [];
    t.apply((m) => { seen.push(m.constructor.name); });
    expect(seen).toEqual(['Linear', 'Tied']);
  });

  it('sets training recursively', () => {
    const m = new Sequential(new Linear(2, 2), new Dropout(0.5));
    expect(m.training).toBe(true);
    m.eval();
    expect(m.modules().every((x) => !x.training)).toBe(true);
    m.train();
    expect(m.modules().every((x) => x.training)).toBe(true);
  });

  it('zeroGrad sets grads to null by default, or to zeros', () => {
    const m = new Linear(2, 1);
    m.call(ones([1, 2])).sum().backward();
    expect(m.weight.grad).not.toBeNull();
    m.zeroGrad(false);
    expect(arr(m.weight.grad!)).toEqual([[0, 0]]);
    m.zeroGrad();
    expect(m.weight.grad).toBeNull();
    expect(m.bias!.grad).toBeNull();
  });
});

describe('stateDict / loadStateDict', () => {
  it('round-trips values into a fresh module (detached, sharing storage)', () => {
    manualSeed(1);
    const a = new Net();
    manualSeed(2);
    const b = new Net();
    const sd = a.stateDict();
    expect(Object.keys(sd)).toEqual(['scale', 'fc1.weight', 'fc1.bias', 'fc2.weight']);
    expect(sd['fc1.weight']!.requiresGrad).toBe(false);
    expect(sd['fc1.weight']!._storage).toBe(a.fc1.weight._storage);
    expect(arr(b.fc1.weight)).not.toEqual(arr(a.fc1.weight));
    const res = b.loadStateDict(sd);
    expect(res).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(arr(b.fc1.weight)).toEqual(arr(a.fc1.weight));
    expect(arr(b.fc2.weight)).toEqual(arr(a.fc2.weight));
    // copies, not aliases
    expect(b.fc1.weight._storage).not.toBe(a.fc1.weight._storage);
    // parameters stay the same objects
    expect(b.parameters()[1]).toBe(b.fc1.weight);
  });

  it('includes buffers such as BatchNorm running statistics under PyTorch names', () => {
    const bn = new BatchNorm1d(3);
    expect(Object.keys(bn.stateDict())).toEqual(['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']);
    const other = new BatchNorm1d(3);
    other.loadStateDict({ ...bn.stateDict(), running_mean: tensor([1, 2, 3]) });
    expect(arr(other.runningMean!)).toEqual([1, 2, 3]);
  });

  it('strict mode names missing, unexpected and wrongly shaped keys, and copies nothing', () => {
    const m = new Sequential(new Linear(2, 3), new Linear(3, 1));
    const before = arr(m[1]!.stateDict().weight!);
    const bad = {
      '0.weight': zeros([2, 3]), // transposed
      '0.bias': zeros([3]),
      '1.weight': zeros([1, 3]),
      'extra.weight': zeros([1]),
    };
    let err: unknown;
    try {
      m.loadStateDict(bad);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StateDictError);
    expect(err).toBeInstanceOf(ValueError);
    const e = err as StateDictError;
    expect(e.message).toBe(
      'Error(s) in loading stateDict for Sequential:\n' +
        '  Missing key(s): "1.bias".\n' +
        '  Unexpected key(s): "extra.weight".\n' +
        '  size mismatch for "0.weight": the dict has shape [2, 3], the module has [3, 2]',
    );
    expect(e.missingKeys).toEqual(['1.bias']);
    expect(e.unexpectedKeys).toEqual(['extra.weight']);
    expect(e.mismatchedKeys).toEqual(['0.weight']);
    expect(arr(m[1]!.stateDict().weight!)).toEqual(before);
  });

  it('non-strict mode loads what matches and reports the rest; a shape mismatch is still an error', () => {
    const m = new Sequential(new Linear(2, 3), new Linear(3, 1));
    const res = m.loadStateDict({ '1.weight': tensor([[1, 2, 3]]), junk: zeros([1]) }, { strict: false });
    expect(res).toEqual({ missingKeys: ['0.weight', '0.bias', '1.bias'], unexpectedKeys: ['junk'] });
    expect(arr(m[1]!.stateDict().weight!)).toEqual([[1, 2, 3]]);
    expect(() => m.loadStateDict({ '1.weight': zeros([3]) }, { strict: false })).toThrow(/size mismatch for "1.weight": the dict has shape \[3\], the module has \[1, 3\]/);
  });

  it('casts to the parameter dtype and rejects non-tensors', () => {
    const m = new Linear(1, 1, { dtype: 'float64' });
    m.loadStateDict({ weight: tensor([[0.5]]), bias: tensor([2], { dtype: 'int32' }) });
    expect(m.weight.dtype).toBe('float64');
    expect(arr(m.bias!)).toEqual([2]);
    expect(() => m.loadStateDict({ weight: [[1]] as unknown as Tensor, bias: zeros([1]) })).toThrow(/expected a Tensor/);
  });
});

describe('to(dtype)', () => {
  it('casts floating parameters and buffers in place, keeping Parameter objects', () => {
    const m = new Sequential(new Linear(2, 2), new BatchNorm1d(2));
    const w = m[0]!.parameters()[0]!;
    const before = arr(w);
    m.double();
    expect(m.parameters()[0]).toBe(w);
    expect(w.dtype).toBe('float64');
    expect(arr(w)).toEqual(before); // float32 values are exact in float64
    const bn = m[1] as BatchNorm1d;
    expect(bn.runningMean!.dtype).toBe('float64');
    expect(bn.numBatchesTracked!.dtype).toBe('int32');
    expect(m.call(ones([3, 2], { dtype: 'float64' })).dtype).toBe('float64');
    m.to('cpu'); // same device: nothing changes
    expect(w.device).toBe('cpu');
  });
});

describe('toString', () => {
  it('prints the module tree like PyTorch', () => {
    const model = new Sequential(new Linear(784, 128), new ReLU(), new Dropout(0.2), new Linear(128, 10));
    expect(model.toString()).toBe(
      'Sequential(\n' +
        '  (0): Linear(inFeatures=784, outFeatures=128, bias=true)\n' +
        '  (1): ReLU()\n' +
        '  (2): Dropout(p=0.2)\n' +
        '  (3): Linear(inFeatures=128, outFeatures=10, bias=true)\n' +
        ')',
    );
  });

  it('indents nested modules', () => {
    expect(new Net().toString()).toBe(
      'Net(\n' +
        '  (fc1): Linear(inFeatures=4, outFeatures=3, bias=true)\n' +
        '  (act): ReLU()\n' +
        '  (fc2): Linear(inFeatures=3, outFeatures=2, bias=false)\n' +
        ')',
    );
    const nested = new Sequential(new Sequential(new ReLU()), new ReLU());
    expect(nested.toString()).toBe('Sequential(\n  (0): Sequential(\n    (0): ReLU()\n  )\n  (1): ReLU()\n)');
  });
});

describe('forward and call', () => {
  it('call runs forward', () => {
    const net = new Net();
    const x = ones([5, 4]);
    expect(arr(net.call(x))).toEqual(arr(net.forward(x)));
    expect(net.call(x).shape).toEqual([5, 2]);
  });
});

describe('field order (a probe found integer-like names run first)', () => {
  const shift = (b: number) => {
    const l = new Linear(1, 1);
    noGrad(() => {
      l.weight.fill_(1);
      l.bias!.fill_(b);
    });
    return l;
  };

  it('append after named layers runs last and is named as PyTorch names it', () => {
    const s = new Sequential({ fc: shift(-1) });
    s.append(new ReLU());
    expect(s.namedChildren().map(([n]) => n)).toEqual(['fc', '1']);
    expect(s.call(tensor([[0]])).itemSync()).toBe(0); // relu(0 − 1); it ran relu first: −1
    expect(Object.keys(s.stateDict())).toEqual(['fc.weight', 'fc.bias']);
    const t = new Sequential(new ReLU(), shift(1));
    t.append(shift(2));
    expect(t.namedChildren().map(([n]) => n)).toEqual(['0', '1', '2']);
  });

  it('a Map keeps its order, registerModule keeps registration order, parameters and state dicts follow it', () => {
    const m = new Sequential(new Map([['1', shift(-1)], ['0', new ReLU()]]));
    expect(m.namedChildren().map(([n]) => n)).toEqual(['1', '0']);
    expect(m.call(tensor([[0]])).itemSync()).toBe(0);
    class Holder extends Module {
      first = new Linear(1, 1);
      forward(x: Tensor): Tensor {
        return x;
      }
    }
    const h = new Holder();
    h.registerModule('b', new Linear(1, 1));
    h.registerModule('10', new Linear(1, 1));
    h.registerModule('a', new Linear(1, 1));
    expect(h.namedChildren().map(([n]) => n)).toEqual(['first', 'b', '10', 'a']);
    expect(Object.keys(h.stateDict()).filter((k) => k.endsWith('weight'))).toEqual(['first.weight', 'b.weight', '10.weight', 'a.weight']);
    expect(h.parameters()[4]).toBe((h as unknown as Record<string, Linear>)['10']!.weight);
    expect(() => new Sequential(new Map([[1 as unknown as string, new ReLU()]]))).toThrow(/name must be a string/);
  });
});
