// A small Kubernetes REST client on node:https: JSON requests, server-side apply, merge patches and
// watch streams. Credentials come from a @kubernetes/client-node KubeConfig (kubeconfig file or the
// in-cluster service account). Raw requests keep objects exactly as the API server sends them.

import { request as httpRequest } from 'node:http';
import { Agent, type RequestOptions, request } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string;
    ownerReferences?: OwnerReference[];
    creationTimestamp?: string;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface KubeList<T> {
  metadata: { resourceVersion: string; continue?: string };
  items: T[];
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export class KubeError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly method: string,
    readonly path: string,
  ) {
    super(`${method} ${path}: ${status} ${reason}: ${message}`);
  }
}

export const isNotFound = (e: unknown) => e instanceof KubeError && e.status === 404;
export const isConflict = (e: unknown) => e instanceof KubeError && e.status === 409;
export const isGone = (e: unknown) => e instanceof KubeError && e.status === 410;

export interface RequestInit {
  body?: unknown;
  contentType?: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** milliseconds; default 30 s */
  timeoutMs?: number;
}

export class KubeClient {
  readonly server: URL;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 32 });
  /** request counters by verb and code, for metrics */
  onResponse?: (method: string, status: number) => void;

  constructor(private readonly kc: KubeConfig) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
  }

  private async options(
    method: string,
    path: string,
    init: RequestInit,
  ): Promise<RequestOptions & { url: URL }> {
    const url = new URL(path, this.server);
    for (const [k, v] of Object.entries(init.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    const opts: RequestOptions = { method, headers: { accept: 'application/json' } };
    await this.kc.applyToHTTPSOptions(opts);
    if (url.protocol === 'https:') opts.agent = this.agent;
    if (init.body !== undefined) {
      (opts.headers as Record<string, string>)['content-type'] = init.contentType ?? 'application/json';
    }
    return { ...opts, url };
  }

  /** Sends a request; resolves with the parsed JSON body, rejects with a KubeError on >= 400. */
  async request<T = unknown>(method: string, path: string, init: RequestInit = {}): Promise<T> {
    const opts = await this.options(method, path, init);
    const payload = init.body === undefined ? undefined : Buffer.from(JSON.stringify(init.body));
    if (payload !== undefined)
      (opts.headers as Record<string, string | number>)['content-length'] = payload.length;
    return await new Promise<T>((resolve, reject) => {
      const send = opts.url.protocol === 'https:' ? request : httpRequest;
      const req = send(opts.url, opts, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          this.onResponse?.(method, status);
          let body: unknown = text;
          try {
            body = text.length > 0 ? JSON.parse(text) : undefined;
          } catch {
            // not JSON
          }
          if (status >= 400) {
            const s = body as { reason?: string; message?: string } | undefined;
            reject(
              new KubeError(status, s?.reason ?? 'Error', s?.message ?? text.slice(0, 500), method, path),
            );
          } else resolve(body as T);
        });
      });
      req.setTimeout(init.timeoutMs ?? 30_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.on('error', (e) => {
        this.onResponse?.(method, 0);
        reject(e);
      });
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  get<T extends KubeObject>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  async getOrNull<T extends KubeObject>(path: string): Promise<T | null> {
    try {
      return await this.get<T>(path);
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  }

  list<T extends KubeObject>(path: string, query: RequestInit['query'] = {}): Promise<KubeList<T>> {
    return this.request<KubeList<T>>('GET', path, { query });
  }

  create<T extends KubeObject>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, { body });
  }

  /** Server-side apply: the object as this field manager wants it (force takes over conflicts). */
  apply<T extends KubeObject>(path: string, body: unknown, fieldManager: string): Promise<T> {
    return this.request<T>('PATCH', path, {
      body,
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager, force: true },
    });
  }

  mergePatch<T extends KubeObject>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, { body, contentType: 'application/merge-patch+json' });
  }

  jsonPatch<T extends KubeObject>(path: string, ops: unknown[]): Promise<T> {
    return this.request<T>('PATCH', path, { body: ops, contentType: 'application/json-patch+json' });
  }

  replace<T extends KubeObject>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, { body });
  }

  async delete(path: string, body?: unknown): Promise<void> {
    try {
      await this.request('DELETE', path, body === undefined ? {} : { body });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /**
   * Opens a watch and calls onEvent for each event until the server ends the stream (timeout,
   * restart) or `signal` aborts. Rejects with a KubeError 410 when the resourceVersion expired.
   */
  async watch<T>(
    path: string,
    query: RequestInit['query'],
    onEvent: (event: WatchEvent<T>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const opts = await this.options('GET', path, {
      query: { ...query, watch: true, allowWatchBookmarks: true },
    });
    opts.agent = undefined; // a long-lived stream gets its own socket
    await new Promise<void>((resolve, reject) => {
      const send = opts.url.protocol === 'https:' ? request : httpRequest;
      const req = send(opts.url, { ...opts, signal }, (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 400) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let s: { reason?: string; message?: string } = {};
            try {
              s = JSON.parse(text);
            } catch {}
            reject(
              new KubeError(status, s.reason ?? 'Error', s.message ?? text.slice(0, 300), 'WATCH', path),
            );
          });
          return;
        }
        let buffered = '';
        let failed: Error | undefined;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffered += chunk;
          let nl = buffered.indexOf('\n');
          while (nl >= 0) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            nl = buffered.indexOf('\n');
            if (line.length === 0) continue;
            let event: WatchEvent<T>;
            try {
              event = JSON.parse(line) as WatchEvent<T>;
            } catch {
              continue;
            }
            if (event.type === 'ERROR') {
              const st = event.object as { code?: number; reason?: string; message?: string };
              failed = new KubeError(st.code ?? 500, st.reason ?? 'Error', st.message ?? '', 'WATCH', path);
              req.destroy();
              return;
            }
            try {
              onEvent(event);
            } catch (e) {
              failed = e as Error;
              req.destroy();
              return;
            }
          }
        });
        res.on('end', () => (failed ? reject(failed) : resolve()));
        res.on('close', () => (failed ? reject(failed) : resolve()));
        res.on('error', (e) => reject(failed ?? e));
      });
      req.on('error', (e) => {
        if (signal.aborted) resolve();
        else reject(e);
      });
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** REST paths of the kinds the operator touches. */
export const paths = {
  pipelines: (ns?: string) =>
    ns ? `/apis/kappaflow.io/v1alpha1/namespaces/${ns}/pipelines` : '/apis/kappaflow.io/v1alpha1/pipelines',
  pipeline: (ns: string, name: string) => `/apis/kappaflow.io/v1alpha1/namespaces/${ns}/pipelines/${name}`,
  deployments: (ns?: string) =>
    ns ? `/apis/apps/v1/namespaces/${ns}/deployments` : '/apis/apps/v1/deployments',
  deployment: (ns: string, name: string) => `/apis/apps/v1/namespaces/${ns}/deployments/${name}`,
  configMap: (ns: string, name: string) => `/api/v1/namespaces/${ns}/configmaps/${name}`,
  service: (ns: string, name: string) => `/api/v1/namespaces/${ns}/services/${name}`,
  secret: (ns: string, name: string) => `/api/v1/namespaces/${ns}/secrets/${name}`,
  events: (ns: string) => `/api/v1/namespaces/${ns}/events`,
  event: (ns: string, name: string) => `/api/v1/namespaces/${ns}/events/${name}`,
  leases: (ns: string) => `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`,
  lease: (ns: string, name: string) => `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${name}`,
  pods: (ns?: string) => (ns ? `/api/v1/namespaces/${ns}/pods` : '/api/v1/pods'),
  pod: (ns: string, name: string) => `/api/v1/namespaces/${ns}/pods/${name}`,
};
