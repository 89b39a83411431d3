// Micro-benchmark of per-record expression evaluation (not a test; run by hand):
//   node --import tsx test/unit/spec/expr-bench.ts
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EvalContext } from '../../../processor/src/expr/compile.ts';
import { validateText } from '../../../processor/src/spec/validate.ts';

const text = readFileSync(join(import.meta.dirname, '../../../examples/page-views.yaml'), 'utf8');
const { compiled } = validateText(text).pipelines[0]!;
const events = Array.from({ length: 1000 }, (_, i) =>
  JSON.parse(
    JSON.stringify({
      ts: 1_700_000_000_000 + i,
      status: i % 7 === 0 ? 503 : 200,
      path: `/p/${i % 50}`,
      ...(i % 3 === 0 ? { country: 'de' } : {}),
      bytes: 1000 + i,
      latency_ms: i % 300,
      user_id: `u${i % 400}`,
      referrer: `r${i % 20}`,
    }),
  ),
);
const record = { key: null, partition: 0, offset: '0', timestamp: 0, headers: {} };

function perRecord(ctx: EvalContext): number {
  let n = 0;
  if (compiled.where && !compiled.where(ctx)) return 0;
  n += compiled.groupBy(ctx).length;
  for (const a of compiled.aggregates) if (a.op !== 'count') a.value(ctx);
  return n;
}

function time(label: string, fn: (ctx: EvalContext) => unknown, rounds = 200): void {
  for (let r = 0; r < 20; r++) for (const e of events) fn({ event: e, enriched: {}, record }); // warm up
  const start = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) for (const e of events) fn({ event: e, enriched: {}, record });
  const ns = Number(process.hrtime.bigint() - start) / (rounds * events.length);
  console.log(`${label.padEnd(44)} ${ns.toFixed(0).padStart(6)} ns/record`);
}

time('where (event.status < 500)', (c) => compiled.where?.(c));
time('groupBy (2 expressions, with has())', (c) => compiled.groupBy(c));
time('one numeric aggregate arg (sum event.bytes)', (c) =>
  (compiled.aggregates[1] as { value: (c: EvalContext) => unknown }).value(c),
);
time('whole page-views record (1 + 2 + 5 exprs)', perRecord);
