// The wire bytes of a recorded trace: real ring-buffer pages (test/fixtures/tracefs-raw) through
// the agent's encoder give exactly the stdout NDJSON and Kafka message values recorded in
// test/fixtures/agent-golden (captured from the encoder before the hot path was rebuilt). The
// pages are decoded by the tracepoint probe's own decoder, as the agent's reader does.
// UPDATE_GOLDEN=1 rewrites the fixture: only do that for an intended change of the wire format.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { parseEventFormat, parseHeaderPage, RawPageDecoder, type RawItem, type RawRecord } from '@probefleet/tracefs';
import { EnvelopeEncoder, HitEncoder, type EncodedEvent } from '@probefleet/events';
import { planProbes } from '../src/probes';
import { hitContext } from '../src/hit';
import { StdoutSink } from '../src/sink';
import { messagesOf, Spool, streamTag } from '@probefleet/publish';

const RAW = join(__dirname, '../../../test/fixtures/tracefs-raw');
const GOLDEN = join(__dirname, '../../../test/fixtures/agent-golden');
const PAGE = 4096;
const ID = { host: 'golden-1', bootId: '6f1d3c2a-8b4e-4f0a-9c7d-2e5b1a3f4c6d', instance: '0b8e2f4a-1c3d-4e5f-8a9b-7c6d5e4f3a2b' };
const WALL_OFFSET_NS = 1_764_000_000_000_000_000n;

const TRACEPOINT = planProbes('tracepoint', null, { probes: [] })[0]!;

/** The recorded items, both CPUs merged in time order (as RawTraceReader emits them). */
function recordedHits(): RawRecord[] {
  const header = parseHeaderPage(readFileSync(join(RAW, 'header_page'), 'utf8'));
  const inet = parseEventFormat(readFileSync(join(RAW, 'inet_sock_set_state.format'), 'utf8'));
  const items: RawItem[] = [];
  for (const cpu of [0, 1]) {
    const d = new RawPageDecoder(header, [inet], new Map([[TRACEPOINT.event, TRACEPOINT.decoder]]));
    const all = readFileSync(join(RAW, `cpu${cpu}.pages`));
    for (let i = 0; i < all.length / PAGE; i++) d.decodePage(all.subarray(i * PAGE, (i + 1) * PAGE), cpu, items);
  }
  return items.filter((r): r is RawRecord => r.kind === 'event').sort((a, b) => (a.timestampNs < b.timestampNs ? -1 : a.timestampNs > b.timestampNs ? 1 : 0));
}

/** pid → comm: the recording's own names read `<...>`, so these exercise JSON string escapes too. */
const NAMES = ['curl', '<...>', 'node "srv"', 'a\\b/c', 'wörk\u0001'];
const commOf = (pid: number): string => (pid === 0 ? '<idle>' : (NAMES[pid % NAMES.length] as string));

/** The events the agent builds for the recording: a start, the hits (a heartbeat every 100), a stop. */
function events(): EncodedEvent[] {
  const stream = new EnvelopeEncoder(ID, WALL_OFFSET_NS);
  const hits = new HitEncoder();
  const out: EncodedEvent[] = [stream.next('agent.started', { kernelRelease: '6.18.44', arch: 'x64', agentVersion: '0.1.0', mode: 'tracepoint', capabilities: ['tracepoint'] }, 1_000n)];
  recordedHits().forEach((r, i) => {
    out.push(stream.encoded('probe.hit', hits.data(TRACEPOINT.name, r.cpu, r.pid, commOf(r.pid), hitContext(r.flags), TRACEPOINT.argsJson(r.decoded, hits)), r.timestampNs));
    if (i % 100 === 99) out.push(stream.next('agent.heartbeat', { counters: { eventsRead: i + 1 } }, r.timestampNs + 1n));
  });
  out.push(stream.next('agent.stopped', { reason: 'completed' }, 9_000_000_000_000n));
  return out;
}

async function stdoutBytes(evs: EncodedEvent[]): Promise<string> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const sink = new StdoutSink('json', out);
  for (const e of evs) sink.write(e);
  await sink.close();
  return Buffer.concat(chunks).toString('utf8');
}

type Recorded = { key: string; headers: Record<string, string>; value: string };

/** Kafka messages of the spooled events, read back `readBytes` at a time, as KafkaSink builds them. */
function kafkaMessages(evs: EncodedEvent[], readBytes: number): Recorded[] {
  const dir = mkdtempSync(join(tmpdir(), 'golden-spool-'));
  try {
    const spool = Spool.open({ dir, maxBytes: 1 << 30, segmentBytes: 1 << 20, fsync: 'never' });
    // What KafkaSink.write spools, and its message builder on what the spool reads back.
    spool.appendLines(evs.map((e) => ({ line: e.line, tag: streamTag(e.stream), seq: e.seq })));
    const out: Recorded[] = [];
    while (spool.unreadBytes > 0) {
      for (const m of messagesOf(spool.read(readBytes), (e) => { throw e; })) out.push({ key: m.key, headers: m.headers as Record<string, string>, value: m.value.toString('utf8') });
    }
    spool.close();
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('wire bytes of a recorded trace', () => {
  const evs = events();

  if (process.env.UPDATE_GOLDEN === '1') {
    it('writes the golden fixture', async () => {
      mkdirSync(GOLDEN, { recursive: true });
      writeFileSync(join(GOLDEN, 'stdout.ndjson'), await stdoutBytes(evs));
      writeFileSync(join(GOLDEN, 'kafka-messages.json'), `${JSON.stringify(kafkaMessages(evs, 16384), null, 1)}\n`);
    });
    return;
  }

  it('stdout NDJSON is byte for byte the recorded one', async () => {
    expect(evs.filter((e) => e.type === 'probe.hit').length).toBeGreaterThan(400);
    expect(await stdoutBytes(evs)).toBe(readFileSync(join(GOLDEN, 'stdout.ndjson'), 'utf8'));
  });

  // The fixture was read back in 16 KiB spool reads; where a read ends depends on the frame header
  // size (v2 frames are larger), so the recorded messages are compared joined into one: the same
  // events, the same bytes, the same key and seq range.
  it('Kafka message values, keys and headers are the recorded ones', () => {
    const recorded = JSON.parse(readFileSync(join(GOLDEN, 'kafka-messages.json'), 'utf8')) as Recorded[];
    const first = recorded[0] as Recorded;
    const joined = { key: first.key, headers: { ...first.headers, 'seq-last': (recorded[recorded.length - 1] as Recorded).headers['seq-last'] }, value: `[${recorded.map((m) => m.value.slice(1, -1)).join(',')}]` };
    expect(recorded.length).toBeGreaterThan(10);
    expect(kafkaMessages(evs, 1 << 30)).toEqual([joined]);
    // In small reads every message is a slice of the same stream, seq ranges back to back.
    const small = kafkaMessages(evs, 16384);
    expect(`[${small.map((m) => m.value.slice(1, -1)).join(',')}]`).toBe(joined.value);
    small.forEach((m, i) => i > 0 && expect(Number(m.headers['seq-first'])).toBe(Number((small[i - 1] as Recorded).headers['seq-last']) + 1));
  });
});
