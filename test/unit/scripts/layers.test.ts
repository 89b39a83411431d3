import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../../harness/paths.ts';
import { findUpwardImports, PROCESSOR_LAYERS } from '../../../scripts/layers.ts';

const file = (path: string, ...imports: string[]) => ({
  path,
  text: imports.map((from, i) => `import { x${i} } from '${from}';`).join('\n'),
});

describe('the layer check (scripts/check-layers.ts)', () => {
  it('reports an import from a lower layer into a higher one, with the rule', () => {
    const violations = findUpwardImports([file('processor/src/aggregates/fold.ts', '../state/keys.ts')]);
    expect(violations).toEqual([
      {
        file: 'processor/src/aggregates/fold.ts',
        imports: 'processor/src/state/keys.ts',
        rule: expect.stringContaining('aggregates (layer 2) imports state (layer 3)'),
      },
    ]);
  });

  it('sees re-exports and dynamic imports too', () => {
    const violations = findUpwardImports([
      { path: 'processor/src/model/x.ts', text: "export { a } from '../consumer/loop.ts';" },
      { path: 'processor/src/state/y.ts', text: "const m = await import('../runtime/processor.ts');" },
    ]);
    expect(violations.map((v) => v.imports)).toEqual([
      'processor/src/consumer/loop.ts',
      'processor/src/runtime/processor.ts',
    ]);
  });

  it('allows imports downward and within one layer', () => {
    expect(
      findUpwardImports([
        file('processor/src/runtime/processor.ts', '../consumer/loop.ts', '../http/app.ts', './compile.ts'),
        file('processor/src/spec/validate.ts', '../expr/compile.ts'),
        file('processor/src/expr/check.ts', '../spec/names.ts'),
        file('processor/src/cli/operator.ts', '../../../operator/src/controller.ts'),
        file('bench/run.ts', '../harness/kafka.ts', '../processor/src/runtime/processor.ts'),
      ]),
    ).toEqual([]);
  });

  it('keeps the operator to the processor contracts and the processor below the CLI off the operator', () => {
    const violations = findUpwardImports([
      file(
        'operator/src/inputs.ts',
        '../../processor/src/consumer/loop.ts',
        '../../processor/src/state/keys.ts',
      ),
      file('processor/src/runtime/processor.ts', '../../../operator/src/controller.ts'),
    ]);
    expect(violations.map((v) => `${v.file} -> ${v.imports}`)).toEqual([
      'operator/src/inputs.ts -> processor/src/consumer/loop.ts',
      'processor/src/runtime/processor.ts -> operator/src/controller.ts',
    ]);
  });

  it('keeps test/ to tests: bench, scripts and the harness never import it', () => {
    const violations = findUpwardImports([
      file('bench/query-load.ts', '../test/integration/query/fixture.ts'),
      file('test/integration/query/api.test.ts', './expected.ts'),
    ]);
    expect(violations.map((v) => v.file)).toEqual(['bench/query-load.ts']);
  });

  it('places every folder of processor/src in a layer (a new folder must be given one)', () => {
    const folders = readdirSync(join(repoRoot, 'processor', 'src'), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
    expect(folders.filter((f) => !PROCESSOR_LAYERS.some((layer) => layer.includes(f)))).toEqual([]);
    expect(
      findUpwardImports([file('processor/src/newfolder/a.ts', '../model/pipeline.ts')])[0]?.rule,
    ).toMatch(/in no layer/);
  });
});
