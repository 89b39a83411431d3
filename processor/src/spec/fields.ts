// Reusable field schemas. Every check is declared here once: zod enforces it with a message
// that names the fix, and the CRD generator turns the same declarations into OpenAPI
// (patterns, bounds) or `x-kubernetes-validations` rules (what OpenAPI cannot express).
import { z } from 'zod';
import { DURATION_HINT, DURATION_PATTERN, tryParseDuration } from './duration.ts';
import {
  CEL_RESERVED,
  IDENTIFIER_MAX,
  IDENTIFIER_PATTERN,
  identifierProblem,
  SECRET_KEY_PATTERN,
  SECRET_NAME_MAX,
  SECRET_NAME_PATTERN,
  TOPIC_MAX,
  TOPIC_PATTERN,
  topicProblem,
} from './names.ts';
import { closest, show } from './show.ts';

/** A Kubernetes CEL validation rule, attached to a schema with `.meta(k8sRules(...))`. */
export interface K8sRule {
  rule: string;
  message: string;
  fieldPath?: string;
}

export function k8sRules(...rules: K8sRule[]): { 'x-kubernetes-validations': K8sRule[] } {
  return { 'x-kubernetes-validations': rules };
}

/**
 * An object that refuses unknown fields, suggesting the closest known one
 * (`unknown field "sizee" (did you mean "size"?)`): typos in YAML are the most common mistake.
 */
export function strictObject<Shape extends z.ZodRawShape>(shape: Shape) {
  const known = Object.keys(shape);
  return z.strictObject(shape, {
    error: (iss) => {
      if (iss.code === 'unrecognized_keys') {
        return (
          iss.keys
            .map((k) => {
              const guess = closest(k, known);
              return guess === undefined
                ? `unknown field ${show(k)}; known fields are ${known.join(', ')}`
                : `unknown field ${show(k)} (did you mean ${show(guess)}?)`;
            })
            // one line per key: validate.ts gives each key its own line (the messages hold "; " and ", ")
            .join('\n')
        );
      }
      if (iss.code === 'invalid_type')
        return known.length > 0
          ? `expected an object with ${known.join(', ')}, got ${show(iss.input)}`
          : `expected an empty object {}, got ${show(iss.input)}`;
      return undefined;
    },
  });
}

/** A duration string such as `1m`; `min` is the smallest allowed value in ms. */
export function duration(min = 0) {
  return z
    .string({ error: (iss) => `expected ${DURATION_HINT}, got ${show(iss.input)}` })
    .regex(new RegExp(DURATION_PATTERN), {
      error: (iss) => `expected ${DURATION_HINT}, got ${show(iss.input)}`,
      abort: true,
    })
    .min(2, { error: (iss) => `expected ${DURATION_HINT}, got ${show(iss.input)}`, abort: true })
    .refine((s) => tryParseDuration(s) !== undefined, {
      abort: true,
      error: (iss) => `${show(iss.input)} is longer than the maximum duration of 3660d`,
    })
    .refine((s) => (tryParseDuration(s) ?? 0) >= min, {
      error: (iss) =>
        min === 1
          ? `must be longer than 0, got ${show(iss.input)}`
          : `must be at least ${min}ms, got ${show(iss.input)}`,
    });
}

/** Most user mistakes in CEL are typos caught at compile time; the length cap keeps parsing bounded. */
export const CEL_MAX_LENGTH = 4096;

export function celExpression(description: string) {
  return z
    .string({
      error: (iss) => `expected a CEL expression (a string, e.g. event.path), got ${show(iss.input)}`,
    })
    .min(1, { error: 'expected a CEL expression, got an empty string' })
    .max(CEL_MAX_LENGTH, { error: `a CEL expression has at most ${CEL_MAX_LENGTH} characters` })
    .describe(description);
}

export const topicName = z
  .string({ error: (iss) => `expected a Kafka topic name, got ${show(iss.input)}` })
  .min(1, { error: 'a topic name cannot be empty', abort: true })
  .max(TOPIC_MAX, { error: `a topic name has at most ${TOPIC_MAX} characters`, abort: true })
  .regex(new RegExp(TOPIC_PATTERN), {
    error: (iss) => topicProblem(String(iss.input)) ?? 'invalid topic name',
    abort: true,
  })
  .refine((s) => s !== '.' && s !== '..', {
    error: (iss) => topicProblem(String(iss.input)) ?? 'invalid topic name',
  })
  .describe('A Kafka topic name: letters, digits, `.`, `_` and `-`, at most 249 characters.');

/** Keys of groupBy/aggregates maps and enrich `as`: they end up in CEL, Redis keys and URLs. */
export function identifier(what: string, reserved: readonly string[] = []) {
  const forbidden = [...CEL_RESERVED, ...reserved];
  return z
    .string()
    .max(IDENTIFIER_MAX, {
      error: (iss) => identifierProblem(String(iss.input), what) ?? 'too long',
      abort: true,
    })
    .regex(new RegExp(IDENTIFIER_PATTERN), {
      error: (iss) => identifierProblem(String(iss.input), what) ?? 'invalid',
      abort: true,
    })
    .refine((s) => !forbidden.includes(s), {
      error: (iss) =>
        identifierProblem(String(iss.input), what) ??
        `${show(iss.input)} is reserved (it is a query API parameter) and cannot be ${what}; pick another name`,
    });
}

/** The CEL rule for a map's keys, mirroring identifier(): the CRD cannot express propertyNames. */
export function identifierKeysRule(what: string, reserved: readonly string[] = []): K8sRule {
  const forbidden = [...CEL_RESERVED, ...reserved].map((w) => `'${w}'`).join(', ');
  return {
    rule: `self.all(k, k.matches('${IDENTIFIER_PATTERN}') && size(k) <= ${IDENTIFIER_MAX} && !(k in [${forbidden}]))`,
    message: `${what}s must be identifiers (letters, digits, '_'; not a reserved word)`,
  };
}

export const secretName = z
  .string({ error: (iss) => `expected the name of a Kubernetes Secret, got ${show(iss.input)}` })
  .min(1, { error: 'a Secret name cannot be empty' })
  .max(SECRET_NAME_MAX, { error: `a Secret name has at most ${SECRET_NAME_MAX} characters` })
  .regex(new RegExp(SECRET_NAME_PATTERN), {
    error: (iss) =>
      `${show(iss.input)} is not a valid Secret name: use lowercase letters, digits, '-' and '.'`,
  });

export function secretKey(defaultKey: string) {
  return secretKeyString().default(defaultKey);
}

/** The key of a value in a Kubernetes Secret (letters, digits, '-', '_' and '.'). */
export function secretKeyString() {
  return z
    .string()
    .min(1)
    .max(253)
    .regex(new RegExp(SECRET_KEY_PATTERN), {
      error: (iss) => `${show(iss.input)} is not a valid Secret key: use letters, digits, '-', '_' and '.'`,
    });
}

export const positiveInt = (what: string, max: number) =>
  z
    .number({ error: (iss) => `expected ${what} (a whole number), got ${show(iss.input)}` })
    .int({ error: (iss) => `expected ${what} (a whole number), got ${show(iss.input)}` })
    .min(1, { error: (iss) => `${what} must be at least 1, got ${show(iss.input)}` })
    .max(max, { error: (iss) => `${what} must be at most ${max}, got ${show(iss.input)}` });

export { closest };
