// probes: per host, the kprobe model's state (libs/kprobe-model) saved as one row per registered
// probe. Each batch hydrates the hosts it touches from their rows, applies their lifecycle events
// in order through the model, and saves them back. Events the model refuses are reported, not applied.
import { applyToHost, hostAfterBoot, hydrateHost, kprobeBucket, savedProbes, type HostState } from '@probefleet/kprobe-model';
import type { Event, Mechanism, ProbeKind } from '@probefleet/events';
import type { PoolClient } from 'pg';
import { rfc3339 } from '../sql-time';

export interface ModelViolation { host: string; instance: string; seq: number; reason: string }

export const PROBE_EVENT_TYPES = ['probe.registered', 'probe.armed', 'probe.disarmed', 'probe.unregistered', 'probe.hit', 'probe.missed', 'probe.state', 'agent.started', 'policy.applied'] as const;
const LIFECYCLE = new Set<string>(PROBE_EVENT_TYPES);

interface ProbeRow {
  host: string; name: string; kind: string; symbol: string; offset: number; address: string | null; insn: string | null; armed: boolean;
  hits: string; missed: string; definition: string | null; boot_id: string; instance: string; registered_at: string;
  mechanism: Mechanism | null; post_handler: boolean; disabled: boolean; gone: boolean;
}

export async function projectProbes(client: PoolClient, events: readonly Event[]): Promise<ModelViolation[]> {
  const relevant = events.filter((e) => LIFECYCLE.has(e.type));
  const hosts = [...new Set(relevant.map((e) => e.host))];
  if (hosts.length === 0) return [];
  const { rows } = await client.query<ProbeRow>(
    `SELECT host, name, kind, symbol, "offset", address, insn, armed, hits::text, missed::text, definition, boot_id::text, instance::text,
            mechanism, post_handler, disabled, gone,
            ${rfc3339('registered_at')} AS registered_at
       FROM probes WHERE host = ANY($1) ORDER BY registered_at`, [hosts]);
  const violations: ModelViolation[] = [];
  const states = new Map<string, { state: HostState; registeredAt: Map<string, string>; definitions: Map<string, string | null>; instance: string; at: string }>();

  for (const host of hosts) {
    const mine = rows.filter((r) => r.host === host);
    const first = relevant.find((e) => e.host === host)!;
    const state = hydrateHost(host, mine[0]?.boot_id ?? first.bootId, mine.map((r) => ({
      name: r.name, kind: r.kind as ProbeKind, symbol: r.symbol, offset: r.offset, address: r.address, insn: r.insn,
      armed: r.armed, hits: Number(r.hits), missed: Number(r.missed),
      mechanism: r.mechanism, postHandler: r.post_handler, disabled: r.disabled, gone: r.gone,
    })));
    states.set(host, {
      state,
      registeredAt: new Map(mine.map((r) => [r.name, r.registered_at])),
      definitions: new Map(mine.map((r) => [r.name, r.definition])),
      instance: mine[0]?.instance ?? first.instance,
      at: first.time,
    });
  }

  for (const event of relevant) {
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
    // Dated by the event last applied (a fact of the stream, so a rebuild dates it the same).
    h.at = event.time;
    if (event.type === 'probe.registered') {
      h.registeredAt.set(event.data.probe, event.time);
      h.definitions.set(event.data.probe, event.data.definition ?? null);
      h.instance = event.instance;
    }
  }

  await client.query('DELETE FROM probes WHERE host = ANY($1)', [hosts]);
  const data = [...states.entries()].flatMap(([host, h]) =>
    savedProbes(h.state).map((p) => [
      host, p.name, p.kind, p.symbol, p.offset, p.address, p.insn, p.address === null ? null : kprobeBucket(p.address), p.armed,
      p.hits, p.missed, h.definitions.get(p.name) ?? null, h.state.bootId, h.instance, h.registeredAt.get(p.name)!, h.at,
      p.mechanism ?? null, p.postHandler ?? false, p.disabled ?? false, p.gone ?? false,
    ]),
  );
  if (data.length > 0) {
    await client.query(
      `INSERT INTO probes (host, name, kind, symbol, "offset", address, insn, bucket, armed, hits, missed, definition, boot_id, instance, registered_at, updated_at,
                          mechanism, post_handler, disabled, gone)
       SELECT r->>0, r->>1, r->>2, r->>3, (r->>4)::int, r->>5, r->>6, (r->>7)::smallint, (r->>8)::boolean, (r->>9)::bigint, (r->>10)::bigint,
              r->>11, (r->>12)::uuid, (r->>13)::uuid, (r->>14)::timestamptz, (r->>15)::timestamptz,
              r->>16, (r->>17)::boolean, (r->>18)::boolean, (r->>19)::boolean
         FROM jsonb_array_elements($1::jsonb) AS r`, [JSON.stringify(data)]);
  }
  return violations;
}
