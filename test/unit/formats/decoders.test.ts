// Decoders against payloads written by the libraries themselves (plain avsc without our logical
// types, protobufjs from the schema text, JSON.stringify), so each test checks our mapping, not a
// round trip through our own encoder.
import avro from 'avsc';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { avroDecoder } from '../../../processor/src/consumer/formats/avro.ts';
import { jsonSchemaDecoder } from '../../../processor/src/consumer/formats/json-schema.ts';
import { protobufDecoder } from '../../../processor/src/consumer/formats/protobuf.ts';
import { encodeMessageIndexes, headerFor } from '../../../processor/src/consumer/formats/wire.ts';
import { failure } from './failure.ts';

describe('Avro', () => {
  const schema = {
    type: 'record',
    name: 'PageView',
    namespace: 'shop',
    fields: [
      { name: 'page', type: 'string' },
      { name: 'ms', type: { type: 'long', logicalType: 'timestamp-millis' } },
      { name: 'us', type: { type: 'long', logicalType: 'timestamp-micros' } },
      { name: 'price', type: { type: 'bytes', logicalType: 'decimal', precision: 10, scale: 2 } },
      { name: 'big', type: { type: 'bytes', logicalType: 'decimal', precision: 30, scale: 3 } },
      {
        name: 'user',
        type: ['null', { type: 'record', name: 'User', fields: [{ name: 'id', type: 'int' }] }],
      },
      { name: 'tags', type: { type: 'array', items: 'string' } },
      { name: 'attrs', type: { type: 'map', values: 'long' } },
      { name: 'kind', type: { type: 'enum', name: 'Kind', symbols: ['VIEW', 'CLICK'] } },
    ],
  };
  // Plain avsc: logical types are not interpreted, so the test writes the underlying values itself.
  const writer = avro.Type.forSchema(schema as avro.Schema);
  const twos = (n: bigint, bytes: number) => {
    const out = Buffer.alloc(bytes);
    let v = n < 0n ? (1n << BigInt(bytes * 8)) + n : n;
    for (let i = bytes - 1; i >= 0; i--) {
      out[i] = Number(v & 0xffn);
      v >>= 8n;
    }
    return out;
  };

  it('decodes records, unions, arrays, maps, enums and logical types', () => {
    const payload = writer.toBuffer({
      page: '/home',
      ms: 1_700_000_000_123,
      us: 1_700_000_000_123_456,
      price: twos(-12345n, 3), // -123.45
      big: twos(123456789012345678901234567n, 12),
      user: { id: 7 },
      tags: ['a', 'b'],
      attrs: { clicks: 3 },
      kind: 'CLICK',
    });
    const decode = avroDecoder(JSON.stringify(schema), []);
    const event = decode(payload) as Record<string, unknown>;
    expect(event).toEqual({
      page: '/home',
      ms: 1_700_000_000_123,
      us: 1_700_000_000_123,
      price: -123.45,
      big: '123456789012345678901234.567',
      user: { id: 7 },
      tags: ['a', 'b'],
      attrs: { clicks: 3 },
      kind: 'CLICK',
    });
    // plain objects, so CEL sees own fields only
    expect(Object.getPrototypeOf(event)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(event.user)).toBe(Object.prototype);
  });

  it('dead-letters a payload that does not match the writer schema', () => {
    const decode = avroDecoder(JSON.stringify(schema), []);
    expect(failure(() => decode(Buffer.from([1, 2, 3])))).toMatch(/does not match its writer schema/);
    const good = writer.toBuffer({
      page: 'x',
      ms: 1,
      us: 1,
      price: twos(1n, 1),
      big: twos(1n, 1),
      user: null,
      tags: [],
      attrs: {},
      kind: 'VIEW',
    });
    expect(failure(() => decode(Buffer.concat([good, Buffer.from([9, 9])])))).toMatch(/does not match/);
  });

  it('resolves named types from referenced schemas', () => {
    const user = { type: 'record', name: 'User', namespace: 'shop', fields: [{ name: 'id', type: 'int' }] };
    const order = {
      type: 'record',
      name: 'Order',
      namespace: 'shop',
      fields: [{ name: 'user', type: 'shop.User' }],
    };
    const decode = avroDecoder(JSON.stringify(order), [JSON.stringify(user)]);
    const payload = avro.Type.forSchema({
      ...order,
      fields: [{ name: 'user', type: user }],
    } as avro.Schema).toBuffer({
      user: { id: 3 },
    });
    expect(decode(payload)).toEqual({ user: { id: 3 } });
  });
});

describe('Protobuf', () => {
  const schema = `
    syntax = "proto3";
    package shop.v1;
    import "google/protobuf/timestamp.proto";
    message Other { string x = 1; }
    message Order {
      enum Status { NEW = 0; PAID = 1; }
      message Line { string sku = 1; int32 qty = 2; }
      string id = 1;
      Status status = 2;
      repeated Line lines = 3;
      map<string, int64> counters = 4;
      oneof payment { string card = 5; string iban = 6; }
      Line first = 7;
      google.protobuf.Timestamp at = 8;
      int64 total_cents = 9;
      optional string note = 10;
      bytes blob = 11;
    }`;
  const root = protobuf.parse(schema, { keepCase: true }).root;
  root.addJSON(protobuf.common.get('google/protobuf/timestamp.proto')!.nested!);
  root.resolveAll();
  const Order = root.lookupType('shop.v1.Order');
  const frame = (indexes: number[], payload: Uint8Array) =>
    Buffer.concat([headerFor(3), encodeMessageIndexes(indexes), payload]);

  it('decodes nested messages, enums, repeated, maps, oneofs and timestamps', () => {
    const payload = Order.encode(
      Order.fromObject({
        id: 'o1',
        status: 1,
        lines: [{ sku: 'a', qty: 2 }, { sku: 'b' }],
        counters: { x: 5 },
        iban: 'DE00',
        at: { seconds: 1_700_000_000, nanos: 250_000_000 },
        total_cents: 1234,
        blob: Buffer.from('hi'),
      }),
    ).finish();
    const decode = protobufDecoder(schema, [], undefined);
    const event = decode(frame([1], payload)) as Record<string, unknown>;
    expect(event).toEqual({
      id: 'o1',
      status: 'PAID',
      lines: [
        { sku: 'a', qty: 2 },
        { sku: 'b', qty: 0 },
      ],
      counters: { x: 5 },
      iban: 'DE00',
      payment: 'iban',
      at: 1_700_000_000_250,
      total_cents: 1234,
      blob: Buffer.from('hi').toString('base64'),
    });
    // unset message, unset oneof member and unset proto3 optional are absent (has() is false)
    expect('first' in event).toBe(false);
    expect('card' in event).toBe(false);
    expect('note' in event).toBe(false);
  });

  it('picks the message by its indexes, or by messageType', () => {
    const Other = root.lookupType('shop.v1.Other');
    const payload = Other.encode(Other.fromObject({ x: 'hello' })).finish();
    expect(protobufDecoder(schema, [], undefined)(frame([0], payload))).toEqual({ x: 'hello' });
    const orderPayload = Order.encode(Order.fromObject({ id: 'z' })).finish();
    // the record says [0] (Other) but the pipeline fixes the type
    expect(
      (protobufDecoder(schema, [], 'shop.v1.Order')(frame([0], orderPayload)) as { id: string }).id,
    ).toBe('z');
    const nested = `syntax = "proto3"; message A { message B { int32 n = 1; } }`;
    const B = protobuf.parse(nested).root.lookupType('A.B');
    expect(protobufDecoder(nested, [], undefined)(frame([0, 0], B.encode({ n: 4 }).finish()))).toEqual({
      n: 4,
    });
  });

  it('dead-letters bad payloads and unknown message indexes', () => {
    const decode = protobufDecoder(schema, [], undefined);
    expect(failure(() => decode(frame([5], Buffer.alloc(0))))).toMatch(/no such message/);
    expect(failure(() => decode(frame([1], Buffer.from([0x7f]))))).toMatch(
      /does not decode as shop.v1.Order/,
    );
  });

  it('reads imports from referenced schemas', () => {
    const common = 'syntax = "proto3"; package shop.common; message Money { int64 cents = 1; }';
    const main =
      'syntax = "proto3"; package shop.v2; import "shop/common.proto"; message Sale { shop.common.Money amount = 1; }';
    const r = protobuf.parse(common).root;
    protobuf.parse(main, r);
    const Sale = r.lookupType('shop.v2.Sale');
    const decode = protobufDecoder(main, [{ name: 'shop/common.proto', schema: common }], undefined);
    expect(decode(frame([0], Sale.encode(Sale.fromObject({ amount: { cents: 250 } })).finish()))).toEqual({
      amount: { cents: 250 },
    });
  });
});

describe('JSON Schema', () => {
  const schema = JSON.stringify({
    type: 'object',
    properties: { page: { type: 'string' }, n: { type: 'integer' } },
    required: ['page'],
  });

  it('decodes a matching value and dead-letters one that does not match', () => {
    const decode = jsonSchemaDecoder(schema, []);
    expect(decode(Buffer.from(JSON.stringify({ page: '/a', n: 2 })))).toEqual({ page: '/a', n: 2 });
    expect(failure(() => decode(Buffer.from(JSON.stringify({ n: 2 }))))).toMatch(
      /does not match its JSON Schema: \/ must have required property 'page'/,
    );
    expect(failure(() => decode(Buffer.from(JSON.stringify({ page: '/a', n: 'x' }))))).toMatch(
      /\/n must be integer/,
    );
    expect(failure(() => decode(Buffer.from('{')))).toMatch(/not JSON/);
  });

  it('uses the draft the schema names', () => {
    const s2020 = JSON.stringify({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'array',
      prefixItems: [{ type: 'string' }],
    });
    const decode = jsonSchemaDecoder(s2020, []);
    expect(decode(Buffer.from('["a"]'))).toEqual(['a']);
    expect(failure(() => decode(Buffer.from('[1]')))).toMatch(/must be string/);
  });
});
