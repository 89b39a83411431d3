import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureKafkaJars } from './kafka.ts';
import { run } from './service.ts';

// Kafka's own Java consumer with isolation.level=read_committed, the reference for what a
// transactional topic holds: kafkajs 2.2.4's read_committed filter lets records of aborted
// transactions through (consumer/filterAbortedMessages.js opens at most one aborted transaction per
// record and assumes the broker lists them by first offset), so a test must not trust it.
// It reads every partition from the beginning until a record with the header `stopHeader` in each.
const source = `import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class ReadCommitted {
  public static void main(String[] args) throws Exception {
    Properties props = new Properties();
    props.put("bootstrap.servers", args[0]);
    props.put("isolation.level", "read_committed");
    props.put("enable.auto.commit", "false");
    props.put("key.deserializer", ByteArrayDeserializer.class.getName());
    props.put("value.deserializer", ByteArrayDeserializer.class.getName());
    String topic = args[1], stop = args[2];
    long deadline = System.currentTimeMillis() + Long.parseLong(args[3]);
    Base64.Encoder b64 = Base64.getEncoder();
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
      List<TopicPartition> parts = new ArrayList<>();
      consumer.partitionsFor(topic).forEach(p -> parts.add(new TopicPartition(topic, p.partition())));
      consumer.assign(parts);
      consumer.seekToBeginning(parts);
      Set<Integer> stopped = new HashSet<>();
      while (stopped.size() < parts.size()) {
        if (System.currentTimeMillis() > deadline) {
          System.err.println("timed out: stop records seen in " + stopped + " of " + parts.size() + " partitions");
          System.exit(3);
        }
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
          if (r.headers().lastHeader(stop) != null) { stopped.add(r.partition()); continue; }
          StringBuilder line = new StringBuilder("REC\\t").append(r.partition()).append('\\t').append(r.offset());
          line.append('\\t').append(r.value() == null ? "" : b64.encodeToString(r.value()));
          for (Header h : r.headers())
            line.append('\\t').append(h.key()).append('=').append(h.value() == null ? "" : b64.encodeToString(h.value()));
          System.out.println(line);
        }
      }
    }
  }
}
`;

export interface CommittedRecord {
  partition: number;
  offset: string;
  value: Buffer;
  headers: Record<string, string>;
}

/** Every committed record of `topic` before the first record with header `stopHeader` in each partition. */
export async function readCommittedJava(
  brokers: string,
  topic: string,
  stopHeader: string,
  timeoutMs = 120_000,
): Promise<CommittedRecord[]> {
  const libs = await ensureKafkaJars();
  const dir = mkdtempSync(join(tmpdir(), 'kf-read-committed-'));
  try {
    const file = join(dir, 'ReadCommitted.java');
    writeFileSync(file, source);
    const output = await run('java', [
      '-cp',
      join(libs, '*'),
      file,
      brokers,
      topic,
      stopHeader,
      String(timeoutMs),
    ]);
    return output
      .split('\n')
      .filter((line) => line.startsWith('REC\t'))
      .map((line) => {
        const [, partition, offset, value, ...headers] = line.split('\t');
        return {
          partition: Number(partition),
          offset: offset!,
          value: Buffer.from(value!, 'base64'),
          headers: Object.fromEntries(
            headers.map((h) => {
              const at = h.indexOf('=');
              return [h.slice(0, at), Buffer.from(h.slice(at + 1), 'base64').toString('utf8')];
            }),
          ),
        };
      });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
