import type { WindowShape } from '../model/pipeline.ts';

/**
 * Whether commits keep window-level group sets (`kf:{p:v:~g}:g:<start>`, one Redis node only;
 * commitBatch-1.lua, query/group-count.ts) for this window shape: tumbling windows, and sliced
 * hopping windows with spec.window.rankWholeWindows (which already opts into window-level sets at a
 * write cost). A slice adds a group to its windows' sets only when it is new in the slice, but on
 * w3 (100k keys) almost every group of a batch is: Redis CPU x2.1, as adding all of them
 * (docs/benchmarks.md). Other hopping and session windows count the union of their parts' sets.
 */
export function windowGroupSets(window: WindowShape): boolean {
  if (window.type === 'tumbling') return true;
  return window.type === 'hopping' && window.sliceMs !== undefined && window.rankWholeWindows === true;
}
