import { describe, expect, it } from 'vitest';
import { kafkaTimeoutMs, MAX_NODES, nodeCount } from '../../../harness/infra-options.ts';

describe('npm run infra -- up options (harness/infra-options.ts)', () => {
  it('--node starts one node, --nodes N starts N (and implies --node), neither starts none', () => {
    expect(nodeCount(['up'])).toBe(0);
    expect(nodeCount(['up', '--node'])).toBe(1);
    expect(nodeCount(['up', '--nodes', '3'])).toBe(3);
    expect(nodeCount(['up', '--node', '--nodes', '2'])).toBe(2);
    expect(nodeCount(['up', '--nodes', '1', '--kafka-timeout', '300'])).toBe(1);
    expect(nodeCount(['up', '--nodes', String(MAX_NODES)])).toBe(MAX_NODES);
  });

  it('a bad --nodes fails with the range and what was given', () => {
    for (const bad of ['0', '-1', '1.5', 'three', '', String(MAX_NODES + 1), '--node']) {
      expect(() => nodeCount(['up', '--nodes', bad]), bad).toThrow(
        `--nodes expects a whole number of nodes from 1 to ${MAX_NODES}, e.g. --nodes 3; got ${JSON.stringify(bad)}`,
      );
    }
    expect(() => nodeCount(['up', '--nodes'])).toThrow(/from 1 to \d+, e\.g\. --nodes 3; got nothing/);
  });

  it('--kafka-timeout wins over KAPPAFLOW_KAFKA_TIMEOUT; 90 s without either; a bad value is refused', () => {
    expect(kafkaTimeoutMs(['up'], undefined)).toBe(90_000);
    expect(kafkaTimeoutMs(['up'], '120')).toBe(120_000);
    expect(kafkaTimeoutMs(['up', '--kafka-timeout', '300'], '120')).toBe(300_000);
    expect(() => kafkaTimeoutMs(['up', '--kafka-timeout', 'soon'], undefined)).toThrow(
      '--kafka-timeout expects seconds, e.g. --kafka-timeout 300; got "soon"',
    );
  });
});
