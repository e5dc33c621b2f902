// The built agent in kprobe mode on real kernels (stock Debian 6.1 and 6.12 under qemu), one boot
// per kernel, both at once: `probes render --mode kprobe`, a `run` while the guest makes loopback
// connections (IPv4, IPv6, refused), and a run with a user probe on a missing symbol that the kernel
// refuses, then a run killed with -9 and the run after it. KERNEL_LAB_FIXTURES=1 saves the run's output as test/fixtures/kernels/<release>/agent-run.ndjson.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodeEvent, type Event } from '@probefleet/events';
import { replay } from '@probefleet/kprobe-model';
import { bootPerSeries, BootResult, KERNEL_SERIES, parseEvents, REPO_ROOT } from './lab';

const BOOT_TIMEOUT_MS = 300_000;
const PORTS = { v4: 41201, v6: 41202, refused4: 41203, refused6: 41204 };
/** Refused while no agent runs (between the kill -9 and the next run). */
const BLIND_PORT = 41205;
const AGENT = 'apps/agent/dist/main.js';
// From process start: under TCG with both guests booting, start-up alone has taken 10 s.
const RUN_SECONDS = 25;
const USER_PROBE = 'connect_v4';

const GOOD_CONFIG = `probes:
  - name: ${USER_PROBE}
    symbol: tcp_v4_connect
    args:
      - { name: sk, fetch: "%di", type: x64 }
      - { name: addrlen, fetch: "%dx", type: s32 }
`;
const BAD_CONFIG = `probes:
  - name: missing
    symbol: probefleet_no_such_function
    args: [{ name: sk, fetch: "%di", type: x64 }]
`;

// busybox sh in the guest; the agent runs from the host root through `inhost`.
const GUEST_SCRIPT = `set -u
T=/sys/kernel/tracing
grep -w tcp_set_state /proc/kallsyms > /share/kallsyms-tcp_set_state
grep -w tcp_v4_connect /proc/kallsyms > /share/kallsyms-tcp_v4_connect
grep -w inet_csk_accept /proc/kallsyms > /share/kallsyms-inet_csk_accept
inhost "$NODE" ${AGENT} probes render --mode kprobe --config "$CHROOT_SHARE/good.yaml" --json > /share/render.json 2> /share/render.log
inhost "$NODE" ${AGENT} run --mode kprobe --config "$CHROOT_SHARE/good.yaml" --sink stdout --format json --duration ${RUN_SECONDS} > /share/agent-run.ndjson 2> /share/agent-run.log &
AGENT_PID=$!
ARMED=3 inhost "$NODE" test/kernel-lab/guest/agent-connect.js "$CHROOT_SHARE/agent-run.ndjson" "$CHROOT_SHARE/ports.json" "$CHROOT_SHARE/connections.json"
wait $AGENT_PID; echo $? > /share/agent-run.rc
cat $T/kprobe_events > /share/kprobe_events.after
ls $T/instances > /share/instances.after
inhost "$NODE" ${AGENT} run --mode kprobe --config "$CHROOT_SHARE/bad.yaml" --sink stdout --format json --duration 5 > /share/bad-run.ndjson 2> /share/bad-run.log
echo $? > /share/bad-run.rc
cat $T/kprobe_events > /share/kprobe_events.bad-after
ls $T/instances > /share/instances.bad-after
# The files exist before the background job opens them (ash redirects in the child): the wait
# below must not read a missing file as "done".
: > /share/crash-run.ndjson; : > /share/crash-run.log
inhost "$NODE" ${AGENT} run --mode kprobe --config "$CHROOT_SHARE/good.yaml" --sink stdout --format json --duration 120 >> /share/crash-run.ndjson 2>> /share/crash-run.log &
CRASH_PID=$!
i=0
armed() { n=$(grep -c '"type":"probe.armed"' /share/crash-run.ndjson 2>/dev/null); echo "\${n:-0}"; }
while [ $i -lt 100 ] && [ "$(armed)" -lt 3 ]; do sleep 1; i=$((i+1)); done
kill -9 $CRASH_PID; wait $CRASH_PID
cat $T/kprobe_events > /share/kprobe_events.crashed
inhost "$NODE" -e "require('net').connect(${BLIND_PORT}, '127.0.0.1').on('error', () => {})"
inhost "$NODE" ${AGENT} run --mode kprobe --config "$CHROOT_SHARE/good.yaml" --sink stdout --format json --duration ${RUN_SECONDS} > /share/restart-run.ndjson 2> /share/restart-run.log
echo $? > /share/restart-run.rc
cat $T/kprobe_events > /share/kprobe_events.restart-after
ls $T/instances > /share/instances.restart-after
`;

const runFor = bootPerSeries({
  guestScript: GUEST_SCRIPT,
  files: { 'good.yaml': GOOD_CONFIG, 'bad.yaml': BAD_CONFIG, 'ports.json': JSON.stringify(PORTS) },
  timeoutMs: BOOT_TIMEOUT_MS,
});

/** The stream without hits, misses and losses: `type probe`. */
const lifecycleOf = (events: Event[]) =>
  events.filter((e) => e.type !== 'probe.hit' && e.type !== 'probe.missed' && e.type !== 'agent.loss').map((e) => `${e.type} ${'probe' in e.data ? e.data.probe : ''}`.trim());

type Hit = { skaddr: string; family: string; saddr: string; daddr: string; sport: number; dport: number; oldstate: string; newstate: string };
const transition = (h: Hit) => `${h.oldstate.replace('TCP_', '')}->${h.newstate.replace('TCP_', '')}`;

/** Transitions of one port's sockets by role: the listener (no peer), the accepted child, the client. */
function bySocket(events: Event[], port: number): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const skaddrs: Record<string, Set<string>> = {};
  const seen: [number, number, Hit][] = []; // named in the error, to tell a second socket from a misread record
  for (const e of events) {
    if (e.type !== 'probe.hit' || e.data.probe !== 'tcp_set_state') continue;
    const h = e.data.args as unknown as Hit;
    const role = h.dport === port ? 'client' : h.sport === port ? (h.dport === 0 ? 'listener' : 'child') : null;
    if (!role) continue;
    (out[role] ??= []).push(transition(h));
    (skaddrs[role] ??= new Set()).add(h.skaddr);
    seen.push([e.seq, e.data.cpu, h]);
  }
  for (const [role, s] of Object.entries(skaddrs)) if (s.size !== 1) throw new Error(`port ${port}: ${s.size} ${role} sockets: ${JSON.stringify(seen)}`);
  return out;
}

// tcp_set_state does not see CLOSE->LISTEN (inet_csk_listen_start) nor the child's creation in
// SYN_RECV (inet_csk_clone_lock): see apps/agent/README.md.
const ACCEPTED = {
  listener: ['LISTEN->CLOSE'],
  client: ['CLOSE->SYN_SENT', 'SYN_SENT->ESTABLISHED', 'ESTABLISHED->CLOSE_WAIT', 'CLOSE_WAIT->LAST_ACK', 'LAST_ACK->CLOSE'],
  child: ['SYN_RECV->ESTABLISHED', 'ESTABLISHED->FIN_WAIT1', 'FIN_WAIT1->FIN_WAIT2', 'FIN_WAIT2->CLOSE'],
};
const REFUSED = { client: ['CLOSE->SYN_SENT', 'SYN_SENT->CLOSE'] };

const kallsymsAddress = (text: string) => `0x${(/^([0-9a-f]{16}) [Tt] /m.exec(text)?.[1] ?? '').replace(/^0+/, '')}`;

beforeAll(() => {
  if (!fs.existsSync(path.join(REPO_ROOT, AGENT))) throw new Error(`${AGENT} missing: run \`npx nx build @probefleet/agent\` first`);
  for (const s of KERNEL_SERIES) void runFor(s); // TCG: one host core per guest, boot both at once
});

describe.each(KERNEL_SERIES)('probefleet-agent in kprobe mode on the Debian %s generic kernel', (series) => {
  let r: BootResult;
  let events: Event[];

  beforeAll(async () => {
    r = await runFor(series);
    events = parseEvents(r.read('agent-run.ndjson'));
    if (process.env['KERNEL_LAB_FIXTURES'] === '1') {
      const dir = path.join(REPO_ROOT, 'test', 'fixtures', 'kernels', r.kernelRelease);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'agent-run.ndjson'), r.read('agent-run.ndjson'));
    }
  }, BOOT_TIMEOUT_MS + 60_000);
  afterAll(() => r?.cleanup());

  it('renders lines the kernel accepts: the run registered exactly them, with kallsyms addresses', () => {
    const render = JSON.parse(r.read('render.json')) as { mode: string; lines: string[] };
    expect(render.mode).toBe('kprobe');
    expect(render.lines).toHaveLength(3);
    const registered = events.filter((e) => e.type === 'probe.registered');
    expect(registered.map((e) => e.type === 'probe.registered' && e.data.definition)).toEqual(render.lines);
    expect(registered.map((e) => e.data)).toEqual([
      expect.objectContaining({ probe: 'tcp_set_state', kind: 'kprobe', symbol: 'tcp_set_state', offset: 0, address: kallsymsAddress(r.read('kallsyms-tcp_set_state')) }),
      expect.objectContaining({ probe: 'inet_csk_accept', kind: 'kretprobe', symbol: 'inet_csk_accept', offset: 0, address: kallsymsAddress(r.read('kallsyms-inet_csk_accept')) }),
      expect.objectContaining({ probe: USER_PROBE, kind: 'kprobe', symbol: 'tcp_v4_connect', offset: 0, address: kallsymsAddress(r.read('kallsyms-tcp_v4_connect')) }),
    ]);
  });

  it('streams a complete, gap-free run: started, registered, armed, hits, disarmed, unregistered, stopped', () => {
    expect(r.read('agent-run.rc').trim()).toBe('0');
    const refused = { ok: true, code: 'ECONNREFUSED' };
    expect(JSON.parse(r.read('connections.json'))).toEqual({ v4: { ok: true }, v6: { ok: true }, refused4: refused, refused6: refused });
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events[0]).toMatchObject({ type: 'agent.started', data: { mode: 'kprobe', kernelRelease: r.kernelRelease, capabilities: expect.arrayContaining(['kprobe_events', 'btf']) } });
    expect(events[events.length - 1]).toMatchObject({ type: 'agent.stopped', data: { reason: 'duration elapsed' } });
    expect(lifecycleOf(events)).toEqual([
      'agent.started',
      'probe.registered tcp_set_state', 'probe.registered inet_csk_accept', `probe.registered ${USER_PROBE}`,
      'probe.armed tcp_set_state', 'probe.armed inet_csk_accept', `probe.armed ${USER_PROBE}`,
      'probe.disarmed tcp_set_state', 'probe.disarmed inet_csk_accept', `probe.disarmed ${USER_PROBE}`,
      'probe.unregistered tcp_set_state', 'probe.unregistered inet_csk_accept', `probe.unregistered ${USER_PROBE}`,
      'agent.stopped',
    ]);
  });

  it('decodes the connections to the right ports, states and addresses', () => {
    expect(bySocket(events, PORTS.v4)).toEqual(ACCEPTED);
    expect(bySocket(events, PORTS.v6)).toEqual(ACCEPTED);
    expect(bySocket(events, PORTS.refused4)).toEqual(REFUSED);
    expect(bySocket(events, PORTS.refused6)).toEqual(REFUSED);
    const args = (port: number, family: string) =>
      events.flatMap((e) => (e.type === 'probe.hit' && (e.data.args as unknown as Hit).dport === port ? [e.data.args] : [])).find((a) => a['newstate'] === 'TCP_ESTABLISHED' && a['family'] === family);
    expect(args(PORTS.v4, 'AF_INET')).toMatchObject({ saddr: '127.0.0.1', daddr: '127.0.0.1' });
    expect(args(PORTS.v6, 'AF_INET6')).toMatchObject({ saddr: '::1', daddr: '::1' });
  });

  it('reports user probe hits with typed args (IPv4 connects only)', () => {
    const hits = events.filter((e) => e.type === 'probe.hit' && e.data.probe === USER_PROBE);
    expect(hits.length).toBeGreaterThanOrEqual(2); // accepted + refused IPv4 connect
    for (const h of hits) expect(h.type === 'probe.hit' && h.data.args).toEqual({ sk: expect.stringMatching(/^0x[0-9a-f]+$/), addrlen: 16 });
  });

  it('leaves nothing in kprobe_events or instances after the run', () => {
    expect(r.read('kprobe_events.after')).toBe('');
    expect(r.read('instances.after')).toBe('');
  });

  it('after a kill -9, the next run reports what the crashed run\'s probes recorded since, takes them down and says so: both streams replay', () => {
    const crashed = parseEvents(r.read('crash-run.ndjson'));
    const armed = crashed.filter((e) => e.type === 'probe.armed').length;
    if (armed !== 3) throw new Error(`the run was killed with ${armed} of 3 probes armed; its log:\n${r.read('crash-run.log')}`);
    expect(crashed.some((e) => e.type === 'agent.stopped')).toBe(false);
    expect(r.read('kprobe_events.crashed')).toContain('p:probefleet/tcp_set_state ');
    expect(r.read('restart-run.rc').trim()).toBe('0');
    const next = parseEvents(r.read('restart-run.ndjson'));
    expect(lifecycleOf(next).slice(0, 8)).toEqual([
      'agent.started',
      'probe.disarmed tcp_set_state', 'probe.unregistered tcp_set_state',
      'probe.disarmed inet_csk_accept', 'probe.unregistered inet_csk_accept',
      `probe.disarmed ${USER_PROBE}`, `probe.unregistered ${USER_PROBE}`,
      'probe.registered tcp_set_state',
    ]);
    // What the dead run's probes recorded while no agent ran is reported before they are disarmed.
    const beforeDisarm = next.slice(0, next.findIndex((e) => e.type === 'probe.disarmed'));
    expect(bySocket(beforeDisarm, BLIND_PORT)).toEqual(REFUSED);
    expect(replay([...crashed, ...next].map((e) => encodeEvent(e)))).toMatchObject({ ok: true });
    expect(r.read('kprobe_events.restart-after')).toBe('');
    expect(r.read('instances.restart-after')).toBe('');
  });

  it('refuses a probe on a missing symbol with the kernel\'s message and line, exits non-zero and leaves nothing', () => {
    expect(r.read('bad-run.rc').trim()).toBe('1');
    const log = r.read('bad-run.log');
    expect(log).toContain('Invalid probed address or symbol');
    expect(log).toContain('p:probefleet/missing probefleet_no_such_function sk=%di:x64');
    const bad = parseEvents(r.read('bad-run.ndjson'));
    expect(bad.map((e) => `${e.type} ${'probe' in e.data ? e.data.probe : ''}`.trim())).toEqual([
      'agent.started', 'probe.registered tcp_set_state', 'probe.registered inet_csk_accept',
      'probe.unregistered tcp_set_state', 'probe.unregistered inet_csk_accept', 'agent.stopped',
    ]);
    expect(bad[bad.length - 1]).toMatchObject({ data: { reason: expect.stringContaining('Invalid probed address or symbol') } });
    expect(r.read('kprobe_events.bad-after')).toBe('');
    expect(r.read('instances.bad-after')).toBe('');
  });
});
