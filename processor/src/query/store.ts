import type { PipelineRegistration } from '../state/registry.ts';
import { readRegistrations } from '../state/registry.ts';
import { type PartitionStatus, WindowReadContext } from './read-context.ts';
import { checkpoints, type PipelineSummary, summary } from './status-summary.ts';
import { type TopQuery, type TopResult, top } from './top.ts';
import { type WindowsPage, type WindowsQuery, windows } from './window-pages.ts';

export type { PartitionStatus } from './read-context.ts';
export { isFinal } from './read-context.ts';
export type { PipelineSummary } from './status-summary.ts';
export type { TopQuery, TopResult } from './top.ts';
export type { WindowGroup, WindowResult, WindowsPage, WindowsQuery } from './window-pages.ts';

/**
 * The query API's reads, one use case per module over one window-read context: the status summary
 * (status-summary.ts), window pages (window-pages.ts), top-N (top.ts) and rollups (rollups.ts), with
 * the group lists and values they share in groups.ts.
 */
export class QueryStore extends WindowReadContext {
  async listPipelines(): Promise<PipelineSummary[]> {
    const all = await readRegistrations(this.redis);
    return Promise.all(all.map((r) => summary(this, r)));
  }

  async pipeline(name: string): Promise<PipelineSummary> {
    return summary(this, await this.registration(name));
  }

  summary(reg: PipelineRegistration): Promise<PipelineSummary> {
    return summary(this, reg);
  }

  checkpoints(reg: PipelineRegistration): Promise<PartitionStatus[]> {
    return checkpoints(this, reg);
  }

  windows(name: string, query: WindowsQuery): Promise<WindowsPage> {
    return windows(this, name, query);
  }

  top(name: string, query: TopQuery): Promise<TopResult> {
    return top(this, name, query);
  }
}
