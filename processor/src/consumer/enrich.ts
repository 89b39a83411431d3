import type { EnrichLookup, RecordContext } from '../model/pipeline.ts';
import { RecordFailure } from './decode.ts';

/** A record that a lookup with `onMissing: skip` filters out. */
export const SKIP = new RecordFailure('enrich', 'skipped: no lookup entry');

/** Reads a lookup table (a Redis hash kept by another system) for many keys at once. */
export interface EnrichmentTable {
  resolve(
    lookups: readonly EnrichLookup[],
    contexts: readonly RecordContext[],
  ): Promise<(Record<string, unknown> | RecordFailure)[]>;
}

type HashReader = (hash: string, fields: string[]) => Promise<(string | null)[]>;

/**
 * A stream-table join against Redis hashes: one HMGET per lookup per batch, however many records.
 * A key with no entry gives `null` (a left join); the pipeline's expressions decide what that means.
 * Values that hold JSON are parsed, so `enriched.merchant.region` works for JSON-valued entries.
 */
export function redisEnrichment(readHash: HashReader): EnrichmentTable {
  return {
    async resolve(lookups, contexts) {
      const results: (Record<string, unknown> | RecordFailure)[] = contexts.map(() => ({}));
      for (const lookup of lookups) {
        const keyOf = new Array<string | null>(contexts.length);
        const unique = new Set<string>();
        contexts.forEach((ctx, i) => {
          if (results[i] instanceof RecordFailure) return;
          try {
            // The lookups so far are what this key expression may read (contexts may be lazy views: no copies).
            ctx.enriched = results[i] as Record<string, unknown>;
            const key = lookup.key(ctx);
            if (key === null || key === undefined) throw new Error('the key expression gave null');
            keyOf[i] = String(key);
            unique.add(String(key));
          } catch (error) {
            results[i] = new RecordFailure('enrich', `enrich ${lookup.as}: ${(error as Error).message}`);
          }
        });
        if (unique.size === 0) continue;
        const fields = [...unique];
        const values = await readHash(lookup.redisHash, fields);
        const byKey = new Map<string, unknown>();
        for (const [i, field] of fields.entries()) byKey.set(field, parseEntry(values[i] ?? null));
        contexts.forEach((_, i) => {
          const entry = results[i];
          const key = keyOf[i];
          if (entry instanceof RecordFailure || key === undefined || key === null) return;
          const value = byKey.get(key) ?? null;
          if (value === null && lookup.onMissing === 'skip') results[i] = SKIP;
          else if (value === null && lookup.onMissing === 'deadLetter') {
            results[i] = new RecordFailure(
              'enrich',
              `enrich ${lookup.as}: no entry "${key}" in Redis hash ${lookup.redisHash}`,
            );
          } else entry![lookup.as] = value;
        });
      }
      return results;
    },
  };
}

function parseEntry(value: string | null): unknown {
  if (value === null) return null;
  const first = value.trimStart()[0];
  if (first === '{' || first === '[') {
    try {
      return JSON.parse(value);
    } catch {
      return value;
    }
  }
  return value;
}

export const noEnrichment: EnrichmentTable = {
  async resolve(_lookups, contexts) {
    return contexts.map(() => ({}));
  },
};
