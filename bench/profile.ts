/** Reading a V8 CPU profile of a replica. */
import { readFileSync } from 'node:fs';
import { repoRoot } from '../harness/paths.ts';

/** Self time per function from a V8 .cpuprofile, top `n` (idle, program and GC reported apart). */
export function topFunctions(file: string, n = 5) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id)!.callFrame;
    const url = frame.url.replace(`file://${repoRoot}/`, '').replace(/.*node_modules\//, '');
    const key = `${frame.functionName || '(anonymous)'} ${url}${url ? `:${frame.lineNumber + 1}` : ''}`;
    const dt = profile.timeDeltas[i] ?? 0;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
  const special = ['(idle)', '(program)', '(garbage collector)'];
  const busy = total - (self.get('(idle) ') ?? 0);
  const pct = (us: number) => Math.round((1000 * us) / busy) / 10;
  return {
    busyMs: Math.round(busy / 1000),
    idlePct: Math.round((1000 * (self.get('(idle) ') ?? 0)) / total) / 10,
    gcPct: pct(self.get('(garbage collector) ') ?? 0),
    programPct: pct(self.get('(program) ') ?? 0),
    top: [...self.entries()]
      .filter(([k]) => !special.some((s) => k.startsWith(s)))
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([fn, us]) => ({ fn, selfPct: pct(us) })),
  };
}
