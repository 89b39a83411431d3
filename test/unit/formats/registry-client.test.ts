import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { avroType } from '../../../processor/src/consumer/formats/avro.ts';
import {
  authorizationOf,
  type RegistryClient,
  registryClient,
} from '../../../processor/src/consumer/formats/registry-client.ts';
import { valueDecoderFor } from '../../../processor/src/consumer/formats/value-decoder.ts';
import { headerFor } from '../../../processor/src/consumer/formats/wire.ts';

describe('registry credentials', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kf-registry-'));

  it('basic: username:password from a file or the environment, as an HTTP Basic header', () => {
    const file = join(dir, 'basic');
    writeFileSync(file, 'alice:s3cret\n');
    expect(authorizationOf({ type: 'basic', file })).toBe(
      `Basic ${Buffer.from('alice:s3cret').toString('base64')}`,
    );
    expect(authorizationOf({ type: 'basic' }, { KAPPAFLOW_SCHEMA_REGISTRY_CREDENTIALS: 'bob:pw' })).toBe(
      `Basic ${Buffer.from('bob:pw').toString('base64')}`,
    );
    expect(() =>
      authorizationOf({ type: 'basic' }, { KAPPAFLOW_SCHEMA_REGISTRY_CREDENTIALS: 'no-colon' }),
    ).toThrow(/username:password/);
  });

  it("the sink's own registry reads its own variable, not the source's", () => {
    const env = {
      KAPPAFLOW_SCHEMA_REGISTRY_CREDENTIALS: 'source-token',
      KAPPAFLOW_SINK_SCHEMA_REGISTRY_CREDENTIALS: 'sink-token',
    };
    expect(authorizationOf({ type: 'bearer' }, env, 'KAPPAFLOW_SINK_SCHEMA_REGISTRY_CREDENTIALS')).toBe(
      'Bearer sink-token',
    );
    expect(() =>
      authorizationOf(
        { type: 'bearer' },
        { KAPPAFLOW_SCHEMA_REGISTRY_CREDENTIALS: 'x' },
        'KAPPAFLOW_SINK_SCHEMA_REGISTRY_CREDENTIALS',
      ),
    ).toThrow(/set KAPPAFLOW_SINK_SCHEMA_REGISTRY_CREDENTIALS/);
  });

  it('bearer: the token, from a file or the environment', () => {
    const file = join(dir, 'token');
    writeFileSync(file, ' tok-123 \n');
    expect(authorizationOf({ type: 'bearer', file })).toBe('Bearer tok-123');
    expect(authorizationOf({ type: 'bearer' }, { KAPPAFLOW_SCHEMA_REGISTRY_CREDENTIALS: 'xyz' })).toBe(
      'Bearer xyz',
    );
  });

  it('a missing file or variable stops the processor with what to set', () => {
    expect(() => authorizationOf({ type: 'bearer', file: join(dir, 'nope') })).toThrow(/cannot read .*nope/);
    expect(() => authorizationOf({ type: 'bearer' }, {})).toThrow(
      /set KAPPAFLOW_SCHEMA_REGISTRY_CREDENTIALS/,
    );
    expect(authorizationOf(undefined)).toBeUndefined();
  });

  it("names the sink's settings in the sink's messages, the source's by default", () => {
    const sink = 'KAFKA_SINK_CREDS';
    const file = join(dir, 'no-colon');
    writeFileSync(file, 'just-a-token');
    expect(() => authorizationOf({ type: 'basic', file }, {}, sink, 'sink.schemaRegistry')).toThrow(
      /^sink\.schemaRegistry\.auth: basic credentials/,
    );
    expect(() =>
      authorizationOf({ type: 'basic', file: join(dir, 'nope') }, {}, sink, 'sink.schemaRegistry'),
    ).toThrow(/^sink\.schemaRegistry\.auth\.file: cannot read/);
    expect(() => authorizationOf({ type: 'bearer' }, {}, sink, 'sink.schemaRegistry')).toThrow(
      /^sink\.schemaRegistry\.auth: set KAFKA_SINK_CREDS/,
    );
    expect(() => authorizationOf({ type: 'basic', file })).toThrow(/^source\.schemaRegistry\.auth: basic/);
    const missingCa = { url: 'https://registry:8081', tls: { caFile: join(dir, 'no-ca.pem') } };
    expect(() => registryClient(missingCa, {}, sink, 'sink.schemaRegistry')).toThrow(
      /^sink\.schemaRegistry\.tls\.caFile: cannot read .*no-ca\.pem/,
    );
  });
});

describe('schema cache', () => {
  const schemaOf = (n: number) => ({
    type: 'record',
    name: `R${n}`,
    fields: [{ name: `f${n}`, type: 'int' }],
  });
  const fetched: number[] = [];
  const client: RegistryClient = {
    schemaById: async (id) => {
      fetched.push(id);
      return { schemaType: 'AVRO', schema: JSON.stringify(schemaOf(id)), references: [] };
    },
    schemaBySubjectVersion: async () => {
      throw new Error('unused');
    },
  };
  const message = (id: number) =>
    ({
      value: Buffer.concat([headerFor(id), avroType(schemaOf(id)).toBuffer({ [`f${id}`]: id })]),
    }) as KafkaMessage;
  const hooks = { isRunning: () => true, onWait: async () => {} };

  it('holds at most cacheSize schemas, fetches each id once while it stays cached, and refuses a batch naming more', async () => {
    const decoder = valueDecoderFor(
      {
        format: 'avro',
        schemaRegistry: { url: 'http://registry.invalid', cacheSize: 2 },
      },
      client,
    );
    for (const ids of [[1, 2, 1], [2, 1], [3], [1]]) {
      const batch = ids.map(message);
      await decoder.prepare(batch, hooks);
      expect(batch.map((m) => decoder.decode(m.value))).toEqual(ids.map((id) => ({ [`f${id}`]: id })));
    }
    // 1 and 2 once; 3 evicts 2 (1 was used more recently); 1 is still cached
    expect(fetched).toEqual([1, 2, 3]);
    await expect(decoder.prepare([4, 5, 6].map(message), hooks)).rejects.toThrow(
      /more than schemaRegistry.cacheSize/,
    );
  });
});
