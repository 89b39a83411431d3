import java.nio.charset.StandardCharsets;
import java.util.Properties;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The freshness benchmark's load: the records of bench/data.ts's generator (same fields and
 * ranges, live event times, uniform or Zipf keys, partitions in turn) at a steady rate, from the
 * Java client, which costs a fraction of kafkajs' CPU per record. On a 2-core machine shared with
 * Kafka, Redis and the replica, the producer's CPU is what a deployment's producers (on other
 * machines) do not take from it. Run with `java` on this one file (no build step).
 *
 * Arguments: brokers topic ratePerSecond maxSeconds keys zipfSkew(0 = uniform) partitions seed.
 * Prints "ready" once the topic's metadata is known, then produces until SIGTERM (or maxSeconds)
 * and prints "sent <acknowledged> failed <failed sends> <seconds>".
 */
public class LoadProducer {
  private static volatile boolean stopping = false;

  public static void main(String[] args) throws Exception {
    Thread main = Thread.currentThread();
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      stopping = true;
      try {
        main.join(20_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }));
    String brokers = args[0];
    String topic = args[1];
    double rate = Double.parseDouble(args[2]);
    double seconds = Double.parseDouble(args[3]);
    int keys = Integer.parseInt(args[4]);
    double skew = Double.parseDouble(args[5]);
    int partitions = Integer.parseInt(args[6]);
    SplittableRandom random = new SplittableRandom(Long.parseLong(args[7]));
    double[] cdf = skew > 0 ? zipfCdf(keys, skew) : null;

    Properties props = new Properties();
    props.put("bootstrap.servers", brokers);
    props.put("acks", "1");
    props.put("linger.ms", "5");
    props.put("key.serializer", ByteArraySerializer.class.getName());
    props.put("value.serializer", ByteArraySerializer.class.getName());
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
      producer.partitionsFor(topic);
      System.out.println("ready");
      System.out.flush();
      // 10 ms ticks, carrying the remainder so that any rate is met on average
      long tickNs = 10_000_000L;
      AtomicLong acknowledged = new AtomicLong();
      AtomicLong failed = new AtomicLong();
      long start = System.nanoTime();
      long sent = 0;
      long tick = 0;
      while (!stopping && System.nanoTime() - start < seconds * 1e9) {
        tick++;
        long due = (long) Math.floor(rate * (tick * tickNs / 1e9));
        long now = System.currentTimeMillis();
        for (; sent < due; sent++) {
          int key = cdf == null ? random.nextInt(keys) : zipf(cdf, random.nextDouble());
          String value = "{\"ts\":" + now + ",\"k\":\"k" + key + "\",\"v\":" + random.nextInt(1000)
              + ",\"u\":\"u" + random.nextInt(50_000) + "\",\"lat\":" + (1 + random.nextInt(2000))
              + ",\"st\":" + (random.nextDouble() < 0.9 ? 200 : 503) + "}";
          producer.send(new ProducerRecord<>(topic, (int) (sent % partitions), null,
              value.getBytes(StandardCharsets.UTF_8)), (metadata, error) -> {
                if (error == null) acknowledged.incrementAndGet();
                else failed.incrementAndGet();
              });
        }
        long waitNs = start + tick * tickNs - System.nanoTime();
        if (waitNs > 0) Thread.sleep(waitNs / 1_000_000, (int) (waitNs % 1_000_000));
      }
      producer.flush();
      System.out.println("sent " + acknowledged.get() + " failed " + failed.get() + " "
          + (System.nanoTime() - start) / 1e9);
      System.out.flush();
    }
  }

  static double[] zipfCdf(int n, double s) {
    double[] cdf = new double[n];
    double total = 0;
    for (int i = 0; i < n; i++) cdf[i] = total += 1 / Math.pow(i + 1, s);
    for (int i = 0; i < n; i++) cdf[i] /= total;
    return cdf;
  }

  static int zipf(double[] cdf, double u) {
    int lo = 0;
    int hi = cdf.length - 1;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
