// The Kafka a Pipeline's processors read, reached as they reach it: spec.kafka's brokers, TLS and
// SASL (certificates and credentials read from the Secrets the spec names) over the operator-wide
// settings file. Lag readings, consumer-group cleanup and version retirement all connect here, so
// a Pipeline whose brokers accept only its own credentials is scaled and cleaned up like any other.
import type { Admin, KafkaConfig, SASLOptions } from 'kafkajs';
import type { NormalizedPipeline } from '../../../processor/src/spec/normalize.ts';
import { withTimeout } from '../inputs.ts';
import { type KafkaSecretRefs, kafkaSecretRefs, type SecretKey } from '../kafka-secret-refs.ts';
import { KubeError } from '../kube/client.ts';
import type { PipelineObject } from '../resources.ts';
import type { ReconcileContext } from './context.ts';
import { type SecretReader, secretReader } from './secret-reader.ts';

export interface PipelineKafka {
  brokers: string;
  /**
   * Set when the Pipeline's Secrets could not be used and the operator-wide settings are used
   * instead: why, for error messages.
   */
  fallback?: string;
  /** a connected admin client, shared by the Pipelines with the same brokers and settings */
  admin(): Promise<Admin>;
  /** drops the shared client after an error, so the next call reconnects */
  reset(): Promise<void>;
}

/** A Secret of spec.kafka that could not be read; `forbidden`: the operator may not read Secrets. */
export class PipelineSecretError extends Error {
  constructor(
    message: string,
    readonly forbidden: boolean,
  ) {
    super(message);
  }
}

/**
 * `n` absent (a spec that no longer validates, e.g. on deletion): the raw spec's brokers (the CRD
 * checked their form) with the TLS/SASL it names, so credentials never go to other brokers.
 * Secrets the operator may not read (the chart's `rbac.readPipelineSecrets` off) fall back to the
 * operator-wide settings, as before the operator read them; with `anyUnreadableSecret` (cleanup on
 * deletion, when a namespace's Secrets may already be gone) so does every unreadable Secret.
 */
export async function kafkaFor(
  ctx: ReconcileContext,
  p: PipelineObject,
  n: NormalizedPipeline | undefined,
  options: { anyUnreadableSecret?: boolean } = {},
): Promise<PipelineKafka> {
  const brokers = (n?.kafka?.brokers ?? p.spec.kafka?.brokers)?.join(',') ?? ctx.config.kafkaBrokers;
  const { security, fallback } = await securityOrFallback(
    kafkaSecretRefs(p.spec.kafka),
    secretReader(ctx, p),
    options.anyUnreadableSecret ?? false,
  );
  return {
    brokers,
    ...(fallback ? { fallback } : {}),
    admin: () => withTimeout(ctx.kafka.admin(brokers, security), 10_000, 'connecting to Kafka'),
    reset: () => ctx.kafka.reset(brokers, security),
  };
}

/** The Pipeline's settings, or none (the operator's) with why, when its Secrets may not be read. */
export async function securityOrFallback(
  refs: KafkaSecretRefs,
  read: SecretReader,
  anyUnreadableSecret: boolean,
): Promise<{ security: Pick<KafkaConfig, 'ssl' | 'sasl'>; fallback?: string }> {
  try {
    return { security: await pipelineKafkaSecurity(refs, read) };
  } catch (e) {
    if (!(e instanceof PipelineSecretError) || !(e.forbidden || anyUnreadableSecret)) throw e;
    const hint = e.forbidden
      ? ' (let the operator read Secrets: the chart value rbac.readPipelineSecrets)'
      : '';
    return { security: {}, fallback: `${e.message}; used the operator's own Kafka settings instead${hint}` };
  }
}

/** An error of a PipelineKafka's connection, saying when it used the operator's settings and why. */
export function kafkaError(kafka: PipelineKafka | undefined, e: unknown): string {
  const message = (e as Error).message;
  return kafka?.fallback ? `${message} (${kafka.fallback})` : message;
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
      throw new PipelineSecretError(
        `${ref.field}: cannot read Secret ${ref.name}: ${(e as Error).message}`,
        e instanceof KubeError && e.status === 403,
      );
    }
    if (!v) {
      const what = v === '' ? `an empty key ${ref.key}` : `no key ${ref.key}`;
      throw new PipelineSecretError(
        `${ref.field}: Secret ${ref.name} has ${what}; add it, or name the key in the spec`,
        false,
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
