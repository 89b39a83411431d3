/**
 * What spec.sink.delivery: exactlyOnce costs: w1 with a short grace (so its windows close during the
 * run) publishing to a sink topic, first atLeastOnce, then exactlyOnce (same run, same input, so the
 * ratio is the transactions'). `npm run bench -- --sink-only` runs just this; the full run includes it.
 */
import { measureProcessor, type ProcessorRun } from './measure.ts';
import { type Context, log } from './options.ts';
import { type Workload, workloads } from './workloads.ts';

export interface SinkDeliveryRun {
  atLeastOnce: ProcessorRun;
  exactlyOnce: ProcessorRun;
  ratio: number;
}

const sinking = (delivery: 'atLeastOnce' | 'exactlyOnce'): Workload => {
  const w1 = workloads[0]!;
  return {
    ...w1,
    yaml: (name, topic) =>
      `${w1.yaml(name, topic).replace('grace: 1h', 'grace: 1s')}  sink: { topic: ${name}.sink, delivery: ${delivery} }\n`,
  };
};

export async function measureSinkDelivery(ctx: Context): Promise<SinkDeliveryRun> {
  const atLeastOnce = await measureProcessor(sinking('atLeastOnce'), 1, ctx);
  const exactlyOnce = await measureProcessor(sinking('exactlyOnce'), 1, ctx);
  const ratio = exactlyOnce.rate / atLeastOnce.rate;
  log(
    `sink exactlyOnce: ${Math.round(exactlyOnce.rate)} rec/s vs ${Math.round(atLeastOnce.rate)} atLeastOnce (ratio ${ratio.toFixed(2)})`,
  );
  return { atLeastOnce, exactlyOnce, ratio };
}
