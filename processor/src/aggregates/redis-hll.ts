/**
 * HyperLogLogs built in the processor, byte for byte in Redis' own format (hyperloglog.c: 16,384
 * registers of 6 bits, MurmurHash64A with Redis' seed, "HYLL" header, sparse or dense encoding), so
 * that a partition owner can fold distinct values in memory and write the sketch as one absolute
 * value, while PFCOUNT / PFMERGE (the query side's merge of partitions and slices) read it exactly
 * as if PFADD had built it. The sparse encoding keeps a sketch of a few values at ~20 bytes.
 */

const REGISTERS = 16384;
const P = 14;
const HEADER = 16;
const DENSE_BYTES = HEADER + (REGISTERS * 6) / 8;
/** Redis' default hll-sparse-max-bytes: larger sketches are written dense, as PFADD would. */
const SPARSE_MAX_BYTES = 3000;
const SPARSE_MAX_VALUE = 32;

const M = 0xc6a4a7935bd1e995n;
const MASK = 0xffffffffffffffffn;
const SEED = 0xadc83b19n;

/** Redis' MurmurHash64A (seed 0xadc83b19) of the member's UTF-8 bytes. */
export function murmur64a(data: Uint8Array): bigint {
  const len = data.length;
  let h = (SEED ^ ((BigInt(len) * M) & MASK)) & MASK;
  const whole = len - (len & 7);
  for (let i = 0; i < whole; i += 8) {
    let k = 0n;
    for (let j = 7; j >= 0; j--) k = (k << 8n) | BigInt(data[i + j]!);
    k = (k * M) & MASK;
    k ^= k >> 47n;
    k = (k * M) & MASK;
    h ^= k;
    h = (h * M) & MASK;
  }
  const rest = len & 7;
  if (rest > 0) {
    for (let j = rest - 1; j >= 0; j--) h ^= BigInt(data[whole + j]!) << BigInt(8 * j);
    h = (h * M) & MASK;
  }
  h ^= h >> 47n;
  h = (h * M) & MASK;
  h ^= h >> 47n;
  return h;
}

const encoder = new TextEncoder();

/** The register a member sets and the value it offers (the run of zero bits after the index, + 1). */
export function registerOf(member: string): { index: number; value: number } {
  const hash = murmur64a(encoder.encode(member));
  const index = Number(hash & BigInt(REGISTERS - 1));
  let rest = (hash >> BigInt(P)) | (1n << 50n);
  let value = 1;
  while ((rest & 1n) === 0n) {
    value++;
    rest >>= 1n;
  }
  return { index, value };
}

/** A sketch's registers: index -> value, only the non-zero ones. */
export type Registers = Map<number, number>;

/** Adds members to the registers (kept as the maximum value per register). */
export function addMembers(registers: Registers, members: Iterable<string>): void {
  for (const member of members) {
    const { index, value } = registerOf(member);
    if ((registers.get(index) ?? 0) < value) registers.set(index, value);
  }
}

/** Reads a Redis HyperLogLog string (sparse or dense); empty for a missing value. */
export function decodeHll(raw: Uint8Array | null | undefined): Registers {
  const registers: Registers = new Map();
  if (!raw || raw.length === 0) return registers;
  if (raw.length < HEADER || raw[0] !== 0x48 || raw[1] !== 0x59 || raw[2] !== 0x4c || raw[3] !== 0x4c)
    throw new Error('not a Redis HyperLogLog (no HYLL header)');
  if (raw[4] === 0) {
    if (raw.length < DENSE_BYTES) throw new Error('truncated dense HyperLogLog');
    for (let r = 0; r < REGISTERS; r++) {
      const value = denseGet(raw, r);
      if (value > 0) registers.set(r, value);
    }
    return registers;
  }
  let index = 0;
  for (let i = HEADER; i < raw.length; ) {
    const op = raw[i]!;
    if ((op & 0xc0) === 0) {
      index += (op & 0x3f) + 1;
      i += 1;
    } else if ((op & 0xc0) === 0x40) {
      index += (((op & 0x3f) << 8) | raw[i + 1]!) + 1;
      i += 2;
    } else {
      const value = ((op >> 2) & 0x1f) + 1;
      const run = (op & 0x03) + 1;
      for (let k = 0; k < run; k++) registers.set(index + k, value);
      index += run;
      i += 1;
    }
  }
  if (index !== REGISTERS) throw new Error('corrupt sparse HyperLogLog (registers do not add up)');
  return registers;
}

/** Writes the registers as Redis writes them: sparse while small, dense otherwise. */
export function encodeHll(registers: Registers): Buffer {
  return encodeSparse(registers) ?? encodeDense(registers);
}

function header(encoding: 0 | 1, size: number): Buffer {
  const out = Buffer.alloc(size);
  out.write('HYLL', 0, 'latin1');
  out[4] = encoding;
  // The cached cardinality is marked invalid: PFCOUNT computes it.
  out[15] = 0x80;
  return out;
}

function encodeSparse(registers: Registers): Buffer | undefined {
  const sorted = [...registers].sort((a, b) => a[0] - b[0]);
  const ops: number[] = [];
  let index = 0;
  const zeros = (count: number) => {
    while (count > 0) {
      if (count > 64) {
        const run = Math.min(count, REGISTERS);
        ops.push(0x40 | ((run - 1) >> 8), (run - 1) & 0xff);
        count -= run;
      } else {
        ops.push(count - 1);
        count = 0;
      }
    }
  };
  for (let i = 0; i < sorted.length; ) {
    const [at, value] = sorted[i]!;
    if (value > SPARSE_MAX_VALUE) return undefined;
    zeros(at - index);
    let run = 1;
    while (run < 4 && sorted[i + run]?.[0] === at + run && sorted[i + run]![1] === value) run++;
    ops.push(0x80 | ((value - 1) << 2) | (run - 1));
    index = at + run;
    i += run;
    if (HEADER + ops.length > SPARSE_MAX_BYTES) return undefined;
  }
  zeros(REGISTERS - index);
  const out = header(1, HEADER + ops.length);
  out.set(ops, HEADER);
  return out;
}

function encodeDense(registers: Registers): Buffer {
  const out = header(0, DENSE_BYTES);
  for (const [index, value] of registers) denseSet(out, index, value);
  return out;
}

function denseGet(raw: Uint8Array, register: number): number {
  const bit = register * 6;
  const byte = HEADER + (bit >> 3);
  const shift = bit & 7;
  const b0 = raw[byte]!;
  const b1 = byte + 1 < raw.length ? raw[byte + 1]! : 0;
  return ((b0 >> shift) | (b1 << (8 - shift))) & 63;
}

function denseSet(raw: Uint8Array, register: number, value: number): void {
  const bit = register * 6;
  const byte = HEADER + (bit >> 3);
  const shift = bit & 7;
  raw[byte] = (raw[byte]! & ~(63 << shift)) | ((value << shift) & 0xff);
  if (byte + 1 < raw.length) {
    raw[byte + 1] = (raw[byte + 1]! & ~(63 >> (8 - shift))) | (value >> (8 - shift));
  }
}
