// Reads a query API's server-sent events into a list as they arrive.

export interface StreamEvent {
  event: string;
  data: any;
  /** when the test read it (ms) */
  at: number;
}

export interface OpenStream {
  status: number;
  contentType: string | null;
  events: StreamEvent[];
  /** resolves once `check` holds, or false after `ms` */
  waitFor(check: (events: StreamEvent[]) => boolean, ms: number): Promise<boolean>;
  close(): Promise<void>;
}

export async function openStream(url: string): Promise<OpenStream> {
  const controller = new AbortController();
  const res = await fetch(url, { signal: controller.signal });
  const events: StreamEvent[] = [];
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const pump = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let cut = buffer.indexOf('\n\n');
      while (cut !== -1) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data), at: Date.now() });
        cut = buffer.indexOf('\n\n');
      }
    }
  })().catch(() => {});
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    events,
    async waitFor(check, ms) {
      const until = Date.now() + ms;
      while (!check(events) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      return check(events);
    },
    async close() {
      controller.abort();
      await pump;
    },
  };
}
