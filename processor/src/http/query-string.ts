// The API's query-string parser: node's querystring (flat keys, a repeat becomes an array, which
// the handlers refuse or take as any-of), without its default cap of 1,000 parameters: past it the
// rest would be dropped silently (a repeat no longer refused, a filter value lost). The URL limit
// (8 KiB) bounds the count.
import { type ParsedUrlQuery, parse } from 'node:querystring';

export function parseQueryString(text: string): ParsedUrlQuery {
  return parse(text, '&', '=', { maxKeys: 0 });
}
