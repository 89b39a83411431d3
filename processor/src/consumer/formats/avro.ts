// Avro values decoded with the writer schema (avsc). Logical types: timestamp-millis/-micros (and
// their local- forms) become epoch milliseconds, so `eventTime` reads them as it reads JSON
// numbers; decimals become numbers when their precision fits a double exactly (<= 15 digits) and
// strings otherwise; dates stay days since the epoch. Records become plain objects for CEL.
import avro from 'avsc';
import { RecordFailure } from '../decode.ts';

class TimestampMicros extends avro.types.LogicalType {
  protected override _fromValue(micros: number): number {
    return Math.floor(micros / 1000);
  }
  protected override _toValue(millis: number): number {
    return millis * 1000;
  }
  protected override _resolve(type: avro.Type) {
    if (avro.Type.isType(type, 'long')) return (v: number) => this._fromValue(v);
    return undefined;
  }
}

class TimestampMillis extends avro.types.LogicalType {
  protected override _fromValue(millis: number): number {
    return millis;
  }
  protected override _toValue(millis: number): number {
    return millis;
  }
  protected override _resolve(type: avro.Type) {
    if (avro.Type.isType(type, 'long')) return (v: number) => v;
    return undefined;
  }
}

/** Big-endian two's complement bytes with a scale, as Avro's decimal stores them. */
class Decimal extends avro.types.LogicalType {
  private readonly scale: number;
  private readonly precision: number;

  constructor(schema: avro.Schema, opts?: unknown) {
    super(schema, opts);
    const s = schema as { scale?: number; precision?: number };
    this.scale = s.scale ?? 0;
    this.precision = s.precision ?? 38;
  }

  protected override _fromValue(bytes: Buffer): number | string {
    let unscaled = 0n;
    for (const b of bytes) unscaled = (unscaled << 8n) | BigInt(b);
    if (bytes.length > 0 && (bytes[0]! & 0x80) !== 0) unscaled -= 1n << BigInt(bytes.length * 8);
    const negative = unscaled < 0n;
    const digits = (negative ? -unscaled : unscaled).toString().padStart(this.scale + 1, '0');
    const text = `${negative ? '-' : ''}${this.scale > 0 ? `${digits.slice(0, -this.scale)}.${digits.slice(-this.scale)}` : digits}`;
    return this.precision <= 15 ? Number(text) : text;
  }

  protected override _toValue(value: number | string): Buffer {
    const [whole = '0', fraction = ''] = String(value).replace('-', '').split('.');
    const digits = `${whole}${fraction.padEnd(this.scale, '0').slice(0, this.scale)}`;
    let unscaled = BigInt(digits) * (String(value).startsWith('-') ? -1n : 1n);
    const bytes: number[] = [];
    const width = (unscaled < 0n ? -unscaled : unscaled).toString(16).length / 2 + 1;
    for (let i = 0; i < Math.ceil(width); i++) {
      bytes.unshift(Number(unscaled & 0xffn));
      unscaled >>= 8n;
    }
    return Buffer.from(bytes);
  }
}

export const AVRO_LOGICAL_TYPES = {
  'timestamp-millis': TimestampMillis,
  'local-timestamp-millis': TimestampMillis,
  'timestamp-micros': TimestampMicros,
  'local-timestamp-micros': TimestampMicros,
  decimal: Decimal,
} as unknown as Record<string, new (schema: avro.Schema, opts?: unknown) => avro.types.LogicalType>;

/** Parses a writer schema (with the schemas it references, in order) into a decoder of payloads. */
export function avroDecoder(schema: string, references: readonly string[]): (payload: Buffer) => unknown {
  const registry: Record<string, avro.Type> = {};
  const options = { logicalTypes: AVRO_LOGICAL_TYPES, registry, wrapUnions: false as const };
  for (const ref of references) avro.Type.forSchema(JSON.parse(ref) as avro.Schema, options);
  const type = avro.Type.forSchema(JSON.parse(schema) as avro.Schema, options);
  return (payload) => {
    let value: unknown;
    try {
      value = type.fromBuffer(payload);
    } catch (error) {
      throw new RecordFailure(
        'parse',
        `the Avro payload does not match its writer schema: ${(error as Error).message}`,
      );
    }
    return plain(value);
  };
}

/** avsc builds records as class instances; CEL reads plain objects (own fields only). */
function plain(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = plain(value[i]);
    return value;
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) out[key] = plain((value as Record<string, unknown>)[key]);
  return out;
}

/** Encodes a value with a schema (tests and the benchmark produce records with it). */
export function avroType(schema: unknown): avro.Type {
  return avro.Type.forSchema(schema as avro.Schema, { logicalTypes: AVRO_LOGICAL_TYPES, wrapUnions: false });
}
