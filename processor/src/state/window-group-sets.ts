import type { WindowShape } from '../model/pipeline.ts';

/**
 * Whether commits keep window-level group sets (`kf:{p:v:~g}:g:<start>`, one Redis node only;
 * commitBatch-1.lua, query/group-count.ts) for this window shape: tumbling windows, and sliced
 * hopping windows, whose slices add a group to their windows' sets only when it is new in the
 * slice. Hopping windows without slices and session windows read the union of their parts' sets.
 */
export function windowGroupSets(window: WindowShape): boolean {
  return window.type === 'tumbling' || (window.type === 'hopping' && window.sliceMs !== undefined);
}
