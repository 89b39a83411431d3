// `kappaflow validate <file...>`: checks pipeline files without running anything.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import { formatDuration } from '../spec/duration.ts';
import { formatSpecError, type SpecError } from '../spec/errors.ts';
import type { NormalizedPipeline } from '../spec/normalize.ts';
import { type ValidationResult, validateFile, validateText } from '../spec/validate.ts';

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

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function validatePaths(paths: string[]): Promise<ValidationResult[]> {
  const results: ValidationResult[] = [];
  for (const file of await expand(paths)) {
    results.push(file === '-' ? validateText(await readStdin(), '<stdin>') : await validateFile(file));
  }
  return results;
}

export function validateCommand(): Command {
  return new Command('validate')
    .description(
      'Check pipeline files: schema, durations, names and CEL expressions. Exits 1 if any file is invalid.',
    )
    .argument('<file...>', 'pipeline YAML files (multi-document files allowed), folders, or - for stdin')
    .option('--json', 'print the results as JSON (errors with file, line, column, path, message)')
    .addHelpText(
      'after',
      `
Examples:
  $ kappaflow validate examples/page-views.yaml
  examples/page-views.yaml: page-views ok (tumbling 1m, 6 aggregates, source page-views)
  $ kappaflow validate broken.yaml
  broken.yaml:14:11 spec.window.size: expected a duration like 500ms, 10s, 1m, 1h30m or 7d, got "1 minute"
  $ kubectl get pipeline page-views -o yaml | kappaflow validate -`,
    )
    .action(async (files: string[], opts: { json?: boolean }) => {
      const results = await validatePaths(files);
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
            if (r.ok) console.log(`${p.file}: ${p.normalized.name} ok (${summarize(p.normalized)})`);
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
