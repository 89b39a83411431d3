// Mapping a path like ["spec", "window", "size"] to a line and column in the YAML source.
import { type Document, isMap, isScalar, isSeq, type LineCounter, type Node, Scalar } from 'yaml';

export interface Located {
  /** The node at the path, when the whole path exists. */
  node?: Node;
  /** The key node of the last map entry reached (for missing children and key errors). */
  keyNode?: Node;
  /** The deepest node reached. */
  deepest?: Node;
  complete: boolean;
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return key.value === null ? '' : String(key.value);
  return undefined;
}

export function locate(doc: Document, path: readonly PropertyKey[]): Located {
  let node: unknown = doc.contents;
  let keyNode: Node | undefined;
  let deepest = (node ?? undefined) as Node | undefined;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => keyText(p.key) === String(seg));
      if (pair === undefined) return { keyNode, deepest, complete: false };
      keyNode = (pair.key as Node) ?? keyNode;
      node = pair.value;
      if (node === null || node === undefined) return { keyNode, deepest: keyNode, complete: false };
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      keyNode = undefined;
      if (node === null || node === undefined) return { keyNode, deepest, complete: false };
    } else {
      return { keyNode, deepest, complete: false };
    }
    deepest = node as Node;
  }
  return { node: node as Node, keyNode, deepest, complete: true };
}

/** Offset of the start of a node, or of the document when unknown. */
function start(node: Node | undefined, fallback: number): number {
  return node?.range?.[0] ?? fallback;
}

/**
 * Offset for an error at `path`. Missing paths point at the key of the nearest existing parent,
 * key errors at the key itself, value errors at the value.
 */
export function offsetFor(
  doc: Document,
  path: readonly PropertyKey[],
  opts: { atKey?: boolean } = {},
): number {
  const docStart = doc.contents?.range?.[0] ?? doc.range?.[0] ?? 0;
  const found = locate(doc, path);
  if (found.complete) {
    if (opts.atKey && found.keyNode) return start(found.keyNode, docStart);
    return start(found.node, start(found.keyNode, docStart));
  }
  return start(found.keyNode ?? found.deepest, docStart);
}

/**
 * Offset of character `index` of an expression written as the scalar at `path`: exact for plain
 * and quoted one-line scalars, the start of the value otherwise (escapes and folding shift columns).
 */
export function offsetInScalar(doc: Document, path: readonly PropertyKey[], index: number): number {
  const found = locate(doc, path);
  const base = offsetFor(doc, path);
  const node = found.node;
  if (!found.complete || !isScalar(node)) return base;
  const value = String(node.value);
  switch (node.type) {
    case Scalar.PLAIN:
      return value.includes('\n') ? base : base + index;
    case Scalar.QUOTE_SINGLE:
      return /['\n]/.test(value) ? base : base + 1 + index;
    case Scalar.QUOTE_DOUBLE:
      return /["\\\n]/.test(value) ? base : base + 1 + index;
    default:
      return base;
  }
}

export function lineColumn(counter: LineCounter, offset: number): { line: number; column: number } {
  const pos = counter.linePos(offset);
  return { line: pos.line, column: pos.col };
}
