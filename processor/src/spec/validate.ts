// Validating Pipeline YAML (one or many documents per file) with positions for every error,
// and in-memory objects (what the operator reads from the API server).
// Contract: these functions never throw, whatever the input.
import { readFile } from 'node:fs/promises';
import { type Document, LineCounter, parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { type CompiledPipeline, checkRawExpressions, compilePipeline, formatPath } from '../expr/compile.ts';
import { ExprCompileError } from '../expr/errors.ts';
import type { SpecError, SpecIssue } from './errors.ts';
import { fallbackMessage } from './messages.ts';
import { type NormalizedPipeline, normalizePipeline } from './normalize.ts';
import { lineColumn, offsetFor, offsetInScalar } from './positions.ts';
import { API_VERSION_FULL, KIND, type Pipeline, pipelineSchema } from './schema.ts';
import { show } from './show.ts';

/** Larger inputs are refused up front: a pipeline is a page of YAML, and this bounds the work. */
export const MAX_SPEC_BYTES = 1024 * 1024;
/** YAML aliases can expand exponentially ("billion laughs"); a spec needs few if any. */
const MAX_ALIAS_COUNT = 100;

export interface ValidPipeline {
  file: string;
  /** Line where the document starts. */
  line: number;
  /** As written, with defaults applied. */
  pipeline: Pipeline;
  /** Durations in ms, ordered lists: what the processor runs. */
  normalized: NormalizedPipeline;
  /** Every expression compiled, ready to evaluate. */
  compiled: CompiledPipeline;
}

export interface ValidationResult {
  /** True when there are no errors and at least one pipeline. */
  ok: boolean;
  pipelines: ValidPipeline[];
  errors: SpecError[];
  /** Documents ignored because they are other Kubernetes kinds (e.g. a ConfigMap in the same file). */
  skipped: number;
}

type Issue = { path: PropertyKey[]; message: string; atKey?: boolean; offsetInExpr?: number };

/** A check a caller adds (e.g. against a registry schema): problems at an offset inside a scalar. */
export type ExtraCheck = (
  pipeline: Pipeline,
) => { segments: (string | number)[]; offset: number; message: string }[];

export interface ValidateOptions {
  extraCheck?: ExtraCheck;
}

export type ObjectValidation =
  | { ok: true; pipeline: Pipeline; normalized: NormalizedPipeline; compiled: CompiledPipeline }
  | { ok: false; issues: Issue[] };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const seg of path) {
    if (Array.isArray(v) && typeof seg === 'number') v = v[seg];
    else if (isObject(v)) v = Object.hasOwn(v, seg as string) ? v[seg as string] : undefined;
    else return undefined;
  }
  return v;
}

function issuesFromZod(error: z.ZodError, input: unknown): Issue[] {
  const out: Issue[] = [];
  for (const iss of error.issues) {
    const path = iss.path;
    if (iss.code === 'unrecognized_keys') {
      const messages = iss.message.split('\n');
      iss.keys.forEach((key, i) => {
        out.push({ path: [...path, key], message: messages[i] ?? `unknown field ${show(key)}`, atKey: true });
      });
    } else if (iss.code === 'invalid_type' && path.length > 0 && valueAt(input, path) === undefined) {
      const field = String(path[path.length - 1]);
      const hint = iss.message.replace(/, got nothing$/, '');
      out.push({
        path,
        message: `missing required field ${field}${hint.startsWith('expected') ? ` (${hint})` : ''}`,
      });
    } else {
      out.push({ path, message: iss.message, atKey: iss.code === 'invalid_key' });
    }
  }
  return out;
}

/** Validates one parsed document (no positions). Never throws. */
export function validatePipelineObject(input: unknown): ObjectValidation {
  try {
    const parsed = pipelineSchema.safeParse(input, { error: fallbackMessage });
    if (!parsed.success) {
      const issues = issuesFromZod(parsed.error, input);
      const seen = new Set(issues.map((i) => formatPath(i.path)));
      for (const p of checkRawExpressions(input)) {
        if (!seen.has(p.path)) issues.push({ path: p.segments, message: p.message, offsetInExpr: p.offset });
      }
      return { ok: false, issues };
    }
    const normalized = normalizePipeline(parsed.data);
    try {
      return { ok: true, pipeline: parsed.data, normalized, compiled: compilePipeline(normalized) };
    } catch (e) {
      if (!(e instanceof ExprCompileError)) throw e;
      return {
        ok: false,
        issues: e.problems.map((p) => ({ path: p.segments, message: p.message, offsetInExpr: p.offset })),
      };
    }
  } catch (e) {
    // A bug in a check must not crash callers; report it against the whole document.
    return {
      ok: false,
      issues: [
        { path: [], message: `internal error while validating: ${(e as Error)?.message ?? String(e)}` },
      ],
    };
  }
}

/** For callers without positions (the operator): `{ path: "spec.window.size", message }`. */
export function specIssues(result: ObjectValidation): SpecIssue[] {
  return result.ok ? [] : result.issues.map((i) => ({ path: formatPath(i.path), message: i.message }));
}

function looksForeign(doc: unknown): boolean {
  // Another resource in a multi-document manifest: not ours, so not an error.
  return (
    isObject(doc) &&
    typeof doc.apiVersion === 'string' &&
    typeof doc.kind === 'string' &&
    !doc.apiVersion.startsWith('kappaflow.io/') &&
    doc.kind !== KIND
  );
}

/** An error about the whole file (reported at its first line). */
const fileError = (file: string, message: string): SpecError => ({
  file,
  line: 1,
  column: 1,
  path: '',
  message,
});

/** Validates YAML text with one or more `---`-separated documents. Never throws. */
export function validateText(
  text: string,
  file = '<input>',
  options: ValidateOptions = {},
): ValidationResult {
  const result: ValidationResult = { ok: false, pipelines: [], errors: [], skipped: 0 };
  const counter = new LineCounter();
  try {
    if (typeof text !== 'string') {
      result.errors.push(fileError(file, 'expected YAML text'));
      return result;
    }
    if (Buffer.byteLength(text, 'utf8') > MAX_SPEC_BYTES) {
      result.errors.push(
        fileError(file, `file is larger than ${MAX_SPEC_BYTES} bytes; a pipeline spec is a page of YAML`),
      );
      return result;
    }
    const docs = parseAllDocuments(text, {
      lineCounter: counter,
      prettyErrors: false,
      uniqueKeys: true,
    }) as unknown;
    // parseAllDocuments returns an EmptyStream (an array with no documents) for empty input.
    const list = Array.isArray(docs) ? (docs as Document[]) : [];
    const names = new Map<string, number>();
    for (const doc of list) validateDocument(doc, { file, counter, names, result, options });
    if (result.errors.length === 0 && result.pipelines.length === 0) {
      result.errors.push(
        fileError(
          file,
          `no Pipeline found: expected a document with apiVersion: ${API_VERSION_FULL} and kind: ${KIND}`,
        ),
      );
    }
  } catch (e) {
    result.errors.push(
      fileError(file, `internal error while validating: ${(e as Error)?.message ?? String(e)}`),
    );
  }
  result.errors.sort((a, b) => a.line - b.line || a.column - b.column);
  result.ok = result.errors.length === 0;
  return result;
}

/**
 * One YAML document of a file: its YAML errors, or it is skipped (empty, another kind of object), or
 * its spec errors at their line and column, or a pipeline whose name the file has not used yet.
 */
function validateDocument(
  doc: Document,
  ctx: {
    file: string;
    counter: LineCounter;
    names: Map<string, number>;
    result: ValidationResult;
    options: ValidateOptions;
  },
): void {
  const { file, counter, names, result, options } = ctx;
  const at = (offset: number, path: string, message: string): SpecError => ({
    file,
    ...lineColumn(counter, offset),
    path,
    message,
  });
  if (doc.errors.length > 0) {
    for (const err of doc.errors) result.errors.push(at(err.pos[0], '', yamlMessage(err.message)));
    return;
  }
  if (doc.contents === null) return; // an empty document, e.g. after a trailing `---`
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    result.errors.push(
      at(doc.contents.range?.[0] ?? 0, '', `cannot read this document: ${(e as Error)?.message ?? e}`),
    );
    return;
  }
  if (value === null || value === undefined) return;
  if (looksForeign(value)) {
    result.skipped++;
    return;
  }
  const docStart = doc.contents.range?.[0] ?? 0;
  const r = validatePipelineObject(value);
  if (!r.ok) {
    for (const issue of r.issues) {
      const offset =
        issue.offsetInExpr !== undefined
          ? offsetInScalar(doc, issue.path, issue.offsetInExpr)
          : offsetFor(doc, issue.path, { atKey: issue.atKey ?? false });
      result.errors.push(at(offset, formatPath(issue.path), issue.message));
    }
    return;
  }
  const name = r.pipeline.metadata.name;
  const firstLine = names.get(name);
  if (firstLine !== undefined) {
    result.errors.push(
      at(
        offsetFor(doc, ['metadata', 'name']),
        'metadata.name',
        `pipeline ${show(name)} is already defined on line ${firstLine} of this file`,
      ),
    );
    return;
  }
  const { line } = lineColumn(counter, docStart);
  names.set(name, line);
  for (const p of options.extraCheck?.(r.pipeline) ?? []) {
    result.errors.push(at(offsetInScalar(doc, p.segments, p.offset), formatPath(p.segments), p.message));
  }
  result.pipelines.push({ file, line, pipeline: r.pipeline, normalized: r.normalized, compiled: r.compiled });
}

function yamlMessage(message: string): string {
  // The parser recurses per nesting level: a stack overflow means the document is nested too deeply.
  if (message.includes('Maximum call stack size exceeded'))
    return 'invalid YAML: nested too deeply to read (thousands of levels of lists or maps); a pipeline spec needs fewer than ten';
  // The yaml package's messages are good; drop its trailing position and code snippet.
  return `invalid YAML: ${message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? message}`;
}

/** Reads and validates a file. Never throws (an unreadable file is reported as an error). */
export async function validateFile(path: string, options: ValidateOptions = {}): Promise<ValidationResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException)?.code;
    const message =
      code === 'ENOENT'
        ? 'file not found'
        : code === 'EISDIR'
          ? 'is a directory; pass the YAML files inside it'
          : `cannot read: ${(e as Error)?.message ?? e}`;
    return {
      ok: false,
      pipelines: [],
      errors: [fileError(path, message)],
      skipped: 0,
    };
  }
  return validateText(text, path, options);
}
