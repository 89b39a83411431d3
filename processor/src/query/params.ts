import { parseIso8601 } from '../consumer/event-time.ts';
import { badRequest } from './errors.ts';

/**
 * Accepts epoch milliseconds ("1700000000000") or an ISO-8601 date-time ("2024-01-01T00:00:00Z"),
 * read by the same parser as event times: without an offset the time is UTC (never the server's
 * zone, so every replica answers alike), and dates or times that do not exist (February 30,
 * 24:00) are refused rather than rolled over into the next month or day.
 */
const MAX_DATE_MS = 8.64e15;

export function parseTime(name: string, raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  const text = single(name, raw).trim();
  if (/^-?\d+$/.test(text)) {
    const ms = Number(text);
    // ±8.64e15 ms: the range of a JavaScript Date (windows and answers print their times)
    if (!Number.isSafeInteger(ms) || Math.abs(ms) > MAX_DATE_MS)
      throw badRequest('invalid_time', `${name}: ${text} is out of range (at most ±${MAX_DATE_MS} ms)`);
    return ms;
  }
  const ms = parseIso8601(text);
  if (ms !== undefined) return ms;
  throw badRequest(
    'invalid_time',
    `${name}: expected epoch milliseconds or an existing ISO-8601 date-time such as 2024-05-01T12:00:00Z (UTC when it has no offset), got ${quote(text)}`,
  );
}

export function parseLimit(raw: unknown, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  const text = single('limit', raw).trim();
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max) {
    throw badRequest('invalid_limit', `limit: expected an integer from 1 to ${max}, got ${quote(text)}`);
  }
  return Number(text);
}

export function parseBoolean(name: string, raw: unknown): boolean {
  if (raw === undefined) return false;
  const text = single(name, raw).trim().toLowerCase();
  if (['true', '1', 'yes', ''].includes(text)) return true;
  if (['false', '0', 'no'].includes(text)) return false;
  throw badRequest('invalid_parameter', `${name}: expected true or false, got ${quote(text)}`);
}

export function parseEnum<T extends string>(
  name: string,
  raw: unknown,
  values: readonly T[],
  fallback: T,
): T {
  if (raw === undefined) return fallback;
  const text = single(name, raw).trim();
  if ((values as readonly string[]).includes(text)) return text as T;
  throw badRequest('invalid_parameter', `${name}: expected one of ${values.join(', ')}, got ${quote(text)}`);
}

/** One value of a query parameter; repeating it (`?limit=1&limit=2`) or nesting it is a mistake. */
export function single(name: string, raw: unknown): string {
  if (typeof raw === 'string') return raw;
  throw badRequest('invalid_parameter', `${name}: expected a single value`);
}

/** Values of a group filter: `?country=DE` or `?country=DE&country=FR` (any of them). */
export function many(name: string, raw: unknown): string[] {
  if (typeof raw === 'string') return [raw];
  if (Array.isArray(raw) && raw.every((v) => typeof v === 'string')) return raw as string[];
  throw badRequest('invalid_parameter', `${name}: expected one or more plain values`);
}

/** Where a page ended: the window, and the last group key returned in it (null: the window is done). */
export interface Cursor {
  s: number;
  g: string | null;
}

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

export function decodeCursor(raw: unknown): Cursor | undefined {
  if (raw === undefined) return undefined;
  const text = single('cursor', raw);
  try {
    const value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown;
    if (
      value !== null &&
      typeof value === 'object' &&
      Number.isSafeInteger((value as Cursor).s) &&
      ((value as Cursor).g === null || typeof (value as Cursor).g === 'string')
    ) {
      return { s: (value as Cursor).s, g: (value as Cursor).g };
    }
  } catch {
    // falls through to the error below
  }
  throw badRequest(
    'invalid_cursor',
    'cursor: not a cursor returned by this API (pass nextCursor back unchanged)',
  );
}

function quote(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);
}
