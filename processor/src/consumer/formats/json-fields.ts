/**
 * Reads only the top-level fields a pipeline uses from a JSON record, straight from its bytes: no
 * string of the whole value, no object of every field (workload 1 reads 3 of 6 fields; the whole
 * `toString` + `JSON.parse` was a fifth of a replica's CPU, and its garbage part of the GC).
 *
 * It gives an answer only when it is sure to give what JSON.parse would for those fields: the whole
 * value is checked against JSON's grammar (skipped fields too), and it returns undefined — the
 * caller then decodes the value whole (decode.ts), which also names what is wrong — for a value
 * with any byte outside ASCII (UTF-8 checks stay there), a key or a read string with an escape, a
 * read field holding an object or an array, a document that is not an object, or invalid JSON.
 * Duplicate keys: the last one wins, as in JSON.parse.
 */
export class JsonFieldReader {
  private readonly codes: number[][];

  /** `names`: top-level field names (never `__proto__`, which JSON.parse keeps as an own field). */
  constructor(private readonly names: readonly string[]) {
    if (names.includes('__proto__')) throw new Error('__proto__ cannot be read as a plain field');
    this.codes = names.map((name) => Array.from(name, (c) => c.charCodeAt(0)));
  }

  /** The named fields present in the value (an object holding those only), or undefined (see above). */
  read(b: Buffer): Record<string, unknown> | undefined {
    const n = b.length;
    let i = ws(b, 0, n);
    if (b[i] !== OPEN_OBJECT) return undefined;
    const out: Record<string, unknown> = {};
    i = ws(b, i + 1, n);
    if (b[i] === CLOSE_OBJECT) return ws(b, i + 1, n) === n ? out : undefined;
    for (;;) {
      if (b[i] !== QUOTE) return undefined;
      const keyStart = i + 1;
      i = string(b, i, n);
      if (i === FAIL || escaped) return undefined;
      const field = this.match(b, keyStart, i - 1);
      i = ws(b, i, n);
      if (b[i] !== COLON) return undefined;
      i = ws(b, i + 1, n);
      if (field < 0) i = skipValue(b, i, n);
      else {
        const c = b[i];
        const start = i;
        if (c === QUOTE) {
          i = string(b, i, n);
          if (i === FAIL || escaped) return undefined;
          out[this.names[field]!] = b.toString('latin1', start + 1, i - 1);
        } else if (c === MINUS || isDigit(c)) {
          i = number(b, i, n);
          if (i === FAIL) return undefined;
          out[this.names[field]!] = numberOf(b, start, i);
        } else {
          i = literal(b, i, n);
          if (i === FAIL) return undefined;
          out[this.names[field]!] = c === LETTER_T ? true : c === LETTER_F ? false : null;
        }
      }
      if (i === FAIL) return undefined;
      i = ws(b, i, n);
      if (b[i] === COMMA) {
        i = ws(b, i + 1, n);
        continue;
      }
      if (b[i] === CLOSE_OBJECT) return ws(b, i + 1, n) === n ? out : undefined;
      return undefined;
    }
  }

  /** The index of the name the key bytes [start, end) spell, or -1. */
  private match(b: Buffer, start: number, end: number): number {
    const length = end - start;
    for (let k = 0; k < this.codes.length; k++) {
      const codes = this.codes[k]!;
      if (codes.length !== length) continue;
      let j = 0;
      while (j < length && b[start + j] === codes[j]) j++;
      if (j === length) return k;
    }
    return -1;
  }
}

const FAIL = -1;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const LETTER_T = 0x74;
const LETTER_F = 0x66;
const LETTER_N = 0x6e;

/** Set by `string`: the string it just read holds an escape. */
let escaped = false;

// Past the end a Buffer reads undefined, which every comparison below refuses.

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

function isHex(c: number | undefined): boolean {
  if (c === undefined) return false;
  const lower = c | 0x20;
  return (c >= 0x30 && c <= 0x39) || (lower >= 0x61 && lower <= 0x66);
}

/** JSON whitespace: space, tab, line feed, carriage return. */
function ws(b: Buffer, i: number, n: number): number {
  while (i < n) {
    const c = b[i];
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
    else break;
  }
  return i;
}

/** From the opening quote: the index after the closing one, or FAIL (also for any byte outside ASCII). */
function string(b: Buffer, i: number, n: number): number {
  escaped = false;
  i++;
  while (i < n) {
    const c = b[i]!;
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) {
      escaped = true;
      const e = b[i + 1];
      if (e === 0x75) {
        if (!isHex(b[i + 2]) || !isHex(b[i + 3]) || !isHex(b[i + 4]) || !isHex(b[i + 5])) return FAIL;
        i += 6;
        continue;
      }
      // \" \\ \/ \b \f \n \r \t
      if (
        e === QUOTE ||
        e === BACKSLASH ||
        e === 0x2f ||
        e === 0x62 ||
        e === LETTER_F ||
        e === LETTER_N ||
        e === 0x72 ||
        e === LETTER_T
      ) {
        i += 2;
        continue;
      }
      return FAIL;
    }
    if (c < 0x20 || c >= 0x80) return FAIL;
    i++;
  }
  return FAIL;
}

/** -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? : the index after it, or FAIL. */
function number(b: Buffer, i: number, n: number): number {
  if (b[i] === MINUS) i++;
  if (b[i] === 0x30) i++;
  else if (isDigit(b[i])) {
    i++;
    while (i < n && isDigit(b[i])) i++;
  } else return FAIL;
  if (b[i] === 0x2e) {
    i++;
    if (!isDigit(b[i])) return FAIL;
    while (i < n && isDigit(b[i])) i++;
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++;
    if (b[i] === 0x2b || b[i] === MINUS) i++;
    if (!isDigit(b[i])) return FAIL;
    while (i < n && isDigit(b[i])) i++;
  }
  return i;
}

/** The value of a number [start, end) that `number` accepted, as JSON.parse reads it. */
function numberOf(b: Buffer, start: number, end: number): number {
  let i = start;
  const negative = b[i] === MINUS;
  if (negative) i++;
  // Up to 15 digits of a whole number are exact in a double: summed here without a string.
  if (end - i <= 15) {
    let value = 0;
    let j = i;
    for (; j < end; j++) {
      const c = b[j]!;
      if (c < 0x30 || c > 0x39) break;
      value = value * 10 + (c - 0x30);
    }
    if (j === end) return negative ? -value : value;
  }
  return Number(b.toString('latin1', start, end));
}

const TRUE = [0x74, 0x72, 0x75, 0x65];
const FALSE = [0x66, 0x61, 0x6c, 0x73, 0x65];
const NULL = [0x6e, 0x75, 0x6c, 0x6c];

/** true, false or null: the index after it, or FAIL. */
function literal(b: Buffer, i: number, n: number): number {
  const c = b[i];
  const word = c === LETTER_T ? TRUE : c === LETTER_F ? FALSE : c === LETTER_N ? NULL : undefined;
  if (!word || i + word.length > n) return FAIL;
  for (let j = 1; j < word.length; j++) if (b[i + j] !== word[j]) return FAIL;
  return i + word.length;
}

/** A string, number or literal: the index after it, or FAIL. */
function scalar(b: Buffer, i: number, n: number): number {
  const c = b[i];
  if (c === QUOTE) return string(b, i, n);
  if (c === MINUS || isDigit(c)) return number(b, i, n);
  return literal(b, i, n);
}

/** A key, the colon and the whitespace around it: the index of the member's value, or FAIL. */
function memberHead(b: Buffer, i: number, n: number): number {
  if (b[i] !== QUOTE) return FAIL;
  i = string(b, i, n);
  if (i === FAIL) return FAIL;
  i = ws(b, i, n);
  if (b[i] !== COLON) return FAIL;
  return ws(b, i + 1, n);
}

/** Any JSON value, nested ones without recursion (no depth limit): the index after it, or FAIL. */
function skipValue(b: Buffer, i: number, n: number): number {
  const first = b[i];
  if (first !== OPEN_OBJECT && first !== OPEN_ARRAY) return scalar(b, i, n);
  const open: number[] = [];
  for (;;) {
    // a value starts at i
    const c = b[i];
    if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      open.push(c);
      i = ws(b, i + 1, n);
      if (b[i] === (c === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY)) {
        open.pop();
        i++;
      } else {
        if (c === OPEN_OBJECT) i = memberHead(b, i, n);
        if (i === FAIL) return FAIL;
        continue;
      }
    } else {
      i = scalar(b, i, n);
      if (i === FAIL) return FAIL;
    }
    // after a value: the next member or element, or the end of containers
    for (;;) {
      if (open.length === 0) return i;
      const top = open[open.length - 1];
      i = ws(b, i, n);
      if (b[i] === COMMA) {
        i = ws(b, i + 1, n);
        if (top === OPEN_OBJECT) i = memberHead(b, i, n);
        if (i === FAIL) return FAIL;
        break;
      }
      if (b[i] !== (top === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY)) return FAIL;
      open.pop();
      i++;
    }
  }
}
