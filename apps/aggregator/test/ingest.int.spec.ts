// The store against a real PostgreSQL: one Kafka batch → events + every projection, atomically.
import { randomUUID } from 'node:crypto';
import { encodeEvent, type Event } from '@probefleet/events';
import { createPrisma, type Db } from '../src/store/prisma';
import { ingest } from './test-ingest';
import { agentSpelling, storedEnvelopes } from '../src/store/envelopes';
import { createMigratedDatabase, type TempDatabase } from './temp-database';
import { record, testStream } from './streams';
import { arrayLiteral, quotedArrayLiteral } from '../src/store/copy';

describe('ingest', () => {
  let tmp: TempDatabase;
  let db: Db;
  let offset = 0;
  const batch = (events: Event[] | string, partition = 0) => record(events, partition, offset++);
  // Closed and open lifetimes alike (inet and enum arrays read as text).
  const connections = (host: string) => db.$queryRaw<Record<string, unknown>[]>`
    SELECT sport, dport, last_state::text AS "lastState", duration_ms AS "durationMs", states::text[] AS states, state_ms AS "stateMs",
           closed_at AS "closedAt", host(daddr) AS daddr
      FROM tcp_lifetimes WHERE host = ${host} ORDER BY id`;

  beforeAll(async () => {
    tmp = await createMigratedDatabase('probefleet_ingest');
    db = createPrisma(tmp.url);
  });
  afterAll(async () => {
    await db?.$disconnect();
    await tmp?.drop();
  });

  it('spells array parameters as PostgreSQL reads them back (quotes, backslashes, NULL, the text "NULL")', async () => {
    const texts = ['plain', 'with "quotes" and \\ a backslash', 'NULL', '', ' spaced ', '{braces},commas', 'ünïcode'];
    const { rows } = await db.pool.query('SELECT $1::text[] AS t, $2::bigint[]::text[] AS n', [quotedArrayLiteral([...texts, null]), arrayLiteral([1, -2n, null])]);
    expect(rows[0]).toEqual({ t: [...texts, null], n: ['1', '-2', null] });
  });

  it('stores each stream position once, however often it is delivered', async () => {
    const s = testStream('dup-host');
    const events = [s.event('agent.started', { kernelRelease: '6.1.0', arch: 'x86_64', agentVersion: '0.1.0', mode: 'kprobe', capabilities: [] }), s.event('agent.heartbeat', { counters: { eventsRead: 1 } })];
    const first = await ingest(db, [batch(events)]);
    const again = await ingest(db, [batch(events), batch(events)]);
    expect(first).toMatchObject({ stored: 2, duplicates: 0 });
    expect(again).toMatchObject({ stored: 0, duplicates: 4 });
    expect(await db.event.count({ where: { host: 'dup-host' } })).toBe(2);
    const hit = s.tcp({ skaddr: '0xffff888100000100', sport: 0, dport: 5555, oldstate: 'TCP_CLOSE', newstate: 'TCP_SYN_SENT' });
    await ingest(db, [batch([hit]), batch([hit])]);
    expect(await ingest(db, [batch([hit])])).toMatchObject({ stored: 0, duplicates: 1 });
    expect(await db.tcpTransition.count({ where: { host: 'dup-host' } })).toBe(1);
    expect(await db.agent.findUnique({ where: { host: 'dup-host' } })).toMatchObject({ events: 3n, hits: 1n, mode: 'kprobe', kernelRelease: '6.1.0' });
  });

  it('reports a gap, shrinks it as late events arrive, and closes it once filled', async () => {
    const s = testStream('gap-host');
    const e = Array.from({ length: 8 }, (_, i) => s.event('agent.heartbeat', { counters: { n: i } }));
    await ingest(db, [batch([e[0]!, e[1]!]), batch([e[5]!, e[6]!, e[7]!])]);
    const gap = () => db.streamGap.findMany({ where: { instance: s.instance }, orderBy: { fromSeq: 'asc' } });
    expect(await gap()).toMatchObject([{ fromSeq: 3n, toSeq: 5n, missing: 3n, remaining: [{ from: 3, to: 5 }], closedAt: null }]);
    expect(await db.stream.findUnique({ where: { instance: s.instance } })).toMatchObject({ contiguousTo: 2n, maxSeq: 8n, events: 5n });

    await ingest(db, [batch([e[3]!])]);
    expect(await gap()).toMatchObject([{ fromSeq: 3n, toSeq: 5n, missing: 2n, remaining: [{ from: 3, to: 3 }, { from: 5, to: 5 }], closedAt: null }]);

    await ingest(db, [batch([e[2]!, e[3]!, e[4]!])]);
    const [closed] = await gap();
    expect(closed).toMatchObject({ missing: 0n, remaining: [] });
    expect(closed!.closedAt).toBeInstanceOf(Date);
    expect(await db.stream.findUnique({ where: { instance: s.instance } })).toMatchObject({ contiguousTo: 8n, maxSeq: 8n, events: 8n });
  });

  it('sends what is not a valid batch to dead letters with the reason, and goes on', async () => {
    const s = testStream('dl-host');
    const good = [s.event('agent.heartbeat', { counters: {} })];
    const unknownVersion = JSON.stringify([{ ...s.event('agent.heartbeat', { counters: {} }), v: 2 }]);
    const result = await ingest(db, [batch('{not json', 3), batch(unknownVersion, 3), batch(good, 3)]);
    expect(result).toMatchObject({ stored: 1, deadLetters: 2 });
    const letters = await db.deadLetter.findMany({ where: { partition: 3 }, orderBy: { offset: 'asc' } });
    expect(letters.map((l) => l.kind)).toEqual(['malformed', 'unknown-version']);
    expect(letters[0]!.reason).toMatch(/JSON/i);
    expect(Buffer.from(letters[0]!.raw).toString()).toBe('{not json');
  });

  it('dead-letters events PostgreSQL could not hold instead of retrying their batch forever', async () => {
    const s = testStream('unstorable-host');
    const hit = s.tcp({ skaddr: '0xffff888100002000', sport: 0, dport: 5555, oldstate: 'TCP_CLOSE', newstate: 'TCP_SYN_SENT' });
    const bad = [
      JSON.stringify([{ ...hit, data: { ...hit.data, cpu: 40000 } }]),
      JSON.stringify([{ ...hit, data: { ...hit.data, comm: 'a\u0000b' } }]),
      JSON.stringify([{ ...hit, data: { ...hit.data, comm: 'a\ud800b' } }]),
    ];
    const result = await ingest(db, [...bad.map((b) => batch(b, 4)), batch([hit], 4)]);
    expect(result).toMatchObject({ stored: 1, deadLetters: 3 });
    const letters = await db.deadLetter.findMany({ where: { partition: 4 }, orderBy: { offset: 'asc' } });
    expect(letters.map((l) => l.reason)).toEqual([
      expect.stringContaining('[0].data.cpu'), expect.stringContaining('U+0000'), expect.stringContaining('surrogate'),
    ]);
  });

  it('builds transitions with time in the old state and tcplife-like connections', async () => {
    const s = testStream('tcp-host');
    const sk = '0xffff888100001000';
    await ingest(db, [batch([
      s.tcp({ skaddr: sk, sport: 0, dport: 5555, oldstate: 'TCP_CLOSE', newstate: 'TCP_SYN_SENT' }),
      s.tcp({ skaddr: sk, sport: 40000, dport: 5555, oldstate: 'TCP_SYN_SENT', newstate: 'TCP_ESTABLISHED' }),
    ])]);
    await ingest(db, [batch([
      s.tcp({ skaddr: sk, sport: 40000, dport: 5555, oldstate: 'TCP_ESTABLISHED', newstate: 'TCP_FIN_WAIT1' }),
      s.tcp({ skaddr: sk, sport: 40000, dport: 5555, oldstate: 'TCP_FIN_WAIT1', newstate: 'TCP_CLOSE' }),
      s.tcp({ skaddr: sk, sport: 0, dport: 6000, oldstate: 'TCP_CLOSE', newstate: 'TCP_SYN_SENT' }),
    ])]);
    const transitions = await db.tcpTransition.findMany({ where: { host: 'tcp-host' }, orderBy: { seq: 'asc' } });
    expect(transitions.map((t) => [t.oldState, t.newState, t.msInOldState])).toEqual([
      ['TCP_CLOSE', 'TCP_SYN_SENT', null], ['TCP_SYN_SENT', 'TCP_ESTABLISHED', 1], ['TCP_ESTABLISHED', 'TCP_FIN_WAIT1', 1],
      ['TCP_FIN_WAIT1', 'TCP_CLOSE', 1], ['TCP_CLOSE', 'TCP_SYN_SENT', null],
    ]);
    const conns = await connections('tcp-host');
    expect(conns).toHaveLength(2);
    expect(conns[0]).toMatchObject({ sport: 40000, dport: 5555, lastState: 'TCP_CLOSE', durationMs: 3 });
    expect(conns[0]!.states).toEqual(['TCP_CLOSE', 'TCP_SYN_SENT', 'TCP_ESTABLISHED', 'TCP_FIN_WAIT1', 'TCP_CLOSE']);
    expect(conns[0]!.stateMs).toEqual([null, 1, 1, 1, null]);
    expect(conns[0]!.closedAt).toBeInstanceOf(Date);
    expect(conns[1]).toMatchObject({ dport: 6000, closedAt: null, lastState: 'TCP_SYN_SENT' });
  });

  it('stores awkward text and large numbers exactly as they arrived, and gives every envelope back byte for byte', async () => {
    const host = 'h"q\\b\tt\nn é 🦀 $$ \'x';
    const s = testStream(host);
    const comm = 'w"e\\d\tc\n🙂'; // within the kernel's 15 bytes
    const first = s.event('agent.heartbeat', { counters: { 'k"e\\y\u00e9': 7 } });
    const hit = s.tcp({ skaddr: '0xffff888100003000', family: 'AF_INET6', saddr: '::ffff:10.0.0.1', daddr: '2001:db8::1:0:0:1', sport: 65535, dport: 0, oldstate: 'TCP_CLOSE', newstate: 'TCP_SYN_SENT' });
    Object.assign(hit.data, { comm, pid: 2 ** 31 - 1, cpu: 32767, ctx: { irqsOff: true, needResched: false, hardirq: false, softirq: true, nmi: false, preemptDepth: 255 } });
    // Not in the agent's spelling (a zone, a quote): a valid hit, kept as a generic event.
    const odd = s.tcp({ skaddr: '0x0', saddr: '::ffff:10.0.0.1', daddr: 'fe80::1%eth0"', sport: 1, dport: 2, oldstate: 'TCP_CLOSE', newstate: 'TCP_SYN_SENT' });
    const last = { ...s.event('agent.heartbeat', { counters: { '\\"{}[]': Number.MAX_SAFE_INTEGER } }), seq: Number.MAX_SAFE_INTEGER };
    const result = await ingest(db, [batch([first, hit, odd]), batch([last])]);
    expect(result).toMatchObject({ stored: 4, duplicates: 0, deadLetters: 0 });

    const back = [];
    for await (const { event } of storedEnvelopes(db.pool, { host })) back.push(encodeEvent(event));
    // The test stream spells its keys in its own order; the agent's order is what comes back.
    expect(back).toEqual([first, hit, odd, last].map((e) => encodeEvent(agentSpelling(e))));
    const [t] = await db.tcpTransition.findMany({ where: { host } });
    expect(await db.tcpSource.findMany({ where: { host } })).toEqual([{ host, id: t!.sourceId, instance: s.instance, probe: 'tcp_set_state' }]);
    expect(t).toMatchObject({ seq: 2n, comm, pid: 2 ** 31 - 1, cpu: 32767, saddr: '::ffff:10.0.0.1', daddr: '2001:db8::1:0:0:1', sport: 65535, dport: 0 });
    expect(t!.time.toISOString()).toBe(hit.time.replace(/\d{6}Z$/, 'Z'));
    expect(await db.event.count({ where: { host, type: 'probe.hit' } })).toBe(1);
    expect(await connections(host)).toMatchObject([{ daddr: '2001:db8::1:0:0:1', lastState: 'TCP_SYN_SENT' }]);
    expect(await db.stream.findUnique({ where: { instance: s.instance } })).toMatchObject({ maxSeq: BigInt(Number.MAX_SAFE_INTEGER), contiguousTo: 3n });
  });

  it('dead-letters a message keyed by another host, one over the size limit, and one older than retention', async () => {
    const s = testStream('kinds-host');
    const good = [s.event('agent.heartbeat', { counters: {} })];
    const forged = { ...record([s.event('agent.heartbeat', { counters: {} })], 5, offset++), key: Buffer.from('other-host') };
    const big = record([s.event('agent.heartbeat', { counters: Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`counter${i}`, i])) })], 5, offset++);
    const old = s.event('agent.heartbeat', { counters: {} });
    const expired = record([{ ...old, time: '2026-10-01T00:00:00.000000000Z' }], 5, offset++);
    const result = await ingest(db, [forged, big, expired, batch(good, 5)], { maxMessageBytes: 4096 });
    expect(result).toMatchObject({ stored: 1, deadLetters: 3, deadLetterKinds: { 'key-mismatch': 1, oversize: 1, expired: 1 } });
    const letters = await db.deadLetter.findMany({ where: { partition: 5 }, orderBy: { offset: 'asc' } });
    expect(letters.map((l) => [l.kind, l.key])).toEqual([['key-mismatch', 'other-host'], ['oversize', 'kinds-host'], ['expired', 'kinds-host']]);
    expect(letters[0]!.reason).toMatch(/"other-host" is not the events' host "kinds-host"/);
    expect(letters[1]!.reason).toMatch(/over the 4096-byte limit; not parsed/);
    expect(letters[2]!.reason).toMatch(/older than the retention horizon/);
  });

  it('stores a large batch with a row PostgreSQL refuses: that message is dead-lettered, the rest stored', async () => {
    await db.$executeRawUnsafe(`ALTER TABLE tcp_transitions ADD CONSTRAINT poison_for_test CHECK (comm <> 'poison')`);
    try {
      const streams = Array.from({ length: 8 }, (_, i) => testStream(`poison-${i}`));
      const records = [];
      for (let m = 0; m < 40; m++) {
        const s = streams[m % 8]!;
        const hits = Array.from({ length: 50 }, (_, i) => s.tcp({ skaddr: `0xffff8881${String(m * 100 + i).padStart(8, '0')}`, sport: 0, dport: 80, oldstate: 'TCP_CLOSE', newstate: 'TCP_SYN_SENT' }));
        if (m === 17) Object.assign(hits[23]!.data, { comm: 'poison' });
        records.push(batch(hits, 6));
      }
      const result = await ingest(db, records);
      expect(result).toMatchObject({ stored: 39 * 50, deadLetters: 1, deadLetterKinds: { rejected: 1 } });
      const [letter] = await db.deadLetter.findMany({ where: { partition: 6 } });
      expect(letter).toMatchObject({ kind: 'rejected', offset: BigInt(offset - 40 + 17) });
      expect(letter!.reason).toMatch(/poison_for_test/);
      expect(await db.tcpTransition.count({ where: { host: { startsWith: 'poison-' } } })).toBe(39 * 50);
      // The refused message's stream has a gap where it was; the others are whole.
      const gaps = await db.streamGap.findMany({ where: { host: { startsWith: 'poison-' } } });
      expect(gaps.map((g) => [g.host, g.missing])).toEqual([['poison-1', 50n]]);
    } finally {
      await db.$executeRawUnsafe('ALTER TABLE tcp_transitions DROP CONSTRAINT poison_for_test');
    }
  });

  it('keeps a host\'s agent row across batches: what later batches do not set stays, counts add up', async () => {
    const s = testStream('agent-host');
    const started = { kernelRelease: '6.1.0', arch: 'x86_64', agentVersion: '0.1.0', mode: 'kprobe' as const, capabilities: ['kprobe_events'] };
    await ingest(db, [batch([s.event('agent.started', started), s.event('agent.heartbeat', { counters: { eventsRead: 5 } })])]);
    await ingest(db, [batch([s.event('probe.missed', { probe: 'p', count: 2 }), s.event('agent.stopped', { reason: 'signal' })])]);
    const agent = () => db.agent.findUnique({ where: { host: 'agent-host' } });
    expect(await agent()).toMatchObject({ ...started, instance: s.instance, counters: { eventsRead: 5 }, events: 4n, missed: 2n, stoppedAt: expect.any(Date) });

    const next = testStream('agent-host', s.bootId as ReturnType<typeof randomUUID>, 10);
    await ingest(db, [batch([next.event('agent.started', { ...started, agentVersion: '0.2.0' })])]);
    expect(await agent()).toMatchObject({ instance: next.instance, agentVersion: '0.2.0', capabilities: ['kprobe_events'], counters: { eventsRead: 5 }, events: 5n, missed: 2n, stoppedAt: null });
  });

  it('folds probe lifecycles through the kprobe model and reports what it refuses', async () => {
    const s = testStream('probe-host');
    const reg = { probe: 'tcp_set_state', kind: 'kprobe' as const, symbol: 'tcp_set_state', offset: 0, address: '0xffffffff8206b250', insn: '0f1f44' };
    await ingest(db, [batch([s.event('probe.registered', reg), s.event('probe.armed', { probe: 'tcp_set_state' })])]);
    const r = await ingest(db, [batch([
      s.tcp({ skaddr: '0xffff888100002000', sport: 1, dport: 2, oldstate: 'TCP_CLOSE', newstate: 'TCP_SYN_SENT' }),
      s.event('probe.missed', { probe: 'tcp_set_state', count: 3 }),
      s.event('probe.armed', { probe: 'tcp_set_state' }),
    ])]);
    expect(r.violations).toEqual([expect.objectContaining({ host: 'probe-host', seq: 5, reason: expect.stringMatching(/already armed/) })]);
    expect(await db.probe.findMany({ where: { host: 'probe-host' } })).toMatchObject([
      { name: 'tcp_set_state', address: '0xffffffff8206b250', bucket: 27, armed: true, hits: 1n, missed: 3n, insn: '0f1f44' },
    ]);
    await ingest(db, [batch([s.event('probe.disarmed', { probe: 'tcp_set_state' }), s.event('probe.unregistered', { probe: 'tcp_set_state' })])]);
    expect(await db.probe.count({ where: { host: 'probe-host' } })).toBe(0);
  });
});
