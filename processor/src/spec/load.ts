// Loading pipelines for running them: like validation, but throws on the first invalid file.
import { SpecValidationError } from './errors.ts';
import { type ValidPipeline, validateFile } from './validate.ts';

/** Every pipeline in `path`. Throws SpecValidationError (with every error) when anything is invalid. */
export async function loadPipelines(path: string): Promise<ValidPipeline[]> {
  const r = await validateFile(path);
  if (!r.ok) throw new SpecValidationError(r.errors);
  return r.pipelines;
}
