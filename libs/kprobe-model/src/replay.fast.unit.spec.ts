import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { decodeEvent, encodeEvent, scanHit, type Event } from '@probefleet/events';
import { evolve, initialState, replay, snapshot, type ReplayOutcome } from './index';

// replay scans probe.hit lines without JSON.parse (scanHit); the reference below decodes every line,
// as replay did before. Their outcomes must be the same on any input.

function referenceReplay(lines: readonly string[]): ReplayOutcome {
  const state = initialState();
  let events = 0;
  let duplicates = 0;
  for (const [i, text] of lines.entries()) {
    if (text.trim() === '') continue;
    const decoded = decodeEvent(text);
    if (!decoded.ok) return { ok: false, kind: 'invalid', line: i + 1, failure: decoded };
    const evolution = evolve(state, decoded.value);
    if (!evolution.ok) return { ok: false, kind: 'violation', line: i + 1, reason: evolution.reason };
    if (evolution.duplicate) duplicates++;
    else events++;
  }
  return { ok: true, state, events, duplicates };
}

function comparable(outcome: ReplayOutcome): unknown {
  return outcome.ok ? { snapshot: snapshot(outcome.state), events: outcome.events, duplicates: outcome.duplicates } : outcome;
}

function expectSameOutcome(lines: readonly string[]): ReplayOutcome {
  const outcome = replay(lines);
  expect(comparable(outcome)).toEqual(comparable(referenceReplay(lines)));
  return outcome;
}

const FIXTURES = join(__dirname, '../../../test/fixtures/replay');
const fixtures = readdirSync(FIXTURES).filter((name) => name.endsWith('.ndjson'));
const fixtureLines = (name: string) => readFileSync(join(FIXTURES, name), 'utf8').split('\n');

const SPELLINGS = ['reorder', 'pretty', 'escape'] as const;
type Spelling = (typeof SPELLINGS)[number];

/** Other spellings of the same event: keys reordered (args reversed), pretty-printed, an escaped character. */
function respell(line: string, how: Spelling): string {
  const event = JSON.parse(line) as Event;
  if (how === 'pretty') return JSON.stringify(event, null, 1).replace(/\n/g, '');
  if (how === 'escape') return line.replace('"v":1', '"\\u0076":1');
  if (event.type !== 'probe.hit') {
    const { data, ...envelope } = event;
    return JSON.stringify({ data, ...envelope });
  }
  return encodeEvent({ ...event, data: { ...event.data, args: Object.fromEntries(Object.entries(event.data.args).reverse()) } });
}

/** The same envelope with different content (another cpu), or the same content under the next seq. */
function conflict(line: string): string {
  const event = JSON.parse(line) as Event;
  if (event.type === 'probe.hit') return encodeEvent({ ...event, data: { ...event.data, cpu: event.data.cpu + 1 } });
  return encodeEvent({ ...event, time: event.time.replace(/\d(?=Z$)/, (d) => String((Number(d) + 1) % 10)) });
}

const HOSTS = 4;

/** A bench-like stream: per host two probes at one address, armed, then interleaved TCP hits. */
function largeStream(hits: number): string[] {
  const streams = Array.from({ length: HOSTS }, (_, h) => {
    const hex = h.toString(16).padStart(12, '0');
    return { host: `web-${h}`, bootId: `6c1b2a4e-8f1d-4c7b-9a3e-${hex}`, instance: `0f8e7d6c-5b4a-4392-8170-${hex}`, seq: 0 };
  });
  const lines: string[] = [];
  const emit = (s: (typeof streams)[number], type: string, data: unknown, extra: object = {}) => {
    s.seq++;
    const time = `2026-11-25T19:52:${String(s.seq % 60).padStart(2, '0')}.${String(s.seq * 7919).padStart(9, '0').slice(-9)}Z`;
    lines.push(JSON.stringify({ v: 1, type, host: s.host, bootId: s.bootId, instance: s.instance, seq: s.seq, time, ...extra, data }));
  };
  for (const s of streams) {
    for (const probe of ['probefleet/tcp_set_state', 'user/audit']) {
      emit(s, 'probe.registered', { probe, kind: 'kprobe', symbol: 'tcp_set_state', offset: 0, address: '0xffffffff8206b250', insn: 'f30f1efa' });
      emit(s, 'probe.armed', { probe });
    }
  }
  for (let i = 0; i < hits; i++) {
    const s = streams[(i * 7) % HOSTS] as (typeof streams)[number];
    const ctx = i % 5 === 0 ? {} : { ctx: { irqsOff: false, needResched: i % 7 === 0, hardirq: false, softirq: i % 3 === 0, nmi: false, preemptDepth: i % 4 } };
    const comm = ['nginx', 'curl', 'a "quoted" comm', 'zsh-é', 'tab\there'][i % 5];
    const args = { skaddr: '0xffff8881234abcd0', sport: 40000 + (i % 20000), dport: 443, ratio: i / 8, ok: i % 2 === 0, gone: null, newstate: 'TCP_ESTABLISHED' };
    const extra = i % 11 === 0 ? {} : { monoNs: String(1_000_000_000_000 + i) };
    emit(s, 'probe.hit', { probe: i % 2 ? 'probefleet/tcp_set_state' : 'user/audit', cpu: i % 4, pid: 1000 + i, comm, ...ctx, args }, extra);
    // Redeliveries: exact and respelled repeats of recent lines (the same events, so skipped).
    if (i % 97 === 0) lines.push(lines[lines.length - 1 - (i % 13)] as string);
    if (i % 89 === 0) lines.push(respell(lines[lines.length - 1 - (i % 17)] as string, SPELLINGS[i % 3] as Spelling));
  }
  return lines;
}

describe('replay with the probe.hit fast path', () => {
  it.each(fixtures)('gives the reference outcome on %s', (name) => {
    expectSameOutcome(fixtureLines(name));
  });

  it('takes the fast path for the valid hits of the golden fixtures', () => {
    const hits = fixtures.flatMap(fixtureLines).filter((line) => line.includes('"type":"probe.hit"') && decodeEvent(line).ok);
    expect(hits.length).toBeGreaterThan(10);
    expect(hits.filter((line) => scanHit(line) === undefined)).toEqual([]);
  });

  it('gives the reference outcome on a large stream with redeliveries', () => {
    const lines = largeStream(20_000);
    // Two comms in five are plain: the other hits (escapes, non-ASCII) take the decode path.
    expect(lines.filter((line) => scanHit(line) !== undefined).length).toBeGreaterThan(7_000);
    expect(expectSameOutcome(lines)).toMatchObject({ ok: true, events: 20_000 + HOSTS * 4 });
    expect((replay(lines) as { duplicates: number }).duplicates).toBeGreaterThan(400);
  });

  it('tells a redelivery from a conflict as the reference does, whatever the spelling', () => {
    const base = largeStream(300);
    const repeat = fc.record({
      of: fc.nat(),
      back: fc.nat(40),
      how: fc.constantFrom('exact', 'reorder', 'pretty', 'escape', 'conflict', 'conflict-pretty', 'blank'),
    });
    fc.assert(
      fc.property(fc.array(repeat, { maxLength: 6 }), (repeats) => {
        const lines = [...base];
        for (const { of, back, how } of repeats) {
          const at = (of % (lines.length - 1)) + 1;
          const original = lines[Math.max(0, at - 1 - back)] as string;
          const copy =
            how === 'exact' || original.trim() === '' ? original
            : how === 'blank' ? ' '
            : how === 'conflict' ? conflict(original)
            : how === 'conflict-pretty' ? respell(conflict(original), 'pretty')
            : respell(original, how);
          lines.splice(at, 0, copy);
        }
        expectSameOutcome(lines);
      }),
      { numRuns: 300 },
    );
  });
});
