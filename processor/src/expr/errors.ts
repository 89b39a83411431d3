// Typed errors for expressions. The processor catches ExprEvalError per record and sends the
// record to the dead-letter topic with `reason`; compile errors are reported at validate time.

/** An expression that cannot be compiled; `offset` is the character offset in `source`. */
export interface ExprProblem {
  /** Spec path of the expression, e.g. `spec.groupBy.country`. */
  path: string;
  /** The same path as segments, e.g. ["spec", "groupBy", "country"] (to locate it in YAML). */
  segments: (string | number)[];
  source: string;
  offset: number;
  message: string;
}

export class ExprCompileError extends Error {
  override readonly name = 'ExprCompileError';
  constructor(readonly problems: ExprProblem[]) {
    super(problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  }
}

/** Evaluation failed for one record (missing field, wrong type, division by zero...). */
export class ExprEvalError extends Error {
  override readonly name = 'ExprEvalError';
  constructor(
    /** Spec path of the failing expression, e.g. `spec.where`. */
    readonly path: string,
    readonly source: string,
    /** Short reason, suitable for a dead-letter header. */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${reason} (in ${JSON.stringify(source)})`, options);
  }
}
