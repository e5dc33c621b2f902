import { batchHeaders, decodeBatch, encodeBatch, encodeEvent, type Event } from '@probefleet/events';
import { generateFleet } from './fleet';
import { AgentOutbox, agentMessages } from './messages';

const events = generateFleet({ seed: 3, agents: 4, eventsPerSecond: 1000, start: '2026-11-25T10:00:00Z', restartMeanS: 2 }, 3000);

describe('agentMessages', () => {
  it('makes one message per run of consecutive events of one stream: key = host, value = encodeBatch, headers = batchHeaders', () => {
    const messages = agentMessages(events);
    expect(messages.reduce((n, m) => n + m.count, 0)).toBe(events.length);
    let at = 0;
    for (const m of messages) {
      const run = events.slice(at, at + m.count);
      at += m.count;
      expect(Buffer.from(m.value).toString('utf8')).toBe(encodeBatch(run));
      expect(m.headers).toEqual(batchHeaders(run));
      expect(m.key).toBe(run[0]?.host);
      const decoded = decodeBatch(Buffer.from(m.value));
      expect(decoded.ok && decoded.value).toEqual(run);
    }
    // The fleet interleaves hosts: runs are cut where the stream changes.
    expect(messages.length).toBeGreaterThan(100);
  });

  it('cuts a run where seq is not consecutive, even within one stream', () => {
    const one = events.filter((e) => e.host === events[0]?.host && e.instance === events[0]?.instance).slice(0, 6);
    const gap = [...one.slice(0, 2), ...one.slice(3)];
    expect(agentMessages(gap).map((m) => m.count)).toEqual([2, 3]);
  });
});

describe('AgentOutbox', () => {
  it('reads sends of up to batchBytes, at least one event, in order', () => {
    const host = events[0]?.host;
    const mine = events.filter((e) => e.host === host);
    const outbox = new AgentOutbox(4096);
    for (const e of mine) outbox.push(e);
    expect(outbox.size).toBe(mine.length);
    expect(outbox.bytes).toBe(mine.reduce((n, e) => n + Buffer.byteLength(encodeEvent(e)), 0));
    const sent: Event[] = [];
    while (outbox.size > 0) {
      const messages = outbox.take();
      const bytes = messages.reduce((n, m) => n + m.value.length - 2 - (m.count - 1), 0);
      expect(bytes <= 4096 || messages.reduce((n, m) => n + m.count, 0) === 1).toBe(true);
      for (const m of messages) {
        const decoded = decodeBatch(m.value);
        if (!decoded.ok) throw new Error(decoded.reason);
        sent.push(...decoded.value);
      }
    }
    expect(sent).toEqual(mine);
    expect(outbox.bytes).toBe(0);
    expect(outbox.take()).toEqual([]);
  });

  it('played faster than real time, sends at most one linger of event time, once that linger is written', () => {
    const host = events[0]?.host;
    const mine = events.filter((e) => e.host === host);
    const windowNs = 200e6;
    const outbox = new AgentOutbox();
    const first = Number(mine[0]!.monoNs);
    const inFirst = mine.filter((e) => Number(e.monoNs) < first + windowNs);
    expect(inFirst.length).toBeLessThan(mine.length);
    // Only the first window's events written: its linger is not over, nothing is sent yet.
    for (const e of inFirst) outbox.push(e);
    expect(outbox.take(undefined, windowNs)).toEqual([]);
    for (const e of mine.slice(inFirst.length)) outbox.push(e);
    const sent = outbox.take(undefined, windowNs).reduce((n, m) => n + m.count, 0);
    expect(sent).toBe(inFirst.length);
    // The last window goes out on a flush.
    let rest = 0;
    while (outbox.size > 0) {
      const batch = outbox.take(undefined, windowNs, true);
      expect(batch.length).toBeGreaterThan(0);
      rest += batch.reduce((n, m) => n + m.count, 0);
    }
    expect(sent + rest).toBe(mine.length);
  });
});
