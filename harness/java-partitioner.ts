import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureKafkaJars } from './kafka.ts';
import { run } from './service.ts';

// The Java producer's own choice for a keyed record: BuiltInPartitioner.partitionForKey from the
// kafka-clients jar, run with `java` on a single source file (no build step).
const source = `import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;

public class PartitionForKey {
  public static void main(String[] args) throws Exception {
    int partitions = Integer.parseInt(args[0]);
    for (String line : Files.readAllLines(Path.of(args[1]))) {
      byte[] key = Base64.getDecoder().decode(line);
      System.out.println(BuiltInPartitioner.partitionForKey(key, partitions));
    }
  }
}
`;

/** The partition the Java client picks for each key (UTF-8 bytes) on a topic of `partitions`. */
export async function javaPartitionsFor(keys: string[], partitions: number): Promise<number[]> {
  const libs = await ensureKafkaJars();
  if (!readdirSync(libs).some((f) => f.startsWith('kafka-clients-'))) {
    throw new Error(`no kafka-clients jar in ${libs}; run npm run infra -- provision`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'kf-partitioner-'));
  try {
    const file = join(dir, 'PartitionForKey.java');
    writeFileSync(file, source);
    const keyFile = join(dir, 'keys.txt');
    writeFileSync(keyFile, keys.map((k) => Buffer.from(k, 'utf8').toString('base64')).join('\n'));
    // kafka-clients with its logging dependency (slf4j): the broker's jar folder has both.
    const output = await run('java', ['-cp', join(libs, '*'), file, String(partitions), keyFile]);
    const lines = output
      .trim()
      .split('\n')
      .filter((l) => /^\d+$/.test(l.trim()));
    if (lines.length !== keys.length)
      throw new Error(`Java printed ${lines.length} partitions for ${keys.length} keys:\n${output}`);
    return lines.map(Number);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
