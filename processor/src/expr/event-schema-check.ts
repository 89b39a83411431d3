// `kappaflow validate --registry`: every `event.<field>` an expression of a pipeline reads (and
// source.eventTime.field), checked against the shape of the subject's latest schema.
import type { Pipeline } from '../spec/schema.ts';
import { eventReferences } from './event-references.ts';
import { type EventShape, unknownField } from './event-shape.ts';

export interface EventFieldProblem {
  segments: (string | number)[];
  /** where the unknown name starts in the expression (or field path) */
  offset: number;
  message: string;
}

/** The expressions of a spec with their paths (the options that hold CEL). */
export function pipelineExpressions(pipeline: Pipeline): { segments: (string | number)[]; source: string }[] {
  const spec = pipeline.spec as unknown as Record<string, unknown>;
  const out: { segments: (string | number)[]; source: string }[] = [];
  const add = (segments: (string | number)[], source: unknown) => {
    if (typeof source === 'string') out.push({ segments, source });
  };
  add(['spec', 'where'], spec.where);
  const steps = Array.isArray(spec.enrich) ? (spec.enrich as { lookup?: { key?: unknown } }[]) : [];
  for (const [i, s] of steps.entries()) add(['spec', 'enrich', i, 'lookup', 'key'], s.lookup?.key);
  for (const [name, source] of Object.entries((spec.groupBy ?? {}) as Record<string, unknown>))
    add(['spec', 'groupBy', name], source);
  for (const [name, agg] of Object.entries(
    (spec.aggregates ?? {}) as Record<string, Record<string, unknown>>,
  )) {
    for (const [op, source] of Object.entries(agg ?? {})) {
      if (op === 'count' || op === 'q' || op === 'k' || op === 'accuracy') continue;
      add(['spec', 'aggregates', name, op], source);
    }
  }
  return out;
}

export function checkEventFields(pipeline: Pipeline, shape: EventShape): EventFieldProblem[] {
  const problems: EventFieldProblem[] = [];
  for (const { segments, source } of pipelineExpressions(pipeline)) {
    for (const ref of eventReferences(source)) {
      const unknown = unknownField(shape, ref.fields);
      if (unknown)
        problems.push({ segments, offset: ref.offsets[unknown.index] ?? 0, message: unknown.message });
    }
  }
  const field = pipeline.spec.source.eventTime?.field;
  if (field !== undefined) {
    const names = field.split('.');
    const unknown = unknownField(shape, names);
    if (unknown) {
      const offset = names.slice(0, unknown.index).reduce((n, s) => n + s.length + 1, 0);
      problems.push({ segments: ['spec', 'source', 'eventTime', 'field'], offset, message: unknown.message });
    }
  }
  return problems;
}
