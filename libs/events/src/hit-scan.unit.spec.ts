import fc from 'fast-check';
import { decodeEvent, encodeEvent, MAX_CPU, MAX_PID, scanHit, TIME_PATTERN, UUID_PATTERN, type Event, type EventOf } from './index';
import { BOOT, INSTANCE, TCP_HIT_ARGS } from '../test/samples';

type Hit = EventOf<'probe.hit'>;

/** A hit with its keys in the order the agent builds them (the order scanHit reads). */
function hit(fields: Partial<Omit<Hit, 'data'>> & { data?: Partial<Hit['data']> } = {}): Hit {
  const { data, ...envelope } = fields;
  return {
    v: 1,
    type: 'probe.hit',
    host: 'web-1',
    bootId: BOOT,
    instance: INSTANCE,
    seq: 4,
    time: '2026-11-25T19:52:23.123456789Z',
    monoNs: '123456789012345',
    ...envelope,
    data: {
      probe: 'probefleet/tcp_set_state',
      cpu: 1,
      pid: 4242,
      comm: 'curl',
      ctx: { irqsOff: false, needResched: false, hardirq: false, softirq: true, nmi: false, preemptDepth: 1 },
      args: { ...TCP_HIT_ARGS },
      ...data,
    },
  } as Hit;
}

/** The fast path's contract: it declines, or decodeEvent accepts the line with the same values. */
function agreesWithDecode(line: string): boolean {
  const scanned = scanHit(line);
  if (scanned === undefined) return false;
  const decoded = decodeEvent(line);
  expect(decoded.ok).toBe(true);
  const event = (decoded as { value: Event }).value as Hit;
  expect(event.type).toBe('probe.hit');
  expect(scanned).toEqual({
    line,
    host: event.host,
    bootId: event.bootId,
    instance: event.instance,
    seq: event.seq,
    probe: event.data.probe,
    cpu: event.data.cpu,
    pid: event.data.pid,
  });
  return true;
}

// Characters JSON must escape, non-ASCII (one and two UTF-16 units), and JSON punctuation.
const tricky = fc.constantFrom('"', '\\', '\n', '\u0001', '\u001f', '\u007f', 'é', '😀', '\ud800', '{', '}', ',', ':', ' ', 'true');
const text = (minLength: number) =>
  fc.oneof(
    fc.string({ minLength, maxLength: 12 }),
    fc.array(fc.oneof(fc.string({ maxLength: 3 }), tricky), { minLength, maxLength: 6 }).map((parts) => parts.join('')),
  );
const plain = (minLength: number) => fc.stringMatching(new RegExp(`^[ -!#-\\[\\]-~]{${minLength},12}$`));
const argValue = fc.oneof(
  text(0),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, 1e21, 1e-7, 5e-324, Number.MAX_VALUE, Number.MAX_SAFE_INTEGER),
  fc.boolean(),
  fc.constant(null),
);
const uuid = fc.uuid().map((u) => u.toLowerCase());
const time = fc
  .date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true })
  .chain((d) => fc.integer({ min: 0, max: 999_999 }).map((ns) => d.toISOString().replace(/Z$/, `${String(ns).padStart(6, '0')}Z`)));
const ctx = fc.record({
  irqsOff: fc.boolean(),
  needResched: fc.boolean(),
  hardirq: fc.boolean(),
  softirq: fc.boolean(),
  nmi: fc.boolean(),
  preemptDepth: fc.integer({ min: 0, max: 255 }),
});

/** Valid hits of every shape; `name` makes strings (names must be non-empty). */
const hits = (name: (minLength: number) => fc.Arbitrary<string>, value: fc.Arbitrary<unknown>) =>
  fc
    .record({
      host: name(1),
      bootId: uuid,
      instance: uuid,
      seq: fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.constant(Number.MAX_SAFE_INTEGER)),
      time,
      monoNs: fc.option(fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }).map(String), { nil: undefined }),
      probe: name(1),
      cpu: fc.integer({ min: 0, max: MAX_CPU }),
      pid: fc.oneof(fc.nat(), fc.constant(MAX_PID)),
      comm: name(0),
      ctx: fc.option(ctx, { nil: undefined }),
      args: fc.dictionary(name(1), value, { maxKeys: 6 }),
    })
    .map(({ monoNs, probe, cpu, pid, comm, ctx: context, args, ...envelope }) => {
      const event = { v: 1, type: 'probe.hit', ...envelope, ...(monoNs === undefined ? {} : { monoNs }) };
      const data = { probe, cpu, pid, comm, ...(context === undefined ? {} : { ctx: context }), args };
      return encodeEvent({ ...event, data } as Hit);
    });

describe('scanHit', () => {
  it('reads a hit as encodeEvent writes it', () => {
    const line = encodeEvent(hit());
    expect(agreesWithDecode(line)).toBe(true);
    expect(agreesWithDecode(encodeEvent(hit({ monoNs: undefined, data: { ctx: undefined, args: {} } })))).toBe(true);
  });

  it('reads every valid hit in the agent spelling with plain ASCII strings and integer or decimal numbers', () => {
    const number = fc.oneof(fc.integer(), fc.integer().map((n) => n / 8));
    fc.assert(fc.property(hits(plain, fc.oneof(plain(0), number, fc.boolean(), fc.constant(null))), (line) => {
      expect(agreesWithDecode(line)).toBe(true);
    }));
  });

  it('never disagrees with decodeEvent on valid hits of any content', () => {
    fc.assert(fc.property(hits(text, argValue), (line) => void agreesWithDecode(line)), { numRuns: 2000 });
  });

  it('never disagrees with decodeEvent on mutated lines', () => {
    const edit = fc.record({
      at: fc.nat(),
      remove: fc.integer({ min: 0, max: 3 }),
      insert: fc.oneof(fc.constant(''), tricky, fc.constantFrom('0', '9', '-', '.', 'e5', 'a', 'F', 'null', '"x"', '"', ',"k":1', '}', ' ')),
    });
    const lines = fc.oneof(hits(plain, fc.oneof(plain(0), fc.integer(), fc.boolean())), fc.constant(encodeEvent(hit())));
    fc.assert(
      fc.property(lines, fc.array(edit, { minLength: 1, maxLength: 3 }), (line, edits) => {
        let mutated = line;
        for (const { at, remove, insert } of edits) {
          const i = at % (mutated.length + 1);
          mutated = mutated.slice(0, i) + insert + mutated.slice(i + remove);
        }
        agreesWithDecode(mutated);
      }),
      { numRuns: 5000 },
    );
  });

  it('accepts a bootId or instance exactly when UUID_PATTERN does', () => {
    const candidate = fc.oneof(uuid, fc.stringMatching(/^[0-9a-gA-F-]{36}$/), uuid.map((u) => u.replace(/[0-9a-f]/, (c) => String.fromCharCode(c.charCodeAt(0) + 1))));
    fc.assert(
      fc.property(candidate, fc.boolean(), (value, asInstance) => {
        const line = encodeEvent(hit(asInstance ? { instance: value } : { bootId: value }));
        expect(agreesWithDecode(line)).toBe(UUID_PATTERN.test(value));
      }),
      { numRuns: 3000 },
    );
  });

  it('accepts a time exactly when TIME_PATTERN does', () => {
    const near = time.chain((t) =>
      fc.tuple(fc.nat(29), fc.constantFrom(...'0123456789:-.TZ /')).map(([i, c]) => t.slice(0, i) + c + t.slice(i + 1)),
    );
    const fieldEdge = fc
      .tuple(fc.constantFrom('00', '01', '09', '10', '12', '13', '19', '20', '23', '24', '29', '30', '31', '32', '39', '59', '60', '99'), fc.constantFrom(5, 8, 11, 14, 17))
      .map(([two, i]) => `2026-11-25T19:52:23.123456789Z`.slice(0, i) + two + `2026-11-25T19:52:23.123456789Z`.slice(i + 2));
    fc.assert(
      fc.property(fc.oneof(time, near, fieldEdge), (value) => {
        expect(agreesWithDecode(encodeEvent(hit({ time: value })))).toBe(TIME_PATTERN.test(value));
      }),
      { numRuns: 3000 },
    );
  });

  it.each([
    ['another key order', JSON.stringify({ ...hit(), type: undefined, v: undefined }).replace('{', '{"type":"probe.hit","v":1,')],
    ['whitespace', JSON.stringify(hit(), null, 1)],
    ['an unknown key', JSON.stringify({ ...hit(), extra: 1 })],
    ['an escape', encodeEvent(hit({ data: { comm: 'a"b' } }))],
    ['a unicode escape', encodeEvent(hit()).replace('"curl"', '"\\u0063url"')],
    ['non-ASCII text', encodeEvent(hit({ data: { comm: 'zsh-é' } }))],
    ['an exponent', encodeEvent(hit({ data: { args: { n: 1e21 } } }))],
    ['a number with a leading zero', encodeEvent(hit()).replace('"sport":43210', '"sport":043210')],
    ['seq 1.0', encodeEvent(hit()).replace('"seq":4', '"seq":4.0')],
    ['trailing text', `${encodeEvent(hit())} `],
  ])('leaves %s to decodeEvent', (_name, line) => {
    expect(scanHit(line)).toBeUndefined();
  });

  it.each([
    ['seq 0', hit({ seq: 0 })],
    ['seq above 2^53 - 1', encodeEvent(hit()).replace('"seq":4', '"seq":9007199254740992')],
    ['cpu 32768', hit({ data: { cpu: MAX_CPU + 1 } })], ['pid 2^31', hit({ data: { pid: MAX_PID + 1 } })],
    ['preemptDepth 256', hit({ data: { ctx: { ...hit().data.ctx!, preemptDepth: 256 } } })],
    ['an empty host', hit({ host: '' })],
    ['an empty probe', hit({ data: { probe: '' } })],
    ['an empty arg name', hit({ data: { args: { '': 1 } } })],
    ['monoNs with a leading zero', hit({ monoNs: '0123' })],
    ['a control character', encodeEvent(hit()).replace('curl', 'cu\u0001rl')],
    ['a 2^1024 number', encodeEvent(hit()).replace('"sport":43210', `"sport":1${'0'.repeat(309)}`)],
  ])('declines %s, which decodeEvent refuses', (_name, value) => {
    const line = typeof value === 'string' ? value : encodeEvent(value);
    expect(scanHit(line)).toBeUndefined();
    expect(decodeEvent(line).ok).toBe(false);
  });
});

describe('scanHit on owned TCP hits', () => {
  const UID = '0c3a9f1e-2b4d-4c8e-9a7f-1d2e3f4a5b6c';
  const owner = fc.record(
    {
      pid: fc.oneof(fc.integer({ min: 1, max: MAX_PID }), fc.constantFrom(0, MAX_PID + 1)),
      comm: plain(0),
      cgroup: fc.oneof(plain(0), fc.constant('/kubepods.slice/x'.repeat(300))),
      container: fc.record({ id: plain(0), runtime: fc.constantFrom('docker', 'containerd', 'cri-o', 'podman', 'cri', 'systemd', 'lxc', '') }),
      pod: fc.record({ namespace: plain(0), name: plain(0), uid: fc.oneof(uuid, fc.constant(UID.toUpperCase())) }, { requiredKeys: ['uid'] }),
    },
    { requiredKeys: ['pid', 'comm', 'cgroup'] },
  );
  const line = (o: unknown, attribution: string | undefined) => {
    const h = hit();
    const data = { ...h.data, ...(o === undefined ? {} : { owner: o }), ...(attribution === undefined ? {} : { attribution }) };
    return encodeEvent({ ...h, data } as Hit);
  };

  it('reads the owner as ownerJson writes it', () => {
    const full = { pid: 7, comm: 'nginx', cgroup: '/a', container: { id: 'f'.repeat(64), runtime: 'containerd' }, pod: { namespace: 'ns', name: 'web', uid: UID } };
    for (const o of [full, { pid: 7, comm: '', cgroup: '' }, { ...full, pod: { uid: UID } }, { ...full, pod: { name: 'web', uid: UID } }, { ...full, pod: { namespace: 'ns', uid: UID } }]) {
      expect(agreesWithDecode(line(o, 'socket'))).toBe(true);
      expect(agreesWithDecode(line(o, 'direct'))).toBe(true);
    }
    expect(agreesWithDecode(line(undefined, 'unknown'))).toBe(true);
  });

  it('never disagrees with decodeEvent, whatever the owner and attribution', () => {
    const attribution = fc.option(fc.constantFrom('direct', 'socket', 'unknown', 'other'), { nil: undefined });
    fc.assert(fc.property(fc.option(owner, { nil: undefined }), attribution, (o, a) => void agreesWithDecode(line(o, a))), { numRuns: 3000 });
  });

  it('never disagrees with decodeEvent on mutated owned lines', () => {
    const base = line({ pid: 7, comm: 'nginx', cgroup: '/a', container: { id: 'abc', runtime: 'docker' }, pod: { namespace: 'ns', name: 'web', uid: UID } }, 'socket');
    const edit = fc.record({ at: fc.nat(), remove: fc.integer({ min: 0, max: 3 }), insert: fc.oneof(fc.constant(''), tricky, fc.constantFrom('0', '"', ',', '}', 'name', 'a')) });
    fc.assert(fc.property(fc.array(edit, { minLength: 1, maxLength: 2 }), (edits) => {
      let mutated = base;
      for (const { at, remove, insert } of edits) {
        const i = base.indexOf('"owner"') + (at % (mutated.length - base.indexOf('"owner"') + 1));
        mutated = mutated.slice(0, i) + insert + mutated.slice(i + remove);
      }
      agreesWithDecode(mutated);
    }), { numRuns: 5000 });
  });
});

describe('scanHit on TCP_CLOSE hits with life', () => {
  const OWNED = { owner: { pid: 7, comm: 'nginx', cgroup: '/a' }, attribution: 'socket' };
  const line = (life: unknown, owned: object = OWNED) => {
    const h = hit();
    return encodeEvent({ ...h, data: { ...h.data, args: { ...h.data.args, newstate: 'TCP_CLOSE' }, life, ...owned } } as Hit);
  };
  const count = fc.oneof(fc.integer({ min: -3, max: 100_000 }), fc.constantFrom(0, 2 ** 31 - 1, 2 ** 31, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, 2 ** 53 + 2, 1e16, 0.5));

  it('reads life as HitEncoder.life writes it, with or without an owner', () => {
    const life = { txBytes: Number.MAX_SAFE_INTEGER, rxBytes: 2, retrans: 0, srttUs: 2 ** 31 - 1 };
    expect(agreesWithDecode(line(life))).toBe(true);
    expect(agreesWithDecode(line(life, { attribution: 'unknown' }))).toBe(true);
    expect(agreesWithDecode(line(life, {}))).toBe(true);
  });

  it('never disagrees with decodeEvent, whatever the counts', () => {
    const life = fc.record({ txBytes: count, rxBytes: count, retrans: count, srttUs: count });
    fc.assert(fc.property(life, (l) => {
      const valid = Object.values(l).every((n) => Number.isSafeInteger(n) && n >= 0) && l.srttUs <= 2 ** 31 - 1;
      expect(agreesWithDecode(line(l))).toBe(valid);
    }), { numRuns: 2000 });
  });

  it('never disagrees with decodeEvent on mutated life lines', () => {
    const base = line({ txBytes: 1000, rxBytes: 20, retrans: 3, srttUs: 41 });
    const from = base.indexOf('"life"');
    const edit = fc.record({ at: fc.nat(), remove: fc.integer({ min: 0, max: 3 }), insert: fc.oneof(fc.constant(''), tricky, fc.constantFrom('0', '9', '-', '.', 'e5', '"', ',', '}', '{', 'txBytes', ',"x":1')) });
    fc.assert(fc.property(fc.array(edit, { minLength: 1, maxLength: 2 }), (edits) => {
      let mutated = base;
      for (const { at, remove, insert } of edits) {
        const i = from + (at % (mutated.length - from + 1));
        mutated = mutated.slice(0, i) + insert + mutated.slice(i + remove);
      }
      agreesWithDecode(mutated);
    }), { numRuns: 5000 });
  });
});
