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

  for (const [host, { set, add }] of changes) {
    const { host: _host, ...update } = set;
    await tx.agent.upsert({
      where: { host },
      create: { ...set, events: add.events, hits: add.hits, missed: add.missed, lost: add.lost },
      update: {
        ...update,
        events: { increment: add.events }, hits: { increment: add.hits }, missed: { increment: add.missed }, lost: { increment: add.lost },
      },
    });
  }
}
