/**
 * `node --import tsx scripts/check-layers.ts`: fails (exit 1) on an import that runs against the
 * layers (see scripts/layers.ts and docs/architecture.md), printing each with the rule it breaks.
 * Run by .ci/run.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../harness/paths.ts';
import { findUpwardImports } from './layers.ts';

const paths = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.ts'], {
  cwd: repoRoot,
  encoding: 'utf8',
})
  .split('\n')
  // deleted but not yet staged files are still listed
  .filter((path) => path !== '' && existsSync(join(repoRoot, path)));
const files = paths.map((path) => ({ path, text: readFileSync(join(repoRoot, path), 'utf8') }));
const violations = findUpwardImports(files);
for (const v of violations) console.error(`${v.file}: imports ${v.imports}: ${v.rule}`);
if (violations.length > 0) {
  console.error(`${violations.length} import(s) against the layers; see docs/architecture.md`);
  process.exit(1);
}
console.log(`layers: ${files.length} files, every import runs downward`);
