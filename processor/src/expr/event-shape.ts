// What a schema says `event` holds, as a tree of field names, and the check of `event.a.b` chains
// against it (`kappaflow validate --registry`). A part whose fields the schema leaves open (a map,
// an object without listed properties, a type defined in a referenced schema) accepts any name, so
// the check only reports names the schema rules out.
import { closest } from '../spec/show.ts';

export type EventShape =
  | { kind: 'record'; fields: Map<string, EventShape> }
  /** any field name may follow */
  | { kind: 'open' }
  /** a value without fields (number, string, list...) */
  | { kind: 'leaf' };

export const OPEN: EventShape = { kind: 'open' };
export const LEAF: EventShape = { kind: 'leaf' };

/** The shape of a value that is one of several (a union, anyOf): any branch's fields are valid. */
export function mergeShapes(shapes: readonly EventShape[]): EventShape {
  if (shapes.length === 0) return LEAF;
  if (shapes.some((s) => s.kind === 'open')) return OPEN;
  const records = shapes.filter((s) => s.kind === 'record');
  if (records.length === 0) return LEAF;
  if (records.length === 1) return records[0] as EventShape;
  const fields = new Map<string, EventShape>();
  for (const r of records) {
    for (const [name, shape] of r.fields) {
      const seen = fields.get(name);
      fields.set(name, seen === undefined ? shape : mergeShapes([seen, shape]));
    }
  }
  return { kind: 'record', fields };
}

export interface UnknownField {
  /** index in the chain of the first name the schema lacks */
  index: number;
  message: string;
}

/** Checks `event.<fields...>`; undefined when the schema allows the whole chain. */
export function unknownField(shape: EventShape, fields: readonly string[]): UnknownField | undefined {
  let here = shape;
  for (const [index, name] of fields.entries()) {
    if (here.kind === 'open') return undefined;
    const path = ['event', ...fields.slice(0, index)].join('.');
    if (here.kind === 'leaf') {
      return {
        index,
        message: `${path} has no fields in the registry schema, so ${path}.${name} never exists`,
      };
    }
    const next = here.fields.get(name);
    if (next === undefined) {
      const names = [...here.fields.keys()];
      const guess = closest(name, names);
      return {
        index,
        message:
          `${path}.${name} is not in the registry schema` +
          (guess !== undefined
            ? ` (did you mean ${path}.${guess}?)`
            : names.length > 0
              ? ` (${path} has ${names.slice(0, 10).join(', ')}${names.length > 10 ? ', ...' : ''})`
              : ''),
      };
    }
    here = next;
  }
  return undefined;
}
