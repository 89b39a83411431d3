// First, so that it runs before kafkajs loads when nothing imported kafkajs earlier.
import './read-committed.ts';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import {
  Kafka,
  type KafkaConfig,
  logLevel,
  Partitioners,
  type Producer,
  type ProducerConfig,
  type SASLOptions,
} from 'kafkajs';
import { parse } from 'yaml';
import type { Logger } from '../observability/logger.ts';
import { tlsHint } from '../observability/tls-hint.ts';
import { readCommittedFilterInstalled } from './read-committed.ts';

/** The settings a user gives for Kafka TLS, named in errors and docs. */
export const KAFKA_TLS_SETTINGS = {
  ca: "ssl.ca in the Kafka settings file (KAFKA_CONFIG_FILE, --kafka-config), or the Pipeline's spec.kafka.tls.caSecretRef (KAFKA_TLS_CA_FILE)",
  clientCert:
    "ssl.cert and ssl.key in the Kafka settings file (KAFKA_CONFIG_FILE, --kafka-config), or the Pipeline's spec.kafka.tls.clientCertSecretRef (KAFKA_TLS_CERT_FILE, KAFKA_TLS_KEY_FILE)",
};

/**
 * Kafka connection settings beyond the broker list, from a YAML/JSON file (mounted from a Secret on
 * Kubernetes) so no credential ever sits in a command line or a pipeline spec:
 *   ssl: true | { ca: path, cert: path, key: path, rejectUnauthorized: bool }  (paths relative to the file)
 *   sasl: { mechanism: plain | scram-sha-256 | scram-sha-512, username, password }
 */
export interface KafkaConnectionFile {
  ssl?: boolean | { ca?: string; cert?: string; key?: string; rejectUnauthorized?: boolean };
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
}

const MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'];

/**
 * The kafkajs `ssl`/`sasl` settings from a Kafka connection file (certificate paths are read here).
 * Processors (`createKafka`) and the operator's admin clients both use it, so one mounted file
 * configures every Kafka connection.
 */
export function kafkaSecurityConfig(configFile: string): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const file = (parse(readFileSync(configFile, 'utf8')) ?? {}) as KafkaConnectionFile;
  if (typeof file !== 'object' || Array.isArray(file)) {
    throw new Error(`${configFile}: expected a mapping with ssl and/or sasl`);
  }
  // Relative paths are read beside the settings file: a Secret mounted as a folder holds both.
  return kafkaSecurity(file, { name: (field) => `${configFile}: ${field}`, dir: dirname(configFile) });
}

/** Where settings came from, so errors name what to fix: a settings file's fields, or variables. */
export interface SettingsOrigin {
  name(field: 'ssl.ca' | 'ssl.cert' | 'ssl.key' | 'sasl.mechanism'): string;
  /** the folder relative certificate paths are read from */
  dir: string;
}

/**
 * Settings in the connection file's shape → kafkajs `ssl`/`sasl` (certificates read here). The one
 * conversion for the settings file and for a Pipeline's own spec.kafka settings (pipeline-settings.ts).
 */
export function kafkaSecurity(
  settings: KafkaConnectionFile,
  origin: SettingsOrigin,
): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const out: Pick<KafkaConfig, 'ssl' | 'sasl'> = {};
  if (settings.ssl === true) out.ssl = true;
  else if (settings.ssl) {
    const pem = (field: 'ca' | 'cert' | 'key', path: string) => {
      const at = resolve(origin.dir, path);
      try {
        return readFileSync(at, 'utf8');
      } catch (error) {
        throw new Error(
          `${origin.name(`ssl.${field}`)}: cannot read ${at} (${(error as NodeJS.ErrnoException).code ?? String(error)}); give the path of a PEM file, absolute or relative to ${origin.dir}`,
        );
      }
    };
    out.ssl = {
      ...(settings.ssl.ca ? { ca: [pem('ca', settings.ssl.ca)] } : {}),
      ...(settings.ssl.cert ? { cert: pem('cert', settings.ssl.cert) } : {}),
      ...(settings.ssl.key ? { key: pem('key', settings.ssl.key) } : {}),
      rejectUnauthorized: settings.ssl.rejectUnauthorized ?? true,
    };
  }
  if (settings.sasl) {
    if (!MECHANISMS.includes(String(settings.sasl.mechanism).toLowerCase())) {
      throw new Error(
        `${origin.name('sasl.mechanism')} must be one of ${MECHANISMS.join(', ')}, got ${String(settings.sasl.mechanism)}`,
      );
    }
    out.sasl = settings.sasl as SASLOptions;
  }
  return out;
}

let warnedFilter = false;

export function createKafka(options: {
  brokers: string[];
  clientId: string;
  configFile?: string;
  /** a Pipeline's own TLS/SASL (pipeline-settings.ts): replaces the settings file's `ssl`/`sasl` */
  security?: Pick<KafkaConfig, 'ssl' | 'sasl'>;
  logger: Logger;
}): Kafka {
  if (!readCommittedFilterInstalled && !warnedFilter) {
    warnedFilter = true;
    options.logger.warn(
      'kafkajs was loaded before the read_committed fix (kafka/read-committed.ts): records of aborted transactions may be counted; import that module before kafkajs',
    );
  }
  const config: KafkaConfig = {
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: logLevel.WARN,
    logCreator: () => (entry) => {
      const { message, ...rest } = entry.log;
      // kafkajs logs every retriable broker answer ("coordinator not available", "rebalancing") as an
      // error on its connection and retries; its consumer reports what really failed.
      // kafkajs puts a connection's error in the message ("Connection error: ...") or in `error`.
      const fix =
        entry.level <= logLevel.ERROR
          ? tlsHint(`${message} ${typeof rest.error === 'string' ? rest.error : ''}`, KAFKA_TLS_SETTINGS)
          : undefined;
      if (fix) {
        // A certificate problem does not go away by retrying: say what to fix, at error level.
        options.logger.error(
          { kafkajs: entry.namespace, ...rest, fix },
          `Kafka refused the TLS connection: ${fix}`,
        );
        return;
      }
      const retried = entry.namespace === 'Connection' && typeof rest.error === 'string';
      const level = retried
        ? 'debug'
        : entry.level <= logLevel.ERROR
          ? 'error'
          : entry.level === logLevel.WARN
            ? 'warn'
            : 'debug';
      options.logger[level]({ kafkajs: entry.namespace, ...rest }, message);
    },
    retry: { retries: 20, initialRetryTime: 300, maxRetryTime: 5000 },
  };
  if (options.configFile) Object.assign(config, kafkaSecurityConfig(options.configFile));
  if (options.security) Object.assign(config, options.security);
  return new Kafka(config);
}

/**
 * A producer whose partitioner is named, not defaulted: kafkajs's default one hashes keys with
 * murmur2 exactly as the Java client does, so a keyed record lands on the partition any other
 * client would choose (and kafkajs no longer warns about its changed default at every start).
 */
export function createProducer(kafka: Kafka, config: ProducerConfig = {}): Producer {
  return kafka.producer({ ...config, createPartitioner: Partitioners.DefaultPartitioner });
}
