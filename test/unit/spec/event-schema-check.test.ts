// `kappaflow validate --registry`: the fields a registry schema gives `event`, the `event.<field>`
// chains of the expressions, and the errors at file:line:col with a "did you mean".
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  avroShape,
  jsonSchemaShape,
  protobufShape,
} from '../../../processor/src/consumer/formats/schema-shape.ts';
import { eventReferences } from '../../../processor/src/expr/event-references.ts';
import { checkEventFields } from '../../../processor/src/expr/event-schema-check.ts';
import { type EventShape, LEAF, unknownField } from '../../../processor/src/expr/event-shape.ts';
import { validateText } from '../../../processor/src/spec/validate.ts';

const ok = (shape: EventShape, path: string) => unknownField(shape, path.split('.'));

const avroOrder = {
  type: 'record',
  name: 'Order',
  namespace: 'shop',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'amount', type: 'double' },
    {
      name: 'customer',
      type: ['null', { type: 'record', name: 'Customer', fields: [{ name: 'country', type: 'string' }] }],
    },
    { name: 'billing', type: ['null', 'Customer'] },
    { name: 'tags', type: { type: 'map', values: 'string' } },
    { name: 'items', type: { type: 'array', items: 'string' } },
    { name: 'next', type: ['null', 'Order'] },
    { name: 'ts', type: { type: 'long', logicalType: 'timestamp-millis' } },
  ],
};

describe('avroShape', () => {
  const shape = avroShape(avroOrder);
  it('accepts the fields of nested records, unions with null, named types and recursion', () => {
    for (const p of [
      'id',
      'amount',
      'customer.country',
      'billing.country',
      'next.next.customer.country',
      'ts',
    ])
      expect(ok(shape, p), p).toBeUndefined();
  });
  it('leaves map keys open', () => {
    expect(ok(shape, 'tags.anything')).toBeUndefined();
  });
  it('rejects unknown names with a suggestion, and fields of a plain value', () => {
    expect(ok(shape, 'amont')).toEqual({
      index: 0,
      message: 'event.amont is not in the registry schema (did you mean event.amount?)',
    });
    expect(ok(shape, 'customer.contry')?.message).toContain('did you mean event.customer.country?');
    expect(ok(shape, 'id.x')?.message).toBe(
      'event.id has no fields in the registry schema, so event.id.x never exists',
    );
    expect(ok(shape, 'items.x')?.index).toBe(1);
  });
  it('lists the fields when nothing is close', () => {
    expect(ok(shape, 'zzzzzzzz')?.message).toBe(
      'event.zzzzzzzz is not in the registry schema (event has id, amount, customer, billing, tags, items, next, ts)',
    );
  });
});

describe('protobufShape', () => {
  const proto = `syntax = "proto3";
package shop;
import "google/protobuf/timestamp.proto";
message Order {
  string order_id = 1;
  Customer customer = 2;
  map<string, string> labels = 3;
  Status status = 4;
  google.protobuf.Timestamp created = 5;
  repeated Customer others = 6;
  message Customer { string country = 1; }
  enum Status { NEW = 0; PAID = 1; }
}
message Other { string x = 1; }`;
  it('reads the first message, nested messages, maps and enums (field names as written)', () => {
    const shape = protobufShape(proto);
    for (const p of ['order_id', 'customer.country', 'labels.any', 'status', 'created'])
      expect(ok(shape, p), p).toBeUndefined();
    expect(ok(shape, 'orderId')?.message).toContain('not in the registry schema');
    expect(ok(shape, 'customer.county')?.message).toContain('did you mean event.customer.country?');
    expect(ok(shape, 'status.x')?.index).toBe(1);
    expect(ok(shape, 'x')?.message).toContain('not in the registry schema');
  });
  it('takes source.messageType when given', () => {
    expect(ok(protobufShape(proto, 'shop.Other'), 'x')).toBeUndefined();
  });
});

describe('jsonSchemaShape', () => {
  const schema = {
    type: 'object',
    properties: {
      user: { $ref: '#/$defs/user' },
      extra: { type: 'object' },
      n: { type: 'integer' },
      either: {
        anyOf: [
          { type: 'object', properties: { a: {} } },
          { type: 'object', properties: { b: {} } },
        ],
      },
      loose: { type: 'object', properties: { a: {} }, additionalProperties: true },
    },
    $defs: { user: { type: 'object', properties: { name: { type: 'string' } } } },
  };
  const shape = jsonSchemaShape(schema);
  it('follows properties, local $refs and the branches of anyOf', () => {
    for (const p of ['user.name', 'extra.whatever', 'n', 'either.a', 'either.b', 'loose.other'])
      expect(ok(shape, p), p).toBeUndefined();
    expect(ok(shape, 'user.nme')?.message).toContain('did you mean event.user.name?');
    expect(ok(shape, 'n.x')?.index).toBe(1);
    expect(ok(shape, 'either.c')?.index).toBe(1);
  });
});

describe('eventReferences', () => {
  it('finds the chains in calls, macros and comprehensions, where each name starts', () => {
    expect(eventReferences('event.a.b > 3 && has(event.c) && event.l.exists(x, x.y > event.d)')).toEqual([
      { fields: ['a', 'b'], offsets: [6, 8] },
      { fields: ['c'], offsets: [27] },
      { fields: ['l'], offsets: [39] },
      { fields: ['d'], offsets: [63] },
    ]);
    expect(eventReferences("event['a'].b")).toEqual([]);
    expect(eventReferences('event.')).toEqual([]);
  });
  it('gives, for any chain, the offset of each name', () => {
    const name = fc
      .stringMatching(/^[a-z_][a-z0-9_]{0,8}$/)
      .filter((n) => !['in', 'as', 'true', 'false', 'null'].includes(n));
    fc.assert(
      fc.property(fc.array(name, { minLength: 1, maxLength: 5 }), fc.nat(3), (fields, pad) => {
        const source = `${' '.repeat(pad)}event.${fields.join('.')} == 1`;
        const [ref] = eventReferences(source);
        expect(ref?.fields).toEqual(fields);
        for (const [i, o] of (ref?.offsets ?? []).entries())
          expect(source.slice(o).startsWith(fields[i] as string)).toBe(true);
      }),
    );
  });
});

describe('unknownField (properties)', () => {
  type Tree = { [k: string]: Tree | null };
  const toShape = (t: Tree | null): EventShape =>
    t === null
      ? LEAF
      : { kind: 'record', fields: new Map(Object.entries(t).map(([k, v]) => [k, toShape(v)])) };
  const tree: fc.Arbitrary<Tree> = fc.letrec<{ t: Tree }>((tie) => ({
    t: fc.dictionary(
      fc.stringMatching(/^[a-z]{1,6}$/),
      fc.oneof({ depthSize: 'small' }, fc.constant(null), tie('t')),
    ),
  })).t;
  const paths = (t: Tree, prefix: string[] = []): string[][] =>
    Object.entries(t).flatMap(([k, v]) => [[...prefix, k], ...(v === null ? [] : paths(v, [...prefix, k]))]);

  it('accepts every path of the schema and rejects a name it lacks at the first unknown step', () => {
    fc.assert(
      fc.property(tree, fc.nat(), fc.stringMatching(/^[A-Z]{1,4}$/), (t, pick, stranger) => {
        const shape = toShape(t);
        const all = paths(t);
        for (const p of all) expect(unknownField(shape, p)).toBeUndefined();
        const records = [
          [],
          ...all.filter((p) => {
            let v: Tree | null = t;
            for (const k of p) v = v === null ? null : (v[k] ?? null);
            return v !== null;
          }),
        ];
        const parent = records[pick % records.length] as string[];
        // upper-case names never occur in the tree
        expect(unknownField(shape, [...parent, stranger, 'x'])?.index).toBe(parent.length);
      }),
    );
  });
});

describe('validate with a schema check', () => {
  const yaml = `apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata: { name: orders }
spec:
  source:
    topic: orders
    format: avro
    schemaRegistry: { url: "http://registry:8081", subject: orders-value }
    eventTime: { field: tss }
  where: event.amount > 0 && event.custmer.country == 'FR'
  groupBy:
    country: event.customer.country
  window: { type: tumbling, size: 1m }
  aggregates:
    total: { sum: event.amont }
`;
  it('reports each unknown field at its file:line:col', () => {
    const shape = avroShape(avroOrder);
    const r = validateText(yaml, 'orders.yaml', { extraCheck: (p) => checkEventFields(p, shape) });
    expect(r.ok).toBe(false);
    expect(r.errors.map((e) => `${e.line}:${e.column} ${e.path}: ${e.message}`)).toEqual([
      '9:25 spec.source.eventTime.field: event.tss is not in the registry schema (did you mean event.ts?)',
      '10:36 spec.where: event.custmer is not in the registry schema (did you mean event.customer?)',
      '15:25 spec.aggregates.total.sum: event.amont is not in the registry schema (did you mean event.amount?)',
    ]);
  });
  it('is silent when every field exists', () => {
    const fixed = yaml.replace('tss', 'ts').replace('custmer', 'customer').replace('amont', 'amount');
    const r = validateText(fixed, 'orders.yaml', {
      extraCheck: (p) => checkEventFields(p, avroShape(avroOrder)),
    });
    expect(r.errors).toEqual([]);
  });
});
