// A Pipeline's own Kafka settings: spec.kafka.clientId, tls and sasl. The spec only names Secrets;
// their contents reach the processor as files and variables (on Kubernetes the operator mounts and
// maps the Secrets: operator/src/resources.ts; locally the user sets them), and are turned into
// kafkajs options by the same conversion as the operator-wide Kafka settings file.
import type { KafkaConfig } from 'kafkajs';
import type { KafkaSpec } from '../spec/schema.ts';
import { type KafkaConnectionFile, kafkaSecurity } from './client.ts';

/** The variables a processor reads for its Pipeline's Kafka settings (what the operator sets). */
export const KAFKA_ENV = {
  /** spec.kafka.clientId */
  clientId: 'KAFKA_CLIENT_ID',
  /** spec.kafka.tls.enabled: `true` or `false` */
  tls: 'KAFKA_TLS',
  /** the file of spec.kafka.tls.caSecretRef */
  ca: 'KAFKA_TLS_CA_FILE',
  /** the files of spec.kafka.tls.clientCertSecretRef */
  cert: 'KAFKA_TLS_CERT_FILE',
  key: 'KAFKA_TLS_KEY_FILE',
  /** spec.kafka.sasl.mechanism */
  mechanism: 'KAFKA_SASL_MECHANISM',
  /** the keys of spec.kafka.sasl.secretRef */
  username: 'KAFKA_SASL_USERNAME',
  password: 'KAFKA_SASL_PASSWORD',
} as const;

export interface PipelineKafkaSettings {
  /** absent: the caller's default (kappaflow-<pipeline>) */
  clientId?: string;
  /**
   * Only the parts the Pipeline sets: they replace the settings file's (`ssl: false` when
   * spec.kafka.tls.enabled is false, so a file's TLS is turned off for this Pipeline too).
   */
  security: Pick<KafkaConfig, 'ssl' | 'sasl'>;
}

/**
 * The Kafka client id and TLS/SASL of one Pipeline, from its spec.kafka (when the caller has it)
 * and the variables above; the spec wins where both say something (they agree under the operator,
 * which sets the variables from the same spec). Throws, naming the variable, when the spec asks for
 * a certificate or credentials that no variable gives.
 */
export function pipelineKafkaSettings(
  spec: KafkaSpec | undefined,
  env: NodeJS.ProcessEnv,
): PipelineKafkaSettings {
  const get = (name: string) => (env[name] ? env[name] : undefined);
  const clientId = spec?.clientId ?? get(KAFKA_ENV.clientId);
  const settings: KafkaConnectionFile = {};
  let tlsOff = false;

  const ca = get(KAFKA_ENV.ca);
  const cert = get(KAFKA_ENV.cert);
  const key = get(KAFKA_ENV.key);
  const tlsVar = get(KAFKA_ENV.tls);
  if (tlsVar !== undefined && tlsVar !== 'true' && tlsVar !== 'false') {
    throw new Error(`${KAFKA_ENV.tls} must be true or false, got ${tlsVar}`);
  }
  // Certificate files alone mean TLS, as REDIS_TLS_* do for rediss://.
  const tls = spec?.tls
    ? spec.tls.enabled !== false
    : tlsVar
      ? tlsVar === 'true'
      : Boolean(ca || cert || key);
  if (spec?.tls || tlsVar) tlsOff = !tls;
  if (tls) {
    const missing = (ref: string, names: string) =>
      new Error(
        `spec.kafka.tls.${ref} is set: give its file(s) in ${names} (the operator mounts the Secret and sets them)`,
      );
    if (spec?.tls?.caSecretRef && !ca) throw missing('caSecretRef', KAFKA_ENV.ca);
    if (spec?.tls?.clientCertSecretRef && !(cert && key)) {
      throw missing('clientCertSecretRef', `${KAFKA_ENV.cert} and ${KAFKA_ENV.key}`);
    }
    if (Boolean(cert) !== Boolean(key)) {
      throw new Error(
        `set both ${KAFKA_ENV.cert} and ${KAFKA_ENV.key} (a client certificate and its key), or neither`,
      );
    }
    settings.ssl =
      ca || cert
        ? { ...(ca ? { ca } : {}), ...(cert && key ? { cert, key } : {}) }
        : // no files: the system's CAs, no client certificate
          true;
  }

  const mechanism = spec?.sasl?.mechanism ?? get(KAFKA_ENV.mechanism);
  const username = get(KAFKA_ENV.username);
  const password = get(KAFKA_ENV.password);
  if (mechanism) {
    if (!username || !password) {
      throw new Error(
        `${spec?.sasl ? 'spec.kafka.sasl' : KAFKA_ENV.mechanism} is set: give the SASL username and password in ${KAFKA_ENV.username} and ${KAFKA_ENV.password} (the operator sets them from spec.kafka.sasl.secretRef)`,
      );
    }
    settings.sasl = {
      mechanism: mechanism.toLowerCase() as NonNullable<KafkaConnectionFile['sasl']>['mechanism'],
      username,
      password,
    };
  } else if (username || password) {
    throw new Error(
      `${KAFKA_ENV.username}/${KAFKA_ENV.password} are set without a mechanism: set spec.kafka.sasl.mechanism or ${KAFKA_ENV.mechanism}`,
    );
  }

  const security = kafkaSecurity(settings, {
    name: (field) =>
      ({
        'ssl.ca': KAFKA_ENV.ca,
        'ssl.cert': KAFKA_ENV.cert,
        'ssl.key': KAFKA_ENV.key,
        'sasl.mechanism': spec?.sasl ? 'spec.kafka.sasl.mechanism' : KAFKA_ENV.mechanism,
      })[field],
    dir: process.cwd(),
  });
  if (tlsOff) security.ssl = false;
  return { ...(clientId ? { clientId } : {}), security };
}
