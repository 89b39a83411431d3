import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDir, runDir } from './paths.ts';

/** The smallest pipeline: one count per minute of topic `name` (plus `extra` spec lines, indented two spaces). */
export function countPipelineYaml(name: string, extra = ''): string {
  return `apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata: { name: ${name} }
spec:
  source: { topic: ${name} }
  window: { type: tumbling, size: 1m }
  aggregates: { n: { count: {} } }
${extra}`;
}

/** Writes countPipelineYaml into a fresh run folder named after the pipeline; returns both paths. */
export function writeCountPipeline(name: string, extra = ''): { dir: string; file: string } {
  const dir = ensureDir(join(runDir, name));
  const file = join(dir, 'pipeline.yaml');
  writeFileSync(file, countPipelineYaml(name, extra));
  return { dir, file };
}
