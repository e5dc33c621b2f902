// The built agent, kafka sink, real kernel (tracepoint mode) and the real local broker: what the
// kernel reports for loopback connections on ports the test picks must arrive on a fresh topic —
// every seq of a stream, in order — through a normal run, a kill -9 with a corrupted spool tail,
// a broker outage, and a full spool (where the kernel's drops must be reported as agent.loss).
// One file, run in band: the broker outage tests would break any test running beside them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Event } from '@probefleet/events';
import {
  AGENT,
  brokers,
  closingServer,
  connectOnce,
  freshTopic,
  hitsOnPort,
  loadConnections,
  readTopic,
  seqCoverage,
  sleep,
  startBroker,
  startKafkaAgent,
  stopBroker,
  streamOf,
  tempDir,
  type Delivered,
} from '../support/agent-kafka';
import { freePort } from '../support/loopback';
import { tracingInstancesOf } from '../support/pipeline';

/** Client sockets that reached ESTABLISHED towards `port`, counted once per (stream, seq). */
const established = (events: Event[], port: number) =>
  new Set(hitsOnPort(events, port).filter((e) => e.type === 'probe.hit' && e.data.args['dport'] === port && e.data.args['newstate'] === 'TCP_ESTABLISHED').map((e) => e.seq)).size;

const stoppedOf = (instance: string) => (d: Delivered[]) => d.some((x) => x.event.instance === instance && x.event.type === 'agent.stopped');

beforeAll(() => {
  if (!fs.existsSync(AGENT)) throw new Error(`${AGENT} missing: run \`npx nx build @probefleet/agent\` first`);
  if (process.geteuid?.() !== 0) throw new Error('needs root (tracefs)');
});

describe('probefleet-agent run --sink kafka, real kernel and broker', () => {
  it('delivers every seq of the stream once, in order, in batches keyed by host; heartbeats and /metrics count it', async () => {
    const topic = await freshTopic('agent-e2e-normal');
    const server = await closingServer();
    const metricsPort = await freePort();
    const agent = startKafkaAgent(
      { kafka: { brokers: brokers(), topic, lingerMs: 5 }, spool: { dir: tempDir('agent-spool-') }, heartbeatIntervalS: 1, metrics: { port: metricsPort } },
      ['--duration', '6'],
    );
    try {
      const started = await agent.waitForLog('agent started', 15_000);
      for (let i = 0; i < 20; i++) await connectOnce(server.port);
      await agent.waitForLog('broker acked: publishing', 10_000);
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(metrics).toMatch(/^probefleet_agent_events_published_total [1-9]/m);
      expect(metrics).toContain('probefleet_agent_publish_latency_seconds_count');
      expect(await (await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).json()).toMatchObject({ status: 'ok', brokerReachable: true });
      expect(await agent.exit).toBe(0);

      const instance = started['instance'] as string;
      const delivered = await readTopic(topic, stoppedOf(instance), 30_000);
      const ev = streamOf(delivered, instance);
      expect(ev.map((e) => e.seq)).toEqual(ev.map((_, i) => i + 1));
      expect(ev[0]?.type).toBe('agent.started');
      expect(ev[ev.length - 1]).toMatchObject({ type: 'agent.stopped', data: { reason: 'duration elapsed' } });
      // key = host: one partition holds the stream; each message's headers name its seq range.
      const mine = delivered.filter((d) => d.event.instance === instance);
      expect(new Set(mine.map((d) => d.partition)).size).toBe(1);
      for (const d of mine) {
        expect(Number(d.headers['seq-first'])).toBeLessThanOrEqual(d.event.seq);
        expect(Number(d.headers['seq-last'])).toBeGreaterThanOrEqual(d.event.seq);
        expect(d.headers).toMatchObject({ v: '1', host: d.event.host, instance });
      }
      expect(established(ev, server.port)).toBe(20);
      const beats = ev.filter((e) => e.type === 'agent.heartbeat');
      expect(beats.length).toBeGreaterThanOrEqual(3);
      expect(beats[beats.length - 1]).toMatchObject({ data: { counters: { eventsRead: expect.any(Number), eventsPublished: expect.any(Number) } } });
      expect((beats[beats.length - 1] as Extract<Event, { type: 'agent.heartbeat' }>).data.counters['eventsPublished']).toBeGreaterThan(0);
      expect(tracingInstancesOf([instance])).toEqual([]);
    } finally {
      agent.child.kill('SIGKILL');
      server.close();
    }
  }, 60_000);

  it('after kill -9, a restart on the same spool re-sends it first (nothing lost), cuts off a corrupt tail and sweeps leftovers', async () => {
    const topic = await freshTopic('agent-e2e-kill');
    const spoolDir = tempDir('agent-spool-');
    const server = await closingServer();
    // Nothing listens on port 1: every event of the first run stays spooled until it is killed.
    const first = startKafkaAgent({ kafka: { brokers: ['127.0.0.1:1'], topic, retry: { initialMs: 100, maxMs: 500 } }, spool: { dir: spoolDir, fsync: 'never' } });
    const started = await first.waitForLog('agent started', 15_000);
    for (let i = 0; i < 10; i++) await connectOnce(server.port);
    await sleep(1500); // read from the ring buffer and spooled
    first.child.kill('SIGKILL');
    await first.exit;
    expect(tracingInstancesOf([started['instance'] as string])).toHaveLength(1);

    // A torn record at the end of the last segment, as a crash in the middle of a write leaves it.
    const segments = fs.readdirSync(spoolDir).filter((f) => f.startsWith('seg-')).sort();
    const last = path.join(spoolDir, segments[segments.length - 1] as string);
    const torn = Buffer.alloc(20);
    torn.writeUInt32LE(1000, 0);
    fs.appendFileSync(last, torn);

    const second = startKafkaAgent({ kafka: { brokers: brokers(), topic }, spool: { dir: spoolDir }, heartbeatIntervalS: 1 }, ['--duration', '4']);
    const restarted = await second.waitForLog('agent started', 15_000);
    expect(await second.exit).toBe(0);
    expect(second.logs().find((l) => String(l['msg']).startsWith('spool: corrupt tail cut off'))).toMatchObject({ file: last, reason: 'incomplete', droppedBytes: 20 });
    expect(second.stderr()).toContain('removed leftovers of a previous run');
    expect(tracingInstancesOf([started['instance'] as string, restarted['instance'] as string])).toEqual([]);

    const delivered = await readTopic(topic, stoppedOf(restarted['instance'] as string), 30_000);
    const old = streamOf(delivered, started['instance'] as string);
    const cov = seqCoverage(old);
    expect(cov).toMatchObject({ missing: [], inOrder: true });
    expect(cov.last).toBeGreaterThan(20);
    expect(old.some((e) => e.type === 'agent.stopped')).toBe(false);
    expect(established(old, server.port)).toBe(10);
    // The old stream went out before anything of the new one (same key, same partition).
    const oldOffsets = delivered.filter((d) => d.event.instance === started['instance']).map((d) => BigInt(d.offset));
    const newOffsets = delivered.filter((d) => d.event.instance === restarted['instance']).map((d) => BigInt(d.offset));
    expect(oldOffsets.every((o) => newOffsets.every((n) => o < n))).toBe(true);
    const fresh = streamOf(delivered, restarted['instance'] as string);
    expect(fresh.map((e) => e.seq)).toEqual(fresh.map((_, i) => i + 1));
    const beat = fresh.find((e) => e.type === 'agent.heartbeat') as Extract<Event, { type: 'agent.heartbeat' }> | undefined;
    expect(beat?.data.counters).toMatchObject({ spoolCorruptTails: 1, spoolCorruptBytes: 20 });
    server.close();
  }, 60_000);

  it('SIGTERM while reading is paused on a full spool and no broker answers: exits after the bounded flush, keeping the spool', async () => {
    const spoolDir = tempDir('agent-spool-');
    const load = await closingServer();
    const agent = startKafkaAgent({
      kafka: { brokers: ['127.0.0.1:1'], topic: 'unused', flushTimeoutS: 2, retry: { initialMs: 100, maxMs: 500 } },
      spool: { dir: spoolDir, maxBytes: 16 * 1024, segmentBytes: 8 * 1024 },
    });
    let stop = false;
    const generated = loadConnections(load.port, 4, () => stop);
    try {
      // Started first: loading the Kafka client from node_modules can take seconds on a loaded
      // machine (@platformatic/kafka's many ESM files), which is not the spool's time to fill.
      const started = await agent.waitForLog('agent started', 30_000);
      await agent.waitForLog('spool full: reading paused until the broker acks', 20_000);
      const t0 = Date.now();
      agent.child.kill('SIGTERM');
      expect(await agent.exit).toBe(0);
      expect(Date.now() - t0).toBeLessThan(15_000);
      expect(agent.stderr()).toContain('flush timed out: unacked events stay in the spool for the next start');
      expect(tracingInstancesOf([started['instance'] as string])).toEqual([]);
      const spooled = fs.readdirSync(spoolDir).filter((f) => f.startsWith('seg-')).reduce((n, f) => n + fs.statSync(path.join(spoolDir, f)).size, 0);
      expect(spooled).toBeGreaterThanOrEqual(16 * 1024);
    } finally {
      stop = true;
      await generated;
      agent.child.kill('SIGKILL');
      load.close();
    }
  }, 90_000);

  it('survives a ~20 s broker outage: everything read meanwhile is spooled and every seq arrives', async () => {
    const topic = await freshTopic('agent-e2e-outage');
    const before = await closingServer();
    const during = await closingServer();
    const after = await closingServer();
    const agent = startKafkaAgent({ kafka: { brokers: brokers(), topic, flushTimeoutS: 60, retry: { initialMs: 200, maxMs: 2000 } }, spool: { dir: tempDir('agent-spool-') } });
    try {
      const started = await agent.waitForLog('agent started', 15_000);
      for (let i = 0; i < 5; i++) await connectOnce(before.port);
      await agent.waitForLog('broker acked: publishing', 10_000);
      const downAt = Date.now();
      try {
        stopBroker();
        for (let i = 0; i < 5; i++) await connectOnce(during.port);
        await agent.waitForLog('publish failed: retrying, events stay spooled', 30_000);
        await sleep(Math.max(0, 20_000 - (Date.now() - downAt)));
      } finally {
        startBroker();
      }
      for (let i = 0; i < 5; i++) await connectOnce(after.port);
      await sleep(1000);
      agent.child.kill('SIGTERM');
      expect(await agent.exit).toBe(0);

      const instance = started['instance'] as string;
      const ev = streamOf(await readTopic(topic, stoppedOf(instance), 60_000), instance);
      expect(seqCoverage(ev)).toMatchObject({ missing: [], inOrder: true });
      expect(ev[ev.length - 1]).toMatchObject({ type: 'agent.stopped', data: { reason: 'signal SIGTERM' } });
      expect([established(ev, before.port), established(ev, during.port), established(ev, after.port)]).toEqual([5, 5, 5]);
    } finally {
      agent.child.kill('SIGKILL');
      for (const s of [before, during, after]) s.close();
    }
  }, 120_000);

  it('a full spool stops reading; the kernel drops are reported as agent.loss and delivery resumes when the broker returns', async () => {
    const topic = await freshTopic('agent-e2e-full');
    const load = await closingServer();
    const after = await closingServer();
    const agent = startKafkaAgent({
      kafka: { brokers: brokers(), topic, flushTimeoutS: 60, retry: { initialMs: 200, maxMs: 2000 } },
      spool: { dir: tempDir('agent-spool-'), maxBytes: 64 * 1024, segmentBytes: 16 * 1024 },
      bufferSizeKb: 8,
      heartbeatIntervalS: 2,
    });
    try {
      const started = await agent.waitForLog('agent started', 15_000);
      await agent.waitForLog('broker acked: publishing', 10_000);
      try {
        stopBroker();
        let stop = false;
        const generated = loadConnections(load.port, 8, () => stop);
        try {
          await agent.waitForLog('spool full: reading paused until the broker acks', 30_000);
          await sleep(4000); // the kernel's buffers overrun while nobody reads
        } finally {
          stop = true;
          await generated;
        }
      } finally {
        startBroker();
      }
      await agent.waitForLog('spool has room: reading resumed', 60_000);
      for (let i = 0; i < 3; i++) await connectOnce(after.port);
      await sleep(1500);
      agent.child.kill('SIGTERM');
      expect(await agent.exit).toBe(0);

      const instance = started['instance'] as string;
      const ev = streamOf(await readTopic(topic, stoppedOf(instance), 60_000), instance);
      expect(seqCoverage(ev)).toMatchObject({ missing: [], inOrder: true });
      const lost = ev.flatMap((e) => (e.type === 'agent.loss' ? e.data.overruns.map((o) => o.count) : [])).reduce((a, b) => a + b, 0);
      expect(lost).toBeGreaterThan(0);
      const beats = ev.filter((e): e is Extract<Event, { type: 'agent.heartbeat' }> => e.type === 'agent.heartbeat');
      expect(beats[beats.length - 1]?.data.counters).toMatchObject({ readPauses: expect.any(Number), kernelOverruns: expect.any(Number) });
      expect(beats[beats.length - 1]?.data.counters['readPauses']).toBeGreaterThanOrEqual(1);
      expect(established(ev, after.port)).toBe(3);
    } finally {
      agent.child.kill('SIGKILL');
      load.close();
      after.close();
    }
  }, 150_000);
});
