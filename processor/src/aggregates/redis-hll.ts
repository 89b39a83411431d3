/**
 * HyperLogLogs built in the processor, byte for byte in Redis' own format (hyperloglog.c: 16,384
 * registers of 6 bits, MurmurHash64A with Redis' seed, "HYLL" header, sparse or dense encoding), so
 * that a partition owner can fold distinct values in memory and write the sketch as one absolute
 * value, while PFCOUNT / PFMERGE (the query side's merge of partitions and slices) read it exactly
 * as if PFADD had built it. The sparse encoding keeps a sketch of a few values at ~20 bytes.
 */

/** A HyperLogLog's registers (Redis' P = 14). */
export const REGISTERS = 16384;
const P = 14;
const HEADER = 16;
const DENSE_BYTES = HEADER + (REGISTERS * 6) / 8;
/** Redis' default hll-sparse-max-bytes: larger sketches are written dense, as PFADD would. */
const SPARSE_MAX_BYTES = 3000;
const SPARSE_MAX_VALUE = 32;

const M_HI = 0xc6a4a793;
const M_LO = 0x5bd1e995;
const SEED = 0xadc83b19;
const TWO_32 = 0x1_0000_0000;

// 64-bit words as two unsigned 32-bit halves (no BigInt on the hot path): the product's halves land here.
let outHi = 0;
let outLo = 0;

/** (aHi:aLo * bHi:bLo) mod 2^64 into outHi:outLo, from 16-bit limbs so every step stays exact in a double. */
function mul64(aHi: number, aLo: number, bHi: number, bLo: number): void {
  const a0 = aLo & 0xffff;
  const a1 = aLo >>> 16;
  const b0 = bLo & 0xffff;
  const b1 = bLo >>> 16;
  const mid = a0 * b1 + a1 * b0;
  const low = a0 * b0 + (mid % 0x10000) * 0x10000;
  outLo = low >>> 0;
  const high = a1 * b1 + Math.floor(mid / 0x10000) + Math.floor(low / TWO_32);
  outHi = (high + Math.imul(aHi, bLo) + Math.imul(aLo, bHi)) >>> 0;
}

/** Redis' MurmurHash64A (seed 0xadc83b19) of the member's bytes, as [high 32 bits, low 32 bits]. */
export function murmur64a(data: Uint8Array): [number, number] {
  hashBytes(data, data.length);
  return [hashHi, hashLo];
}

// The last hash, as two unsigned 32-bit halves (module state rather than a returned pair: no garbage per member).
let hashHi = 0;
let hashLo = 0;

/** MurmurHash64A of data[0, len) into hashHi:hashLo. */
function hashBytes(data: Uint8Array, len: number): void {
  mul64(0, len, M_HI, M_LO);
  let hHi = outHi;
  let hLo = (outLo ^ SEED) >>> 0;
  const whole = len - (len & 7);
  for (let i = 0; i < whole; i += 8) {
    const kLo = (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)) >>> 0;
    const kHi = (data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24)) >>> 0;
    mul64(kHi, kLo, M_HI, M_LO);
    // k ^= k >> 47: only the high half's top 17 bits reach the low half
    const xLo = (outLo ^ (outHi >>> 15)) >>> 0;
    mul64(outHi, xLo, M_HI, M_LO);
    hHi = (hHi ^ outHi) >>> 0;
    hLo = (hLo ^ outLo) >>> 0;
    mul64(hHi, hLo, M_HI, M_LO);
    hHi = outHi;
    hLo = outLo;
  }
  const rest = len & 7;
  if (rest > 0) {
    for (let j = rest - 1; j >= 0; j--) {
      const byte = data[whole + j]!;
      if (j >= 4) hHi = (hHi ^ (byte << (8 * (j - 4)))) >>> 0;
      else hLo = (hLo ^ (byte << (8 * j))) >>> 0;
    }
    mul64(hHi, hLo, M_HI, M_LO);
    hHi = outHi;
    hLo = outLo;
  }
  hLo = (hLo ^ (hHi >>> 15)) >>> 0;
  mul64(hHi, hLo, M_HI, M_LO);
  hashHi = outHi;
  hashLo = (outLo ^ (outHi >>> 15)) >>> 0;
}

/** A member's UTF-8 bytes go here before hashing (most members are short): no Buffer per member. */
const memberBytes = new Uint8Array(1024);
const utf8 = new TextEncoder();

/** MurmurHash64A of a member's UTF-8 bytes into hashHi:hashLo (ASCII copied by hand, the rest by the encoder). */
function hashMember(member: string): void {
  const n = member.length;
  if (n <= memberBytes.length) {
    let i = 0;
    for (; i < n; i++) {
      const c = member.charCodeAt(i);
      if (c > 0x7f) break;
      memberBytes[i] = c;
    }
    if (i === n) {
      hashBytes(memberBytes, n);
      return;
    }
    // UTF-8 takes at most 3 bytes per UTF-16 unit
    if (n * 3 <= memberBytes.length) {
      hashBytes(memberBytes, utf8.encodeInto(member, memberBytes).written);
      return;
    }
  }
  const bytes = Buffer.from(member);
  hashBytes(bytes, bytes.length);
}

// The register and value of the last member offered (see offer).
let offeredIndex = 0;
let offeredValue = 0;

/** The register a member sets and the value it offers, into offeredIndex / offeredValue. */
function offer(member: string): void {
  hashMember(member);
  offeredIndex = hashLo & (REGISTERS - 1);
  // Redis: count = 1 + trailing zeros of (hash >> 14), the 50 bits above the index (at most 51).
  const low = hashLo >>> P;
  if (low !== 0) offeredValue = 1 + ctz(low);
  else if (hashHi !== 0) offeredValue = 1 + (32 - P) + ctz(hashHi);
  else offeredValue = 1 + (32 - P) + 32;
}

/** The register a member sets and the value it offers, as one integer: register * 64 + value. */
export function offeredRegister(member: string): number {
  offer(member);
  return offeredIndex * 64 + offeredValue;
}

/** The register a member sets and the value it offers (the run of zero bits after the index, + 1). */
export function registerOf(member: string): { index: number; value: number } {
  offer(member);
  return { index: offeredIndex, value: offeredValue };
}

function ctz(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/** A sketch's registers: index -> value, only the non-zero ones. */
export type Registers = Map<number, number>;

/** Adds members to the registers (kept as the maximum value per register). */
export function addMembers(registers: Registers, members: Iterable<string>): void {
  for (const member of members) {
    offer(member);
    if ((registers.get(offeredIndex) ?? 0) < offeredValue) registers.set(offeredIndex, offeredValue);
  }
}

/**
 * A sketch of one set register as one small integer (register * 64 + value), which a partition
 * owner keeps in memory instead of its bytes (no object per slice and group to keep), or undefined
 * for any other sketch. `raw` must be a sketch encodeHll or encodeRegister wrote.
 */
export function oneRegisterOf(raw: Uint8Array): number | undefined {
  // header, at most 2 + 1 + 2 bytes of opcodes
  if (raw.length > HEADER + 5 || raw[4] !== 1) return undefined;
  let index = 0;
  let found: number | undefined;
  for (let i = HEADER; i < raw.length; ) {
    i = readOp(raw, i);
    if (runValue > 0) {
      if (found !== undefined || runLength !== 1) return undefined;
      found = index * 64 + runValue;
    }
    index += runLength;
  }
  return found;
}

/**
 * The stored sketch (Redis' bytes, its one-register integer, or none) with the members added, in Redis' bytes. The common
 * case of a partition owner's slice, a new sketch of one member, is written without a register map.
 */
export function withMembers(
  raw: Uint8Array | number | null | undefined,
  members: string | ReadonlySet<string>,
): Buffer {
  if (typeof members === 'string') {
    offer(members);
    if (raw === undefined || raw === null || (typeof raw !== 'number' && raw.length === 0))
      return encodeRegister(offeredIndex, offeredValue);
    if (typeof raw === 'number' && raw >>> 6 === offeredIndex)
      return encodeRegister(offeredIndex, Math.max(raw & 63, offeredValue));
    const registers = registersOf(raw);
    if ((registers.get(offeredIndex) ?? 0) < offeredValue) registers.set(offeredIndex, offeredValue);
    return encodeHll(registers);
  }
  const registers = registersOf(raw);
  addMembers(registers, members);
  return encodeHll(registers);
}

function registersOf(raw: Uint8Array | number | null | undefined): Registers {
  return typeof raw === 'number' ? new Map([[raw >>> 6, raw & 63]]) : decodeHll(raw);
}

// The last sparse opcode read (see readOp): its registers' value (0: empty ones) and how many.
let runValue = 0;
let runLength = 0;

/** Reads the sparse opcode at raw[i] (ZERO, XZERO or VAL) into runValue / runLength; returns the next one's offset. */
function readOp(raw: Uint8Array, i: number): number {
  const op = raw[i]!;
  if ((op & 0xc0) === 0) {
    runValue = 0;
    runLength = (op & 0x3f) + 1;
    return i + 1;
  }
  if ((op & 0xc0) === 0x40) {
    runValue = 0;
    runLength = (((op & 0x3f) << 8) | raw[i + 1]!) + 1;
    return i + 2;
  }
  runValue = ((op >> 2) & 0x1f) + 1;
  runLength = (op & 0x03) + 1;
  return i + 1;
}

/**
 * Checks a Redis HyperLogLog string's header: true for the dense encoding (whole), false for the
 * sparse one (its opcodes are checked as they are read). Both readers below walk the registers in
 * their own loop: a per-register callback would cost a call on each of 16,384 registers of a dense
 * sketch in the query API's distinct counts.
 */
function isDense(raw: Uint8Array): boolean {
  if (raw.length < HEADER || raw[0] !== 0x48 || raw[1] !== 0x59 || raw[2] !== 0x4c || raw[3] !== 0x4c)
    throw new Error('not a Redis HyperLogLog (no HYLL header)');
  if (raw[4] !== 0) return false;
  if (raw.length < DENSE_BYTES) throw new Error('truncated dense HyperLogLog');
  return true;
}

/** Whether these are a HyperLogLog's bytes in Redis' dense encoding (not sparse, not missing). */
export function isDenseHll(raw: Uint8Array | null | undefined): boolean {
  return raw !== null && raw !== undefined && raw.length >= HEADER && raw[4] === 0;
}

/** Reads a Redis HyperLogLog string (sparse or dense); empty for a missing value. */
export function decodeHll(raw: Uint8Array | null | undefined): Registers {
  const registers: Registers = new Map();
  if (!raw || raw.length === 0) return registers;
  if (isDense(raw)) {
    for (let r = 0; r < REGISTERS; r++) {
      const value = denseGet(raw, r);
      if (value > 0) registers.set(r, value);
    }
    return registers;
  }
  let index = 0;
  for (let i = HEADER; i < raw.length; ) {
    i = readOp(raw, i);
    for (let k = 0; runValue > 0 && k < runLength; k++) registers.set(index + k, runValue);
    index += runLength;
  }
  if (index !== REGISTERS) throw new Error('corrupt sparse HyperLogLog (registers do not add up)');
  return registers;
}

/**
 * Raises `registers` (one byte per register) to a Redis HyperLogLog string's (sparse or dense), as
 * PFMERGE does, keeping `histogram` (how many registers hold each value) up to date; a missing or
 * empty value changes nothing.
 */
export function maxInto(
  registers: Uint8Array,
  histogram: Int32Array,
  raw: Uint8Array | null | undefined,
): void {
  if (!raw || raw.length === 0) return;
  if (isDense(raw)) {
    for (let r = 0; r < REGISTERS; r++) {
      const value = denseGet(raw, r);
      if (value > registers[r]!) {
        histogram[registers[r]!]!--;
        histogram[value]!++;
        registers[r] = value;
      }
    }
    return;
  }
  let index = 0;
  for (let i = HEADER; i < raw.length; ) {
    i = readOp(raw, i);
    if (runValue > 0)
      for (let k = index; k < index + runLength && k < REGISTERS; k++)
        if (runValue > registers[k]!) {
          histogram[registers[k]!]!--;
          histogram[runValue]!++;
          registers[k] = runValue;
        }
    index += runLength;
  }
  if (index !== REGISTERS) throw new Error('corrupt sparse HyperLogLog (registers do not add up)');
}

/** Writes the registers as Redis writes them: sparse while small, dense otherwise. */
export function encodeHll(registers: Registers): Buffer {
  return encodeSparse(registers) ?? encodeDense(registers);
}

/** Sparse encodings are built here, after the header, then copied out (most are a few bytes). */
const sparseScratch = Buffer.alloc(HEADER + SPARSE_MAX_BYTES + 8);
sparseScratch.write('HYLL', 0, 'latin1');
sparseScratch[4] = 1;
// The cached cardinality is marked invalid: PFCOUNT computes it.
sparseScratch[15] = 0x80;

/** Appends ZERO / XZERO opcodes for `count` empty registers at `at`; returns the new end. */
function writeZeros(out: Uint8Array, at: number, count: number): number {
  while (count > 64) {
    const run = Math.min(count, REGISTERS);
    out[at++] = 0x40 | ((run - 1) >> 8);
    out[at++] = (run - 1) & 0xff;
    count -= run;
  }
  if (count > 0) out[at++] = count - 1;
  return at;
}

/** The sparse bytes copied out of the scratch into a Buffer of their own (small ones share Node's pool). */
function sparseOut(length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  // most are under 30 bytes: a loop costs less than Buffer#copy's checks
  for (let i = 0; i < length; i++) out[i] = sparseScratch[i]!;
  return out;
}

/** The sketch of one set register, as encodeHll writes it: sparse (a few bytes) unless the value is too large for it. */
export function encodeRegister(index: number, value: number): Buffer {
  if (value > SPARSE_MAX_VALUE) return encodeDense(new Map([[index, value]]));
  let at = writeZeros(sparseScratch, HEADER, index);
  sparseScratch[at++] = 0x80 | ((value - 1) << 2);
  return sparseOut(writeZeros(sparseScratch, at, REGISTERS - index - 1));
}

function encodeSparse(registers: Registers): Buffer | undefined {
  const sorted = new Int32Array(registers.size);
  let n = 0;
  for (const index of registers.keys()) sorted[n++] = index;
  sorted.sort();
  let at = HEADER;
  let index = 0;
  for (let i = 0; i < n; ) {
    const first = sorted[i]!;
    const value = registers.get(first)!;
    if (value > SPARSE_MAX_VALUE) return undefined;
    at = writeZeros(sparseScratch, at, first - index);
    let run = 1;
    while (run < 4 && i + run < n && sorted[i + run] === first + run && registers.get(first + run) === value)
      run++;
    sparseScratch[at++] = 0x80 | ((value - 1) << 2) | (run - 1);
    index = first + run;
    i += run;
    if (at > SPARSE_MAX_BYTES) return undefined;
  }
  return sparseOut(writeZeros(sparseScratch, at, REGISTERS - index));
}

function encodeDense(registers: Registers): Buffer {
  const out = Buffer.alloc(DENSE_BYTES);
  out.write('HYLL', 0, 'latin1');
  out[4] = 0;
  out[15] = 0x80;
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

/**
 * A sketch's registers as one byte each (16 KB), for a sketch that takes many members per batch (a
 * window's all-groups total, state/owned-totals.ts): a register is looked up without hashing.
 */
export function registerArrayOf(raw: Uint8Array | null | undefined): Uint8Array {
  const out = new Uint8Array(REGISTERS);
  for (const [index, value] of decodeHll(raw)) out[index] = value;
  return out;
}
