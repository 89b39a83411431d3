// Writes the Pipeline CRD generated from the zod schema.
//   node --import tsx scripts/gen-crd.ts          regenerate charts/kappaflow/crds/pipelines.kappaflow.io.yaml
//   node --import tsx scripts/gen-crd.ts --check  exit 1 if the checked-in file differs (CI)
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CRD_PATH, renderCrd } from '../processor/src/spec/crd.ts';

const root = join(import.meta.dirname, '..');
const target = join(root, CRD_PATH);
const want = renderCrd();

if (process.argv.includes('--check')) {
  const have = await readFile(target, 'utf8').catch(() => '');
  if (have !== want) {
    console.error(`${CRD_PATH} is out of date with the schema; run: node --import tsx scripts/gen-crd.ts`);
    process.exitCode = 1;
  } else {
    console.log(`${CRD_PATH} is up to date`);
  }
} else {
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, want);
  console.log(`wrote ${CRD_PATH}`);
}
