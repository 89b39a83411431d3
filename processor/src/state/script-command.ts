import { Command } from 'ioredis';
import { NumberPairs } from './number-pairs.ts';
import { ValuePairs } from './value-pairs.ts';

/**
 * How the Lua scripts' calls are written to the socket: the whole command encoded once into one
 * Buffer. ioredis encodes a command that has any Buffer argument (a packed HyperLogLog is bytes) by
 * listing every argument as a string or Buffer piece and measuring each string three times; a
 * commit of a hopping window carries four arguments per (slice, group), so that was ~2 µs of the
 * replica's CPU per record of workload 3 (bench/fold-micro.ts, docs/benchmarks.md).
 *
 * The script is sent as EVALSHA, and as EVAL (which also loads it) the first time on a connection
 * and after a NOSCRIPT (a restarted or failed-over Redis): ioredis resends a NOSCRIPT call itself.
 */
export function encodeScriptCallsAsOneBuffer(
  redis: object,
  name: string,
  script: { lua: string; numberOfKeys: number },
): void {
  const defined = (redis as { scriptsSet?: Record<string, ScriptShape> }).scriptsSet?.[name];
  // ioredis keeps each defined script here (utils/Commander.js); without it, its own encoding stays.
  if (!defined || typeof defined.Command !== 'function' || defined.lua !== script.lua) return;
  const { lua, sha } = defined;
  const loadedOn = new WeakSet<object>();
  encodedHere.add(defined);
  defined.Command = class ScriptCall extends Command {
    constructor(...[name, args, options, callback]: ConstructorParameters<typeof Command>) {
      // The arguments are kept as given (a commit's absolute values come as one array per window):
      // Command would copy them all into a flat list and look at each; encodeCommand flattens one
      // level, as Command does, while it writes them.
      super(name, [], options, callback);
      this.args = (args ?? []) as typeof this.args;
    }

    override toWritable(socket: object): Buffer {
      const reject = this.reject;
      this.reject = (error: Error) => {
        if (error.message.includes('NOSCRIPT')) loadedOn.delete(socket);
        reject.call(this, error);
      };
      if (!loadedOn.has(socket)) {
        loadedOn.add(socket);
        this.name = 'eval';
        this.args[0] = lua;
      } else if (this.name === 'eval') {
        this.name = 'evalsha';
        this.args[0] = sha;
      }
      return encodeCommand(this.name, this.args);
    }
  };
}

interface ScriptShape {
  lua: string;
  sha: string;
  Command: typeof Command;
}

const encodedHere = new WeakSet<object>();

/**
 * Whether the client's calls of this script are encoded by encodeCommand, so that they may carry
 * NumberPairs (ioredis' own encoding would write such an argument as "[object Object]").
 */
export function encodesScriptCalls(redis: object, name: string): boolean {
  const defined = (redis as { scriptsSet?: Record<string, ScriptShape> }).scriptsSet?.[name];
  return defined !== undefined && encodedHere.has(defined);
}

type Argument = string | Buffer | number;

/**
 * A command in RESP (`*<n>`, then `$<length>` and the bytes of the name and each argument); an
 * argument that is an array stands for its elements (one level, as ioredis flattens them), and a
 * NumberPairs or ValuePairs among them for its pairs.
 */
export function encodeCommand(name: string, args: readonly unknown[]): Buffer {
  let n = 0;
  for (const arg of args) n += Array.isArray(arg) ? arg.length : 1;
  const pieces: Piece[] = new Array(n);
  // per piece: a text's or bytes' length, or -1 / -2 for a planned block of numeric / sketch pairs
  const lengths = new Int32Array(n);
  let count = 0;
  let size = 0;
  let p = 0;
  for (const arg of args) {
    if (!Array.isArray(arg)) {
      size += measure(arg, pieces, lengths, p++);
      count++;
      continue;
    }
    for (const inner of arg) {
      // most elements are text or bytes: only other objects can be blocks of pairs
      if (typeof inner !== 'string' && !Buffer.isBuffer(inner) && inner instanceof NumberPairs) {
        const plan = planPairs(inner);
        pieces[p] = plan;
        lengths[p++] = -1;
        size += plan.size;
        count += inner.arguments;
      } else if (typeof inner !== 'string' && !Buffer.isBuffer(inner) && inner instanceof ValuePairs) {
        const plan = planValuePairs(inner);
        pieces[p] = plan;
        lengths[p++] = -2;
        size += plan.size;
        count += inner.arguments;
      } else {
        size += measure(inner, pieces, lengths, p++);
        count++;
      }
    }
  }
  const total = 1 + digits(count + 1) + 2 + headLength(Buffer.byteLength(name)) + size;
  const out = Buffer.allocUnsafe(total);
  out[0] = 0x2a; // *
  let at = writeDecimal(out, 1, count + 1);
  out[at++] = 0x0d;
  out[at++] = 0x0a;
  at = writeBulk(out, at, name, Buffer.byteLength(name));
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i]!;
    const length = lengths[i]!;
    at =
      length === -1
        ? writePairs(out, at, piece as PairsPlan)
        : length === -2
          ? writeValuePairs(out, at, piece as ValuePairsPlan)
          : writeBulk(out, at, piece as string, length);
  }
  if (at !== total) throw new Error(`RESP encoding wrote ${at} of ${total} bytes`);
  return out;
}

type Piece = string | Buffer | PairsPlan | ValuePairsPlan;

/** Puts the argument as text or bytes at `i` (as ioredis turns values into arguments) and returns its RESP size. */
function measure(arg: unknown, pieces: Piece[], lengths: Int32Array, i: number): number {
  const value =
    typeof arg === 'string' || Buffer.isBuffer(arg) ? arg : arg == null ? '' : String(arg as Argument);
  pieces[i] = value;
  const length = typeof value === 'string' ? byteLength(value) : value.length;
  lengths[i] = length;
  return headLength(length);
}

/** A block of numeric pairs measured: the byte length of each group, and the text of each value that is not a safe integer. */
interface PairsPlan {
  pairs: NumberPairs;
  headBytes: number;
  groupBytes: Int32Array;
  texts: (string | undefined)[] | undefined;
  size: number;
}

/** The RESP size of a block's fields (`<head><group>` each), with each group's byte length into `groupBytes`. */
function measureFields(pairs: NumberPairs | ValuePairs, headBytes: number, groupBytes: Int32Array): number {
  let size = 0;
  for (let i = 0; i < groupBytes.length; i++) {
    const group = byteLength(pairs.group(i));
    groupBytes[i] = group;
    size += headLength(headBytes + group);
  }
  return size;
}

function planPairs(pairs: NumberPairs): PairsPlan {
  const n = pairs.values.length;
  const headBytes = byteLength(pairs.head);
  const groupBytes = new Int32Array(n);
  let texts: (string | undefined)[] | undefined;
  let size = measureFields(pairs, headBytes, groupBytes);
  for (let i = 0; i < n; i++) {
    const value = pairs.values[i]!;
    // Whole numbers are written digit by digit, as String() writes them; others as String() does.
    if (Number.isSafeInteger(value)) size += headLength(integerLength(value));
    else {
      texts ??= new Array(n);
      const text = String(value);
      texts[i] = text;
      size += headLength(text.length);
    }
  }
  return { pairs, headBytes, groupBytes, texts, size };
}

function writePairs(out: Buffer, at: number, plan: PairsPlan): number {
  const { pairs, headBytes, groupBytes, texts } = plan;
  for (let i = 0; i < pairs.values.length; i++) {
    at = writeField(out, at, pairs.head, headBytes, pairs.group(i), groupBytes[i]!);
    const text = texts?.[i];
    if (text !== undefined) {
      at = writeBulk(out, at, text, text.length);
      continue;
    }
    const value = pairs.values[i]!;
    out[at++] = 0x24; // $
    at = writeDecimal(out, at, integerLength(value));
    out[at++] = 0x0d;
    out[at++] = 0x0a;
    if (value < 0) out[at++] = 0x2d; // -
    at = writeDecimal(out, at, value < 0 ? -value : value);
    out[at++] = 0x0d;
    out[at++] = 0x0a;
  }
  return at;
}

/** A pair's field `<head><group>` as one bulk string. */
function writeField(
  out: Buffer,
  at: number,
  head: string,
  headBytes: number,
  group: string,
  groupBytes: number,
): number {
  out[at++] = 0x24; // $
  at = writeDecimal(out, at, headBytes + groupBytes);
  out[at++] = 0x0d;
  out[at++] = 0x0a;
  at = writeText(out, at, head, headBytes);
  at = writeText(out, at, group, groupBytes);
  out[at++] = 0x0d;
  out[at++] = 0x0a;
  return at;
}

/** A block of sketch pairs measured: the byte length of each group and of each text value. */
interface ValuePairsPlan {
  pairs: ValuePairs;
  headBytes: number;
  groupBytes: Int32Array;
  valueBytes: Int32Array;
  size: number;
}

function planValuePairs(pairs: ValuePairs): ValuePairsPlan {
  const n = pairs.values.length;
  const headBytes = byteLength(pairs.head);
  const groupBytes = new Int32Array(n);
  const valueBytes = new Int32Array(n);
  let size = measureFields(pairs, headBytes, groupBytes);
  for (let i = 0; i < n; i++) {
    const value = pairs.values[i]!;
    const length = typeof value === 'string' ? byteLength(value) : value.length;
    valueBytes[i] = length;
    size += headLength(length);
  }
  return { pairs, headBytes, groupBytes, valueBytes, size };
}

function writeValuePairs(out: Buffer, at: number, plan: ValuePairsPlan): number {
  const { pairs, headBytes, groupBytes, valueBytes } = plan;
  for (let i = 0; i < pairs.values.length; i++) {
    at = writeField(out, at, pairs.head, headBytes, pairs.group(i), groupBytes[i]!);
    at = writeBulk(out, at, pairs.values[i]!, valueBytes[i]!);
  }
  return at;
}

/** The length of a safe integer's decimal text (String(-0) is "0"). */
function integerLength(value: number): number {
  return value < 0 ? 1 + digits(-value) : digits(value);
}

/** Strings up to this long are measured and copied in JS rather than by a call into Buffer's natives. */
const SHORT = 32;

/** UTF-8 length: a short ASCII string's is its length, found without Buffer.byteLength. */
function byteLength(text: string): number {
  if (text.length > SHORT) return Buffer.byteLength(text);
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return Buffer.byteLength(text);
  return text.length;
}

/** `$<length>\r\n<bytes>\r\n` */
function headLength(length: number): number {
  return 1 + digits(length) + 2 + length + 2;
}

function writeBulk(out: Buffer, at: number, value: string | Buffer, length: number): number {
  out[at++] = 0x24; // $
  at = writeDecimal(out, at, length);
  out[at++] = 0x0d;
  out[at++] = 0x0a;
  if (typeof value !== 'string') value.copy(out, at);
  // As many bytes as UTF-16 units: ASCII, copied as latin1 (no UTF-8 encoding pass); a short one
  // (most fields and values) byte by byte, cheaper than the call into Buffer#write. (writeText
  // does the same; kept inline here, the path of every argument.)
  else if (length === value.length && length <= SHORT)
    for (let i = 0; i < length; i++) out[at + i] = value.charCodeAt(i);
  else if (length === value.length) out.write(value, at, length, 'latin1');
  else out.write(value, at, length, 'utf8');
  at += length;
  out[at++] = 0x0d;
  out[at++] = 0x0a;
  return at;
}

/** A string's bytes (`length` of them, its UTF-8 length); returns the index after them. */
function writeText(out: Buffer, at: number, value: string, length: number): number {
  // As many bytes as UTF-16 units: ASCII, copied as latin1 (no UTF-8 encoding pass); a short one
  // (most fields and values) byte by byte, cheaper than the call into Buffer#write.
  if (length === value.length && length <= SHORT)
    for (let i = 0; i < length; i++) out[at + i] = value.charCodeAt(i);
  else if (length === value.length) out.write(value, at, length, 'latin1');
  else out.write(value, at, length, 'utf8');
  return at + length;
}

function digits(n: number): number {
  let count = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    count++;
  }
  return count;
}

function writeDecimal(out: Buffer, at: number, n: number): number {
  const end = at + digits(n);
  for (let i = end - 1; i >= at; i--) {
    out[i] = 0x30 + (n % 10);
    n = Math.floor(n / 10);
  }
  return end;
}
