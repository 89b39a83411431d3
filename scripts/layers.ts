/**
 * The dependency rule of the sources (docs/architecture.md): folders of processor/src are layers and
 * a file imports only from its own layer or the layers below it; the operator imports only the
 * processor's contracts (model, observability, spec, state, kafka) and its own code; nothing outside test/ imports
 * from test/. `findUpwardImports` is pure so a unit test can prove it catches a violation.
 */
import { posix } from 'node:path';
import ts from 'typescript';

/** Bottom first. Folders in one entry form one layer and may import each other. */
export const PROCESSOR_LAYERS: readonly (readonly string[])[] = [
  ['model', 'observability'],
  ['spec', 'expr'],
  ['aggregates', 'windows'],
  ['state', 'kafka'],
  ['consumer'],
  ['query'],
  // dashboard/ holds the browser assets that http/ serves
  ['http', 'dashboard'],
  ['runtime'],
  // the capacity model of `kappaflow plan`: pure, over the spec and the aggregate kinds
  ['capacity'],
  ['cli'],
];

/** What the operator may use of the processor. */
export const OPERATOR_MAY_IMPORT: readonly string[] = ['model', 'observability', 'spec', 'state', 'kafka'];

export interface SourceFile {
  /** repository-relative, with `/` */
  path: string;
  text: string;
}

export interface Violation {
  file: string;
  imports: string;
  rule: string;
}

const PROCESSOR = 'processor/src/';
const OPERATOR = 'operator/src/';

function layerOf(folder: string): number {
  return PROCESSOR_LAYERS.findIndex((layer) => layer.includes(folder));
}

/** `processor/src/<folder>/...` -> folder; undefined outside processor/src or directly in it. */
function processorFolder(path: string): string | undefined {
  if (!path.startsWith(PROCESSOR)) return undefined;
  const parts = path.slice(PROCESSOR.length).split('/');
  return parts.length > 1 ? parts[0] : undefined;
}

/** The repository-relative targets of a file's relative imports (static, dynamic and re-exports). */
export function relativeImports(file: SourceFile): string[] {
  return ts
    .preProcessFile(file.text, true, true)
    .importedFiles.map((i) => i.fileName)
    .filter((name) => name.startsWith('./') || name.startsWith('../'))
    .map((name) => posix.normalize(posix.join(posix.dirname(file.path), name)));
}

function ruleBroken(from: string, to: string): string | undefined {
  if (!from.startsWith('test/') && to.startsWith('test/'))
    return 'only tests import from test/ (shared helpers belong in harness/)';
  const fromFolder = processorFolder(from);
  const toFolder = processorFolder(to);
  if (from.startsWith(OPERATOR)) {
    if (to.startsWith(PROCESSOR) && !OPERATOR_MAY_IMPORT.includes(toFolder ?? ''))
      return `the operator imports only ${OPERATOR_MAY_IMPORT.join(', ')} of the processor`;
    return undefined;
  }
  if (fromFolder === undefined) return undefined;
  if (to.startsWith(OPERATOR))
    return fromFolder === 'cli' ? undefined : 'only the CLI (the top layer) starts the operator';
  if (toFolder === undefined) return undefined;
  const fromLayer = layerOf(fromFolder);
  const toLayer = layerOf(toFolder);
  if (fromLayer === -1) return `processor/src/${fromFolder} is in no layer: add it to PROCESSOR_LAYERS`;
  if (toLayer === -1) return `processor/src/${toFolder} is in no layer: add it to PROCESSOR_LAYERS`;
  if (toLayer > fromLayer)
    return `${fromFolder} (layer ${fromLayer}) imports ${toFolder} (layer ${toLayer}), above it`;
  return undefined;
}

/** Every import that breaks the rule, in file order. */
export function findUpwardImports(files: readonly SourceFile[]): Violation[] {
  const violations: Violation[] = [];
  for (const file of files) {
    for (const target of relativeImports(file)) {
      const rule = ruleBroken(file.path, target);
      if (rule) violations.push({ file: file.path, imports: target, rule });
    }
  }
  return violations;
}
