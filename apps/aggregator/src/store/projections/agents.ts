// agents: the fleet, one row per host, from its latest agent instance; counters of every stored event
// (the policies' control stream is no agent).
import { CONTROL_STREAM, type Event } from '@probefleet/events';
import type { PoolClient } from 'pg';
import { rfc3339 } from '../sql-time';

interface AgentRow {
  host: string; boot_id: string; instance: string; kernel_release: string | null; arch: string | null; agent_version: string | null;
  mode: string | null; capabilities: unknown; started_at: string | null; stopped_at: string | null; last_seen: string; counters: unknown; labels: unknown;
}

type Settable = Omit<AgentRow, 'host'>;

export async function projectAgents(client: PoolClient, all: readonly Event[]): Promise<void> {
  const events = all.filter((e) => e.instance !== CONTROL_STREAM.instance);
  const hosts = [...new Set(events.map((e) => e.host))];
  if (hosts.length === 0) return;
  const { rows } = await client.query<AgentRow>(
    `SELECT host, boot_id::text, instance::text, kernel_release, arch, agent_version, mode, capabilities,
            ${rfc3339('started_at')} AS started_at, ${rfc3339('stopped_at')} AS stopped_at, ${rfc3339('last_seen')} AS last_seen, counters, labels
       FROM agents WHERE host = ANY($1)`, [hosts]);
  const existing = new Map(rows.map((r) => [r.host, r]));
  const changes = new Map<string, { set: Partial<Settable>; lastSeen: string; add: { events: number; hits: number; missed: number; lost: number } }>();

  for (const event of events) {
    let c = changes.get(event.host);
    if (!c) {
      const row = existing.get(event.host);
      c = { set: row ? {} : { boot_id: event.bootId, instance: event.instance }, lastSeen: row?.last_seen ?? event.time, add: { events: 0, hits: 0, missed: 0, lost: 0 } };
      changes.set(event.host, c);
    }
    if (event.time > c.lastSeen) c.lastSeen = event.time;
    c.add.events += 1;
    const current = c.set.instance ?? existing.get(event.host)?.instance;
    switch (event.type) {
      case 'agent.started':
        // A restart (new instance) or a reboot (new bootId): this instance is now the host's agent.
        Object.assign(c.set, {
          boot_id: event.bootId, instance: event.instance, kernel_release: event.data.kernelRelease, arch: event.data.arch,
          agent_version: event.data.agentVersion, mode: event.data.mode, capabilities: event.data.capabilities,
          started_at: event.time, stopped_at: null, labels: event.data.labels ?? null,
        });
        break;
      case 'agent.stopped':
        if (event.instance === current) c.set.stopped_at = event.time;
        break;
      case 'agent.heartbeat':
        if (event.instance === current) c.set.counters = event.data.counters;
        break;
      case 'agent.loss':
        c.add.lost += event.data.overruns.reduce((n, o) => n + o.count, 0);
        break;
      case 'probe.hit':
        c.add.hits += 1;
        break;
      case 'probe.missed':
        c.add.missed += event.data.count;
        break;
      default:
        break;
    }
  }

  // Every touched host in one statement. Fields this batch did not set are written back as read.
  const payload = [...changes.entries()].map(([host, { set, lastSeen, add }]) => {
    const row = existing.get(host);
    const pick = <K extends keyof Settable>(k: K) => (k in set ? set[k] : row?.[k]) ?? null;
    return [
      host, pick('boot_id'), pick('instance'), pick('kernel_release'), pick('arch'), pick('agent_version'), pick('mode'), pick('capabilities'),
      pick('started_at'), pick('stopped_at'), lastSeen, add.events, add.hits, add.missed, add.lost, pick('counters'), pick('labels'),
    ];
  });
  await client.query(
    `INSERT INTO agents AS a (host, boot_id, instance, kernel_release, arch, agent_version, mode, capabilities, started_at, stopped_at, last_seen,
                              events, hits, missed, lost, counters, labels)
     SELECT r->>0, (r->>1)::uuid, (r->>2)::uuid, r->>3, r->>4, r->>5, r->>6, nullif(r->7, 'null'), (r->>8)::timestamptz, (r->>9)::timestamptz,
            (r->>10)::timestamptz, (r->>11)::bigint, (r->>12)::bigint, (r->>13)::bigint, (r->>14)::bigint, nullif(r->15, 'null'), nullif(r->16, 'null')
       FROM jsonb_array_elements($1::jsonb) AS r
     ON CONFLICT (host) DO UPDATE SET boot_id = excluded.boot_id, instance = excluded.instance, kernel_release = excluded.kernel_release,
       arch = excluded.arch, agent_version = excluded.agent_version, mode = excluded.mode, capabilities = excluded.capabilities,
       started_at = excluded.started_at, stopped_at = excluded.stopped_at, last_seen = excluded.last_seen, counters = excluded.counters, labels = excluded.labels,
       events = a.events + excluded.events, hits = a.hits + excluded.hits, missed = a.missed + excluded.missed, lost = a.lost + excluded.lost`,
    [JSON.stringify(payload)]);
}
