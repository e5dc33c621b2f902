// Prometheus metrics (/metrics), a health endpoint (/healthz), and the same counters for
// agent.heartbeat. Counters are kept as plain numbers too, so a heartbeat needs no async scrape.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EventData, EventType } from '@probefleet/events';
import type { OwnershipCounters } from '@probefleet/ownership';
import type { PolicyRefusal } from '@probefleet/signature';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { AGENT_VERSION } from './version';

const COUNTERS = {
  eventsRead: ['probefleet_agent_events_read_total', 'probe.hit events read from the kernel'],
  eventsSpooled: ['probefleet_agent_events_spooled_total', 'events appended to the disk spool'],
  eventsPublished: ['probefleet_agent_events_published_total', 'events acked by the Kafka broker'],
  eventsDropped: ['probefleet_agent_events_dropped_total', 'events the agent dropped itself (invalid, or cut off with a corrupt spool tail)'],
  spoolCorruptTails: ['probefleet_agent_spool_corrupt_tails_total', 'corrupt spool tails found and cut off at open'],
  spoolCorruptBytes: ['probefleet_agent_spool_corrupt_bytes_total', 'bytes cut off with corrupt spool tails'],
  kernelOverruns: ['probefleet_agent_kernel_overruns_total', 'events the kernel ring buffer overwrote (reported as agent.loss)'],
  kprobeMisses: ['probefleet_agent_kprobe_misses_total', 'kprobe hits the kernel missed (reported as probe.missed)'],
  publishErrors: ['probefleet_agent_publish_errors_total', 'failed Kafka send attempts (retried)'],
  readPauses: ['probefleet_agent_read_pauses_total', 'times reading stopped because the spool was full'],
  attributionUnknown: ['probefleet_agent_attribution_unknown_total', 'TCP hits whose socket owner was never learned (attribution unknown)'],
  ownerEvictions: ['probefleet_agent_owner_evictions_total', 'socket owners forgotten to keep the owner map bounded'],
  podNameMisses: ['probefleet_agent_pod_name_misses_total', 'pods named by uid only (no kubelet pod directory for it)'],
} as const;
export type CounterName = keyof typeof COUNTERS;

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly totals = Object.fromEntries(Object.keys(COUNTERS).map((k) => [k, 0])) as Record<CounterName, number>;
  private readonly counters: Record<CounterName, Counter>;
  private readonly spoolBytes = new Gauge({ name: 'probefleet_agent_spool_bytes', help: 'unacked bytes in the disk spool', registers: [this.registry] });
  private readonly readingPaused = new Gauge({ name: 'probefleet_agent_reading_paused', help: '1 while reading is stopped by a full spool', registers: [this.registry] });
  readonly publishLatency = new Histogram({
    name: 'probefleet_agent_publish_latency_seconds',
    help: 'Kafka send until the broker acked (acks=-1), per send',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly brokerGauge = new Gauge({ name: 'probefleet_agent_broker_reachable', help: '1 while the last Kafka send was acked, 0 while sends fail', registers: [this.registry] });
  private readonly missesByProbe = new Counter({
    name: 'probefleet_agent_kprobe_probe_misses_total',
    help: 'kprobe hits the kernel missed, per probe (kprobe_profile)',
    labelNames: ['probe'],
    registers: [this.registry],
  });
  private readonly policyRefusals = new Counter({
    name: 'probefleet_agent_policy_records_refused_total',
    help: 'control topic or cache records refused, not applied, by reason (unsigned, foreign-key, bad-signature, malformed, replayed)',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  private spoolBytesNow = 0;
  private reachable = false;

  constructor() {
    this.counters = Object.fromEntries(
      Object.entries(COUNTERS).map(([k, [name, help]]) => [k, new Counter({ name, help, registers: [this.registry] })]),
    ) as Record<CounterName, Counter>;
    // The agent's own overhead, as the host sees it: process_cpu_seconds_total, resident memory, GC.
    collectDefaultMetrics({ register: this.registry });
    new Gauge({ name: 'probefleet_agent_build_info', help: 'the running agent (value 1)', labelNames: ['version', 'node'], registers: [this.registry] }).set(
      { version: AGENT_VERSION, node: process.version },
      1,
    );
  }

  get brokerReachable(): boolean {
    return this.reachable;
  }

  setBrokerReachable(up: boolean): void {
    this.reachable = up;
    this.brokerGauge.set(up ? 1 : 0);
  }

  add(name: CounterName, n = 1): void {
    if (n <= 0) return;
    this.totals[name] += n;
    this.counters[name].inc(n);
  }

  setSpoolBytes(n: number): void {
    this.spoolBytesNow = n;
    this.spoolBytes.set(n);
  }

  setReadingPaused(paused: boolean): void {
    this.readingPaused.set(paused ? 1 : 0);
  }

  policyRefused(reason: PolicyRefusal): void {
    this.policyRefusals.inc({ reason });
  }

  /** Counts what the event itself reports (hits, kernel overruns, kprobe misses). */
  observe(type: EventType, data: unknown): void {
    if (type === 'probe.hit') this.add('eventsRead');
    else if (type === 'agent.loss') this.add('kernelOverruns', (data as EventData<'agent.loss'>).overruns.reduce((n, o) => n + o.count, 0));
    else if (type === 'probe.missed') {
      const d = data as EventData<'probe.missed'>;
      this.add('kprobeMisses', d.count);
      this.missesByProbe.inc({ probe: d.probe }, d.count);
    }
  }

  /** Socket-ownership totals as their increments since the last call. */
  ownership(c: OwnershipCounters): void {
    for (const k of ['attributionUnknown', 'ownerEvictions', 'podNameMisses'] as const) this.add(k, c[k] - this.totals[k]);
  }

  /** agent.heartbeat counters. */
  snapshot(): Record<string, number> {
    return { ...this.totals, spoolBytes: this.spoolBytesNow };
  }
}

/** Serves /metrics and /healthz until close(); port 0 serves nothing. */
export async function serveMetrics(metrics: AgentMetrics, host: string, port: number): Promise<{ address: string | null; close: () => Promise<void> }> {
  if (port === 0) return { address: null, close: async () => {} };
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (e: unknown) => res.writeHead(500).end(String(e)),
      );
    } else if (req.method === 'GET' && path === '/healthz') {
      // Alive and serving; a broker outage is reported, not failed: the spool absorbs it.
      const s = metrics.snapshot();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok', brokerReachable: metrics.brokerReachable, spoolBytes: s['spoolBytes'] }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return { address: `${a.address}:${a.port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
