/**
 * Helm and kubeconform, built from their Go modules (harness/kube/helm, harness/kube/kubeconform).
 *
 * kubeconform downloads JSON schemas from GitHub by default, which these machines cannot reach. Instead
 * the schemas are generated from the OpenAPI document of a running kube-apiserver (`/openapi/v2`), so
 * they match exactly the Kubernetes version the tests run against and include every installed CRD
 * (install the chart's CRDs first, then generate, and Pipeline objects are validated too). kubeconform
 * then runs fully offline with `-schema-location` pointing at that folder. Server-side dry-run on the
 * same API server stays the final word (it also runs CEL rules and admission); kubeconform is the fast
 * structural check that needs no cluster once the schemas are generated.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureGoTool, type KubeApi, kubeGet } from './kube.ts';
import { cacheDir, ensureDir, runDir } from './paths.ts';
import { run } from './service.ts';

function capture(command: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code: code ?? -1, stdout, stderr }));
  });
}

export { provisionKube } from './kube.ts';

/** Path of the helm binary, built once (cached) from helm.sh/helm/v3/cmd/helm. */
export function helmBin(): Promise<string> {
  return ensureGoTool('helm');
}

/** Path of the kubeconform binary, built once (cached) from github.com/yannh/kubeconform. */
export function kubeconformBin(): Promise<string> {
  return ensureGoTool('kubeconform');
}

/** Helm's config, cache and data folders, kept inside the project cache instead of the user's home. */
export function helmEnv(kubeconfigPath?: string): NodeJS.ProcessEnv {
  const home = ensureDir(join(cacheDir, 'kube', 'helm-home'));
  return {
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_DATA_HOME: join(home, 'data'),
    ...(kubeconfigPath ? { KUBECONFIG: kubeconfigPath } : {}),
  };
}

/** Runs helm with the given arguments (against `api` when given) and resolves with its output. */
export async function helm(args: string[], api?: Pick<KubeApi, 'kubeconfigPath'>): Promise<string> {
  return run(await helmBin(), args, { env: helmEnv(api?.kubeconfigPath) });
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Turns an OpenAPI v2 schema into a JSON schema (draft 4) as kubeconform expects it: refs point into
 * `_definitions.json`, IntOrString accepts both, typed fields accept null (rendered manifests carry
 * `creationTimestamp: null`), and in strict mode objects refuse unknown fields as the API server's
 * strict field validation does.
 */
function convert(schema: Json, strict: boolean): Json {
  if (Array.isArray(schema)) return schema.map((s) => convert(s, strict));
  if (!isObject(schema)) return schema;
  if (schema.format === 'int-or-string') {
    const description = schema.description;
    return {
      ...(description !== undefined ? { description } : {}),
      oneOf: [{ type: ['string', 'null'] }, { type: 'integer' }],
    };
  }
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === '$ref' && typeof value === 'string') out.$ref = value;
    else if (key === 'properties' && isObject(value)) {
      const properties: JsonObject = {};
      for (const [name, property] of Object.entries(value)) properties[name] = convert(property, strict);
      out.properties = properties;
    } else if (key === 'type' && typeof value === 'string')
      out.type = value === 'null' ? value : [value, 'null'];
    else if (key === 'enum' && Array.isArray(value)) out.enum = [...value, null];
    else if (key.startsWith('x-') || key === 'example') out[key] = value;
    else out[key] = convert(value, strict);
  }
  const preserveUnknown = schema['x-kubernetes-preserve-unknown-fields'] === true;
  if (
    strict &&
    isObject(schema.properties) &&
    schema.additionalProperties === undefined &&
    !preserveUnknown
  ) {
    out.additionalProperties = false;
  }
  return out;
}

function rewriteRefs(schema: Json, prefix: string): Json {
  if (Array.isArray(schema)) return schema.map((s) => rewriteRefs(s, prefix));
  if (!isObject(schema)) return schema;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(schema)) {
    out[key] =
      key === '$ref' && typeof value === 'string' && value.startsWith('#/definitions/')
        ? `${prefix}${value}`
        : rewriteRefs(value, prefix);
  }
  return out;
}

/** Bump when the conversion below changes, so cached schema folders are regenerated. */
const schemaGeneratorVersion = '1';

export interface KubeconformSchemas {
  /** the folder holding `standalone/` and `standalone-strict/` */
  dir: string;
  /** the value for kubeconform's `-schema-location` (a template kubeconform fills per resource) */
  schemaLocation: string;
  /** how many kinds have a schema */
  kinds: number;
}

/** Keeps the 20 most recently generated schema folders (each test that installs CRDs makes a new one). */
function pruneSchemaFolders(schemasDir: string): void {
  const folders = readdirSync(schemasDir)
    .filter((name) => /^[0-9a-f]{16}$/.test(name))
    .map((name) => ({ path: join(schemasDir, name), mtime: statSync(join(schemasDir, name)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  for (const old of folders.slice(20)) rmSync(old.path, { recursive: true, force: true });
}

export interface Gvk {
  apiVersion: string;
  kind: string;
}

function publishedKinds(definitions: Record<string, Json>): Set<string> {
  const kinds = new Set<string>();
  for (const schema of Object.values(definitions)) {
    const gvks = isObject(schema) ? schema['x-kubernetes-group-version-kind'] : undefined;
    if (!Array.isArray(gvks)) continue;
    for (const gvk of gvks) {
      if (!isObject(gvk)) continue;
      const group = typeof gvk.group === 'string' && gvk.group !== '' ? `${gvk.group}/` : '';
      kinds.add(`${group}${String(gvk.version)}/${String(gvk.kind)}`);
    }
  }
  return kinds;
}

/**
 * Generates kubeconform schemas from the API server's `/openapi/v2` (cached by the document's hash), one
 * file per kind named as kubeconform looks for it (`deployment-apps-v1.json`, `pipeline-kappaflow-v1alpha1.json`).
 * A CRD shows up in the OpenAPI document about a second after it is created: list its kinds in `waitFor`.
 */
export async function generateKubeconformSchemas(
  api: Pick<KubeApi, 'server' | 'token' | 'caPem'>,
  options: { waitFor?: Gvk[]; timeoutMs?: number } = {},
): Promise<KubeconformSchemas> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let body: string;
  let definitions: Record<string, Json>;
  for (;;) {
    const res = await kubeGet(api.server, '/openapi/v2', api, 'application/json');
    if (res.status !== 200)
      throw new Error(`GET /openapi/v2 answered ${res.status}: ${res.body.slice(0, 500)}`);
    body = res.body;
    definitions = (JSON.parse(body) as { definitions?: Record<string, Json> }).definitions ?? {};
    const published = publishedKinds(definitions);
    const missing = (options.waitFor ?? []).filter((k) => !published.has(`${k.apiVersion}/${k.kind}`));
    if (missing.length === 0) break;
    if (Date.now() > deadline) {
      throw new Error(
        `the API server's OpenAPI document never listed ${missing.map((k) => `${k.apiVersion}/${k.kind}`).join(', ')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const hash = createHash('sha256').update(schemaGeneratorVersion).update(body).digest('hex').slice(0, 16);
  const schemasDir = ensureDir(join(cacheDir, 'kube', 'schemas'));
  const dir = join(schemasDir, hash);
  const schemaLocation = `${dir}/standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json`;
  const countFile = join(dir, 'kinds');
  if (existsSync(countFile)) return { dir, schemaLocation, kinds: Number(readFileSync(countFile, 'utf8')) };
  pruneSchemaFolders(schemasDir);

  const tmp = ensureDir(`${dir}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`);
  let kinds = 0;
  for (const [variant, strict] of [
    ['standalone', false],
    ['standalone-strict', true],
  ] as const) {
    const out = ensureDir(join(tmp, variant));
    const converted: JsonObject = {};
    for (const [name, schema] of Object.entries(definitions)) converted[name] = convert(schema, strict);
    // A Quantity is published as a string, but manifests write `cpu: 1` as often as `cpu: "1"`.
    const quantity = 'io.k8s.apimachinery.pkg.api.resource.Quantity';
    if (isObject(definitions[quantity])) {
      converted[quantity] = { oneOf: [{ type: ['string', 'null'] }, { type: 'number' }] };
    }
    writeFileSync(join(out, '_definitions.json'), JSON.stringify({ definitions: converted }));
    kinds = 0;
    for (const schema of Object.values(definitions)) {
      if (!isObject(schema)) continue;
      const gvks = schema['x-kubernetes-group-version-kind'];
      if (!Array.isArray(gvks)) continue;
      for (const gvk of gvks) {
        if (!isObject(gvk) || typeof gvk.kind !== 'string' || typeof gvk.version !== 'string') continue;
        const group = typeof gvk.group === 'string' ? gvk.group : '';
        const suffix = group === '' ? `-${gvk.version}` : `-${group.split('.')[0]}-${gvk.version}`;
        const file = join(out, `${gvk.kind}${suffix}.json`.toLowerCase());
        // A kind's own schema, with refs to the shared definitions next to it.
        const own = rewriteRefs(convert(schema, strict), '_definitions.json') as JsonObject;
        writeFileSync(file, JSON.stringify({ $schema: 'http://json-schema.org/draft-04/schema#', ...own }));
        kinds++;
      }
    }
  }
  writeFileSync(join(tmp, 'kinds'), String(kinds));
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another process generated the same folder first
  }
  return { dir, schemaLocation, kinds };
}

export interface KubeconformResult {
  ok: boolean;
  /** kubeconform's JSON output: one entry per resource with `status` and `msg` */
  resources: { filename: string; kind: string; name: string; version: string; status: string; msg: string }[];
  output: string;
}

/**
 * Validates YAML manifests (e.g. `helm template` output) offline with kubeconform against schemas
 * generated from `api`. Strict by default: unknown fields are errors. Kinds without a schema are errors
 * too, so a missing CRD cannot hide a typo.
 */
export async function kubeconform(
  manifests: string,
  api: Pick<KubeApi, 'server' | 'token' | 'caPem'>,
  options: { strict?: boolean; waitFor?: Gvk[] } = {},
): Promise<KubeconformResult> {
  const [bin, schemas] = await Promise.all([
    kubeconformBin(),
    generateKubeconformSchemas(api, options.waitFor ? { waitFor: options.waitFor } : {}),
  ]);
  const file = join(ensureDir(runDir), `kubeconform-${process.pid}-${randomBytes(3).toString('hex')}.yaml`);
  writeFileSync(file, manifests);
  const args = [
    '-schema-location',
    schemas.schemaLocation,
    '-output',
    'json',
    '-summary',
    '-verbose',
    ...(options.strict === false ? [] : ['-strict']),
    file,
  ];
  try {
    const { code, stdout, stderr } = await capture(bin, args);
    let resources: KubeconformResult['resources'] = [];
    try {
      resources = (JSON.parse(stdout) as { resources?: KubeconformResult['resources'] }).resources ?? [];
    } catch {
      return { ok: false, resources, output: `${stdout}${stderr}` };
    }
    const ok =
      code === 0 && resources.every((r) => r.status === 'statusValid' || r.status === 'statusSkipped');
    return { ok, resources, output: `${stdout}${stderr}` };
  } finally {
    rmSync(file, { force: true });
  }
}
