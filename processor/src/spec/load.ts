// Loading pipelines for running them: like validation, but throws on the first invalid file.
import { SpecValidationError } from './errors.ts';
import { type ValidPipeline, validateFile, validateText } from './validate.ts';

/** Every pipeline in `path`. Throws SpecValidationError (with every error) when anything is invalid. */
export async function loadPipelines(path: string): Promise<ValidPipeline[]> {
  const r = await validateFile(path);
  if (!r.ok) throw new SpecValidationError(r.errors);
  return r.pipelines;
}

/** Exactly one pipeline from YAML text (e.g. a ConfigMap the operator mounted). */
export function loadPipelineText(text: string, file = '<input>'): ValidPipeline {
  const r = validateText(text, file);
  if (!r.ok) throw new SpecValidationError(r.errors);
  if (r.pipelines.length !== 1) {
    throw new SpecValidationError([
      {
        file,
        line: 1,
        column: 1,
        path: '',
        message: `expected exactly one Pipeline, found ${r.pipelines.length}`,
      },
    ]);
  }
  return r.pipelines[0] as ValidPipeline;
}
