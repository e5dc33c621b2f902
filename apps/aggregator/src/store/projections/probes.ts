// probes: per host, the kprobe model's state (libs/kprobe-model) saved as one row per registered
// probe. Each batch hydrates the hosts it touches from their rows, applies their lifecycle events
// in order through the model, and saves them back. Events the model refuses are reported, not applied.
import { applyToHost, hostAfterBoot, hydrateHost, kprobeBucket, savedProbes, type HostState } from '@probefleet/kprobe-model';
import type { ProbeKind } from '@probefleet/events';
import type { Tx } from '../prisma';
import type { StoredEvent } from '../event-rows';

export interface ModelViolation { host: string; instance: string; seq: number; reason: string }

const LIFECYCLE = new Set(['probe.registered', 'probe.armed', 'probe.disarmed', 'probe.unregistered', 'probe.hit', 'probe.missed', 'agent.started']);

export async function projectProbes(tx: Tx, events: readonly StoredEvent[]): Promise<ModelViolation[]> {
  const relevant = events.filter((e) => LIFECYCLE.has(e.event.type));
  const hosts = [...new Set(relevant.map((e) => e.event.host))];
  if (hosts.length === 0) return [];
  const rows = await tx.probe.findMany({ where: { host: { in: hosts } }, orderBy: { registeredAt: 'asc' } });
  const violations: ModelViolation[] = [];
  const states = new Map<string, { state: HostState; registeredAt: Map<string, Date>; definitions: Map<string, string | null>; instance: string; at: Date }>();

  for (const host of hosts) {
    const mine = rows.filter((r) => r.host === host);
    const first = relevant.find((e) => e.event.host === host)!;
    const state = hydrateHost(host, mine[0]?.bootId ?? first.event.bootId, mine.map((r) => ({
      name: r.name, kind: r.kind as ProbeKind, symbol: r.symbol, offset: r.offset, address: r.address, insn: r.insn,
      armed: r.armed, hits: Number(r.hits), missed: Number(r.missed),
    })));
    states.set(host, {
      state,
      registeredAt: new Map(mine.map((r) => [r.name, r.registeredAt])),
      definitions: new Map(mine.map((r) => [r.name, r.definition])),
      instance: mine[0]?.instance ?? first.event.instance,
      at: first.ingestedAt,
    });
  }

  for (const { event, ingestedAt } of relevant) {
    const h = states.get(event.host)!;
    if (event.bootId !== h.state.bootId) {
      const next = hostAfterBoot(h.state, event);
      if (typeof next === 'string') {
        violations.push({ host: event.host, instance: event.instance, seq: event.seq, reason: next });
        continue;
      }
      h.state = next;
    }
    const reason = applyToHost(h.state, event);
    if (reason !== undefined) {
      violations.push({ host: event.host, instance: event.instance, seq: event.seq, reason });
      continue;
    }
    h.at = ingestedAt;
    if (event.type === 'probe.registered') {
      h.registeredAt.set(event.data.probe, new Date(event.time));
      h.definitions.set(event.data.probe, event.data.definition ?? null);
      h.instance = event.instance;
    }
  }

  await tx.probe.deleteMany({ where: { host: { in: hosts } } });
  const data = [...states.entries()].flatMap(([host, h]) =>
    savedProbes(h.state).map((p) => ({
      host, name: p.name, kind: p.kind, symbol: p.symbol, offset: p.offset, address: p.address, insn: p.insn,
      bucket: p.address === null ? null : kprobeBucket(p.address), armed: p.armed, hits: BigInt(p.hits), missed: BigInt(p.missed),
      definition: h.definitions.get(p.name) ?? null, bootId: h.state.bootId, instance: h.instance,
      registeredAt: h.registeredAt.get(p.name)!, updatedAt: h.at,
    })),
  );
  if (data.length > 0) await tx.probe.createMany({ data });
  return violations;
}
