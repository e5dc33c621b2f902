import { EnvelopeEncoder } from '@probefleet/events';
import type { KafkaClient } from '@probefleet/kafka';
import { messagesOf, Publisher, streamTag } from './publisher';
import type { SpooledRecord } from './spool';

const id = { host: 'h1', bootId: 'cf10cbf0-408d-476b-9552-ac7d32649d4f', instance: '20ae5e5c-e2c7-4c39-9551-f2c1db24f4c6' };
const end = { segment: 1, offset: 0 };

describe('messagesOf', () => {
  it('joins the lines of one stream into one message, from frame positions or (older spools) by parsing', () => {
    const enc = new EnvelopeEncoder(id, 0n);
    const evs = [1, 2, 3].map(() => enc.next('probe.armed', { probe: 'p' }, 5n));
    const other = new EnvelopeEncoder({ ...id, instance: '30ae5e5c-e2c7-4c39-9551-f2c1db24f4c6' }, 0n).next('probe.armed', { probe: 'p' }, 5n);
    const v2 = (e: typeof other): SpooledRecord => ({ payload: Buffer.from(e.line), end, tag: streamTag(e.stream), seq: e.seq });
    const v1 = (e: typeof other): SpooledRecord => ({ payload: Buffer.from(e.line), end });
    const ms = messagesOf([v2(evs[0]!), v1(evs[1]!), v2(evs[2]!), v2(other)], () => undefined);
    expect(ms.map((m) => [m.key, m.headers, m.count])).toEqual([
      ['h1', { v: '1', host: 'h1', instance: id.instance, 'seq-first': '1', 'seq-last': '3' }, 3],
      ['h1', { v: '1', host: 'h1', instance: other.stream.instance, 'seq-first': '1', 'seq-last': '1' }, 1],
    ]);
    expect(ms[0]!.value.toString()).toBe(`[${evs.map((e) => e.line).join(',')}]`);
    const bad: unknown[] = [];
    expect(messagesOf([{ payload: Buffer.from('{nope'), end }], (e) => bad.push(e))).toEqual([]);
    expect(bad).toHaveLength(1);
  });
});

describe('Publisher', () => {
  it('retries on a fresh producer after each failure, waiting a fully jittered, doubling backoff', async () => {
    const made: { sent: number; disconnected: boolean }[] = [];
    let failures = 2;
    const kafka = {
      producer: () => {
        const p = { sent: 0, disconnected: false };
        made.push(p);
        return {
          send: async () => {
            if (failures-- > 0) throw new Error('broker away');
            p.sent++;
          },
          close: async () => void (p.disconnected = true),
        };
      },
    } as unknown as KafkaClient;
    const rolls: number[] = [];
    const attempts: number[] = [];
    const pub = new Publisher(kafka, 't', { initialMs: 10, maxMs: 15 }, { failed: (_e, a) => attempts.push(a), acked: (a) => attempts.push(-a) }, () => {
      rolls.push(0.5);
      return 0.5;
    });
    expect(await pub.sendUntilAcked([{ key: 'h', value: Buffer.from('x') }], new AbortController().signal)).toBe(true);
    expect(attempts).toEqual([1, 2, -3]);
    expect(made.map((p) => p.disconnected)).toEqual([true, true, false]);
    expect(made[2]!.sent).toBe(1);
    expect(rolls).toHaveLength(2);
    const aborted = new AbortController();
    aborted.abort();
    expect(await pub.sendUntilAcked([{ key: 'h', value: Buffer.from('x') }], aborted.signal)).toBe(false);
  });
});
