/**
 * A tiny WebAssembly binary emitter: just enough of the format (LEB128, the type / import /
 * function / export / code sections, and the handful of opcodes the CPU kernels use) to build
 * small modules at run time, with no external tools. See the WebAssembly core specification,
 * "Binary Format", for the encodings used here.
 */

export const ValType = {
  i32: 0x7f,
  i64: 0x7e,
  f32: 0x7d,
  f64: 0x7c,
  v128: 0x7b,
} as const;
export type ValType = (typeof ValType)[keyof typeof ValType];

/** Plain (non-prefixed) opcodes used by the kernels. */
export const Op = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  br: 0x0c,
  br_if: 0x0d,
  return: 0x0f,
  end: 0x0b,
  drop: 0x1a,
  local_get: 0x20,
  local_set: 0x21,
  local_tee: 0x22,
  i32_const: 0x41,
  i32_eqz: 0x45,
  i32_eq: 0x46,
  i32_ne: 0x47,
  i32_lt_s: 0x48,
  i32_lt_u: 0x49,
  i32_gt_u: 0x4b,
  i32_ge_u: 0x4f,
  i32_add: 0x6a,
  i32_sub: 0x6b,
  i32_mul: 0x6c,
  i32_shr_u: 0x76,
} as const;
export type Op = (typeof Op)[keyof typeof Op];

/** Opcodes behind the 0xfd (SIMD) prefix; encoded as a u32 LEB128 after the prefix. */
export const SimdOp = {
  v128_load: 0x00,
  v128_load32_splat: 0x09,
  v128_load64_splat: 0x0a,
  v128_store: 0x0b,
  v128_const: 0x0c,
  i8x16_shuffle: 0x0d,
  i32x4_add: 0xae,
  i32x4_mul: 0xb5,
  f32x4_add: 0xe4,
  f32x4_mul: 0xe6,
  f64x2_add: 0xf0,
  f64x2_mul: 0xf2,
} as const;
export type SimdOp = (typeof SimdOp)[keyof typeof SimdOp];

/** Growable byte buffer with the WebAssembly integer encodings. */
export class ByteWriter {
  private buf = new Uint8Array(256);
  length = 0;

  byte(b: number): this {
    if (this.length === this.buf.length) {
      const next = new Uint8Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = b & 0xff;
    return this;
  }

  bytes(bs: ArrayLike<number>): this {
    for (let i = 0; i < bs.length; i++) this.byte(bs[i]!);
    return this;
  }

  /** Unsigned LEB128 (u32). */
  u32(v: number): this {
    v >>>= 0;
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v !== 0) b |= 0x80;
      this.byte(b);
    } while (v !== 0);
    return this;
  }

  /** Signed LEB128 (s32). */
  s32(v: number): this {
    v |= 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      const done = (v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0);
      this.byte(done ? b : b | 0x80);
      if (done) return this;
    }
  }

  /** A name: u32 length then UTF-8 bytes (ASCII only is needed here). */
  name(s: string): this {
    this.u32(s.length);
    for (let i = 0; i < s.length; i++) this.byte(s.charCodeAt(i));
    return this;
  }

  /** A length-prefixed vector of bytes (as used for sections and function bodies). */
  sized(inner: ByteWriter): this {
    this.u32(inner.length);
    return this.bytes(inner.toBytes());
  }

  toBytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** Builder of one function body: locals plus an instruction stream. */
export class FuncBuilder {
  readonly code = new ByteWriter();
  private readonly localTypes: ValType[] = [];

  constructor(
    readonly params: readonly ValType[],
    readonly results: readonly ValType[],
  ) {}

  /** Declares a new local and returns its index (parameters come first). */
  local(t: ValType): number {
    this.localTypes.push(t);
    return this.params.length + this.localTypes.length - 1;
  }

  op(o: Op): this {
    this.code.byte(o);
    return this;
  }
  get(i: number): this {
    this.code.byte(Op.local_get).u32(i);
    return this;
  }
  set(i: number): this {
    this.code.byte(Op.local_set).u32(i);
    return this;
  }
  tee(i: number): this {
    this.code.byte(Op.local_tee).u32(i);
    return this;
  }
  i32(v: number): this {
    this.code.byte(Op.i32_const).s32(v);
    return this;
  }
  /** Structured control with an empty block type. */
  block(): this {
    this.code.byte(Op.block).byte(0x40);
    return this;
  }
  loop(): this {
    this.code.byte(Op.loop).byte(0x40);
    return this;
  }
  if(): this {
    this.code.byte(Op.if).byte(0x40);
    return this;
  }
  else(): this {
    this.code.byte(Op.else);
    return this;
  }
  br(depth: number): this {
    this.code.byte(Op.br).u32(depth);
    return this;
  }
  brIf(depth: number): this {
    this.code.byte(Op.br_if).u32(depth);
    return this;
  }
  end(): this {
    this.code.byte(Op.end);
    return this;
  }
  simd(o: SimdOp | SimdOpExt): this {
    this.code.byte(0xfd).u32(o);
    return this;
  }
  /** A SIMD memory access with alignment exponent `alignLog2` and constant byte `offset`. */
  simdMem(o: SimdOp, alignLog2: number, offset: number): this {
    this.code.byte(0xfd).u32(o).u32(alignLog2).u32(offset);
    return this;
  }
  /** i8x16.shuffle: result byte i = byte `lanes[i]` of the concatenation (first, second operand). */
  shuffle(lanes: readonly number[]): this {
    if (lanes.length !== 16) throw new Error('i8x16.shuffle takes 16 lane indices');
    this.code.byte(0xfd).u32(SimdOp.i8x16_shuffle).bytes(lanes);
    return this;
  }
  /** memory.copy (bulk memory) within memory 0: pops destination, source and byte count. */
  memoryCopy(): this {
    this.code.byte(0xfc).u32(10).byte(0).byte(0);
    return this;
  }
  v128Zero(): this {
    this.code.byte(0xfd).u32(SimdOp.v128_const);
    for (let i = 0; i < 16; i++) this.code.byte(0);
    return this;
  }

  /** Encodes the body: run-length compressed local declarations, code, final `end`. */
  encodeBody(): ByteWriter {
    const body = new ByteWriter();
    const groups: [number, ValType][] = [];
    for (const t of this.localTypes) {
      const last = groups[groups.length - 1];
      if (last && last[1] === t) last[0]++;
      else groups.push([1, t]);
    }
    body.u32(groups.length);
    for (const [n, t] of groups) body.u32(n).byte(t);
    body.bytes(this.code.toBytes()).byte(Op.end);
    return body;
  }
}

export interface ModuleSpec {
  /**
   * Imported memory `module.name` with at least `minPages` 64 KiB pages; `shared` memories (for
   * helper threads) must declare `maxPages`.
   */
  memoryImport?: { module: string; name: string; minPages: number; shared?: { maxPages: number } };
  funcs: { name: string; fn: FuncBuilder }[];
}

/** Assembles a module: one type per function, an optional memory import, all functions exported. */
export function emitModule(spec: ModuleSpec): Uint8Array {
  const out = new ByteWriter();
  out.bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

  const section = (id: number, w: ByteWriter) => {
    out.byte(id).sized(w);
  };

  const types = new ByteWriter().u32(spec.funcs.length);
  for (const { fn } of spec.funcs) {
    types.byte(0x60).u32(fn.params.length).bytes(fn.params).u32(fn.results.length).bytes(fn.results);
  }
  section(1, types);

  if (spec.memoryImport) {
    const m = spec.memoryImport;
    const imports = new ByteWriter().u32(1).name(m.module).name(m.name).byte(0x02);
    if (m.shared) imports.byte(0x03).u32(m.minPages).u32(m.shared.maxPages); // limits: shared, min, max
    else imports.byte(0x00).u32(m.minPages);
    section(2, imports);
  }

  const funcs = new ByteWriter().u32(spec.funcs.length);
  spec.funcs.forEach((_, i) => funcs.u32(i));
  section(3, funcs);

  const exports = new ByteWriter().u32(spec.funcs.length);
  spec.funcs.forEach(({ name }, i) => exports.name(name).byte(0x00).u32(i));
  section(7, exports);

  const code = new ByteWriter().u32(spec.funcs.length);
  for (const { fn } of spec.funcs) code.sized(fn.encodeBody());
  section(10, code);

  return out.toBytes();
}

/**
 * More opcodes behind the 0xfd (SIMD) prefix, used by the elementwise renderer
 * (`elementwise.ts`); an extension of `SimdOp` with the same encoding: the prefix byte, then the
 * opcode as a u32 LEB128 (`writer.byte(0xfd).u32(op)`).
 */
export const SimdOpExt = {
  i32x4_splat: 0x11,
  f32x4_splat: 0x13,
  f64x2_splat: 0x14,
  i8x16_ne: 0x24,
  i32x4_eq: 0x37,
  i32x4_gt_s: 0x3b,
  f32x4_eq: 0x41,
  f32x4_ne: 0x42,
  f32x4_lt: 0x43,
  f32x4_gt: 0x44,
  f32x4_le: 0x45,
  f32x4_ge: 0x46,
  v128_not: 0x4d,
  v128_and: 0x4e,
  v128_andnot: 0x4f,
  v128_or: 0x50,
  v128_xor: 0x51,
  v128_bitselect: 0x52,
  v128_store32_lane: 0x5a,
  v128_load32_zero: 0x5c,
  f32x4_demote_f64x2_zero: 0x5e,
  f64x2_promote_low_f32x4: 0x5f,
  f32x4_ceil: 0x67,
  f32x4_floor: 0x68,
  f32x4_trunc: 0x69,
  f32x4_nearest: 0x6a,
  i16x8_extend_low_i8x16_s: 0x87,
  i32x4_extend_low_i16x8_s: 0xa7,
  i32x4_shl: 0xab,
  i32x4_shr_s: 0xac,
  i32x4_shr_u: 0xad,
  i32x4_sub: 0xb1,
  f32x4_abs: 0xe0,
  f32x4_neg: 0xe1,
  f32x4_sqrt: 0xe3,
  f32x4_sub: 0xe5,
  f32x4_div: 0xe7,
  f32x4_min: 0xe8,
  f32x4_max: 0xe9,
  f32x4_pmin: 0xea,
  f32x4_pmax: 0xeb,
  f64x2_div: 0xf3,
  i32x4_trunc_sat_f32x4_s: 0xf8,
  f32x4_convert_i32x4_s: 0xfa,
} as const;
export type SimdOpExt = (typeof SimdOpExt)[keyof typeof SimdOpExt];
