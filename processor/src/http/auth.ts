import { timingSafeEqual } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { NextFunction, Request, Response } from 'express';
import { sendError } from './errors.ts';

/**
 * Reads bearer tokens from a file, one per line (blank lines and `#` comments skipped) — the shape
 * of a Kubernetes Secret key mounted as a file.
 */
export function readTokenFile(path: string): Set<string> {
  return new Set(
    readFileSync(path, 'utf8')
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line.length > 0 && !line.startsWith('#')),
  );
}

/**
 * Tokens from a file that follow its changes (a rotated Kubernetes Secret is updated in place in
 * the pod's volume): the returned Set is refilled on every change, so pass it as `auth.tokens`.
 */
export function watchTokenFile(path: string, intervalMs = 5000): { tokens: Set<string>; close(): void } {
  const tokens = readTokenFile(path);
  const reload = () => {
    try {
      const next = readTokenFile(path);
      tokens.clear();
      for (const token of next) tokens.add(token);
    } catch {
      // keep the last good set while the file is being replaced
    }
  };
  watchFile(path, { interval: intervalMs }, reload);
  return { tokens, close: () => unwatchFile(path, reload) };
}

function matches(tokens: Set<string>, presented: string): boolean {
  const given = Buffer.from(presented);
  let ok = false;
  for (const token of tokens) {
    const expected = Buffer.from(token);
    // compare every token in constant time per token, so timing reveals nothing about any of them
    if (expected.length === given.length && timingSafeEqual(expected, given)) ok = true;
  }
  return ok;
}

/** `Authorization: Bearer <token>`, or `?access_token=` for EventSource (which cannot send headers). */
export function bearerAuth(tokens: Set<string>) {
  return (req: Request, res: Response, next: NextFunction) => {
    const header = req.headers.authorization;
    let presented: string | undefined;
    if (typeof header === 'string' && /^bearer /i.test(header)) presented = header.slice(7).trim();
    else if (typeof req.query.access_token === 'string') presented = req.query.access_token;
    if (presented && matches(tokens, presented)) {
      next();
      return;
    }
    res.setHeader('WWW-Authenticate', 'Bearer realm="kappaflow"');
    sendError(
      res,
      401,
      'unauthorized',
      presented
        ? 'the bearer token is not valid'
        : 'a bearer token is required (Authorization: Bearer <token>)',
    );
  };
}
