// `kappaflow validate --registry` against the real Schema Registry of the test run: the bin, as
// users run it, checks event.<field> names against each subject's latest schema.
import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { kappaflow } from '../../../harness/kappaflow-bin.ts';
import { type RegistrySchemaType, registerSchema } from '../../../harness/schema-registry.ts';

const pipeline = (
  format: string,
  url: string,
  subject: string,
  groupBy: string,
) => `apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata: { name: orders }
spec:
  source:
    topic: orders
    format: ${format}
    schemaRegistry: { url: "${url}", subject: ${subject} }
  groupBy:
    country: ${groupBy}
  window: { type: tumbling, size: 1m }
  aggregates:
    n: { count: {} }
`;

const schemas: Record<
  string,
  {
    type: RegistrySchemaType;
    format: string;
    schema: string;
    good: string;
    typo: string;
    hint: string;
    unknown: string;
  }
> = {
  avro: {
    type: 'AVRO',
    format: 'avro',
    schema: JSON.stringify({
      type: 'record',
      name: 'Order',
      fields: [
        {
          name: 'customer',
          type: ['null', { type: 'record', name: 'Customer', fields: [{ name: 'country', type: 'string' }] }],
        },
      ],
    }),
    good: 'event.customer.country',
    typo: 'event.customer.contry',
    hint: 'did you mean event.customer.country?',
    unknown: 'contry',
  },
  protobuf: {
    type: 'PROTOBUF',
    format: 'protobuf',
    schema:
      'syntax = "proto3";\nmessage Order { Customer customer = 1; }\nmessage Customer { string country = 1; }\n',
    good: 'event.customer.country',
    typo: 'event.custmer.country',
    hint: 'did you mean event.customer?',
    unknown: 'custmer',
  },
  jsonSchema: {
    type: 'JSON',
    format: 'jsonSchema',
    schema: JSON.stringify({
      type: 'object',
      properties: { customer: { type: 'object', properties: { country: { type: 'string' } } } },
    }),
    good: 'event.customer.country',
    typo: 'event.customer.countri',
    hint: 'did you mean event.customer.country?',
    unknown: 'countri',
  },
};

describe('kappaflow validate --registry', { timeout: 60_000 }, () => {
  const url = inject('schemaRegistryUrl');
  const id = randomUUID().slice(0, 8);
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kf-validate-registry-'));
    for (const [name, s] of Object.entries(schemas))
      await registerSchema(url, `${name}-${id}`, s.schema, s.type);
  });

  for (const [name, s] of Object.entries(schemas)) {
    it(`${name}: an unknown field is an error at file:line:col with a suggestion; known fields pass`, async () => {
      const subject = `${name}-${id}`;
      const bad = join(dir, `${name}-bad.yaml`);
      const good = join(dir, `${name}-good.yaml`);
      // the spec's url is a closed port: --registry <url> must win over it
      await writeFile(bad, pipeline(s.format, 'http://127.0.0.1:9', subject, s.typo));
      await writeFile(good, pipeline(s.format, url, subject, s.good));
      const r = await kappaflow('validate', '--registry', url, bad);
      expect(r.code).toBe(1);
      // the expression starts at column 14 (`    country: `); the error points at the unknown name
      const column = 14 + s.typo.indexOf(s.unknown);
      expect(r.stderr).toContain(`${bad}:10:${column} spec.groupBy.country: `);
      expect(r.stderr).toContain(s.hint);
      // --spec-registry asks the spec's own registry
      const ok = await kappaflow('validate', '--spec-registry', good);
      expect(ok.stderr).toBe('');
      expect(ok.code).toBe(0);
      expect(ok.stdout).toContain(
        `orders ok (tumbling 1m, 1 aggregate, source orders); event fields match the latest schema of ${subject}`,
      );
      // without --registry, nothing is fetched: the typo is not caught (the check needs the schema)
      expect((await kappaflow('validate', bad)).code).toBe(0);
    });
  }

  it('an unknown subject is an error at spec.source.schemaRegistry.subject', async () => {
    const file = join(dir, 'no-subject.yaml');
    await writeFile(file, pipeline('avro', url, `missing-${id}`, 'event.x'));
    const r = await kappaflow('validate', '--spec-registry', file);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `${file}:8:\\d+ spec.source.schemaRegistry.subject: the schema registry at .* has no subject missing-${id}`,
      ),
    );
  });

  it('an unreachable registry exits 3 with a clear message', async () => {
    const closed = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const file = join(dir, 'unreachable.yaml');
    await writeFile(
      file,
      pipeline('avro', `http://127.0.0.1:${closed}`, `avro-${id}`, 'event.customer.country'),
    );
    const r = await kappaflow('validate', '--spec-registry', file);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`the schema registry at http://127.0.0.1:${closed} is unreachable`);
    const json = await kappaflow('validate', '--json', '--spec-registry', file);
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: false,
      registryError: expect.stringContaining('unreachable'),
    });
  });
});
