// Writes docs/pipeline-spec.md generated from the schema.
//   node --import tsx scripts/gen-spec-docs.ts          regenerate
//   node --import tsx scripts/gen-spec-docs.ts --check  exit 1 if the checked-in file differs (CI)
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DOCS_PATH, renderSpecDocs } from '../processor/src/spec/docs.ts';

const target = join(import.meta.dirname, '..', DOCS_PATH);
const want = renderSpecDocs();

if (process.argv.includes('--check')) {
  const have = await readFile(target, 'utf8').catch(() => '');
  if (have !== want) {
    console.error(
      `${DOCS_PATH} is out of date with the schema; run: node --import tsx scripts/gen-spec-docs.ts`,
    );
    process.exitCode = 1;
  } else {
    console.log(`${DOCS_PATH} is up to date`);
  }
} else {
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, want);
  console.log(`wrote ${DOCS_PATH}`);
}
