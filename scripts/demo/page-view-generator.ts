// Produces a believable stream of page views for the demo: a few hot pages, visitors from many
// countries, slow requests now and then, and the occasional broken record (to show the dead-letter topic).
import type { Producer } from 'kafkajs';

const pages = [
  '/',
  '/pricing',
  '/docs',
  '/docs/quickstart',
  '/blog',
  '/blog/kappa',
  '/signup',
  '/login',
  '/careers',
  '/status',
];
const weights = [30, 12, 18, 9, 7, 5, 6, 8, 2, 3];
const countries = ['us', 'de', 'fr', 'jp', 'br', 'in', 'gb', 'nl'];
const referrers = ['google', 'news.ycombinator.com', 'twitter', 'github', 'direct', 'reddit', 'linkedin'];

export function pickWeighted<T>(items: readonly T[], itemWeights: readonly number[], r: number): T {
  const total = itemWeights.reduce((a, b) => a + b, 0);
  let x = r * total;
  for (let i = 0; i < items.length; i++) {
    x -= itemWeights[i]!;
    if (x < 0) return items[i]!;
  }
  return items[items.length - 1]!;
}

export function pageView(now: number, random: () => number): Record<string, unknown> {
  const page = pickWeighted(pages, weights, random());
  const slow = random() < 0.05;
  const view: Record<string, unknown> = {
    ts: now - Math.floor(random() * 3000),
    path: page,
    status: random() < 0.03 ? 503 : random() < 0.05 ? 404 : 200,
    bytes: 500 + Math.floor(random() * 50_000),
    latency_ms: Math.round((slow ? 400 + random() * 1600 : 20 + random() * 180) * 10) / 10,
    user_id: `user-${Math.floor(random() ** 2 * 5000)}`,
    referrer: pickWeighted(referrers, [30, 8, 10, 12, 25, 6, 4], random()),
  };
  if (random() < 0.9) view.country = countries[Math.floor(random() * countries.length)];
  return view;
}

/** Sends `perSecond` page views every second until stopped; about one in 500 records is not JSON. */
export function startGenerator(producer: Producer, topic: string, perSecond: number) {
  let sent = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const started = Date.now();
      const messages = Array.from({ length: perSecond }, () => {
        const view = pageView(Date.now(), Math.random);
        const broken = Math.random() < 0.002;
        return {
          key: String(view.user_id),
          value: broken ? `{"path": "/oops", truncated` : JSON.stringify(view),
        };
      });
      await producer.send({ topic, messages });
      sent += messages.length;
      await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - started))));
    }
  })();
  return {
    get sent() {
      return sent;
    },
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
