/** Deterministic input: events of a topic with uniform or Zipf-distributed keys. */
import type { Producer } from 'kafkajs';
import { PARTITIONS } from './options.ts';

export function lcg(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Zipf(s) over n ranks by inverse CDF (binary search). */
export function zipf(n: number, s: number, random: () => number) {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) cdf[i] = total += 1 / (i + 1) ** s;
  for (let i = 0; i < n; i++) cdf[i]! /= total;
  return () => {
    const u = random();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

export interface TopicSpec {
  topic: string;
  keys: number;
  skew?: number;
}

/** The i-th event of a stream: key, value, user, latency, status; event time from `timeOf`. */
export function generator(spec: TopicSpec, seed: number) {
  const random = lcg(seed);
  const pick = spec.skew ? zipf(spec.keys, spec.skew, random) : () => Math.floor(random() * spec.keys);
  return (ts: number) => {
    const k = pick();
    return JSON.stringify({
      ts,
      k: `k${k}`,
      v: Math.floor(random() * 1000),
      u: `u${Math.floor(random() * 50_000)}`,
      lat: 1 + Math.floor(random() * 2000),
      st: random() < 0.9 ? 200 : 503,
    });
  };
}

export const EVENT_START = Date.UTC(2026, 0, 1);
/** Ten minutes of event time per topic (60 tumbling windows of 10 s). */
export const EVENT_SPAN_MS = 600_000;

export async function produceTopic(producer: Producer, spec: TopicSpec, count: number, seed: number) {
  const next = generator(spec, seed);
  const chunk = 10_000;
  const inflight: Promise<unknown>[] = [];
  for (let i = 0; i < count; i += chunk) {
    const n = Math.min(chunk, count - i);
    const messages = Array.from({ length: n }, (_, j) => ({
      partition: (i + j) % PARTITIONS,
      value: next(EVENT_START + Math.floor(((i + j) / count) * EVENT_SPAN_MS)),
    }));
    inflight.push(producer.send({ topic: spec.topic, acks: 1, messages }));
    if (inflight.length >= 4) await inflight.shift();
  }
  await Promise.all(inflight);
}
