// Envelopes for tests: one agent stream per call, seq counting from 1, times a millisecond apart.
import { randomUUID } from 'node:crypto';
import { encodeBatch, type Event, type EventData, type EventType, type TcpArgs } from '@probefleet/events';

export interface TestStream {
  host: string;
  bootId: string;
  instance: string;
  event<T extends EventType>(type: T, data: EventData<T>): Event;
  tcp(args: Omit<TcpArgs, 'family' | 'saddr' | 'daddr'> & Partial<TcpArgs>): Event;
}

const BASE = Date.parse('2026-11-25T10:00:00Z');

export function testStream(host: string, bootId = randomUUID(), startMs = 0): TestStream {
  const instance = randomUUID();
  let seq = 0;
  let ms = startMs;
  return {
    host, bootId, instance,
    event(type, data) {
      seq += 1;
      ms += 1;
      const time = new Date(BASE + ms).toISOString().replace('Z', '000000Z');
      return { v: 1, type, host, bootId, instance, seq, time, monoNs: String(ms * 1_000_000), data } as Event;
    },
    tcp(args) {
      return this.event('probe.hit', {
        probe: 'tcp_set_state', cpu: 0, pid: 100, comm: 'curl',
        args: { family: 'AF_INET', saddr: '127.0.0.1', daddr: '127.0.0.1', ...args },
      });
    },
  };
}

/** A Kafka record as kafkajs hands it to eachBatch. */
export function record(events: Event[] | string, partition = 0, offset = 0, topic = 'probefleet.events.v1') {
  const value = typeof events === 'string' ? events : encodeBatch(events);
  return { topic, partition, offset: String(offset), key: Buffer.from(typeof events === 'string' ? 'x' : events[0]!.host), value: Buffer.from(value) };
}
