import fc from 'fast-check';
import { decodeEventValue, EVENT_SCHEMAS, HitEncoder, ownerJson, ownerInOrder, OwnerSchema, type Owner } from './index';
import { SAMPLES } from '../test/samples';

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;
const OWNER: Owner = {
  pid: 4242,
  comm: 'nginx',
  cgroup: '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0c3a9f1e_2b4d_4c8e_9a7f_1d2e3f4a5b6c.slice/cri-containerd-' + 'a'.repeat(64) + '.scope',
  container: { id: 'a'.repeat(64), runtime: 'containerd' },
  pod: { namespace: 'shop', name: 'web-7d9f', uid: '0c3a9f1e-2b4d-4c8e-9a7f-1d2e3f4a5b6c' },
};
const owned = { ...SAMPLES['probe.hit'], data: { ...SAMPLES['probe.hit'].data, owner: OWNER, attribution: 'socket' } };

describe('owner contract', () => {
  it('an owned hit decodes, and its owner is spelled as JSON.stringify would', () => {
    expect(decodeEventValue(clone(owned)).ok).toBe(true);
    expect(ownerJson(OWNER)).toBe(JSON.stringify(OWNER));
    const partial: Owner = { pid: 1, comm: 'a"b', cgroup: '', pod: { uid: OWNER.pod!.uid } };
    expect(ownerJson(partial)).toBe(JSON.stringify(partial));
    expect(JSON.stringify(ownerInOrder({ pod: OWNER.pod, cgroup: OWNER.cgroup, comm: 'nginx', pid: 4242, container: { runtime: 'containerd', id: 'a'.repeat(64) } } as Owner))).toBe(JSON.stringify(OWNER));
  });

  it('the encoder writes owner and attribution after args', () => {
    const enc = new HitEncoder();
    const d = SAMPLES['probe.hit'].data;
    const json = enc.data(d.probe, d.cpu, d.pid, d.comm, d.ctx, enc.tcpArgs(d.args as never), enc.owned(OWNER, 'direct'));
    expect(json).toBe(JSON.stringify({ ...d, owner: OWNER, attribution: 'direct' }));
    expect(enc.data(d.probe, d.cpu, d.pid, d.comm, d.ctx, enc.tcpArgs(d.args as never), enc.owned(undefined, 'unknown'))).toBe(JSON.stringify({ ...d, attribution: 'unknown' }));
  });

  it.each([
    ['an owner with attribution unknown', { owner: OWNER, attribution: 'unknown' }, 'data.attribution'],
    ['an owner without attribution', { owner: OWNER }, 'data.attribution'],
    ['socket without an owner', { attribution: 'socket' }, 'data.owner'],
    ['a comm of 16 bytes', { owner: { ...OWNER, comm: 'x'.repeat(16) }, attribution: 'direct' }, 'data.owner.comm'],
    ['pid 0', { owner: { ...OWNER, pid: 0 }, attribution: 'direct' }, 'data.owner.pid'],
    ['an unknown runtime', { owner: { ...OWNER, container: { id: 'x', runtime: 'lxc' } }, attribution: 'direct' }, 'data.owner.container.runtime'],
  ])('refuses %s', (_n, extra, field) => {
    const r = decodeEventValue({ ...SAMPLES['probe.hit'], data: { ...SAMPLES['probe.hit'].data, ...extra } });
    expect(r).toMatchObject({ ok: false, field });
  });

  // Mutations of an owned hit; the fast path must agree with the schema on each.
  const mutation = fc.record({
    path: fc.constantFrom(['data'] as string[], ['data', 'owner'], ['data', 'owner', 'container'], ['data', 'owner', 'pod']),
    key: fc.constantFrom('owner', 'attribution', 'pid', 'comm', 'cgroup', 'container', 'pod', 'id', 'runtime', 'namespace', 'name', 'uid', 'extra'),
    value: fc.oneof(fc.jsonValue(), fc.constant(undefined), fc.integer({ min: -1, max: 3 }), fc.constantFrom('direct', 'socket', 'unknown', 'docker', '', 'x'.repeat(300), OWNER.pod!.uid)),
  });

  it('the fast path accepts exactly what the zod schema accepts', () => {
    fc.assert(
      fc.property(fc.array(mutation, { maxLength: 3 }), (mutations) => {
        const event = clone(owned) as unknown as Record<string, unknown>;
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

  it('ownerJson is JSON.stringify of any valid owner', () => {
    const arb = fc.record({
      pid: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      comm: fc.string({ maxLength: 5 }),
      cgroup: fc.string({ maxLength: 40 }),
    });
    fc.assert(fc.property(arb, (o) => {
      if (OwnerSchema.safeParse(o).success) expect(ownerJson(o)).toBe(JSON.stringify(o));
    }));
  });
});
