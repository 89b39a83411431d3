/**
 * Producing Avro and Protobuf records in the Confluent wire format for tests and the benchmark.
 * Avro goes through @kafkajs/confluent-schema-registry (a Schema Registry serializer: it registers
 * the schema with the registry and frames the payload), so the processor is checked against an
 * encoder that is not its own. Protobuf is framed by hand (that library leaves out the message
 * indexes the Confluent format requires), with protobufjs encoding the payload.
 */
import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import protobuf from 'protobufjs';
import { encodeMessageIndexes, headerFor } from '../processor/src/consumer/formats/wire.ts';
import { registerSchema, setCompatibility } from './schema-registry.ts';

export interface AvroProducer {
  id: number;
  encode(value: Record<string, unknown>): Promise<Buffer>;
}

/** Registers an Avro schema under `subject` with the registry's own serializer and encodes with it. */
export async function avroProducer(url: string, subject: string, schema: object): Promise<AvroProducer> {
  const registry = new SchemaRegistry({ host: url, retry: { retries: 2 } });
  // Set on the subject first: this serializer refuses a subject whose level differs from its own.
  await setCompatibility(url, subject);
  const { id } = await registry.register(
    { type: SchemaType.AVRO, schema: JSON.stringify(schema) },
    { subject, compatibility: COMPATIBILITY.NONE },
  );
  return { id, encode: (value) => registry.encode(id, value) };
}

export interface ProtobufProducer {
  id: number;
  encode(value: Record<string, unknown>): Buffer;
}

/** Registers a .proto schema and encodes `messageName` values framed with their message indexes. */
export async function protobufProducer(
  url: string,
  subject: string,
  schema: string,
  messageName: string,
): Promise<ProtobufProducer> {
  const id = await registerSchema(url, subject, schema, 'PROTOBUF');
  const parsed = protobuf.parse(schema, { keepCase: true });
  for (const name of parsed.imports ?? []) {
    const common = protobuf.common.get(name);
    if (common) parsed.root.addJSON(common.nested ?? {});
  }
  parsed.root.resolveAll();
  const type = parsed.root.lookupType(messageName);
  const header = Buffer.concat([headerFor(id), encodeMessageIndexes(indexesOf(parsed, type))]);
  return {
    id,
    encode: (value) => Buffer.concat([header, type.encode(type.fromObject(value)).finish()]),
  };
}

/** The position of a message among the file's messages (top level, then nested), as Confluent numbers them. */
function indexesOf(parsed: protobuf.IParserResult, type: protobuf.Type): number[] {
  const path: number[] = [];
  let current: protobuf.ReflectionObject = type;
  while (current.parent && current.parent instanceof protobuf.Type) {
    path.unshift(messagesOf(current.parent).indexOf(current as protobuf.Type));
    current = current.parent;
  }
  const pkg = parsed.package ? parsed.root.lookup(parsed.package) : parsed.root;
  path.unshift(messagesOf(pkg as protobuf.Namespace).indexOf(current as protobuf.Type));
  return path;
}

function messagesOf(ns: protobuf.Namespace): protobuf.Type[] {
  return ns.nestedArray.filter((t): t is protobuf.Type => t instanceof protobuf.Type);
}

/** An Avro decimal's bytes (big-endian two's complement of the unscaled value). */
export function avroDecimalBytes(value: number, scale: number): Buffer {
  let unscaled = BigInt(Math.round(value * 10 ** scale));
  const bytes: number[] = [];
  do {
    bytes.unshift(Number(unscaled & 0xffn));
    unscaled >>= 8n;
  } while (unscaled !== 0n && unscaled !== -1n);
  // keep the sign bit right
  if ((value >= 0 && (bytes[0]! & 0x80) !== 0) || (value < 0 && (bytes[0]! & 0x80) === 0)) {
    bytes.unshift(value < 0 ? 0xff : 0);
  }
  return Buffer.from(bytes);
}
