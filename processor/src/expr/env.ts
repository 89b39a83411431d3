// The CEL environment every Pipeline expression runs in.
//
// Variables:
//   event     the parsed record value (JSON object, or a string for format: text)
//   enriched  map of string -> value: results of the enrich lookups
//   record    Kafka metadata: key, partition, offset, timestamp (epoch ms), headers (map)
//
// JSON numbers reach CEL as doubles. Comparisons across int and double already work in CEL
// (`event.status < 500`), but arithmetic does not (`event.bytes + 1` has no double+int overload),
// which surprises everyone writing expressions over JSON. We add mixed int/double arithmetic
// overloads that compute in double.
import { type CelEnv, type CelFunc, CelScalar, celEnv, celFunc, mapType } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';

export const VARIABLE_NAMES = ['event', 'enriched', 'record'] as const;
export type VariableName = (typeof VARIABLE_NAMES)[number];

const D = CelScalar.DOUBLE;
const I = CelScalar.INT;

function mixedArithmetic(): CelFunc[] {
  const ops: Record<string, (a: number, b: number) => number> = {
    '_+_': (a, b) => a + b,
    '_-_': (a, b) => a - b,
    '_*_': (a, b) => a * b,
    '_/_': (a, b) => a / b,
  };
  const out: CelFunc[] = [];
  for (const [name, fn] of Object.entries(ops)) {
    out.push(celFunc(name, [D, I], D, (a, b) => fn(a, Number(b))));
    out.push(celFunc(name, [I, D], D, (a, b) => fn(Number(a), b)));
  }
  return out;
}

let shared: CelEnv | undefined;

/** The shared environment (created once: planning caches per environment). */
export function pipelineEnv(): CelEnv {
  shared ??= celEnv({
    funcs: [...strings, ...mixedArithmetic()],
    variables: {
      event: CelScalar.DYN,
      enriched: mapType(CelScalar.STRING, CelScalar.DYN),
      record: mapType(CelScalar.STRING, CelScalar.DYN),
    },
  });
  return shared;
}
