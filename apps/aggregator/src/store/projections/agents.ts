// agents: the fleet, one row per host, from its latest agent instance.
import type { Tx } from '../prisma';
import type { StoredEvent } from '../event-rows';
import type { Prisma } from '../../generated/prisma/client';

export async function projectAgents(tx: Tx, events: readonly StoredEvent[]): Promise<void> {
  const hosts = [...new Set(events.map((e) => e.event.host))];
  if (hosts.length === 0) return;
  const existing = new Map((await tx.agent.findMany({ where: { host: { in: hosts } } })).map((a) => [a.host, a]));
  const changes = new Map<string, { set: Prisma.AgentUncheckedCreateInput; add: { events: number; hits: number; missed: number; lost: number } }>();

  for (const { event } of events) {
    let c = changes.get(event.host);
    if (!c) {
      const row = existing.get(event.host);
      c = {
        set: { host: event.host, bootId: row?.bootId ?? event.bootId, instance: row?.instance ?? event.instance, lastSeen: row?.lastSeen ?? new Date(event.time) },
        add: { events: 0, hits: 0, missed: 0, lost: 0 },
      };
      changes.set(event.host, c);
    }
    const time = new Date(event.time);
    if (time > (c.set.lastSeen as Date)) c.set.lastSeen = time;
    c.add.events += 1;
    switch (event.type) {
      case 'agent.started':
        // A restart (new instance) or a reboot (new bootId): this instance is now the host's agent.
        Object.assign(c.set, {
          bootId: event.bootId, instance: event.instance, kernelRelease: event.data.kernelRelease, arch: event.data.arch,
          agentVersion: event.data.agentVersion, mode: event.data.mode, capabilities: event.data.capabilities,
          startedAt: time, stoppedAt: null,
        });
        break;
      case 'agent.stopped':
        if (event.instance === c.set.instance) c.set.stoppedAt = time;
        break;
      case 'agent.heartbeat':
        if (event.instance === c.set.instance) c.set.counters = event.data.counters;
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

  // Every touched host in one statement (a batch carries many hosts). Fields this batch did not set
  // are written back as read above; the counts are increments.
  const rows = [...changes.entries()].map(([host, { set, add }]) => {
    const row = existing.get(host);
    const pick = <K extends keyof Prisma.AgentUncheckedCreateInput>(k: K) => (k in set ? set[k] : row?.[k as keyof typeof row]) ?? null;
    const time = (v: unknown) => (v instanceof Date ? v.toISOString() : null);
    return [
      host, set.bootId, set.instance, pick('kernelRelease'), pick('arch'), pick('agentVersion'), pick('mode'), pick('capabilities'),
      time(pick('startedAt')), time(pick('stoppedAt')), time(set.lastSeen), add.events, add.hits, add.missed, add.lost, pick('counters'),
    ];
  });
  await tx.$executeRaw`
    INSERT INTO agents AS a (host, boot_id, instance, kernel_release, arch, agent_version, mode, capabilities, started_at, stopped_at, last_seen,
                             events, hits, missed, lost, counters)
    SELECT r->>0, (r->>1)::uuid, (r->>2)::uuid, r->>3, r->>4, r->>5, r->>6, nullif(r->7, 'null'), (r->>8)::timestamptz, (r->>9)::timestamptz,
           (r->>10)::timestamptz, (r->>11)::bigint, (r->>12)::bigint, (r->>13)::bigint, (r->>14)::bigint, nullif(r->15, 'null')
      FROM jsonb_array_elements(${JSON.stringify(rows)}::jsonb) AS r
    ON CONFLICT (host) DO UPDATE SET boot_id = excluded.boot_id, instance = excluded.instance, kernel_release = excluded.kernel_release,
      arch = excluded.arch, agent_version = excluded.agent_version, mode = excluded.mode, capabilities = excluded.capabilities,
      started_at = excluded.started_at, stopped_at = excluded.stopped_at, last_seen = excluded.last_seen, counters = excluded.counters,
      events = a.events + excluded.events, hits = a.hits + excluded.hits, missed = a.missed + excluded.missed, lost = a.lost + excluded.lost`;
}
