import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { openApiDocument } from '../../../processor/src/http/openapi.ts';

/**
 * Validates a response body against the schema /openapi.json declares for that path, method and
 * status (OpenAPI 3.1 schemas are JSON Schema 2020-12, so ajv checks them as they are).
 */
export function createResponseValidator(document: unknown = openApiDocument) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  (addFormats as unknown as (a: Ajv2020) => void)(ajv);
  ajv.addSchema(document as object, 'openapi.json');
  const doc = document as {
    paths: Record<
      string,
      Record<
        string,
        { responses: Record<string, { $ref?: string; content?: Record<string, { schema: unknown }> }> }
      >
    >;
    components: { responses: Record<string, { content: Record<string, { schema: unknown }> }> };
  };
  return (template: string, status: number, body: unknown, method = 'get'): void => {
    const operation = doc.paths[template]?.[method];
    if (!operation) throw new Error(`openapi.json has no ${method.toUpperCase()} ${template}`);
    let response = operation.responses[String(status)];
    if (!response)
      throw new Error(`openapi.json declares no ${status} for ${method.toUpperCase()} ${template}`);
    if (response.$ref) response = doc.components.responses[response.$ref.split('/').pop()!]!;
    const schemaRef = `openapi.json#/paths/${escapePointer(template)}/${method}/responses/${status}/content/application~1json/schema`;
    const json = response.content?.['application/json'];
    if (!json) throw new Error(`no JSON body declared for ${status} ${template}`);
    const ref = operation.responses[String(status)]!.$ref
      ? `openapi.json#/components/responses/${operation.responses[String(status)]!.$ref!.split('/').pop()}/content/application~1json/schema`
      : schemaRef;
    const validate = ajv.getSchema(ref) ?? ajv.compile({ $ref: ref });
    if (!validate(body)) {
      throw new Error(
        `${status} ${template} does not match openapi.json: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 500)}`,
      );
    }
  };
}

function escapePointer(path: string): string {
  return path.replace(/~/g, '~0').replace(/\//g, '~1').replace(/{/g, '%7B').replace(/}/g, '%7D');
}
