/**
 * The Redis key layout. Every key of one partition of one pipeline version carries the same hash
 * tag `{pipeline:version:partition}`, so the commit script touches a single Redis Cluster slot.
 *
 *   kf:{p:v:n}:ckpt                      hash: offset (next to read), watermark, epoch, records, updatedAt
 *   kf:{p:v:n}:windows                   zset: window start -> start, every window with state
 *   kf:{p:v:n}:open                      zset: window start -> end, windows not closed yet
 *   kf:{p:v:n}:w:<start>                 hash: "<agg>|<group>" -> count/sum/min/max/first/last,
 *                                              "<agg>#s|<group>", "<agg>#n|<group>" for avg,
 *                                              "<agg>#t|<group>" event time of first/last
 *   kf:{p:v:n}:sl:<start>                hopping windows: one slice of gcd(size, advance), laid out like
 *                                        a window (with :keys and sketches beside it); a window is its
 *                                        own hash (records late for some of its windows) plus its slices
 *                                        registrations with window.packedSketches: the slice (and window) hash
 *                                        also holds "<agg>#h|<g>" (HyperLogLog, Redis format) and "<agg>#d|<g>"
 *                                        (DDSketch "bucket:n,...") written whole by the owner, no hll/dd keys
 *                                        beside it (tumbling windows since a later release: both forms may meet)
 *   kf:{p:v:n}:w:<start>:keys            set: the suffixes of the window's sketch keys below
 *   kf:{p:v:n}:w:<start>:tot             registrations with window.rollups: the all-groups totals of the
 *                                        window (or slice, `sl:<start>:tot`), hash "<agg>|" etc., with
 *                                        :tot:hll:<agg>, :tot:dd:<agg>, :tot:top:<agg> merged sketches and
 *                                        :tot:g the set of its groups, :tot:keys the suffixes of these
 *                                        (which expire with the window; state/rollup-totals.ts);
 *                                        :tot:hll:<agg>:raised lives only inside a commit (a merge's
 *                                        scratch, state/owned-totals.ts)
 *   kf:{p:v:n}:w:<start>:tot:rk:<agg>    registrations with window.ranks: the top-N index of a count, sum, min
 *                                        or max aggregate, zset group -> minus its value in this window (or
 *                                        slice), listed in :tot:keys (query/top-index.ts); for a percentile of
 *                                        spec.rankBy, minus an upper bound of it (its upper quantile here)
 *   kf:{p:v:n}:w:<start>:tot:rq:<agg>    string: that percentile's index above was kept from the first batch on
 *   kf:{p:v:n}:w:<start>:tot:wg          string: this window's (or slice's) groups went to the window-level sets below
 *                                        from its first batch on (one Redis node only)
 *   kf:{p:v:~g}:g:<start>                set: every group of the window on every partition (one Redis node only:
 *                                        written by each partition's commit script, query/group-count.ts)
 *   kf:{p:v:~g}:gw                       zset: start -> start of those sets, dropped by event time like :windows
 *   kf:{p:v:n}:w:<start>:hll:<agg>|<g>   HyperLogLog for countDistinct
 *   kf:{p:v:n}:w:<start>:dd:<agg>|<g>    hash bucket -> count, a DDSketch for percentile
 *   kf:{p:v:n}:w:<start>:top:<agg>|<g>   zset member -> count for topK
 *   kf:{p:v:n}:s:<group>                 zset: session start -> last event time (session windows)
 *                                        and "@end|<group>" in the session's window hash: its last event time
 *   kf:{p:v:n}:ends                      hash: window start -> end of closed session windows
 *   kf:{p:v:n}:outbox                    list: starts of closed windows not yet published to the sink topic
 *   kf:{p:v:n}:outbox:trimmed            string: entries trimmed from the outbox so far (its head's sequence number)
 *   kf:pipelines                         hash: pipeline -> JSON registration (active version, shape)
 *   kf:{p:v}:replicas                    hash: replica id -> JSON heartbeat (rate, lag, partitions)
 */
export type SketchType = 'hll' | 'dd' | 'top';

export function partitionPrefix(pipeline: string, version: number, partition: number | string): string {
  return `kf:{${pipeline}:${version}:${partition}}`;
}

export const keys = {
  checkpoint: (prefix: string) => `${prefix}:ckpt`,
  windows: (prefix: string) => `${prefix}:windows`,
  open: (prefix: string) => `${prefix}:open`,
  window: (prefix: string, start: number) => `${prefix}:w:${start}`,
  /** a slice of hopping windows (stream slicing): same layout as a window hash, sketches beside it */
  slice: (prefix: string, start: number) => `${prefix}:sl:${start}`,
  /** a window's or a slice's hash from its WindowDelta key (`w:<start>` / `sl:<start>`) */
  partial: (prefix: string, key: string) => `${prefix}:${key}`,
  sketch: (prefix: string, start: number, type: SketchType, field: string) =>
    `${prefix}:w:${start}:${type}:${field}`,
  sketchSuffix: (type: SketchType, field: string) => `${type}:${field}`,
  ends: (prefix: string) => `${prefix}:ends`,
  outbox: (prefix: string) => `${prefix}:outbox`,
  outboxTrimmed: (prefix: string) => `${prefix}:outbox:trimmed`,
  sessions: (prefix: string, group: string) => `${prefix}:s:${group}`,
  pipelines: () => 'kf:pipelines',
  replicas: (pipeline: string, version: number) => `kf:{${pipeline}:${version}}:replicas`,
  /** the key base of a version's window-level group sets (`~g` is no partition id; purged with the version) */
  groupSets: (pipeline: string, version: number) => `kf:{${pipeline}:${version}:~g}`,
  windowGroups: (base: string, start: number) => `${base}:g:${start}`,
};

// The field and group-key encodings live in the model (aggregates build them without knowing Redis);
// they are part of this layout, so its users find them here too.
export { fieldOf, groupKeyOf, parseField } from '../model/fields.ts';
