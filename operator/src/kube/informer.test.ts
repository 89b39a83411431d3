import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { KubeClient, type KubeObject } from './client.ts';
import { Informer, type InformerEvent } from './informer.ts';

const pod = (name: string, rv: string): KubeObject => ({
  metadata: { name, namespace: 'ns', resourceVersion: rv },
});

/** A fake API server: list answers from `state`; each watch request runs the next scripted step. */
function fakeApi(script: Array<(req: IncomingMessage, res: ServerResponse) => void>) {
  const state = { items: [pod('a', '1')], rv: '1', lists: 0, watches: [] as string[] };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.searchParams.get('watch') === 'true') {
      state.watches.push(url.searchParams.get('resourceVersion') ?? '');
      const step = script.shift();
      res.writeHead(200, { 'content-type': 'application/json' });
      if (step) step(req, res);
      return; // no step left: hang like a quiet watch
    }
    state.lists++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ metadata: { resourceVersion: state.rv }, items: state.items }));
  });
  return { server, state };
}

function clientFor(server: Server): KubeClient {
  const address = server.address() as { port: number };
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${address.port}`, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return new KubeClient(kc);
}

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

describe('Informer', () => {
  it('re-watches after a stream ends, relists after 410 Gone, and reports deletions seen only in the relist', async () => {
    let fake!: ReturnType<typeof fakeApi>;
    fake = fakeApi([
      // 1st watch: b is added, then the server ends the stream (watch timeout, API server restart)
      (_req, res) => {
        res.end(`${JSON.stringify({ type: 'ADDED', object: pod('b', '2') })}\n`);
      },
      // 2nd watch (from rv 2): the version was compacted away
      (_req, res) => {
        fake.state.items = [pod('b', '2'), pod('c', '5')];
        fake.state.rv = '5';
        res.end(
          `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old' } })}\n`,
        );
      },
    ]);
    await new Promise<void>((r) => fake.server.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => fake.server.close(() => r())));
    fake.server.on('connection', (s) =>
      cleanup.push(() => {
        s.destroy();
      }),
    );
    const client = clientFor(fake.server);
    const seen: string[] = [];
    const relists: string[] = [];
    const informer = new Informer<KubeObject>({
      client,
      path: '/api/v1/pods',
      resyncMs: 0,
      onEvent: (type: InformerEvent, o) => seen.push(`${type} ${o.metadata.name}`),
      onRelist: (reason) => relists.push(reason),
    });
    informer.start();
    cleanup.push(() => informer.stop());
    await informer.waitForSync();
    const deadline = Date.now() + 5000;
    while (fake.state.watches.length < 3 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual(['add a', 'add b', 'add c', 'delete a']);
    expect(relists).toEqual(['start', 'gone']);
    expect(fake.state.watches).toEqual(['1', '2', '5']);
    expect(
      informer
        .list()
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['b', 'c']);
  });

  it('replays the cache every resync period', async () => {
    const fake = fakeApi([]);
    await new Promise<void>((r) => fake.server.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => fake.server.close(() => r())));
    fake.server.on('connection', (s) =>
      cleanup.push(() => {
        s.destroy();
      }),
    );
    const seen: string[] = [];
    const informer = new Informer<KubeObject>({
      client: clientFor(fake.server),
      path: '/api/v1/pods',
      resyncMs: 50,
      onEvent: (type, o) => seen.push(`${type} ${o.metadata.name}`),
    });
    informer.start();
    cleanup.push(() => informer.stop());
    await informer.waitForSync();
    await new Promise((r) => setTimeout(r, 180));
    expect(seen[0]).toBe('add a');
    expect(seen.filter((s) => s === 'resync a').length).toBeGreaterThanOrEqual(2);
  });
});
