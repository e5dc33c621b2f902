// `probefleet export` against the real PostgreSQL: a known fleet is ingested through the live code,
// then exported by the built CLI; the lines must be the envelopes the agents emitted, in store
// order, across more than one keyset page, and the filters and option errors must behave.
import { spawn } from 'node:child_process';
import type { UUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeEvent, encodeEvent, type Event, type EventData } from '@probefleet/events';
import { ingest } from './test-ingest';
import { createPrisma, type Db } from '../src/store/prisma';
import { createMigratedDatabase, type TempDatabase } from './temp-database';
import { record, testStream } from './streams';

const CLI = join(__dirname, '../dist/cli.js');
const BASE_S = Date.parse('2026-11-25T10:00:00Z') / 1000;

/** The i-th microsecond after BASE, with nanoseconds that PostgreSQL's microsecond column rounds away. */
const timeAt = (i: number): string => {
  const s = BASE_S + Math.floor(i / 1e6);
  return `${new Date(s * 1000).toISOString().slice(0, 19)}.${String(i % 1e6).padStart(6, '0')}001Z`;
};

interface Run { code: number | null; stdout: string; stderr: string }

function cli(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');
const decoded = (text: string): Event[] =>
  lines(text).map((l) => {
    const r = decodeEvent(l);
    if (!r.ok) throw new Error(`exported line does not decode: ${r.field}: ${r.reason}\n${l}`);
    return r.value;
  });

describe('probefleet export', () => {
  let tmp: TempDatabase;
  let db: Db;
  let dir: string;
  let env: Record<string, string>;
  /** Every event in the order it was stored (= id order). */
  const stored: Event[] = [];
  let tick = 0;
  /** One stream's events with distinct microsecond times (and nanoseconds, and monoNs beyond 2^53). */
  const stamp = (e: Event): Event => {
    tick += 7;
    return { ...e, time: timeAt(tick), monoNs: (2n ** 60n + BigInt(tick)).toString() } as Event;
  };
  const a1 = testStream('web-a');
  const a2 = testStream('web-a', a1.bootId as UUID); // the same boot: an agent restart
  const b = testStream('web-b');

  beforeAll(async () => {
    tmp = await createMigratedDatabase('probefleet_export');
    db = createPrisma(tmp.url);
    env = { DATABASE_URL: tmp.url };
    dir = mkdtempSync(join(tmpdir(), 'probefleet-export-'));
    const started = { kernelRelease: '6.12.1', arch: 'x86_64', agentVersion: '0.1.0', mode: 'kprobe' as const, capabilities: ['kprobe_events', 'btf'] };
    // The owner in every shape: none (an older agent), unknown, a full one, a pod by uid only, and
    // strings COPY must escape.
    const owned = (i: number): Pick<EventData<'probe.hit'>, 'owner' | 'attribution'> => ([
      {},
      { attribution: 'unknown' },
      { owner: { pid: 7, comm: 'nginx', cgroup: `/kubepods.slice/kubepods-pod${'0c3a9f1e_2b4d_4c8e_9a7f_1d2e3f4a5b6c'}.slice/cri-containerd-${'ab'.repeat(32)}.scope`,
        container: { id: 'ab'.repeat(32), runtime: 'containerd' }, pod: { namespace: 'shop', name: 'web-1', uid: '0c3a9f1e-2b4d-4c8e-9a7f-1d2e3f4a5b6c' } }, attribution: 'socket' },
      { owner: { pid: 100 + i, comm: 'a\tb\\c', cgroup: '/system.slice/caf\u00e9\n.service', pod: { uid: '0c3a9f1e-2b4d-4c8e-9a7f-1d2e3f4a5b6d' } }, attribution: 'direct' },
      { owner: { pid: 1, comm: '', cgroup: '' }, attribution: 'socket' },
    ] as const)[i % 5]!;
    const life = (s: typeof a1, hits: number): Event[] => [
      s.event('agent.started', started),
      s.event('probe.registered', { probe: 'tcp_set_state', kind: 'kprobe', symbol: 'tcp_set_state', offset: 0, address: '0xffffffff8206b250', insn: 'f30f1e', definition: 'p:probefleet/tcp_set_state tcp_set_state+0 sk=%di:x64 state=%si:s32' }),
      s.event('probe.armed', { probe: 'tcp_set_state' }),
      ...Array.from({ length: hits }, (_, i) => s.event('probe.hit', {
        probe: 'tcp_set_state', cpu: i % 2, pid: 100 + i, comm: i % 3 ? 'curl' : 'nginx: worker',
        ctx: { irqsOff: i % 2 === 0, needResched: false, hardirq: false, softirq: i % 5 === 0, nmi: false, preemptDepth: i % 3 },
        args: { skaddr: `0xffff8881${(i % 4096).toString(16).padStart(4, '0')}0000`, family: 'AF_INET6', saddr: '::1', daddr: '::1', sport: 40000 + (i % 20000), dport: 443, oldstate: 'TCP_SYN_SENT', newstate: 'TCP_ESTABLISHED' },
        // tcplife's counters (kprobe mode, at TCP_CLOSE), beyond 2^32 bytes too.
        ...(i % 7 === 0 ? { life: { txBytes: i * 1_000_003, rxBytes: 2 ** 40 + i, retrans: i % 3, srttUs: 1 + i } } : {}),
        ...owned(i),
      })),
      s.event('agent.heartbeat', { counters: { eventsRead: hits, spoolBytes: 0 } }),
      s.event('agent.loss', { overruns: [{ cpu: 1, count: 3 }] }),
      s.event('probe.disarmed', { probe: 'tcp_set_state' }),
      s.event('probe.unregistered', { probe: 'tcp_set_state' }),
      s.event('agent.stopped', { reason: 'SIGTERM' }),
    ];
    // More than two keyset pages (5000 rows), streams interleaved batch by batch as partitions are;
    // web-a's second agent starts once its first has stopped.
    const [first, other, second] = [life(a1, 4000), life(b, 5200), life(a2, 1500)].map((events) => events.map(stamp));
    const queues = [[...first!, ...second!], other!];
    let offset = 0;
    for (let at = 0; queues.some((q) => at < q.length); at += 700) {
      for (const q of queues) {
        // A batch holds one stream's consecutive events, as the agent sends them.
        const batch = q.slice(at, at + 700).filter((e, _, all) => e.instance === all[0]!.instance);
        const rest = q.slice(at + batch.length, at + 700);
        for (const part of [batch, rest]) {
          if (part.length === 0) continue;
          await ingest(db, [record(part, 0, offset++)]);
          stored.push(...part);
        }
      }
    }
  });

  afterAll(async () => {
    await db?.$disconnect();
    await tmp?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('writes every envelope exactly as emitted, in store order, to -o FILE', async () => {
    const file = join(dir, 'all.ndjson');
    const run = await cli(['export', '-o', file], env);
    expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 0, stdout: '' });
    expect(run.stderr).toContain(`exported ${stored.length} events`);
    const text = readFileSync(file, 'utf8');
    // Equal values: times to the nanosecond as the agent wrote them, monoNs beyond 2^53, every field.
    expect(decoded(text)).toEqual(stored);
    // And the same bytes as the agent's encoder wrote (jsonb reorders keys; export puts them back).
    const got = lines(text);
    const want = stored.map(encodeEvent);
    expect(got.filter((l, i) => l !== want[i])).toEqual([]);
    // Owned hits are typed rows too (their owner in the dictionary, each once per host), not generic events.
    const [owned] = await db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM tcp_transitions t JOIN tcp_owners o ON o.host = t.host AND o.id = t.owner_id
      WHERE t.attribution = 'direct' AND o.comm = ${'a\tb\\c'}`;
    expect(Number(owned!.n)).toBe(Math.floor((4000 + 5200 + 1500) / 5));
    const [nginx] = await db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM tcp_owners WHERE comm = 'nginx'`;
    expect(Number(nginx!.n)).toBe(2);
    expect(await db.tcpTransition.count({ where: { txBytes: { not: null } } })).toBe(Math.ceil(4000 / 7) + Math.ceil(5200 / 7) + Math.ceil(1500 / 7));
    expect(await db.event.count({ where: { type: 'probe.hit' } })).toBe(0);
  });

  it('writes to stdout by default', async () => {
    const run = await cli(['export', '--host', 'web-b'], env);
    expect(run.code).toBe(0);
    expect(decoded(run.stdout)).toEqual(stored.filter((e) => e.host === 'web-b'));
  });

  it('filters by host, instance and event time [from, to)', async () => {
    const byHost = await cli(['export', '--host', 'web-a'], env);
    expect(decoded(byHost.stdout)).toEqual(stored.filter((e) => e.host === 'web-a'));

    const byInstance = await cli(['export', '--instance', a2.instance.toUpperCase()], env);
    expect(decoded(byInstance.stdout)).toEqual(stored.filter((e) => e.instance === a2.instance));

    // Microsecond bounds: from is inclusive, to exclusive; the times' nanoseconds do not move them.
    const from = stored[3000]!.time.slice(0, 26) + 'Z';
    const to = stored[9000]!.time.slice(0, 26) + 'Z';
    const byTime = await cli(['export', '--from', from, '--to', to], env);
    const want = stored.filter((e) => e.time >= stored[3000]!.time && e.time < stored[9000]!.time);
    expect(want.length).toBeGreaterThan(5000);
    expect(decoded(byTime.stdout)).toEqual(want);

    const combined = await cli(['export', '--host', 'web-b', '--from', from, '--to', to], env);
    expect(decoded(combined.stdout)).toEqual(want.filter((e) => e.host === 'web-b'));

    const none = await cli(['export', '--host', 'nowhere'], env);
    expect({ code: none.code, stdout: none.stdout }).toEqual({ code: 0, stdout: '' });
  });

  it('a bad option: exit 1 naming it, nothing written', async () => {
    const cases: [string[], RegExp][] = [
      [['--from', 'yesterday'], /^export: --from: expected an RFC 3339 time/m],
      [['--to', '2026-11-25 10:00'], /^export: --to: expected an RFC 3339 time/m],
      [['--instance', 'web-a'], /^export: --instance: expected an agent instance UUID/m],
      [['--host', ''], /^export: --host: expected a host name/m],
      [['--from', '2026-11-25T10:00:01Z', '--to', '2026-11-25T10:00:00Z'], /^export: --to: expected a time after --from/m],
    ];
    for (const [args, message] of cases) {
      const run = await cli(['export', ...args], env);
      expect({ args, code: run.code, stdout: run.stdout }).toEqual({ args, code: 1, stdout: '' });
      expect(run.stderr).toMatch(message);
    }
    const unwritable = await cli(['export', '-o', join(dir, 'no-such-dir', 'x.ndjson')], env);
    expect(unwritable.code).toBe(1);
    expect(unwritable.stderr).toMatch(/ENOENT.*no-such-dir/);
    const noDb = await cli(['export'], { DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/nothing' });
    expect(noDb.code).toBe(1);
    expect(noDb.stderr).toMatch(/^probefleet: /m);
  });

  it('replays: the export of a whole store folds through `probefleet replay` without a violation', async () => {
    const file = join(dir, 'replay.ndjson');
    expect((await cli(['export', '-o', file], env)).code).toBe(0);
    const run = await cli(['replay', file], env);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    // Every agent stopped cleanly: both hosts are known, with nothing registered.
    expect(JSON.parse(run.stdout)).toEqual({ hosts: { 'web-a': { probes: {}, text: {} }, 'web-b': { probes: {}, text: {} } } });
  });
});
