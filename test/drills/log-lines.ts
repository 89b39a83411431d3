import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Lines of the scenario's processor logs (`*.log` in `dir`) that contain `text`. */
export function logLines(dir: string, text: string): number {
  let n = 0;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.log'))) {
    for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) if (line.includes(text)) n++;
  }
  return n;
}
