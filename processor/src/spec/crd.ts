// Generating the Pipeline CustomResourceDefinition from the zod schema.
// zod emits JSON Schema (2020-12); Kubernetes wants a *structural* OpenAPI v3 schema: every node
// typed, no $ref/const/oneOf, `additionalProperties` only for maps, OpenAPI 3.0 exclusive bounds.
// Constraints JSON Schema cannot carry (cross-field rules, map key names) travel as
// `x-kubernetes-validations` attached with `.meta()` next to the zod check they mirror.

import { stringify } from 'yaml';
import { z } from 'zod';
import { PIPELINE_NAME_MAX, PIPELINE_NAME_PATTERN } from './names.ts';
import { API_GROUP, API_VERSION, KIND, pipelineSpecSchema } from './schema.ts';
import { pipelineStatusSchema } from './status.ts';

type Json = Record<string, unknown>;

export const CRD_PATH = 'charts/kappaflow/crds/pipelines.kappaflow.io.yaml';
export const PLURAL = 'pipelines';
export const SHORT_NAMES = ['kfp'];

const SAFE_INT = Number.MAX_SAFE_INTEGER;
const DROP = new Set([
  '$schema',
  'additionalProperties',
  'propertyNames',
  'const',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'oneOf',
  'anyOf',
  'id',
]);

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Merges the variants of a union into one object schema (the rules on the union keep them apart). */
function mergeVariants(variants: Json[]): Json {
  const properties: Record<string, Json> = {};
  let required: string[] | undefined;
  for (const v of variants) {
    const props = (v.properties ?? {}) as Record<string, Json>;
    for (const [k, p] of Object.entries(props)) {
      const existing = properties[k];
      if (
        existing &&
        Array.isArray(existing.enum) &&
        Array.isArray(p.enum ?? (p.const !== undefined ? [p.const] : undefined))
      ) {
        const more = (p.enum as unknown[] | undefined) ?? [p.const];
        existing.enum = [...new Set([...(existing.enum as unknown[]), ...more])];
      } else if (!existing) {
        properties[k] = structural(p);
      }
    }
    const req = (v.required ?? []) as string[];
    required = required === undefined ? [...req] : required.filter((r) => req.includes(r));
  }
  return { type: 'object', properties, ...(required && required.length > 0 ? { required } : {}) };
}

/** Converts one zod-emitted JSON Schema node to a structural OpenAPI v3 node. */
export function structural(node: Json): Json {
  const variants = (node.oneOf ?? node.anyOf) as Json[] | undefined;
  let out: Json = {};
  if (variants) {
    if (variants.every((v) => v.type === 'object')) out = mergeVariants(variants);
    else throw new Error(`cannot express a union of ${variants.map((v) => v.type).join('/')} structurally`);
  }
  for (const [key, value] of Object.entries(node)) {
    if (DROP.has(key)) continue;
    if (key === 'properties' && isObject(value)) {
      out.properties = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, structural(v as Json)]));
    } else if (key === 'items' && isObject(value)) {
      out.items = structural(value);
    } else if ((key === 'minimum' && value === -SAFE_INT) || (key === 'maximum' && value === SAFE_INT)) {
      // zod's .int() bound: noise in a CRD.
    } else {
      out[key] = value;
    }
  }
  if (node.const !== undefined) out.enum = [node.const];
  if (typeof node.exclusiveMinimum === 'number')
    Object.assign(out, { minimum: node.exclusiveMinimum, exclusiveMinimum: true });
  if (typeof node.exclusiveMaximum === 'number')
    Object.assign(out, { maximum: node.exclusiveMaximum, exclusiveMaximum: true });
  if (isObject(node.additionalProperties)) out.additionalProperties = structural(node.additionalProperties);
  if (out.type === undefined && out.properties !== undefined) out.type = 'object';
  return out;
}

export function toOpenApi(schema: z.ZodType): Json {
  return structural(
    z.toJSONSchema(schema, { io: 'input', unrepresentable: 'throw', target: 'draft-2020-12' }) as Json,
  );
}

export function buildCrd(): Json {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${PLURAL}.${API_GROUP}`,
      labels: { 'app.kubernetes.io/name': 'kappaflow', 'app.kubernetes.io/component': 'crd' },
    },
    spec: {
      group: API_GROUP,
      scope: 'Namespaced',
      names: {
        kind: KIND,
        listKind: `${KIND}List`,
        plural: PLURAL,
        singular: KIND.toLowerCase(),
        shortNames: SHORT_NAMES,
        categories: ['kappaflow'],
      },
      versions: [
        {
          name: API_VERSION,
          served: true,
          storage: true,
          subresources: {
            status: {},
            scale: {
              specReplicasPath: '.spec.replicas',
              statusReplicasPath: '.status.replicas',
              labelSelectorPath: '.status.selector',
            },
          },
          additionalPrinterColumns: [
            { name: 'Replicas', type: 'integer', jsonPath: '.status.replicas' },
            { name: 'Lag', type: 'integer', jsonPath: '.status.lag' },
            { name: 'Watermark', type: 'string', jsonPath: '.status.watermark' },
            { name: 'Active', type: 'integer', jsonPath: '.status.activeVersion' },
            {
              name: 'Replaying',
              type: 'integer',
              jsonPath: '.status.versions[?(@.role=="replaying")].version',
            },
            {
              name: 'ETA(s)',
              type: 'integer',
              jsonPath: '.status.versions[?(@.role=="replaying")].etaSeconds',
            },
            { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description:
                'A Kappaflow Pipeline: Kafka topic(s) in, windowed aggregates in Redis. Reference: docs/pipeline-spec.md.',
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: toOpenApi(pipelineSpecSchema),
                status: toOpenApi(pipelineStatusSchema),
              },
              'x-kubernetes-validations': [
                {
                  rule: `size(self.metadata.name) <= ${PIPELINE_NAME_MAX} && self.metadata.name.matches('${PIPELINE_NAME_PATTERN}')`,
                  message: `metadata.name: lowercase letters, digits and '-', starting with a letter, at most ${PIPELINE_NAME_MAX} characters`,
                },
              ],
            },
          },
        },
      ],
    },
  };
}

const HEADER = `# Generated by scripts/gen-crd.ts from processor/src/spec/schema.ts. Do not edit by hand:
# change the schema, then run: node --import tsx scripts/gen-crd.ts
`;

export function renderCrd(): string {
  return HEADER + stringify(buildCrd(), { lineWidth: 0, aliasDuplicateObjects: false });
}
