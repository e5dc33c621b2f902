// Every bound of the contract, probed at, just below and beyond it: the codec (decodeEvent), the
// schema (zod), and for hits the fast paths (isValidHit, scanHit) must give the same answer, and
// that answer must be what the bound says, counted here independently (TextEncoder).
import fc from 'fast-check';
import {
  decodeEvent,
  encodeEvent,
  EVENT_SCHEMAS,
  isValidHit,
  LabelsSchema,
  MAX_AGENT_VERSION_BYTES,
  MAX_ARCH_BYTES,
  MAX_ARG_NAME_LEN,
  MAX_CAPABILITIES,
  MAX_CAPABILITY_LEN,
  MAX_COMM_BYTES,
  MAX_COUNTER_NAME_LEN,
  MAX_COUNTERS,
  MAX_CPU,
  MAX_DEFINITION_LEN,
  MAX_HOST_BYTES,
  MAX_KERNEL_RELEASE_BYTES,
  MAX_MONO_NS,
  MAX_PROBE_NAME_LEN,
  MAX_REASON_BYTES,
  MAX_STRING_ARG_BYTES,
  MAX_SYMBOL_LEN,
  MAX_TRACE_ARGS,
  scanHit,
  type Event,
  type EventOf,
} from './index';
import { SAMPLES } from '../test/samples';

const utf8 = new TextEncoder();
const bytes = (s: string) => utf8.encode(s).length;
/** What the agent decoded from the kernel: a U+FFFD may stand for one invalid byte. */
const kernelBytes = (s: string) => bytes(s) - 2 * [...s].filter((c) => c === '\ufffd').length;

type Hit = EventOf<'probe.hit'>;
const { v, type, host, bootId, instance, seq, time, monoNs, data } = SAMPLES['probe.hit'];
/** The sample hit in the agent's key order, the one scanHit reads. */
const HIT: Hit = { v, type, host, bootId, instance, seq, time, monoNs, data };
const withData = <T extends Event>(e: T, data: Partial<T['data']>): T => ({ ...e, data: { ...e.data, ...data } }) as T;

/** Text around `max` bytes: ASCII filler and a tail of 1- to 4-byte characters; now and then far beyond. */
function around(max: number, units: readonly string[]): fc.Arbitrary<string> {
  const near = fc
    .tuple(fc.integer({ min: 0, max: 12 }), fc.array(fc.constantFrom(...units), { maxLength: 6 }))
    .map(([short, tail]) => 'a'.repeat(Math.max(1, max - short)) + tail.join(''));
  return fc.oneof({ arbitrary: near, weight: 8 }, fc.constantFrom('a', 'é'.repeat(max), 'x'.repeat(3 * max + 1)));
}
const UNITS = ['b', 'é', '€', '😀'];
const KERNEL_UNITS = [...UNITS, '\ufffd'];

/** decodeEvent, the schema and, for hits, both fast paths answer `expected`. */
function expectAll(event: Event, expected: boolean): void {
  const line = encodeEvent(event);
  expect(decodeEvent(line).ok).toBe(expected);
  expect(EVENT_SCHEMAS[event.type].safeParse(event).success).toBe(expected);
  if (event.type !== 'probe.hit') return;
  expect(isValidHit(JSON.parse(line) as Record<string, unknown>)).toBe(expected);
  // scanHit reads the agent's plain ASCII spelling only and leaves the rest to decodeEvent.
  const plain = /^[\x20-\x7e]*$/.test(line) && !line.includes('\\');
  if (expected && plain) expect(scanHit(line)).toBeDefined();
  if (!expected) expect(scanHit(line)).toBeUndefined();
}

interface TextBound {
  field: string;
  max: number;
  kernel?: boolean;
  event: (s: string) => Event;
}

const TEXT_BOUNDS: TextBound[] = [
  { field: 'host (hit)', max: MAX_HOST_BYTES, event: (host) => ({ ...HIT, host }) },
  { field: 'host', max: MAX_HOST_BYTES, event: (host) => ({ ...SAMPLES['agent.stopped'], host }) },
  { field: 'probe (hit)', max: MAX_PROBE_NAME_LEN, event: (probe) => withData(HIT, { probe }) },
  { field: 'comm', max: MAX_COMM_BYTES, kernel: true, event: (comm) => withData(HIT, { comm }) },
  { field: 'arg name', max: MAX_ARG_NAME_LEN, event: (name) => withData(HIT, { args: { [name]: 1 } }) },
  { field: 'string arg', max: MAX_STRING_ARG_BYTES, kernel: true, event: (s) => withData(HIT, { args: { path: s } }) },
  { field: 'kernelRelease', max: MAX_KERNEL_RELEASE_BYTES, event: (kernelRelease) => withData(SAMPLES['agent.started'], { kernelRelease }) },
  { field: 'arch', max: MAX_ARCH_BYTES, event: (arch) => withData(SAMPLES['agent.started'], { arch }) },
  { field: 'agentVersion', max: MAX_AGENT_VERSION_BYTES, event: (agentVersion) => withData(SAMPLES['agent.started'], { agentVersion }) },
  { field: 'capability', max: MAX_CAPABILITY_LEN, event: (c) => withData(SAMPLES['agent.started'], { capabilities: [c] }) },
  { field: 'counter name', max: MAX_COUNTER_NAME_LEN, event: (c) => withData(SAMPLES['agent.heartbeat'], { counters: { [c]: 1 } }) },
  { field: 'stop reason', max: MAX_REASON_BYTES, event: (reason) => withData(SAMPLES['agent.stopped'], { reason }) },
  { field: 'probe (registered)', max: MAX_PROBE_NAME_LEN, event: (probe) => withData(SAMPLES['probe.registered'], { probe }) },
  { field: 'probe (missed)', max: MAX_PROBE_NAME_LEN, event: (probe) => withData(SAMPLES['probe.missed'], { probe }) },
  { field: 'probe (armed)', max: MAX_PROBE_NAME_LEN, event: (probe) => withData(SAMPLES['probe.armed'], { probe }) },
  { field: 'symbol', max: MAX_SYMBOL_LEN, event: (symbol) => withData(SAMPLES['probe.registered'], { symbol }) },
  { field: 'definition', max: MAX_DEFINITION_LEN, event: (definition) => withData(SAMPLES['probe.registered'], { definition }) },
];

describe('every string of the contract is bounded', () => {
  it.each(TEXT_BOUNDS)('$field: at most $max bytes, the same answer from every reader', ({ max, kernel, event }) => {
    const count = kernel ? kernelBytes : bytes;
    fc.assert(
      fc.property(around(max, kernel ? KERNEL_UNITS : UNITS), (s) => expectAll(event(s), count(s) <= max)),
      { numRuns: max > 1000 ? 60 : 200 },
    );
  });

  it.each(TEXT_BOUNDS)('$field: exactly $max bytes passes, one more does not', ({ max, event }) => {
    expectAll(event('a'.repeat(max)), true);
    expectAll(event('a'.repeat(max - 2) + 'é'), true);
    expectAll(event('a'.repeat(max + 1)), false);
    expectAll(event('a'.repeat(max - 1) + 'é'), false);
  });

  it("comm: the kernel's 15 bytes, the agent's own <...> and <idle>, and 15 undecodable bytes", () => {
    for (const comm of ['<...>', '<idle>', 'kworker/u16:2-e', '\ufffd'.repeat(15), '']) expectAll(withData(HIT, { comm }), true);
    for (const comm of ['kworker/u16:2-ev', '\ufffd'.repeat(16), 'é'.repeat(8)]) expectAll(withData(HIT, { comm }), false);
  });

  it('monoNs: up to the store bigint (2^63 - 1)', () => {
    const values = fc.oneof(
      fc.bigInt({ min: 0n, max: 2n ** 64n }),
      fc.bigInt({ min: 2n ** 63n - 3n, max: 2n ** 63n + 3n }),
      fc.bigInt({ min: 10n ** 18n, max: 10n ** 19n }),
    );
    fc.assert(fc.property(values, (n) => expectAll({ ...HIT, monoNs: String(n) }, n < 2n ** 63n)), { numRuns: 500 });
    expectAll({ ...HIT, monoNs: MAX_MONO_NS }, true);
    expectAll({ ...HIT, monoNs: '9223372036854775808' }, false);
    expectAll({ ...HIT, monoNs: '10000000000000000000' }, false);
  });
});

describe('every count of the contract is bounded', () => {
  const args = (n: number): Hit['data']['args'] => Object.fromEntries(Array.from({ length: n }, (_, i) => [`a${i}`, i]));
  const counters = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`c${i}`, i]));
  const overruns = (n: number) => Array.from({ length: n }, (_, cpu) => ({ cpu: cpu % (MAX_CPU + 1), count: 1 }));
  const COUNT_BOUNDS: { field: string; max: number; event: (n: number) => Event }[] = [
    { field: 'args', max: MAX_TRACE_ARGS, event: (n) => withData(HIT, { args: args(n) }) },
    { field: 'capabilities', max: MAX_CAPABILITIES, event: (n) => withData(SAMPLES['agent.started'], { capabilities: Array(n).fill('btf') }) },
    { field: 'counters', max: MAX_COUNTERS, event: (n) => withData(SAMPLES['agent.heartbeat'], { counters: counters(n) }) },
    { field: 'overruns (one per cpu)', max: MAX_CPU + 1, event: (n) => withData(SAMPLES['agent.loss'], { overruns: overruns(n) }) },
  ];

  it.each(COUNT_BOUNDS)('$field: at most $max', ({ max, event }) => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: max - 3, max: max + 3 }), fc.integer({ min: 1, max: 2 * max })), (n) => expectAll(event(n), n <= max)),
      { numRuns: max > 1000 ? 10 : 100 },
    );
  });
});

describe('LabelsSchema', () => {
  it('refuses an own __proto__ key by name instead of dropping it', () => {
    const labels = JSON.parse('{"__proto__":"x","role":"web"}') as unknown;
    const r = LabelsSchema.safeParse(labels);
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toBe('__proto__ is not a label key');
    expect(LabelsSchema.parse({ role: 'web' })).toEqual({ role: 'web' });
  });
});
