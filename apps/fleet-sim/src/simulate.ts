// Plays a fleet into Kafka: generates at the requested rate (or as fast as the broker takes it),
// stops after a duration or an event count with every agent's orderly stop, waits for the acks.
import { Fleet, type FleetOptions, type FleetStats } from '@probefleet/fleet-sim';
import type { Event } from '@probefleet/events';
import type { KafkaClient } from '@probefleet/kafka';
import type { Logger } from 'pino';
import type { Signer } from '@probefleet/signature';
import { FleetPublisher, type PublishStats } from './publish';

export interface SimulateOptions {
  fleet: FleetOptions;
  /** Each virtual host's signing key (publish.ts PublisherOptions.signerOf). */
  signerOf?: (host: string) => Signer;
  topic: string;
  /** The fleet's events per second (event time follows the wall clock); 0: as fast as possible. */
  rate: number;
  /** Seconds to run (ignored when `events` is set). */
  durationS: number;
  /** Stop after this many events (then the orderly stop's events). */
  events?: number;
  producers: number;
  batchBytes: number;
  lingerMs: number;
  /** Events generated but not acked before generation waits for the broker. */
  maxBacklog: number;
}

export interface SimulationReport extends PublishStats, FleetStats {
  topic: string;
  /** What generateFleet(fleet, eventsLimit) regenerates, event for event. */
  fleet: FleetOptions;
  eventsLimit: number | null;
  requestedRate: number;
  seconds: number;
  /** Events acked by the broker per second, from the first send to the last ack. */
  eventsPerSecond: number;
  bytesPerEvent: number;
  firstTime: string | null;
  lastTime: string | null;
}

const CHUNK = 1000;

export async function simulate(kafka: KafkaClient, o: SimulateOptions, log: Logger, signal: AbortSignal): Promise<SimulationReport> {
  const fleet = new Fleet(o.fleet);
  const publisher = new FleetPublisher(kafka, fleet.hosts.map((h) => h.name), { topic: o.topic, producers: o.producers, batchBytes: o.batchBytes, lingerMs: o.lingerMs, ...(o.rate > 0 ? {} : { windowNs: o.lingerMs * 1e6 }), retryForMs: 60_000, ...(o.signerOf ? { signerOf: o.signerOf } : {}) }, log);
  const started = performance.now();
  const deadline = started + o.durationS * 1000;
  let generated = 0;
  let firstTime: string | null = null;
  let lastTime: string | null = null;
  const write = (e: Event) => {
    firstTime ??= e.time;
    lastTime = e.time;
    publisher.write(e);
  };
  let lastLog = started;
  try {
    for (;;) {
      publisher.check();
      const now = performance.now();
      if (signal.aborted || (o.events === undefined ? now >= deadline : generated >= o.events)) break;
      // Paced: event time follows the wall clock (the fleet runs at --rate once every agent is up);
      // unpaced: a chunk, then let the sends run.
      const limit = o.events ?? Infinity;
      const until = o.rate > 0 ? (now - started) * 1e6 : Infinity;
      const chunkEnd = o.rate > 0 ? Infinity : generated + CHUNK;
      while (generated < limit && generated < chunkEnd && fleet.elapsedNs <= until && publisher.backlog < o.maxBacklog) {
        write(fleet.next());
        generated++;
      }
      if (now - lastLog > 5000) {
        lastLog = now;
        log.info({ generated, acked: publisher.stats.eventsAcked, backlog: publisher.backlog }, 'publishing');
      }
      await new Promise((r) => setTimeout(r, o.rate > 0 || publisher.backlog >= o.maxBacklog ? 5 : 0));
    }
    for (const e of fleet.finish()) write(e);
  } finally {
    await publisher.close();
  }
  const seconds = (performance.now() - started) / 1000;
  const stats = { ...fleet.stats(), ...publisher.stats };
  if (stats.eventsAcked !== stats.events) throw new Error(`generated ${stats.events} events but the broker acked ${stats.eventsAcked}`);
  return {
    topic: o.topic,
    ...stats,
    fleet: o.fleet,
    eventsLimit: o.events ?? null,
    requestedRate: o.rate,
    seconds: Math.round(seconds * 100) / 100,
    eventsPerSecond: Math.round(stats.eventsAcked / seconds),
    bytesPerEvent: stats.eventsAcked > 0 ? Math.round(stats.bytes / stats.eventsAcked) : 0,
    firstTime,
    lastTime,
  };
}
