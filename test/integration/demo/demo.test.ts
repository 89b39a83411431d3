import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../../harness/paths.ts';
import { freePort } from '../../../harness/ports.ts';
import { waitUntil } from '../../../harness/service.ts';

// The README's demo command, run as a newcomer would: it must start everything itself, show live
// aggregates through the API, and stop cleanly.
describe('npm run demo', () => {
  it('starts Kafka, Redis, the page-views pipeline and the dashboard, and serves live aggregates', {
    timeout: 180_000,
  }, async () => {
    const port = await freePort();
    const child = spawn(
      'npm',
      ['run', 'demo', '--', '--duration', '45', '--port', String(port), '--rate', '200'],
      {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitUntil('the dashboard URL', async () => output.includes(`http://127.0.0.1:${port}/`), {
        timeoutMs: 120_000,
      });
      const page = await fetch(`http://127.0.0.1:${port}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<html');
      let views = 0;
      await waitUntil(
        'page views in the live windows',
        async () => {
          const res = await fetch(`http://127.0.0.1:${port}/api/v1/pipelines/page-views/windows?rollup=true`);
          const body = (await res.json()) as { windows: { groups: { values: { views: number } }[] }[] };
          views = body.windows.flatMap((w) => w.groups).reduce((sum, g) => sum + g.values.views, 0);
          return views > 0;
        },
        { timeoutMs: 40_000, intervalMs: 1000 },
      );
      expect(views).toBeGreaterThan(0);
      expect(await exited).toBe(0);
      expect(output).toMatch(/stopping \(sent \d+ page views\)/);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
