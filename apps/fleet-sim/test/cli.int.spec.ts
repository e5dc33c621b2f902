// probefleet-sim against the real broker: what it publishes decodes, is keyed and batched as the
// agent does it, and holds every stream complete — event for event what the library generates.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { batchHeaders, decodeBatch, encodeEvent, type Event } from '@probefleet/events';
import { generateFleet, type FleetOptions } from '@probefleet/fleet-sim';
import { createReplay } from '@probefleet/kprobe-model';
import { parsePublicKey, verifies } from '@probefleet/signature';
import { Kafka, logLevel } from 'kafkajs';

const run = promisify(execFile);
const CLI = path.join(__dirname, '..', 'dist', 'main.js');
const brokers = (process.env['KAFKA_BROKERS'] || '127.0.0.1:9092').split(',');
const kafka = new Kafka({ clientId: 'fleet-sim-test', brokers, logLevel: logLevel.NOTHING, connectionTimeout: 3000 });

interface Report {
  events: number;
  eventsAcked: number;
  hits: number;
  hosts: number;
  streams: number;
  restarts: number;
  reboots: number;
  messages: number;
  fleet: FleetOptions;
  eventsLimit: number;
  eventsPerSecond: number;
}

interface Delivered {
  partition: number;
  key: string;
  headers: Record<string, string>;
  value: Buffer;
  events: Event[];
}

async function readTopic(topic: string, events: number): Promise<Delivered[]> {
  const consumer = kafka.consumer({ groupId: `fleet-sim-test-${randomUUID()}` });
  const out: Delivered[] = [];
  let count = 0;
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${count} of ${events} events within 60 s`)), 60_000);
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          const decoded = decodeBatch(message.value as Buffer);
          if (!decoded.ok) throw new Error(`partition ${partition} offset ${message.offset}: ${decoded.field}: ${decoded.reason}`);
          const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
          out.push({ partition, key: String(message.key), headers, events: decoded.value, value: message.value as Buffer });
          count += decoded.value.length;
          if (count >= events) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

describe('probefleet-sim', () => {
  const topic = `fleet-sim-test-${randomUUID().slice(0, 8)}`;
  const admin = kafka.admin();

  beforeAll(async () => {
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 4, replicationFactor: 1 }], waitForLeaders: true });
  });

  afterAll(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  it('publishes a fleet as agents do: every message decodes, keyed by host, and every stream is complete', async () => {
    // Restarts, reboots and crashes within the run's ~10 s of event time.
    const args = ['--agents', '30', '--rate', '0', '--virtual-rate', '2000', '--events', '20000', '--topic', topic, '--brokers', brokers.join(','),
      '--seed', '11', '--start', '2026-11-25T10:00:00.000000000Z', '--restart-every', '5', '--reboot-every', '10', '--crash-share', '0.3', '--heartbeat', '1', '--producers', '3'];
    const { stdout } = await run(process.execPath, [CLI, ...args], { maxBuffer: 1 << 24 });
    const report = JSON.parse(stdout) as Report;
    expect(report.eventsAcked).toBe(report.events);
    expect(report.hosts).toBe(30);
    expect(report.restarts + report.reboots).toBeGreaterThan(0);

    const delivered = await readTopic(topic, report.events);
    const events = delivered.flatMap((m) => m.events);
    expect(events.length).toBe(report.events);
    expect(delivered.length).toBe(report.messages);

    const partitionOf = new Map<string, number>();
    const keyOf = new Map<string, string>();
    for (const m of delivered) {
      const first = m.events[0] as Event;
      // One stream's consecutive events per message; key = host; the agent's headers.
      expect(m.key).toBe(first.host);
      // ...and each host's signature, one key per host, over key, value and headers.
      const { sig: _sig, 'sig-key': signerKey, ...stream } = m.headers;
      expect(stream).toEqual({ ...batchHeaders(m.events) });
      expect(verifies(m, parsePublicKey(signerKey ?? '')!)).toBe(true);
      expect(keyOf.get(first.host) ?? signerKey).toBe(signerKey);
      keyOf.set(first.host, signerKey!);
      // Keyed by host: all of a host's messages in one partition, so its streams stay in order.
      expect(partitionOf.get(first.host) ?? m.partition).toBe(m.partition);
      partitionOf.set(first.host, m.partition);
    }
    expect(new Set(partitionOf.values()).size).toBeGreaterThan(1);

    // Each partition in offset order replays through the kprobe model without a violation.
    for (const p of new Set(partitionOf.values())) {
      const replay = createReplay();
      for (const e of delivered.filter((m) => m.partition === p).flatMap((m) => m.events)) {
        const failure = replay.feed(encodeEvent(e));
        if (failure) throw new Error(`partition ${p}: ${JSON.stringify(failure)}`);
      }
    }

    // Every stream complete: exactly what the library generates for the same options, each stream seq 1..n.
    const expected = generateFleet(report.fleet, report.eventsLimit);
    const key = (e: Event) => `${e.instance}/${e.seq}`;
    const got = new Map(events.map((e) => [key(e), e]));
    expect(got.size).toBe(events.length);
    expect(expected.length).toBe(events.length);
    for (const e of expected) expect(got.get(key(e))).toEqual(e);
    const streams = new Map<string, number[]>();
    for (const e of events) {
      const seqs = streams.get(e.instance) ?? [];
      seqs.push(e.seq);
      streams.set(e.instance, seqs);
    }
    expect(streams.size).toBe(report.streams);
    for (const seqs of streams.values()) expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  });

  it('prints its version', async () => {
    const { stdout } = await run(process.execPath, [CLI, '--version']);
    const { version } = JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
    expect(stdout.trim()).toBe(version);
  });

  it('names a missing topic instead of publishing', async () => {
    const missing = `fleet-sim-missing-${randomUUID().slice(0, 8)}`;
    const failed = run(process.execPath, [CLI, '--agents', '2', '--events', '10', '--topic', missing, '--brokers', brokers.join(',')]);
    await expect(failed).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining(`topic ${missing} does not exist`) });
  });
});
