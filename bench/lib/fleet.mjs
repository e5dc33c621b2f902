// A simulated fleet on a fresh topic for the benchmarks: the built probefleet-sim (apps/fleet-sim)
// publishes virtual agents as real agents publish, and the topic is read back as the consumer gets it.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { brokers, onCleanup, require, root } from './stack.mjs';

export const simCli = join(root, 'apps/fleet-sim/dist/main.js');

/**
 * Creates `topic` (deleted at cleanup) and publishes `events` events of `agents` virtual agents as
 * fast as the broker takes them; resolves to the simulator's report (what the broker acked).
 */
// The fleet's clock starts two hours ago, on the hour: within the store's retention whatever the day.
const recentHour = () => new Date(Math.floor(Date.now() / 3600_000) * 3600_000 - 7200_000).toISOString().replace('.000Z', '.000000000Z');

export async function publishFleet({ topic, agents, events, partitions, seed = 1, start = recentHour(), extraArgs = [] }) {
  if (!existsSync(simCli)) throw new Error(`build missing (${simCli}): run \`npm run build\` first`);
  const { Kafka, logLevel } = require('kafkajs');
  const admin = new Kafka({ clientId: 'bench-fleet-admin', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  onCleanup(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });
  const args = [simCli, '--agents', String(agents), '--events', String(events), '--rate', '0', '--topic', topic, '--create-topic', String(partitions),
    '--brokers', brokers.join(','), '--seed', String(seed), '--start', start, ...extraArgs];
  const { stdout } = await promisify(execFile)(process.execPath, args, { maxBuffer: 1 << 26, env: { ...process.env, PROBEFLEET_LOG_LEVEL: 'warn' } })
    .catch((err) => { throw new Error(`probefleet-sim failed: ${err.stderr || err.message}`); });
  return JSON.parse(stdout);
}

/**
 * Every message of `topic` from the beginning, until `events` events are read: `{ partition, offset,
 * key, value, events }` in each partition's order.
 */
export async function readFleetTopic(topic, events, timeoutMs = 120_000) {
  const { Kafka, logLevel } = require('kafkajs');
  const { decodeBatch } = require('@probefleet/events');
  const consumer = new Kafka({ clientId: 'bench-fleet-read', brokers, logLevel: logLevel.NOTHING }).consumer({ groupId: `bench-fleet-read-${randomUUID()}` });
  await consumer.connect();
  const out = [];
  let count = 0;
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${count} of ${events} events of ${topic} within ${timeoutMs / 1000} s`)), timeoutMs);
      consumer.run({
        eachMessage: async ({ partition, message }) => {
          const decoded = decodeBatch(message.value);
          if (!decoded.ok) throw new Error(`${topic}/${partition}@${message.offset}: ${decoded.field}: ${decoded.reason}`);
          out.push({ partition, offset: Number(message.offset), key: message.key.toString(), value: message.value, events: decoded.value });
          count += decoded.value.length;
          if (count >= events) { clearTimeout(timer); resolve(); }
        },
      }).catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}
