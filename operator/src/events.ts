// Kubernetes Events (core/v1) about Pipelines; a repeat of the same reason and message within ten
// minutes bumps the count of the existing Event instead of creating another.
import { randomBytes } from 'node:crypto';
import { type KubeClient, paths } from './kube/client.ts';
import type { PipelineObject } from './resources.ts';

export class EventRecorder {
  private readonly recent = new Map<string, { name: string; count: number; at: number; first: string }>();

  constructor(
    private readonly client: KubeClient,
    private readonly instance: string,
    private readonly log: (msg: string, extra?: Record<string, unknown>) => void,
  ) {}

  async record(
    p: PipelineObject,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    const ns = p.metadata.namespace ?? 'default';
    const key = `${p.metadata.uid}|${reason}|${message}`;
    const now = new Date();
    const ts = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
    const seen = this.recent.get(key);
    try {
      if (seen && now.getTime() - seen.at < 600_000) {
        seen.count++;
        seen.at = now.getTime();
        await this.client.mergePatch(paths.event(ns, seen.name), { count: seen.count, lastTimestamp: ts });
        return;
      }
      const name = `${p.metadata.name}.${Date.now().toString(16)}${randomBytes(2).toString('hex')}`;
      await this.client.create(paths.events(ns), {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace: ns },
        involvedObject: {
          apiVersion: p.apiVersion,
          kind: 'Pipeline',
          name: p.metadata.name,
          namespace: ns,
          uid: p.metadata.uid,
          resourceVersion: p.metadata.resourceVersion,
        },
        reason,
        message: message.slice(0, 1024),
        type,
        count: 1,
        firstTimestamp: ts,
        lastTimestamp: ts,
        source: { component: 'kappaflow-operator' },
        reportingComponent: 'kappaflow.io/operator',
        reportingInstance: this.instance,
      });
      this.recent.set(key, { name, count: 1, at: now.getTime(), first: ts });
      if (this.recent.size > 5000) this.recent.clear();
    } catch (e) {
      this.recent.delete(key);
      this.log('could not record event', { reason, error: (e as Error).message });
    }
  }
}
