// Protobuf values decoded with the writer schema (protobufjs, schema text from the registry). The
// message is the one named by the record's message indexes, or `spec.source.messageType`. Field
// names stay as written in the .proto file; enums become their names, 64-bit integers numbers,
// bytes base64 strings, maps objects, repeated fields lists; unset scalars read as their default
// (as proto3 defines them) while unset messages and oneof members are absent, so `has()` tells.
// google.protobuf.Timestamp becomes epoch milliseconds (usable as `eventTime`).
import protobuf from 'protobufjs';
import { RecordFailure } from '../decode.ts';
import { messageIndexesOf } from './wire.ts';

type Wrapper = {
  fromObject(this: protobuf.Type, o: Record<string, unknown>): protobuf.Message;
  toObject(
    this: protobuf.Type,
    m: protobuf.Message,
    o?: protobuf.IConversionOptions,
  ): Record<string, unknown>;
};
// protobufjs reads wrappers when a type is first set up: register before any schema is parsed.
(protobuf.wrappers as Record<string, Wrapper>)['.google.protobuf.Timestamp'] = {
  fromObject(object) {
    if (typeof object === 'number') {
      const ms = object as unknown as number;
      return this.create({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 });
    }
    return this.fromObject(object);
  },
  toObject(message) {
    const m = message as unknown as { seconds?: number | { toNumber(): number }; nanos?: number };
    const seconds = typeof m.seconds === 'object' ? m.seconds.toNumber() : (m.seconds ?? 0);
    return (seconds * 1000 + Math.floor((m.nanos ?? 0) / 1_000_000)) as unknown as Record<string, unknown>;
  },
};

const TO_OBJECT: protobuf.IConversionOptions = {
  enums: String,
  longs: Number,
  bytes: String,
  defaults: true,
  oneofs: true,
};

export interface ProtoSchemaText {
  /** the import path other schemas use for it (a registry reference's `name`) */
  name: string;
  schema: string;
}

/** Parses a writer schema (and its references) into a decoder of Confluent-framed values. */
export function protobufDecoder(
  schema: string,
  references: readonly ProtoSchemaText[],
  messageType: string | undefined,
): (value: Buffer) => unknown {
  const root = new protobuf.Root();
  const parsed = protobuf.parse(schema, root, { keepCase: true });
  // The messages of this file in declaration order, before references add theirs to the root.
  const pkg = parsed.package ? root.lookup(parsed.package) : root;
  const topLevel = ((pkg as protobuf.Namespace | null)?.nestedArray ?? []).filter(
    (t): t is protobuf.Type => t instanceof protobuf.Type,
  );
  for (const ref of references) {
    const common = protobuf.common.get(ref.name);
    if (common) root.addJSON(common.nested ?? {});
    else protobuf.parse(ref.schema, root, { keepCase: true });
  }
  for (const name of parsed.imports ?? []) {
    const common = protobuf.common.get(name);
    if (common) root.addJSON(common.nested ?? {});
  }
  root.resolveAll();
  let fixed: protobuf.Type | undefined;
  if (messageType !== undefined) {
    fixed = root.lookupType(messageType.startsWith('.') ? messageType : `.${messageType}`);
  }
  const byIndexes = (indexes: number[]): protobuf.Type => {
    let type = topLevel[indexes[0]!];
    for (const i of indexes.slice(1)) {
      type = type?.nestedArray.filter((t): t is protobuf.Type => t instanceof protobuf.Type)[i];
    }
    if (!type) {
      throw new RecordFailure(
        'parse',
        `the record names message [${indexes.join(', ')}] but its schema has no such message`,
      );
    }
    return type;
  };
  return (value) => {
    const { indexes, payloadAt } = messageIndexesOf(value);
    const type = fixed ?? byIndexes(indexes);
    let message: protobuf.Message;
    try {
      message = type.decode(value.subarray(payloadAt));
    } catch (error) {
      throw new RecordFailure(
        'parse',
        `the Protobuf payload does not decode as ${type.fullName.slice(1)}: ${(error as Error).message}`,
      );
    }
    return dropUnset(type.toObject(message, TO_OBJECT));
  };
}

/** toObject's defaults give unset message fields `null`; they are absent instead, as in JSON. */
function dropUnset(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    for (const item of value) dropUnset(item);
    return value;
  }
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    const v = obj[key];
    if (v === null) delete obj[key];
    else if (typeof v === 'object') dropUnset(v);
  }
  return obj;
}
