// The fields of `event` that a registry schema allows (see expr/event-shape.ts), for
// `kappaflow validate --registry`: Avro records (nested records, unions with null, named types),
// Protobuf messages (the first of the file, as the decoder uses without a message index), JSON
// Schema properties (local $refs, anyOf/oneOf/allOf). Names a schema leaves to other schemas or
// to the data (maps, references, free objects) are open.
import protobuf from 'protobufjs';
import { type EventShape, LEAF, mergeShapes, OPEN } from '../../expr/event-shape.ts';
import type { RegisteredSchema } from './registry-client.ts';

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export function avroShape(schema: unknown): EventShape {
  const named = new Map<string, EventShape>();
  const walk = (s: unknown, namespace: string | undefined): EventShape => {
    if (Array.isArray(s)) return mergeShapes(s.filter((b) => b !== 'null').map((b) => walk(b, namespace)));
    if (typeof s === 'string') {
      const full = s.includes('.') || namespace === undefined ? s : `${namespace}.${s}`;
      return (
        named.get(full) ??
        named.get(s) ??
        (/^(null|boolean|int|long|float|double|bytes|string)$/.test(s) ? LEAF : OPEN)
      );
    }
    if (!isObject(s)) return OPEN;
    if (s.type === 'record' || s.type === 'error') {
      const ns = typeof s.namespace === 'string' ? s.namespace : namespace;
      const name = String(s.name ?? '');
      const full = name.includes('.') || ns === undefined ? name : `${ns}.${name}`;
      const fields = new Map<string, EventShape>();
      const shape: EventShape = { kind: 'record', fields };
      // registered before the fields so that a recursive record refers to itself
      named.set(full, shape);
      const inner = full.includes('.') ? full.slice(0, full.lastIndexOf('.')) : ns;
      for (const f of Array.isArray(s.fields) ? s.fields : []) {
        if (isObject(f) && typeof f.name === 'string') fields.set(f.name, walk(f.type, inner));
      }
      return shape;
    }
    if (s.type === 'map') return OPEN;
    if (typeof s.type === 'string' && !['enum', 'fixed', 'array'].includes(s.type))
      return walk(s.type, namespace);
    return LEAF;
  };
  return walk(schema, undefined);
}

export function protobufShape(schema: string, messageType?: string): EventShape {
  const root = new protobuf.Root();
  const parsed = protobuf.parse(schema, root, { keepCase: true });
  const pkg = parsed.package ? root.lookup(parsed.package) : root;
  const type =
    messageType !== undefined
      ? root.lookupType(messageType.startsWith('.') ? messageType : `.${messageType}`)
      : ((pkg as protobuf.Namespace | null)?.nestedArray ?? []).find((t) => t instanceof protobuf.Type);
  if (type === undefined) throw new Error('the Protobuf schema declares no message');
  const shapes = new Map<protobuf.Type, EventShape>();
  const walk = (t: protobuf.Type): EventShape => {
    const known = shapes.get(t);
    if (known !== undefined) return known;
    const fields = new Map<string, EventShape>();
    const shape: EventShape = { kind: 'record', fields };
    shapes.set(t, shape);
    for (const f of t.fieldsArray) {
      let field: EventShape = LEAF;
      if (f instanceof protobuf.MapField) field = OPEN;
      else if (
        !f.repeated &&
        !/^(double|float|u?int(32|64)|s?fixed(32|64)|sint(32|64)|bool|string|bytes)$/.test(f.type)
      ) {
        let resolved: protobuf.ReflectionObject | null = null;
        try {
          resolved = t.lookup(f.type);
        } catch {
          resolved = null;
        }
        // google.protobuf.Timestamp decodes to a number; a type from an import is not in this file
        field =
          resolved instanceof protobuf.Type
            ? resolved.fullName === '.google.protobuf.Timestamp'
              ? LEAF
              : walk(resolved)
            : resolved instanceof protobuf.Enum
              ? LEAF
              : OPEN;
      }
      fields.set(f.name, field);
    }
    return shape;
  };
  return walk(type as protobuf.Type);
}

export function jsonSchemaShape(schema: unknown): EventShape {
  const resolve = (ref: string): unknown => {
    if (!ref.startsWith('#/')) return undefined;
    let v: unknown = schema;
    for (const part of ref.slice(2).split('/'))
      v = isObject(v) ? v[part.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
    return v;
  };
  const seen = new Map<unknown, EventShape>();
  const walk = (s: unknown): EventShape => {
    if (!isObject(s)) return OPEN; // `true` or a missing schema allows anything
    const known = seen.get(s);
    if (known !== undefined) return known;
    if (typeof s.$ref === 'string') {
      const target = resolve(s.$ref);
      return target === undefined ? OPEN : walk(target);
    }
    const branches = ['anyOf', 'oneOf', 'allOf'].flatMap((k) =>
      Array.isArray(s[k]) ? (s[k] as unknown[]) : [],
    );
    const types = Array.isArray(s.type) ? s.type : s.type === undefined ? undefined : [s.type];
    if (!isObject(s.properties)) {
      if (branches.length > 0) return mergeShapes(branches.map(walk));
      return types === undefined || types.includes('object') ? OPEN : LEAF;
    }
    const fields = new Map<string, EventShape>();
    const shape: EventShape = { kind: 'record', fields };
    seen.set(s, shape);
    for (const [name, sub] of Object.entries(s.properties)) fields.set(name, walk(sub));
    const extra = s.additionalProperties !== undefined && s.additionalProperties !== false;
    if (extra || isObject(s.patternProperties)) return OPEN;
    return branches.length > 0 ? mergeShapes([shape, ...branches.map(walk)]) : shape;
  };
  return walk(schema);
}

/** The shape of a registered schema; throws with a readable message when it does not parse. */
export function shapeOfSchema(registered: RegisteredSchema, messageType?: string): EventShape {
  switch (registered.schemaType) {
    case 'AVRO':
      return avroShape(JSON.parse(registered.schema));
    case 'PROTOBUF':
      return protobufShape(registered.schema, messageType);
    case 'JSON':
      return jsonSchemaShape(JSON.parse(registered.schema));
    default:
      throw new Error(`unknown schema type ${String(registered.schemaType)}`);
  }
}
