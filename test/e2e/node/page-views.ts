// Input for examples/page-views.yaml in the real-node tests, with its ground truth computed from what
// is sent: the views per page that the example's `where` (status < 500) keeps.
import type { Producer } from 'kafkajs';

const PAGES = ['/', '/docs', '/pricing', '/blog'];

export class PageViews {
  /** the ground truth: views per page */
  readonly expected = new Map<string, number>();
  /** records sent so far, kept or not */
  produced = 0;
  /** every event falls in the same one-minute window, ten minutes back */
  private readonly minute = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;

  constructor(
    private readonly producer: () => Producer,
    private readonly topic: string,
    private readonly partitions: number,
  ) {}

  /** Sends `count` page views, spread round-robin over the partitions. */
  async send(count: number): Promise<void> {
    const messages = Array.from({ length: count }, () => {
      const i = this.produced++;
      const path = PAGES[i % PAGES.length] as string;
      const status = i % 7 === 0 ? 500 : 200;
      if (status < 500) this.expected.set(path, (this.expected.get(path) ?? 0) + 1);
      return {
        partition: i % this.partitions,
        value: JSON.stringify({
          ts: this.minute + (i % 60) * 1000,
          path,
          status,
          bytes: 1,
          latency_ms: i % 300,
          referrer: 'r',
          country: 'DE',
          user_id: `u${i % 97}`,
        }),
      };
    });
    await this.producer().send({ topic: this.topic, messages });
  }

  /** Views the query API must answer in total. */
  total(): number {
    return [...this.expected.values()].reduce((a, b) => a + b, 0);
  }
}
