// `kappaflow validate --registry [url]`: fetches the latest schema of each pipeline's
// source.schemaRegistry.subject and turns it into a check of the `event.<field>` names the
// expressions read. Without a url the spec's own registry url is used.
import {
  RegistryUnavailableError,
  registryClient,
  SchemaNotFoundError,
} from '../consumer/formats/registry-client.ts';
import { shapeOfSchema } from '../consumer/formats/schema-shape.ts';
import { checkEventFields } from '../expr/event-schema-check.ts';
import type { EventShape } from '../expr/event-shape.ts';
import type { Pipeline } from '../spec/schema.ts';
import type { ExtraCheck } from '../spec/validate.ts';

/** Exit code when the registry cannot be asked (distinct from 1, invalid files). */
export const REGISTRY_UNREACHABLE_EXIT = 3;

export class RegistryCheckError extends Error {}

type Outcome = { shape: EventShape } | { problem: string };

/**
 * Fetches what the pipelines need (each registry and subject once) and returns the check.
 * Throws RegistryCheckError when a registry is unreachable or a schema does not parse.
 */
export async function registryCheck(
  pipelines: readonly Pipeline[],
  url: string | undefined,
): Promise<ExtraCheck> {
  const outcomes = new Map<string, Outcome>();
  const keyOf = (p: Pipeline): string | undefined => {
    const r = p.spec.source.schemaRegistry;
    return r?.subject === undefined
      ? undefined
      : JSON.stringify([url ?? r.url, r.subject, p.spec.source.messageType]);
  };
  for (const p of pipelines) {
    const key = keyOf(p);
    const r = p.spec.source.schemaRegistry;
    if (key === undefined || r?.subject === undefined || outcomes.has(key)) continue;
    const base = url ?? r.url;
    let registered: Awaited<ReturnType<ReturnType<typeof registryClient>['schemaBySubjectVersion']>>;
    try {
      registered = await registryClient({ ...r, url: base }).schemaBySubjectVersion(r.subject, 'latest');
    } catch (e) {
      if (e instanceof SchemaNotFoundError) {
        outcomes.set(key, { problem: `the schema registry at ${base} has no subject ${r.subject}` });
        continue;
      }
      const why = e instanceof RegistryUnavailableError ? e.message : `${(e as Error)?.message ?? e}`;
      throw new RegistryCheckError(
        `cannot check ${p.metadata.name} against the schema registry: ${why}; check the url (--registry <url>) and that the registry is up`,
      );
    }
    try {
      outcomes.set(key, { shape: shapeOfSchema(registered, p.spec.source.messageType) });
    } catch (e) {
      throw new RegistryCheckError(
        `the latest ${registered.schemaType} schema of subject ${r.subject} does not parse: ${(e as Error)?.message ?? e}`,
      );
    }
  }
  return (pipeline) => {
    const key = keyOf(pipeline);
    const outcome = key === undefined ? undefined : outcomes.get(key);
    if (outcome === undefined) return [];
    if ('problem' in outcome) {
      return [
        { segments: ['spec', 'source', 'schemaRegistry', 'subject'], offset: 0, message: outcome.problem },
      ];
    }
    return checkEventFields(pipeline, outcome.shape);
  };
}
