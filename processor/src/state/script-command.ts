import { Command } from 'ioredis';

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

type Argument = string | Buffer | number;

/**
 * A command in RESP (`*<n>`, then `$<length>` and the bytes of the name and each argument); an
 * argument that is an array stands for its elements (one level, as ioredis flattens them).
 */
export function encodeCommand(name: string, args: readonly unknown[]): Buffer {
  let count = 0;
  for (const arg of args) count += Array.isArray(arg) ? arg.length : 1;
  const lengths = new Int32Array(count);
  const texts: (string | Buffer)[] = new Array(count);
  let n = 0;
  let total = 1 + digits(count + 1) + 2 + headLength(Buffer.byteLength(name));
  for (const arg of args) {
    if (!Array.isArray(arg)) {
      total += measure(arg, texts, lengths, n++);
      continue;
    }
    for (const inner of arg) total += measure(inner, texts, lengths, n++);
  }
  const out = Buffer.allocUnsafe(total);
  out[0] = 0x2a; // *
  let at = writeDecimal(out, 1, count + 1);
  out[at++] = 0x0d;
  out[at++] = 0x0a;
  at = writeBulk(out, at, name, Buffer.byteLength(name));
  for (let i = 0; i < count; i++) at = writeBulk(out, at, texts[i]!, lengths[i]!);
  if (at !== total) throw new Error(`RESP encoding wrote ${at} of ${total} bytes`);
  return out;
}

/** Puts the argument as text or bytes at `i` (as ioredis turns values into arguments) and returns its RESP size. */
function measure(arg: unknown, texts: (string | Buffer)[], lengths: Int32Array, i: number): number {
  const value =
    typeof arg === 'string' || Buffer.isBuffer(arg) ? arg : arg == null ? '' : String(arg as Argument);
  texts[i] = value;
  const length = typeof value === 'string' ? byteLength(value) : value.length;
  lengths[i] = length;
  return headLength(length);
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
  // (most fields and values) byte by byte, cheaper than the call into Buffer#write.
  else if (length === value.length && length <= SHORT)
    for (let i = 0; i < length; i++) out[at + i] = value.charCodeAt(i);
  else if (length === value.length) out.write(value, at, length, 'latin1');
  else out.write(value, at, length, 'utf8');
  at += length;
  out[at++] = 0x0d;
  out[at++] = 0x0a;
  return at;
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
