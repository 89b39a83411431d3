// Which Secret keys a Pipeline's spec.kafka names, with the schema's default key names: its
// processors get them as env and files (resources.ts), the operator's own admin client reads them
// (reconcile/kafka-for.ts). One place for the defaults, so both reach the same keys.
import type { PipelineObject } from './resources.ts';

export interface SecretKey {
  /** the Secret's name, in the Pipeline's namespace */
  name: string;
  key: string;
  /** the spec field that names it, for errors */
  field: string;
}

export interface KafkaSecretRefs {
  /** spec.kafka.tls is set: whether TLS is on (`enabled`, default true); absent: the spec says nothing */
  tls?: boolean;
  /** only when TLS is on */
  ca?: SecretKey;
  cert?: SecretKey;
  key?: SecretKey;
  sasl?: { mechanism: string; username: SecretKey; password: SecretKey };
}

export function kafkaSecretRefs(kafka: PipelineObject['spec']['kafka']): KafkaSecretRefs {
  const refs: KafkaSecretRefs = {};
  const tls = kafka?.tls;
  if (tls) refs.tls = tls.enabled !== false;
  if (tls && refs.tls) {
    if (tls.caSecretRef) {
      refs.ca = {
        name: tls.caSecretRef.name,
        key: tls.caSecretRef.key ?? 'ca.crt',
        field: 'spec.kafka.tls.caSecretRef',
      };
    }
    const client = tls.clientCertSecretRef;
    if (client) {
      const field = 'spec.kafka.tls.clientCertSecretRef';
      refs.cert = { name: client.name, key: client.certKey ?? 'tls.crt', field };
      refs.key = { name: client.name, key: client.keyKey ?? 'tls.key', field };
    }
  }
  if (kafka?.sasl) {
    const ref = kafka.sasl.secretRef;
    const field = 'spec.kafka.sasl.secretRef';
    refs.sasl = {
      mechanism: kafka.sasl.mechanism,
      username: { name: ref.name, key: ref.usernameKey ?? 'username', field },
      password: { name: ref.name, key: ref.passwordKey ?? 'password', field },
    };
  }
  return refs;
}
