// Turning zod issues into messages that say what was expected and what was found.
import type { z } from 'zod';
import { show } from './show.ts';

type RawIssue = z.core.$ZodRawIssue;

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'an object',
  array: 'a list',
  record: 'a map',
};

/**
 * Fallback messages for checks without their own `error` (schema-level messages win over this).
 * Passed to safeParse so zod's global configuration stays untouched for other code.
 */
export function fallbackMessage(iss: RawIssue): string | undefined {
  const input = (iss as { input?: unknown }).input;
  switch (iss.code) {
    case 'invalid_type':
      return `expected ${TYPE_WORDS[iss.expected] ?? iss.expected}, got ${show(input)}`;
    case 'invalid_value':
      return `expected ${iss.values.map((v) => String(v)).join(' or ')}, got ${show(input)}`;
    case 'too_small':
      if (iss.origin === 'array')
        return `needs at least ${iss.minimum} item${Number(iss.minimum) === 1 ? '' : 's'}`;
      if (iss.origin === 'string') return `must not be shorter than ${iss.minimum} characters`;
      return `must be ${iss.inclusive ? 'at least' : 'more than'} ${iss.minimum}, got ${show(input)}`;
    case 'too_big':
      if (iss.origin === 'array') return `has at most ${iss.maximum} items`;
      if (iss.origin === 'string') return `has at most ${iss.maximum} characters`;
      return `must be ${iss.inclusive ? 'at most' : 'less than'} ${iss.maximum}, got ${show(input)}`;
    case 'invalid_format':
      return `${show(input)} does not have the expected format${'pattern' in iss && iss.pattern ? ` (${iss.pattern})` : ''}`;
    case 'invalid_key': {
      const inner = (iss.issues as { message?: string }[] | undefined)?.[0]?.message;
      return inner ?? `invalid key ${show(input)}`;
    }
    case 'invalid_union':
      return `does not match any allowed shape, got ${show(input)}`;
    default:
      return undefined;
  }
}
