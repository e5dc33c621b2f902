import fc from 'fast-check';
import {
  batchHeaders,
  decodeBatch,
  decodeEvent,
  decodeEventValue,
  encodeBatch,
  encodeEvent,
  EVENT_SCHEMAS,
  EVENT_TYPES,
  formatDecodeFailure,
  type Event,
} from './index';
import { SAMPLE_STREAM, SAMPLES } from '../test/samples';

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

describe('single events', () => {
  it.each(EVENT_TYPES)('%s round-trips through JSON', (type) => {
    const event = SAMPLES[type];
    expect(decodeEvent(encodeEvent(event))).toEqual({ ok: true, value: event });
  });

  it.each([
    ['not JSON', '{"v":1,', 'malformed', ''],
    ['not an object', '[1]', 'malformed', ''],
    ['missing v', JSON.stringify({ ...SAMPLES['probe.armed'], v: undefined }), 'malformed', 'v'],
    ['newer version', JSON.stringify({ ...SAMPLES['probe.armed'], v: 2 }), 'unknown-version', 'v'],
    ['unknown type', JSON.stringify({ ...SAMPLES['probe.armed'], type: 'probe.exploded' }), 'unknown-type', 'type'],
    ['bad nested field', JSON.stringify({ ...SAMPLES['probe.hit'], data: { ...SAMPLES['probe.hit'].data, cpu: '1' } }), 'malformed', 'data.cpu'],
    ['unknown key', JSON.stringify({ ...SAMPLES['probe.armed'], extra: 1 }), 'malformed', 'extra'],
    ['time without nanoseconds', JSON.stringify({ ...SAMPLES['probe.armed'], time: '2026-11-25T19:52:23Z' }), 'malformed', 'time'],
    ['uppercase uuid', JSON.stringify({ ...SAMPLES['probe.armed'], instance: SAMPLES['probe.armed'].instance.toUpperCase() }), 'malformed', 'instance'],
    ['seq 0', JSON.stringify({ ...SAMPLES['probe.armed'], seq: 0 }), 'malformed', 'seq'],
    ['unknown mechanism', JSON.stringify({ ...SAMPLES['probe.armed'], data: { probe: 'p', mechanism: 'kprobe' } }), 'malformed', 'data.mechanism'],
    ['armed address not canonical', JSON.stringify({ ...SAMPLES['probe.armed'], data: { probe: 'p', address: '0xFFFF' } }), 'malformed', 'data.address'],
    ['probe.state without flags', JSON.stringify({ ...SAMPLES['probe.state'], data: { probe: 'p', mechanism: 'int3' } }), 'malformed', 'data.disabled'],
    ['monoNs as number', JSON.stringify({ ...SAMPLES['probe.hit'], monoNs: 12 }), 'malformed', 'monoNs'],
    [
      'tracepoint with an address',
      JSON.stringify({ ...SAMPLES['probe.registered'], data: { ...SAMPLES['probe.registered'].data, kind: 'tracepoint' } }),
      'malformed',
      'data.address',
    ],
    [
      'address with leading zeros',
      JSON.stringify({ ...SAMPLES['probe.registered'], data: { ...SAMPLES['probe.registered'].data, address: '0x00ff' } }),
      'malformed',
      'data.address',
    ],
  ])('%s fails as %s', (_name, json, kind, field) => {
    const result = decodeEvent(json);
    expect(result).toMatchObject({ ok: false, kind, field });
    if (!result.ok) expect(result.reason.length).toBeGreaterThan(0);
  });

  it('formats a failure with its field', () => {
    const result = decodeEvent(JSON.stringify({ ...SAMPLES['probe.armed'], v: 7 }));
    expect(!result.ok && formatDecodeFailure(result)).toBe('v: unknown-version: version 7 is not supported (this reader knows 1)');
  });

  it('never throws, whatever the input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (text) => {
        expect(typeof decodeEvent(text).ok).toBe('boolean');
      }),
    );
  });
});

describe('probe.hit fast path', () => {
  const hit = SAMPLES['probe.hit'];
  // Mutations of a valid hit at every level; the fast path must agree with the schema on each.
  const mutation = fc.record({
    path: fc.constantFrom(
      [] as string[],
      ['data'],
      ['data', 'ctx'],
      ['data', 'args'],
    ),
    key: fc.constantFrom('host', 'bootId', 'seq', 'time', 'monoNs', 'data', 'probe', 'cpu', 'pid', 'comm', 'ctx', 'args',
      'preemptDepth', 'nmi', 'sport', 'family', '', 'extra'),
    value: fc.oneof(fc.jsonValue(), fc.constant(undefined), fc.integer({ min: -2, max: 70000 }), fc.constantFrom(Number.NaN, 2 ** 31 - 1, 2 ** 31)),
  });

  it('accepts exactly what the zod schema accepts', () => {
    fc.assert(
      fc.property(fc.array(mutation, { maxLength: 3 }), (mutations) => {
        const event = clone(hit) as unknown as Record<string, unknown>;
        for (const { path, key, value } of mutations) {
          let target: unknown = event;
          for (const step of path) target = (target as Record<string, unknown>)?.[step];
          if (typeof target === 'object' && target !== null) (target as Record<string, unknown>)[key] = value;
        }
        const schema = EVENT_SCHEMAS['probe.hit'].safeParse(event);
        expect(decodeEventValue(event).ok).toBe(schema.success);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('what the store cannot hold', () => {
  const hit = SAMPLES['probe.hit'];
  const withData = (data: Record<string, unknown>) => ({ ...hit, data: { ...hit.data, ...data } });

  it.each([
    ['cpu above a smallint', withData({ cpu: 32768 }), 'data.cpu'],
    ['pid above an integer', withData({ pid: 2 ** 31 }), 'data.pid'],
    ['U+0000 in comm', withData({ comm: 'ng\u0000inx' }), 'data.comm'],
    ['half a surrogate pair in an arg', withData({ args: { ...hit.data.args, path: 'a\ud800b' } }), 'data.args.path'],
    ['a lone low surrogate in a key', withData({ args: { ...hit.data.args, ['\udc00']: 1 } }), 'data.args.\udc00'],
  ])('refuses %s, naming the field, alone and in a batch', (_name, event, field) => {
    expect(decodeEvent(JSON.stringify(event))).toMatchObject({ ok: false, kind: 'malformed', field });
    expect(decodeBatch(new TextEncoder().encode(JSON.stringify([event])))).toMatchObject({ ok: false, kind: 'malformed', field: `[0].${field}` });
  });

  it('takes the largest values the store holds, escaped pairs and a literal backslash-u', () => {
    for (const event of [withData({ cpu: 32767, pid: 2 ** 31 - 1 }), withData({ comm: 'caf\u00e9 \ud83d\ude80' }), withData({ comm: '\\u0000' })]) {
      expect(decodeEvent(JSON.stringify(event))).toEqual({ ok: true, value: event });
      expect(decodeBatch(JSON.stringify([event]))).toEqual({ ok: true, value: [event] });
    }
  });
});

describe('older logs', () => {
  it('still decodes probe.armed without mechanism or address', () => {
    const old = { ...SAMPLES['probe.armed'], data: { probe: 'probefleet/tcp_set_state' } };
    expect(decodeEvent(JSON.stringify(old))).toEqual({ ok: true, value: old });
  });
});

describe('batches', () => {
  it('round-trips a batch and describes it in headers', () => {
    const value = encodeBatch(SAMPLE_STREAM);
    expect(decodeBatch(new TextEncoder().encode(value))).toEqual({ ok: true, value: SAMPLE_STREAM });
    expect(batchHeaders(SAMPLE_STREAM)).toEqual({
      v: '1',
      host: 'web-1',
      instance: SAMPLE_STREAM[0]?.instance,
      'seq-first': '1',
      'seq-last': String(SAMPLE_STREAM.length),
    });
  });

  it('refuses to encode events that are not one consecutive stream', () => {
    expect(() => encodeBatch([])).toThrow(RangeError);
    expect(() => batchHeaders([SAMPLES['probe.armed'], SAMPLES['probe.missed']])).toThrow(/\[1\]\.seq: not-consecutive: expected 4, got 5/);
  });

  it.each([
    ['invalid UTF-8', new Uint8Array([0x5b, 0xff, 0x5d]), 'malformed', ''],
    ['not an array', JSON.stringify(SAMPLES['probe.armed']), 'malformed', ''],
    ['empty', '[]', 'malformed', ''],
    ['gap', JSON.stringify([SAMPLES['probe.armed'], SAMPLES['probe.missed']]), 'not-consecutive', '[1].seq'],
    ['other instance', JSON.stringify([SAMPLES['probe.armed'], { ...SAMPLES['probe.hit'], instance: '11111111-2222-4333-8444-555555555555' }]), 'mixed-stream', '[1].instance'],
    ['invalid member', JSON.stringify([SAMPLES['probe.armed'], { ...SAMPLES['probe.hit'], v: 3 }]), 'unknown-version', '[1].v'],
    ['non-object member', JSON.stringify([SAMPLES['probe.armed'], 4]), 'malformed', '[1]'],
  ])('%s fails as %s', (_name, value, kind, field) => {
    expect(decodeBatch(value)).toMatchObject({ ok: false, kind, field });
  });

  it('round-trips any consecutive slice of the sample stream', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 1, max: 10 }), (start, length) => {
        const events: Event[] = SAMPLE_STREAM.slice(start, start + length);
        expect(decodeBatch(encodeBatch(events))).toEqual({ ok: true, value: events });
      }),
    );
  });
});
