import { readFileSync } from 'node:fs';
import { Kafka, type KafkaConfig, logLevel, type SASLOptions } from 'kafkajs';
import { parse } from 'yaml';
import type { Logger } from './logger.ts';

/**
 * Kafka connection settings beyond the broker list, from a YAML/JSON file (mounted from a Secret on
 * Kubernetes) so no credential ever sits in a command line or a pipeline spec:
 *   ssl: true | { ca: path, cert: path, key: path, rejectUnauthorized: bool }
 *   sasl: { mechanism: plain | scram-sha-256 | scram-sha-512, username, password }
 */
export interface KafkaConnectionFile {
  ssl?: boolean | { ca?: string; cert?: string; key?: string; rejectUnauthorized?: boolean };
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
}

export function createKafka(options: {
  brokers: string[];
  clientId: string;
  configFile?: string;
  logger: Logger;
}): Kafka {
  const config: KafkaConfig = {
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: logLevel.WARN,
    logCreator: () => (entry) => {
      const { message, ...rest } = entry.log;
      // kafkajs logs every retriable broker answer ("coordinator not available", "rebalancing") as an
      // error on its connection and retries; its consumer reports what really failed.
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
  if (options.configFile) {
    const file = parse(readFileSync(options.configFile, 'utf8')) as KafkaConnectionFile;
    if (file.ssl === true) config.ssl = true;
    else if (file.ssl) {
      config.ssl = {
        ...(file.ssl.ca ? { ca: [readFileSync(file.ssl.ca, 'utf8')] } : {}),
        ...(file.ssl.cert ? { cert: readFileSync(file.ssl.cert, 'utf8') } : {}),
        ...(file.ssl.key ? { key: readFileSync(file.ssl.key, 'utf8') } : {}),
        rejectUnauthorized: file.ssl.rejectUnauthorized ?? true,
      };
    }
    if (file.sasl) config.sasl = file.sasl as SASLOptions;
  }
  return new Kafka(config);
}
