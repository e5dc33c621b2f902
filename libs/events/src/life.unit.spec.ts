import fc from 'fast-check';
import { decodeEventValue, EVENT_SCHEMAS, HitEncoder, type Life, type Owner } from './index';
import { SAMPLES } from '../test/samples';

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;
const LIFE: Life = { txBytes: 1000, rxBytes: 20000, retrans: 2, srttUs: 57 };
const OWNER: Owner = { pid: 4242, comm: 'nginx', cgroup: '/system.slice/nginx.service' };
const hit = SAMPLES['probe.hit'];
const closing = { ...hit, data: { ...hit.data, args: { ...hit.data.args, newstate: 'TCP_CLOSE' }, life: LIFE, owner: OWNER, attribution: 'socket' } };

describe('life contract (tcplife columns on the TCP_CLOSE hit)', () => {
  it('the encoder writes life after args and before owner and attribution, as JSON.stringify would', () => {
    const enc = new HitEncoder();
    const d = closing.data;
    const json = enc.data(d.probe, d.cpu, d.pid, d.comm, d.ctx, enc.tcpArgs(d.args as never), enc.life(LIFE) + enc.owned(OWNER, 'socket'));
    expect(json).toBe(JSON.stringify(d));
    expect(Object.keys(JSON.parse(json) as object)).toEqual(['probe', 'cpu', 'pid', 'comm', 'ctx', 'args', 'life', 'owner', 'attribution']);
    expect(enc.life(undefined)).toBe('');
    expect(decodeEventValue(clone(closing))).toMatchObject({ ok: true, value: { data: { life: LIFE } } });
  });

  it.each([
    ['a negative count', { ...LIFE, txBytes: -1 }, 'data.life.txBytes'],
    ['a fraction', { ...LIFE, srttUs: 1.5 }, 'data.life.srttUs'],
    ['a count above 2^53 - 1', { ...LIFE, rxBytes: 2 ** 53 }, 'data.life.rxBytes'],
    ['an RTT above 2^31 - 1 µs', { ...LIFE, srttUs: 2 ** 31 }, 'data.life.srttUs'],
    ['a missing key', { txBytes: 1, rxBytes: 2, retrans: 0 }, 'data.life.srttUs'],
    ['an extra key', { ...LIFE, extra: 1 }, 'data.life.extra'],
    ['a string', { ...LIFE, retrans: '2' }, 'data.life.retrans'],
  ])('refuses %s', (_n, life, field) => {
    expect(decodeEventValue({ ...closing, data: { ...closing.data, life } })).toMatchObject({ ok: false, field });
  });

  // Mutations of a hit with life; the fast path must agree with the schema on each.
  const mutation = fc.record({
    path: fc.constantFrom(['data'] as string[], ['data', 'life']),
    key: fc.constantFrom('life', 'txBytes', 'rxBytes', 'retrans', 'srttUs', 'owner', 'extra'),
    value: fc.oneof(fc.jsonValue(), fc.constant(undefined), fc.integer({ min: -1, max: 3 }), fc.constantFrom(-0, 0.5, 2 ** 31 - 1, 2 ** 31, 2 ** 53 - 1, 2 ** 53, Number.NaN, '1', null)),
  });

  it('the fast path accepts exactly what the zod schema accepts', () => {
    fc.assert(
      fc.property(fc.array(mutation, { maxLength: 3 }), (mutations) => {
        const event = clone(closing) as unknown as Record<string, unknown>;
        for (const { path, key, value } of mutations) {
          let target: unknown = event;
          for (const step of path) target = (target as Record<string, unknown>)?.[step];
          if (typeof target === 'object' && target !== null) (target as Record<string, unknown>)[key] = value;
        }
        expect(decodeEventValue(event).ok).toBe(EVENT_SCHEMAS['probe.hit'].safeParse(event).success);
      }),
      { numRuns: 3000 },
    );
  });
});
