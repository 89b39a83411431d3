// `kappaflow validate <file...>`: checks pipeline files without running anything.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import { formatDuration } from '../spec/duration.ts';
import { formatSpecError, type SpecError } from '../spec/errors.ts';
import type { NormalizedPipeline } from '../spec/normalize.ts';
import type { Pipeline } from '../spec/schema.ts';
import { type ValidateOptions, type ValidationResult, validateFile, validateText } from '../spec/validate.ts';
import { REGISTRY_UNREACHABLE_EXIT, RegistryCheckError, registryCheck } from './registry-check.ts';

/** `tumbling 1m, 6 aggregates, source page-views` */
export function summarize(p: NormalizedPipeline): string {
  const w = p.window;
  const window =
    w.type === 'tumbling'
      ? `tumbling ${formatDuration(w.sizeMs)}`
      : w.type === 'hopping'
        ? `hopping ${formatDuration(w.sizeMs)} every ${formatDuration(w.advanceMs)}`
        : `session gap ${formatDuration(w.gapMs)}`;
  const n = p.aggregates.length;
  return `${window}, ${n} aggregate${n === 1 ? '' : 's'}, source ${p.source.topics.join(', ')}`;
}

/** Files named on the command line; folders contribute their .yaml/.yml files (not recursive). */
async function expand(paths: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    const s = p === '-' ? undefined : await stat(p).catch(() => undefined);
    if (s?.isDirectory()) {
      const names = (await readdir(p)).filter((n) => /\.ya?ml$/.test(n)).sort();
      out.push(...names.map((n) => join(p, n)));
    } else {
      out.push(p);
    }
  }
  return out;
}

// Read once: `validate --registry` walks the inputs twice.
let stdinText: Promise<string> | undefined;
function readStdin(): Promise<string> {
  stdinText ??= (async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  })();
  return stdinText;
}

export async function validatePaths(
  paths: string[],
  options: ValidateOptions = {},
): Promise<ValidationResult[]> {
  const results: ValidationResult[] = [];
  for (const file of await expand(paths)) {
    results.push(
      file === '-' ? validateText(await readStdin(), '<stdin>', options) : await validateFile(file, options),
    );
  }
  return results;
}

/**
 * Validates, then with a registry checks the `event` fields against each subject's latest schema
 * (a second pass, so that the positions come from the same YAML walk as every other error).
 */
export async function validateWithRegistry(
  paths: string[],
  registry: string | true,
): Promise<ValidationResult[]> {
  const first = await validatePaths(paths);
  const pipelines = first.flatMap((r) => r.pipelines.map((p) => p.pipeline));
  const extraCheck = await registryCheck(pipelines, registry === true ? undefined : registry);
  return validatePaths(paths, { extraCheck });
}

export function validateCommand(): Command {
  let checking = false;
  // With a registry, say per pipeline whether its fields were checked (a pipeline without a
  // subject is not, and must not look as if it were).
  const schemaNote = (p: Pipeline): string => {
    if (!checking) return '';
    const subject = p.spec.source.schemaRegistry?.subject;
    return subject === undefined
      ? '; event fields not checked: no source.schemaRegistry.subject'
      : `; event fields match the latest schema of ${subject}`;
  };
  return new Command('validate')
    .description(
      'Check pipeline files: schema, durations, names and CEL expressions. Exits 1 if any file is invalid.',
    )
    .argument('<file...>', 'pipeline YAML files (multi-document files allowed), folders, or - for stdin')
    .option('--json', 'print the results as JSON (errors with file, line, column, path, message)')
    .option(
      '--registry <url>',
      `also check every event.<field> the expressions read (and source.eventTime.field) against the latest schema of spec.source.schemaRegistry.subject in this registry; exits ${REGISTRY_UNREACHABLE_EXIT} if it cannot be reached`,
    )
    .option('--spec-registry', "like --registry, with each pipeline's own spec.source.schemaRegistry.url")
    .addHelpText(
      'after',
      `
Examples:
  $ kappaflow validate examples/page-views.yaml
  examples/page-views.yaml: page-views ok (tumbling 1m, 6 aggregates, source page-views)
  $ kappaflow validate broken.yaml
  broken.yaml:14:11 spec.window.size: expected a duration like 500ms, 10s, 1m, 1h30m or 7d, got "1 minute"
  $ kubectl get pipeline page-views -o yaml | kappaflow validate -
  $ kappaflow validate --registry http://localhost:8081 orders.yaml
  orders.yaml:12:23 spec.groupBy.customer: event.custmer is not in the registry schema (did you mean event.customer?)`,
    )
    .action(async (files: string[], opts: { json?: boolean; registry?: string; specRegistry?: boolean }) => {
      const registry = opts.registry ?? (opts.specRegistry ? true : undefined);
      checking = registry !== undefined;
      let results: ValidationResult[];
      try {
        results =
          registry === undefined ? await validatePaths(files) : await validateWithRegistry(files, registry);
      } catch (e) {
        if (!(e instanceof RegistryCheckError)) throw e;
        if (opts.json) console.log(JSON.stringify({ ok: false, registryError: e.message }, null, 2));
        else console.error(e.message);
        process.exitCode = REGISTRY_UNREACHABLE_EXIT;
        return;
      }
      const errors: SpecError[] = results.flatMap((r) => r.errors);
      if (opts.json) {
        const pipelines = results.flatMap((r) =>
          r.pipelines.map((p) => ({
            file: p.file,
            line: p.line,
            name: p.normalized.name,
            summary: summarize(p.normalized),
          })),
        );
        console.log(JSON.stringify({ ok: errors.length === 0, pipelines, errors }, null, 2));
      } else {
        for (const r of results) {
          for (const p of r.pipelines) {
            if (r.ok)
              console.log(
                `${p.file}: ${p.normalized.name} ok (${summarize(p.normalized)})${schemaNote(p.pipeline)}`,
              );
          }
          for (const e of r.errors) console.error(formatSpecError(e));
        }
        if (errors.length > 0) {
          const bad = results.filter((r) => !r.ok).length;
          console.error(
            `${errors.length} error${errors.length === 1 ? '' : 's'} in ${bad} file${bad === 1 ? '' : 's'}`,
          );
        }
      }
      process.exitCode = errors.length === 0 ? 0 : 1;
    });
}
