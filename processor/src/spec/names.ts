// Naming rules. Each name ends up somewhere with its own rules: pipeline names in Kubernetes
// object names (Deployment, Service, ConfigMap, with suffixes), topics in Kafka, aggregate and
// group names in Redis keys, CEL and the query API's URL parameters.
// Patterns are RE2-compatible so the CRD can reuse them.

/** Kubernetes DNS-1035 label (what a Service name must be). */
export const PIPELINE_NAME_PATTERN = '^[a-z]([-a-z0-9]*[a-z0-9])?$';
/** Leaves room for the suffixes the operator appends (`-v12`, `-query`) within the 63-character limit. */
export const PIPELINE_NAME_MAX = 40;

/** Kubernetes DNS-1123 subdomain: the rule for Secret names. */
export const SECRET_NAME_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
export const SECRET_NAME_MAX = 253;
/** Keys inside a Secret's data. */
export const SECRET_KEY_PATTERN = '^[-._a-zA-Z0-9]+$';

/** Kafka's legal topic characters; `.` and `..` are refused separately. */
export const TOPIC_PATTERN = '^[a-zA-Z0-9._-]+$';
export const TOPIC_MAX = 249;

/** Aggregate, group and enrich names: identifiers usable in CEL, Redis keys and URL parameters. */
export const IDENTIFIER_PATTERN = '^[a-zA-Z_][a-zA-Z0-9_]*$';
export const IDENTIFIER_MAX = 63;

/** CEL reserved words (cannot be used as a field name in `enriched.<name>`). */
export const CEL_RESERVED = [
  'as',
  'break',
  'const',
  'continue',
  'else',
  'false',
  'for',
  'function',
  'if',
  'import',
  'in',
  'let',
  'loop',
  'package',
  'namespace',
  'null',
  'return',
  'true',
  'var',
  'void',
  'while',
] as const;

/**
 * The query API's own URL parameters (processor/src/http/app.ts reads these lists). Every other
 * parameter of /windows and /top filters by a group (`?country=DE`), so a group named like one of
 * these could never be filtered by: group names may not be any of them.
 */
export const WINDOWS_QUERY_PARAMS = [
  'from',
  'to',
  'limit',
  'cursor',
  'order',
  'rollup',
  'version',
  'access_token',
] as const;
export const TOP_QUERY_PARAMS = ['aggregate', 'window', 'limit', 'version', 'access_token'] as const;

/** Names a group cannot take: the query parameters of /windows and /top, in byte order. */
export const QUERY_RESERVED: readonly string[] = [
  ...new Set<string>([...WINDOWS_QUERY_PARAMS, ...TOP_QUERY_PARAMS]),
].sort();

/** What the group-name schema calls a group name (spec/schema.ts passes this text to identifier()). */
const GROUP_NAME = 'a group name';

/** Returns why `name` is not a valid topic, or undefined. */
export function topicProblem(name: string): string | undefined {
  if (name.length === 0) return 'a topic name cannot be empty';
  if (name.length > TOPIC_MAX) return `a topic name has at most ${TOPIC_MAX} characters, got ${name.length}`;
  if (name === '.' || name === '..') return `"${name}" is not a legal Kafka topic name`;
  if (!new RegExp(TOPIC_PATTERN).test(name)) {
    return `${JSON.stringify(name)} is not a valid Kafka topic name: use letters, digits, '.', '_' and '-'`;
  }
  return undefined;
}

/** Returns why `name` is not a valid pipeline name, or undefined. */
export function pipelineNameProblem(name: string): string | undefined {
  if (name.length > PIPELINE_NAME_MAX) {
    return `a pipeline name has at most ${PIPELINE_NAME_MAX} characters (the operator appends suffixes), got ${name.length}`;
  }
  if (!new RegExp(PIPELINE_NAME_PATTERN).test(name)) {
    return `${JSON.stringify(name)} is not a valid pipeline name: use lowercase letters, digits and '-', starting with a letter and ending with a letter or digit`;
  }
  return undefined;
}

/** Returns why `name` is not a valid identifier for `what` (e.g. "an aggregate name"), or undefined. */
export function identifierProblem(name: string, what: string): string | undefined {
  if (!new RegExp(IDENTIFIER_PATTERN).test(name) || name.length > IDENTIFIER_MAX) {
    return `${JSON.stringify(name)} cannot be ${what}: use letters, digits and '_', starting with a letter or '_', at most ${IDENTIFIER_MAX} characters`;
  }
  if ((CEL_RESERVED as readonly string[]).includes(name)) {
    return `${JSON.stringify(name)} is a reserved word in CEL and cannot be ${what}`;
  }
  // Only group names become filter parameters; aggregate and enrich names may be `from` or `order`.
  if (what === GROUP_NAME && QUERY_RESERVED.includes(name)) {
    return `${JSON.stringify(name)} is reserved and cannot be ${what}: the query API filters by group with URL parameters (?<group>=<value>), and ${JSON.stringify(name)} is one of its own parameters, so the group could never be filtered by (reserved: ${QUERY_RESERVED.join(', ')}); pick another name`;
  }
  return undefined;
}
