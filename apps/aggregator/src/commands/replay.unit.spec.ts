import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { encodeEvent, type Event } from '@probefleet/events';
import { testStream } from '../../test/streams';
import { runReplay } from './replay';

const FIXTURES = join(__dirname, '../../../../test/fixtures/replay');
const CLI = join(__dirname, '../../dist/cli.js');
const fixture = (name: string) => join(FIXTURES, name);
const expected = (name: string): Record<string, { line: number; reason?: string; field?: string }> =>
  JSON.parse(readFileSync(fixture(name.replace(/\.ndjson$/, '.expected.json')), 'utf8'));

async function capture(file: string, stdin?: NodeJS.ReadableStream) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runReplay(file, { out: (t) => out.push(t), err: (t) => err.push(t) }, stdin);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const TCP = { family: 'AF_INET', saddr: '127.0.0.1', daddr: '127.0.0.1', sport: 0, dport: 80, oldstate: 'TCP_CLOSE', newstate: 'TCP_SYN_SENT' } as const;

/**
 * What `probefleet export` gives for a small fleet: per host, its streams one after the other (an
 * agent restart: the first stops cleanly, the next registers again); `hits` per stream.
 */
function fleet(): Record<string, Event[]> {
  const byHost: Record<string, Event[]> = {};
  const started = (mode: 'kprobe' | 'tracepoint') => ({ kernelRelease: '6.12.1', arch: 'x86_64', agentVersion: '0.1.0', mode, capabilities: [] });
  for (const [host, mode, hits] of [['web-a', 'kprobe', [4, 6]], ['web-b', 'tracepoint', [5]], ['web-c', 'kprobe', [3, 2, 7]]] as const) {
    const bootId = randomUUID();
    const events: Event[] = [];
    hits.forEach((n, run) => {
      const s = testStream(host, bootId);
      const probe = mode === 'kprobe' ? 'probefleet/tcp_set_state' : 'inet_sock_set_state';
      events.push(
        s.event('agent.started', started(mode)),
        mode === 'kprobe'
          ? s.event('probe.registered', { probe, kind: 'kprobe', symbol: 'tcp_set_state', offset: 0, address: '0xffffffff8206b250', insn: 'f30f1e' })
          : s.event('probe.registered', { probe, kind: 'tracepoint', symbol: 'sock:inet_sock_set_state', offset: 0 }),
        s.event('probe.armed', { probe }),
      );
      for (let i = 0; i < n; i++) {
        events.push(s.event('probe.hit', { probe, cpu: i % 2, pid: 100 + i, comm: 'curl', args: { skaddr: `0xffff88810000${i}000`, ...TCP } }));
      }
      events.push(s.event('agent.heartbeat', { counters: { eventsRead: n } }));
      // Every run but the last stops cleanly: the next one registers the probe again.
      if (run < hits.length - 1) {
        events.push(s.event('probe.disarmed', { probe }), s.event('probe.unregistered', { probe }), s.event('agent.stopped', { reason: 'SIGTERM' }));
      }
    });
    byHost[host] = events;
  }
  return byHost;
}

/** The hosts' events interleaved one by one, each host's own order kept (as the store mixes partitions). */
function interleave(byHost: Record<string, Event[]>): Event[] {
  const queues = Object.values(byHost).map((events) => [...events]);
  const out: Event[] = [];
  while (queues.some((q) => q.length > 0)) for (const q of queues) if (q.length > 0) out.push(q.shift() as Event);
  return out;
}

describe('probefleet replay', () => {
  const streams = readdirSync(FIXTURES).filter((name) => name.endsWith('.ndjson'));

  it.each(streams.filter((name) => !/^(violation|invalid)-/.test(name)))('%s prints the golden state, exit 0', async (name) => {
    const { code, out, err } = await capture(fixture(name));
    expect({ code, err }).toEqual({ code: 0, err: '' });
    expect(JSON.parse(out)).toEqual(expected(name));
  });

  it.each(streams.filter((name) => name.startsWith('violation-')))('%s reports the line and reason, exit 1', async (name) => {
    const { violation } = expected(name);
    expect(await capture(fixture(name))).toEqual({ code: 1, out: '', err: `line ${violation?.line}: ${violation?.reason}` });
  });

  it.each(streams.filter((name) => name.startsWith('invalid-')))('%s reports the line and field, exit 2', async (name) => {
    const { invalid } = expected(name);
    const { code, out, err } = await capture(fixture(name));
    expect({ code, out }).toEqual({ code: 2, out: '' });
    expect(err).toMatch(new RegExp(`^line ${invalid?.line}: invalid event: ${invalid?.field || '\\(event\\)'}: `));
  });

  describe('a whole multi-host export', () => {
    let dir = '';
    const write = (name: string, events: Event[]) => {
      const file = join(dir, name);
      writeFileSync(file, events.map((e) => `${encodeEvent(e)}\n`).join(''));
      return file;
    };
    beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'replay-fleet-'))));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('folds every host and stream, interleaved: exit 0, each host as if replayed alone', async () => {
      const byHost = fleet();
      const all = await capture(write('fleet.ndjson', interleave(byHost)));
      expect({ code: all.code, err: all.err }).toEqual({ code: 0, err: '' });
      const state = JSON.parse(all.out) as { hosts: Record<string, { probes: Record<string, { armed: boolean; hits: number; address: string | null }> }> };
      // The last run of each host holds the probe, armed, with that run's hits only.
      expect(state.hosts['web-a']?.probes).toEqual({ 'probefleet/tcp_set_state': expect.objectContaining({ armed: true, hits: 6, address: '0xffffffff8206b250' }) });
      expect(state.hosts['web-b']?.probes).toEqual({ inet_sock_set_state: expect.objectContaining({ armed: true, hits: 5, address: null }) });
      expect(state.hosts['web-c']?.probes).toEqual({ 'probefleet/tcp_set_state': expect.objectContaining({ armed: true, hits: 7 }) });
      for (const [host, events] of Object.entries(byHost)) {
        const alone = await capture(write(`${host}.ndjson`, events));
        expect(JSON.parse(alone.out).hosts[host]).toEqual(state.hosts[host]);
      }
    });

    it('reads stdin for -', async () => {
      const text = interleave(fleet()).map((e) => `${encodeEvent(e)}\n`).join('');
      const { code, out } = await capture('-', Readable.from([text]));
      expect(code).toBe(0);
      expect(Object.keys(JSON.parse(out).hosts)).toEqual(['web-a', 'web-b', 'web-c']);
    });
  });

  it('exits 2 on a file it cannot read', async () => {
    expect(await capture(fixture('missing.ndjson'))).toMatchObject({ code: 2, err: expect.stringContaining('cannot read') });
  });

  it('runs as the built executable', () => {
    const ok = spawnSync(process.execPath, [CLI, 'replay', fixture('misses.ndjson')], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual(expected('misses.ndjson'));
    const bad = spawnSync(process.execPath, [CLI, 'replay', fixture('violation-seq-gap.ndjson')], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^line 3: seq gap in stream web-1\//);
  });
});
