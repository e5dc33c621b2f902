// Asks the broker for its metadata (proof that it answers, not just that the port is open) and
// creates the events topic when it is missing. Bounded timeouts: a dead broker fails fast.
const { Kafka, logLevel } = require('kafkajs');

const brokers = (process.env.KAFKA_BROKERS || `127.0.0.1:${process.env.KAFKA_PORT || 9092}`).split(',');
const topic = process.env.KAFKA_TOPIC || 'probefleet.events.v1';
const partitions = Number(process.env.KAFKA_TOPIC_PARTITIONS || 6);

async function main() {
  const kafka = new Kafka({
    clientId: 'probefleet-stack', brokers, logLevel: logLevel.NOTHING,
    connectionTimeout: 3000, requestTimeout: 10000, retry: { retries: 3 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    console.log(`[kafka] cluster ${cluster.clusterId} answers with ${cluster.brokers.length} broker(s)`);
    const created = await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }] });
    console.log(created ? `[kafka] created topic ${topic} (${partitions} partitions)` : `[kafka] topic ${topic} exists`);
  } finally {
    await admin.disconnect();
  }
}

main().catch((err) => {
  console.error(`[kafka] broker ${brokers.join(',')} did not answer: ${err.message}`);
  process.exit(1);
});
