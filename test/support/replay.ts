// Helpers for the replay e2e test: the whole of a topic as events, the built aggregator CLI as a
// child process, and every projection table of a database as comparable rows.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { decodeBatch, type Event } from '@probefleet/events';
import { Client } from 'pg';
import { REPO } from './agent-kafka';
import { AGGREGATOR } from './aggregator';
import { kafkaClient } from './stack';

/**
 * Every event of `topic` as it is now (read up to each partition's high watermark), one partition after
 * another in offset order, a redelivered stream position kept once: each as its JSON text exactly as
 * the agent sent it (a message is a JSON array of events; parsing keeps key order, so re-stringifying
 * one element gives the agent's bytes back) and decoded.
 */
export async function topicEvents(topic: string, ms: number): Promise<{ line: string; event: Event }[]> {
  const kafka = kafkaClient(`replay-e2e-${randomUUID().slice(0, 8)}`);
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const remaining = new Map(offsets.filter((o) => Number(o.high) > 0).map((o) => [o.partition, Number(o.high) - 1]));
  const byPartition = new Map<number, { offset: number; value: string }[]>();
  if (remaining.size > 0) {
    const consumer = kafka.consumer({ groupId: `replay-e2e-${randomUUID()}` });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      const last = new Map(remaining);
      let done!: () => void;
      const finished = new Promise<void>((r) => (done = r));
      await consumer.run({
        eachMessage: async ({ partition, message }) => {
          const offset = Number(message.offset);
          if (offset > (last.get(partition) ?? -1)) return;
          (byPartition.get(partition) ?? byPartition.set(partition, []).get(partition)!).push({ offset, value: message.value?.toString('utf8') ?? '' });
          if (offset === last.get(partition)) remaining.delete(partition);
          if (remaining.size === 0) done();
        },
      });
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([finished, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`topic ${topic}: not read to its end within ${ms} ms`)), ms)))])
        .finally(() => clearTimeout(timer));
    } finally {
      await consumer.disconnect();
    }
  }
  const seen = new Set<string>();
  const out: { line: string; event: Event }[] = [];
  for (const partition of [...byPartition.keys()].sort((a, b) => a - b)) {
    for (const { value } of byPartition.get(partition)!.sort((a, b) => a.offset - b.offset)) {
      const decoded = decodeBatch(value);
      if (!decoded.ok) throw new Error(`topic ${topic}: undecodable message: ${decoded.reason}`);
      const raw = JSON.parse(value) as unknown[];
      decoded.value.forEach((event, i) => {
        const key = `${event.instance}/${event.seq}`;
        if (seen.has(key)) return;
        seen.add(key);
        out.push({ line: JSON.stringify(raw[i]), event });
      });
    }
  }
  return out;
}

export interface CliRun { code: number; stdout: string; stderr: string }

/** `probefleet <args>` (the built CLI) on `databaseUrl`; resolves with its exit code, never rejects on one. */
export function probefleet(args: string[], databaseUrl: string): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [AGGREGATOR, ...args], { cwd: REPO, env: { ...process.env, DATABASE_URL: databaseUrl }, maxBuffer: 256 << 20, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * The projection tables `probefleet rebuild` rebuilds, as JSON rows sorted by their text. Surrogate
 * ids are left out: they come from sequences, which no rebuild can replay (a rolled-back or retried
 * transaction consumes numbers). Everything else must be identical.
 */
export const PROJECTIONS = ['tcp_transitions', 'tcp_connections', 'tcp_open_connections', 'tcp_rollups', 'probes', 'agents', 'streams', 'stream_gaps'] as const;

export async function projectionRows(databaseUrl: string): Promise<Record<(typeof PROJECTIONS)[number], string[]>> {
  const client = new Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    const out = {} as Record<(typeof PROJECTIONS)[number], string[]>;
    for (const table of PROJECTIONS) {
      // to_jsonb keeps every column at full precision (timestamptz to the microsecond, bigint exact).
      // A transition's source id is a dictionary number too: its instance and probe stand in for it.
      const { rows } = await client.query<{ row: string }>(table === 'tcp_transitions'
        ? `SELECT (to_jsonb(t) - 'id' - 'source_id' || jsonb_build_object('instance', k.instance, 'probe', k.probe))::text AS row
             FROM tcp_transitions t JOIN tcp_sources k ON k.host = t.host AND k.id = t.source_id ORDER BY 1`
        : `SELECT (to_jsonb(t) - 'id')::text AS row FROM "${table}" t ORDER BY 1`);
      out[table] = rows.map((r) => r.row);
    }
    return out;
  } finally {
    await client.end();
  }
}

/** Rows of `probes` as `probefleet replay` prints a host's probes. */
export async function probesAsReplayState(databaseUrl: string): Promise<Record<string, Record<string, unknown>>> {
  const client = new Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    const { rows } = await client.query<{ host: string; name: string; address: string | null; bucket: number | null; armed: boolean; hits: string; missed: string }>(
      'SELECT host, name, address, bucket, armed, hits::text, missed::text FROM probes ORDER BY host, name',
    );
    const hosts: Record<string, Record<string, unknown>> = {};
    for (const r of rows) {
      (hosts[r.host] ??= {})[r.name] = { address: r.address, bucket: r.bucket, armed: r.armed, hits: Number(r.hits), missed: Number(r.missed) };
    }
    return hosts;
  } finally {
    await client.end();
  }
}

/** How many events the store holds (TCP hits as typed rows, the rest generic). */
export async function storedCount(databaseUrl: string): Promise<number> {
  const client = new Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return Number((await client.query<{ n: string }>('SELECT ((SELECT count(*) FROM events) + (SELECT count(*) FROM tcp_transitions))::text AS n')).rows[0]?.n);
  } finally {
    await client.end();
  }
}
