// What the capacity model needs to know about a pipeline: its window type (which also picks the
// measured row its sketch aggregates are priced by, costs.ts sketchRow), how many aggregates of
// each write form (hash fields vs per-group sketches), and its enrichments.
import { KINDS } from '../aggregates/kinds.ts';
import type { NormalizedPipeline } from '../spec/normalize.ts';

export type WindowClass = 'tumbling' | 'sliced' | 'session';

export interface PipelineShape {
  window: WindowClass;
  /** hopping only: slices of gcd(size, advance) a window is merged from at read time */
  slicesPerWindow?: number;
  /** aggregates kept as fields of the window hash (count, sum, min, max, avg, first, last) */
  fieldAggregates: number;
  /** aggregates kept as per-group sketches or sets (countDistinct, percentile, topK) */
  sketchAggregates: number;
  /** enrichment lookups per record (one Redis hash read per batch each) */
  enrichments: number;
  groupByFields: number;
  filtered: boolean;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

export function classifyPipeline(p: NormalizedPipeline): PipelineShape {
  const sketches = p.aggregates.filter((a) => KINDS[a.op].form.type === 'sketch').length;
  const w = p.window;
  return {
    window: w.type === 'hopping' ? 'sliced' : w.type,
    ...(w.type === 'hopping' ? { slicesPerWindow: w.sizeMs / gcd(w.sizeMs, w.advanceMs) } : {}),
    fieldAggregates: p.aggregates.length - sketches,
    sketchAggregates: sketches,
    enrichments: p.enrich.length,
    groupByFields: p.groupBy.length,
    filtered: p.where !== undefined,
  };
}
