/** The measured pipelines and the topics they read. */
import type { TopicSpec } from './data.ts';

export interface Workload {
  id: string;
  title: string;
  topic: TopicSpec;
  /** the group name to filter a freshness probe by, and the probe's value of it */
  probe: { field: string; groupOf: (probeKey: string) => string };
  yaml: (name: string, topic: string) => string;
}

export const header = (name: string, topic: string) => `apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata:
  name: ${name}
spec:
  source:
    topic: ${topic}
    format: json
    eventTime: { field: ts }
    startFrom: earliest
`;

export const uniform10k: TopicSpec = { topic: 'bench-uniform-10k', keys: 10_000 };
export const uniform100k: TopicSpec = { topic: 'bench-uniform-100k', keys: 100_000 };
export const zipf10k: TopicSpec = { topic: 'bench-zipf-10k', keys: 10_000, skew: 1.2 };
export const ENRICH_HASH = 'bench:region';

/** w1 and w4: the same pipeline (count + sum per key, 10 s tumbling) over differently skewed keys. */
const countAndSum = (name: string, topic: string) => `${header(name, topic)}  groupBy:
    key: event.k
  window: { type: tumbling, size: 10s, grace: 1h }
  aggregates:
    n: { count: {} }
    total: { sum: event.v }
  retention: 1d
`;

/** w3 and w5: countDistinct + p95 per key, in hopping or tumbling windows. */
const distinctAndP95 = (window: string) => (name: string, topic: string) =>
  `${header(name, topic)}  groupBy:
    key: event.k
  window: ${window}
  aggregates:
    users: { countDistinct: event.u }
    p95: { percentile: event.lat, q: 0.95 }
  retention: 1d
`;

export const workloads: Workload[] = [
  {
    id: 'w1',
    title: '1 count+sum, 10 s tumbling, 10k keys',
    topic: uniform10k,
    probe: { field: 'key', groupOf: (k) => k },
    yaml: countAndSum,
  },
  {
    id: 'w2',
    title: '2 filter+enrich+count, 10 s tumbling',
    topic: uniform10k,
    probe: { field: 'region', groupOf: (k) => `region-${k}` },
    yaml: (name, topic) => `${header(name, topic)}  where: "event.st < 500"
  enrich:
    - lookup:
        redisHash: ${ENRICH_HASH}
        key: event.k
        as: region
  groupBy:
    region: enriched.region
  window: { type: tumbling, size: 10s, grace: 1h }
  aggregates:
    n: { count: {} }
  retention: 1d
`,
  },
  {
    id: 'w3',
    title: '3 hopping 1m/10s distinct+p95, 100k keys',
    topic: uniform100k,
    probe: { field: 'key', groupOf: (k) => k },
    yaml: distinctAndP95('{ type: hopping, size: 1m, advance: 10s, grace: 1h }'),
  },
  {
    id: 'w4',
    title: '4 Zipf s=1.2 count+sum, 10k keys',
    topic: zipf10k,
    probe: { field: 'key', groupOf: (k) => k },
    yaml: countAndSum,
  },
  {
    // w3's aggregates in tumbling windows, the shape of examples/page-views.yaml: the owner packs
    // the windows' sketches as it packs w3's slices
    id: 'w5',
    title: '5 tumbling 1m distinct+p95, 100k keys',
    topic: uniform100k,
    probe: { field: 'key', groupOf: (k) => k },
    yaml: distinctAndP95('{ type: tumbling, size: 1m, grace: 1h }'),
  },
];
