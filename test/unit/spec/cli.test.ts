// The `kappaflow` bin, run as users run it.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kappaflow } from '../../../harness/kappaflow-bin.ts';

describe('kappaflow CLI', { timeout: 30_000 }, () => {
  it('--help lists commands with examples', async () => {
    const r = await kappaflow('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/validate/);
    expect(r.stdout).toMatch(/Examples:/);
  });

  it('validate prints one summary line per valid pipeline and exits 0', async () => {
    const r = await kappaflow(
      'validate',
      'examples/page-views.yaml',
      'examples/sessions.yaml',
      'examples/orders-hopping.yaml',
    );
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([
      'examples/page-views.yaml: page-views ok (tumbling 1m, 6 aggregates, source page-views)',
      'examples/sessions.yaml: user-sessions ok (session gap 30m, 3 aggregates, source clicks)',
      'examples/orders-hopping.yaml: merchant-revenue ok (hopping 15m every 1m, 3 aggregates, source orders)',
    ]);
  });

  it('validate prints file:line:column path: message and exits 1', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kf-cli-'));
    const file = join(dir, 'bad.yaml');
    await writeFile(
      file,
      'apiVersion: kappaflow.io/v1alpha1\nkind: Pipeline\nmetadata: { name: bad }\nspec:\n  source: { topic: in }\n  window:\n    type: tumbling\n    size: 1 minute\n  aggregates: { n: { count: {} } }\n',
    );
    const r = await kappaflow('validate', file, 'examples/page-views.yaml');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `${file}:8:11 spec.window.size: expected a duration like 500ms, 10s, 1m, 1h30m or 7d, got "1 minute"`,
    );
    expect(r.stdout).toContain('page-views ok');
  });

  it('validate accepts a folder and --json', async () => {
    const r = await kappaflow('validate', '--json', 'examples');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { ok: boolean; pipelines: { name: string }[] };
    expect(out.ok).toBe(true);
    expect(out.pipelines.map((p) => p.name).sort()).toEqual([
      'merchant-revenue',
      'page-views',
      'user-sessions',
    ]);
  });

  it('reports a missing file', async () => {
    const r = await kappaflow('validate', 'nope.yaml');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('nope.yaml:1:1: file not found');
  });
  it('validate --registry says which pipelines it could not check (no subject: nothing is fetched)', async () => {
    // port 9 (discard) is never asked: page-views names no subject
    const r = await kappaflow('validate', '--registry', 'http://127.0.0.1:9', 'examples/page-views.yaml');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('page-views ok (');
    expect(r.stdout).toContain('; event fields not checked: no source.schemaRegistry.subject');
  });
});
