// Group names become URL parameters of the query API (`?<group>=<value>`): a group named like one of
// the API's own parameters could never be filtered by, so `kappaflow validate` refuses it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openApiDocument } from '../../../processor/src/http/openapi.ts';
import { QUERY_RESERVED } from '../../../processor/src/spec/names.ts';
import { validateText } from '../../../processor/src/spec/validate.ts';

const example = readFileSync(join(import.meta.dirname, '../../../examples/page-views.yaml'), 'utf8');

function withGroup(name: string, what = 'groupBy') {
  const text =
    what === 'groupBy'
      ? example.replace('    page: event.path', `    ${name}: event.path`)
      : example.replace('    views: { count: {} }', `    ${name}: { count: {} }`);
  expect(text).not.toBe(example);
  return validateText(text, 'p.yaml');
}

/** The query parameters of /windows and /top as the OpenAPI document describes them, bar group filters. */
function documentedParameters(): string[] {
  const names = new Set<string>();
  for (const path of ['/api/v1/pipelines/{name}/windows', '/api/v1/pipelines/{name}/top'] as const) {
    for (const p of openApiDocument.paths[path].get.parameters as readonly { name: string; in: string }[]) {
      if (p.in === 'query' && p.name !== 'groupFilter') names.add(p.name);
    }
  }
  // auth.ts: EventSource cannot send headers, so every API route also takes the token in the URL
  names.add('access_token');
  return [...names].sort();
}

describe('group names that are query parameters', () => {
  it('refuses every parameter of /windows and /top, at the group, naming the reserved list and why', () => {
    const params = documentedParameters();
    expect(params).toEqual(expect.arrayContaining(['cursor', 'order', 'rollup', 'access_token', 'window']));
    for (const name of params) {
      const r = withGroup(name);
      expect(r.ok, name).toBe(false);
      const error = r.errors.find((e) => e.path === `spec.groupBy.${name}`);
      expect(error, `${name}: ${JSON.stringify(r.errors)}`).toBeDefined();
      expect(error!.line).toBe(17);
      expect(error!.message).toContain(`"${name}" is reserved and cannot be a group name`);
      expect(error!.message).toContain('could never be filtered by');
      expect(error!.message).toContain(`reserved: ${QUERY_RESERVED.join(', ')}`);
    }
    // nothing is reserved that is no parameter
    expect([...QUERY_RESERVED].sort()).toEqual(params);
  });

  it('accepts format (no endpoint takes it) and leaves aggregate names alone', () => {
    expect(withGroup('format').errors).toEqual([]);
    expect(withGroup('order', 'aggregates').errors).toEqual([]);
  });
});
