import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { startKafka } from '../../harness/kafka.ts';
import { killScenarioProcesses, runScenario } from '../integration/processor/scenario.ts';

const RECORDS = Number(process.env.KAPPAFLOW_DRILL_RECORDS ?? 60_000);

afterAll(killScenarioProcesses);

/**
 * Three Kafka brokers (each also a KRaft controller), the source topic with replication factor 3
 * and min.insync.replicas=2: a broker is SIGKILLed mid-run and restarted, then the active
 * controller is. Producers (acks=all, idempotent) and the replicas ride through; the aggregates
 * must equal the ground truth.
 */
describe('three-broker Kafka drill', () => {
  it('stays exact when a broker and then the active controller are SIGKILLed and restarted', async () => {
    const kafka = await startKafka({ brokers: 3 });
    try {
      const killed: number[] = [];
      const report = await runScenario({
        records: RECORDS,
        brokers: kafka.brokers,
        redisUrl: inject('redisUrl'),
        minKills: 0,
        productionMs: 90_000,
        topic: { replicationFactor: 3, configEntries: [{ name: 'min.insync.replicas', value: '2' }] },
        disrupt: async () => {
          // A broker that is not the controller first, then the controller itself.
          const admin = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING }).admin();
          await admin.connect();
          const { controller } = await admin.describeCluster();
          await admin.disconnect();
          const controllerIndex = kafka.nodes.findIndex((n) => n.nodeId === controller);
          const other = (controllerIndex + 1) % kafka.nodes.length;
          await kafka.restartBroker(other, { kill: true, downMs: 5000 });
          killed.push(kafka.nodes[other]!.nodeId);
          await new Promise((r) => setTimeout(r, 5000));
          await kafka.restartBroker(controllerIndex, { kill: true, downMs: 5000 });
          killed.push(controller!);
        },
      });
      expect(killed).toHaveLength(2);
      console.log('[drill] kafka-3-brokers', JSON.stringify({ ...report, brokersKilled: killed }));
    } finally {
      await kafka.stop();
    }
  });
});
