// The error shape every validation path returns, and its one-line rendering.

/** One problem in a spec file. `line` and `column` are 1-based. */
export interface SpecError {
  file: string;
  line: number;
  column: number;
  /** Dotted path into the document, e.g. `spec.window.size`; empty for YAML syntax errors. */
  path: string;
  message: string;
}

/** A problem in an in-memory object (no file positions), e.g. a Pipeline read from the API server. */
export interface SpecIssue {
  path: string;
  message: string;
}

/** `file:line:column spec.window.size: message`, as printed by `kappaflow validate`. */
export function formatSpecError(e: SpecError): string {
  return `${e.file}:${e.line}:${e.column}${e.path === '' ? '' : ` ${e.path}`}: ${e.message}`;
}

/** Thrown by the loaders when a file is not a valid set of pipelines. */
export class SpecValidationError extends Error {
  override readonly name = 'SpecValidationError';
  constructor(readonly errors: SpecError[]) {
    super(`invalid pipeline spec:\n${errors.map(formatSpecError).join('\n')}`);
  }
}
