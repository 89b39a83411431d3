// The Kafka a Pipeline's processors read, reached as they reach it: spec.kafka's brokers, TLS and
// SASL (certificates and credentials read from the Secrets the spec names) over the operator-wide
// settings file. Lag readings, consumer-group cleanup and version retirement all connect here, so
// a Pipeline whose brokers accept only its own credentials is scaled and cleaned up like any other.
import type { Admin, KafkaConfig, SASLOptions } from 'kafkajs';
import type { NormalizedPipeline } from '../../../processor/src/spec/normalize.ts';
import { withTimeout } from '../inputs.ts';
import { type KafkaSecretRefs, kafkaSecretRefs, type SecretKey } from '../kafka-secret-refs.ts';
import type { PipelineObject } from '../resources.ts';
import type { ReconcileContext } from './context.ts';
import { type SecretReader, secretReader } from './secret-reader.ts';

export interface PipelineKafka {
  brokers: string;
  /** a connected admin client, shared by the Pipelines with the same brokers and settings */
  admin(): Promise<Admin>;
  /** drops the shared client after an error, so the next call reconnects */
  reset(): Promise<void>;
}

/**
 * `n` absent (a spec that no longer validates, e.g. on deletion): the platform's brokers, with the
 * TLS/SASL the raw spec still names.
 */
export async function kafkaFor(
  ctx: ReconcileContext,
  p: PipelineObject,
  n: NormalizedPipeline | undefined,
): Promise<PipelineKafka> {
  const brokers = n?.kafka?.brokers?.join(',') ?? ctx.config.kafkaBrokers;
  const security = await pipelineKafkaSecurity(kafkaSecretRefs(p.spec.kafka), secretReader(ctx, p));
  return {
    brokers,
    admin: () => withTimeout(ctx.kafka.admin(brokers, security), 10_000, 'connecting to Kafka'),
    reset: () => ctx.kafka.reset(brokers, security),
  };
}

/**
 * kafkajs `ssl`/`sasl` from a Pipeline's Secrets: only the parts the spec sets (they replace the
 * settings file's, as for its processors: `ssl: false` when spec.kafka.tls.enabled is false).
 */
export async function pipelineKafkaSecurity(
  refs: KafkaSecretRefs,
  read: SecretReader,
): Promise<Pick<KafkaConfig, 'ssl' | 'sasl'>> {
  const value = async (ref: SecretKey) => {
    let v: string | undefined;
    try {
      v = await read(ref.name, ref.key);
    } catch (e) {
      throw new Error(`${ref.field}: cannot read Secret ${ref.name}: ${(e as Error).message}`);
    }
    if (v === undefined) {
      throw new Error(
        `${ref.field}: Secret ${ref.name} has no key ${ref.key}; add it, or name the key in the spec`,
      );
    }
    return v;
  };
  const out: Pick<KafkaConfig, 'ssl' | 'sasl'> = {};
  if (refs.tls === false) out.ssl = false;
  else if (refs.tls) {
    out.ssl =
      refs.ca || refs.cert
        ? {
            ...(refs.ca ? { ca: [await value(refs.ca)] } : {}),
            ...(refs.cert && refs.key ? { cert: await value(refs.cert), key: await value(refs.key) } : {}),
            rejectUnauthorized: true,
          }
        : // no CA named: the system's CAs, as for the processors
          true;
  }
  if (refs.sasl) {
    out.sasl = {
      mechanism: refs.sasl.mechanism,
      username: await value(refs.sasl.username),
      password: await value(refs.sasl.password),
    } as SASLOptions;
  }
  return out;
}
