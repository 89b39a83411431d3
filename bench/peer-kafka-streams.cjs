// Baseline (c): the Node.js peer `kafka-streams` (npm), JS client (kafka-node via sinek), counting
// records per key from the same topic. Run by bench/run.ts with a time limit; prints one JSON line.
//   node bench/peer-kafka-streams.cjs <peerDir> <broker> <topic> <records> <maxSeconds>
const [peerDir, broker, topic, recordsArg, maxSecondsArg] = process.argv.slice(2);
const { KafkaStreams } = require(require.resolve('kafka-streams', { paths: [peerDir] }));
const target = Number(recordsArg);
const started = Date.now();
let seen = 0;
let first = 0;
let last = 0;
const errors = [];
const counts = new Map();
const finish = (why) => {
  const seconds = first ? (last - first) / 1000 : 0;
  console.log(
    JSON.stringify({
      mode: 'kafka-streams',
      records: seen,
      seconds,
      rate: seconds ? seen / seconds : 0,
      why,
      errors: errors.slice(0, 3),
    }),
  );
  process.exit(0);
};
process.on('uncaughtException', (e) => {
  errors.push(String(e?.message || e));
});
process.on('unhandledRejection', (e) => {
  errors.push(String(e?.message || e));
});
const factory = new KafkaStreams({
  kafkaHost: broker,
  groupId: `bench-kafka-streams-${Date.now()}`,
  clientName: 'bench-kafka-streams',
  workerPerPartition: 1,
  options: {
    sessionTimeout: 8000,
    protocol: ['roundrobin'],
    fromOffset: 'earliest',
    fetchMaxBytes: 1024 * 1024,
    fetchMinBytes: 1,
    fetchMaxWaitMs: 200,
    autoCommit: true,
    heartbeatInterval: 250,
  },
});
const stream = factory.getKStream(topic);
stream.mapJSONConvenience().forEach((message) => {
  const now = Date.now();
  if (!first) first = now;
  last = now;
  const k = message.value?.k;
  counts.set(k, (counts.get(k) || 0) + 1);
  if (++seen >= target) finish('done');
});
stream.start().catch((e) => errors.push(String(e?.message || e)));
setTimeout(() => finish('time limit'), Number(maxSecondsArg) * 1000);
setInterval(() => {
  if (Date.now() - started > Number(maxSecondsArg) * 1000 + 5000) finish('time limit');
}, 1000);
