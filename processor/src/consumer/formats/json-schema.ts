// JSON Schema records: the payload is JSON text, checked against the writer schema (ajv) so a record
// that does not match its schema is dead-lettered like an Avro or Protobuf one that does not decode.
import { Ajv, type AnySchema, type ValidateFunction } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { RecordFailure } from '../decode.ts';

function ajvFor(schema: { $schema?: string }) {
  const options = { strict: false, allErrors: false, validateFormats: false };
  if (schema.$schema?.includes('2020-12')) return new Ajv2020(options);
  if (schema.$schema?.includes('2019-09')) return new Ajv2019(options);
  return new Ajv(options);
}

export function jsonSchemaDecoder(
  schema: string,
  references: readonly { name: string; schema: string }[],
): (payload: Buffer) => unknown {
  const parsed = JSON.parse(schema) as AnySchema & { $schema?: string };
  const ajv = ajvFor(parsed as { $schema?: string });
  for (const ref of references) ajv.addSchema(JSON.parse(ref.schema) as AnySchema, ref.name);
  const validate: ValidateFunction = ajv.compile(parsed);
  return (payload) => {
    let value: unknown;
    try {
      value = JSON.parse(payload.toString('utf8'));
    } catch (error) {
      throw new RecordFailure('parse', `the JSON Schema payload is not JSON: ${(error as Error).message}`);
    }
    if (!validate(value)) {
      const first = validate.errors?.[0];
      throw new RecordFailure(
        'parse',
        `the value does not match its JSON Schema: ${first ? `${first.instancePath || '/'} ${first.message}` : 'invalid'}`,
      );
    }
    return value;
  };
}
