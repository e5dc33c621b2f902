// How each kprobe was armed (issue 18), through the real store: probe.armed's mechanism and real
// address and probe.state's flags fold through the kprobe model into the probes projection and
// come out of GET /api/v1/probes; a batch split anywhere gives the same rows (hydrated from them).
import type { Event } from '@probefleet/events';
import { createPrisma, type Db } from '../src/store/prisma';
import { startApi, type ApiUnderTest } from './api-app';
import { ingest } from './test-ingest';
import { createMigratedDatabase, type TempDatabase } from './temp-database';
import { record, testStream } from './streams';

// Debian 6.12: tcp_set_state+0 is moved past endbr64 to +4 and armed through ftrace; a user probe at
// +0x16 starts as an int3 and is optimized (the lab's capture); a module's kprobe has a post_handler.
const BASE = 0xffffffff9c3422a0n;
const at = (offset: number) => `0x${(BASE + BigInt(offset)).toString(16)}`;

function lifecycle(host: string): Event[] {
  const s = testStream(host);
  const started = { kernelRelease: '6.12.118+deb12-amd64', arch: 'x86_64', agentVersion: '0.1.0', mode: 'kprobe' as const, capabilities: ['kprobe_events'] };
  const kprobe = (probe: string, offset: number, extra = {}) => ({ probe, kind: 'kprobe' as const, symbol: 'tcp_set_state', offset, address: at(offset), ...extra });
  return [
    s.event('agent.started', started),
    s.event('probe.registered', kprobe('tcp_set_state', 0)),
    s.event('probe.registered', kprobe('later', 0x16)),
    s.event('probe.registered', kprobe('module_probe', 0x9, { postHandler: true })),
    s.event('probe.armed', { probe: 'tcp_set_state', mechanism: 'ftrace', address: at(4) }),
    s.event('probe.armed', { probe: 'later', mechanism: 'int3', address: at(0x16) }),
    s.event('probe.armed', { probe: 'module_probe', mechanism: 'int3', address: at(0x9) }),
    s.event('probe.state', { probe: 'later', mechanism: 'optimized', disabled: false, gone: false }),
    // Impossible: the optimizer never optimizes a kprobe with a post_handler. Refused, not applied.
    s.event('probe.state', { probe: 'module_probe', mechanism: 'optimized', disabled: false, gone: false }),
  ];
}

describe('probes projection: mechanism and flags', () => {
  let tmp: TempDatabase;
  let db: Db;
  let api: ApiUnderTest;
  let offset = 0;

  beforeAll(async () => {
    tmp = await createMigratedDatabase('probefleet_probes_mechanism');
    db = createPrisma(tmp.url);
    api = await startApi(tmp.url);
  });
  afterAll(async () => {
    await api?.close();
    await db?.$disconnect();
    await tmp?.drop();
  });

  const expected = (host: string) => [
    { host, name: 'later', address: at(0x16), armed: true, mechanism: 'optimized', postHandler: false, disabled: false, gone: false },
    { host, name: 'module_probe', address: at(0x9), armed: true, mechanism: 'int3', postHandler: true, disabled: false, gone: false },
    { host, name: 'tcp_set_state', address: at(4), armed: true, mechanism: 'ftrace', postHandler: false, disabled: false, gone: false },
  ];

  it('stores the mechanism, the real address and the flags, and refuses an optimized post_handler', async () => {
    const r = await ingest(db, [record(lifecycle('mech-one'), 0, offset++)]);
    expect(r.violations).toEqual([expect.objectContaining({ seq: 9, reason: expect.stringMatching(/post_handler: a kprobe with a post_handler is never optimized/) })]);
    const { status, body } = await api.get('/api/v1/probes', { host: 'mech-one' });
    expect(status).toBe(200);
    expect(body.items).toEqual(expected('mech-one').map((p) => expect.objectContaining(p)));
  });

  it('gives the same rows when every event comes in its own batch (hydrated from the rows each time)', async () => {
    for (const e of lifecycle('mech-split')) await ingest(db, [record([e], 0, offset++)]);
    const { body } = await api.get('/api/v1/probes', { host: 'mech-split' });
    expect(body.items).toEqual(expected('mech-split').map((p) => expect.objectContaining(p)));
  });

  it('reports [DISABLED] and [GONE] and keeps older probes without a mechanism as null', async () => {
    const s = testStream('mech-flags');
    await ingest(db, [record([
      s.event('probe.registered', { probe: 'old', kind: 'kprobe', symbol: 'tcp_v4_connect', offset: 0, address: at(0x100) }),
      s.event('probe.armed', { probe: 'old' }),
      s.event('probe.registered', { probe: 'mod', kind: 'kprobe', symbol: 'tcp_set_state', offset: 9, address: at(9) }),
      s.event('probe.armed', { probe: 'mod', mechanism: 'int3', address: at(9) }),
      s.event('probe.state', { probe: 'mod', mechanism: 'int3', disabled: false, gone: true }),
    ], 0, offset++)]);
    const { body } = await api.get('/api/v1/probes', { host: 'mech-flags' });
    expect(body.items).toEqual([
      expect.objectContaining({ name: 'mod', mechanism: 'int3', gone: true, disabled: false }),
      expect.objectContaining({ name: 'old', mechanism: null, gone: false, disabled: false, postHandler: false }),
    ]);
  });
});
