// Fleet policies in kprobe mode on real kernels (stock Debian 6.1 and 6.12 under qemu): the guest has
// no broker, so the agent applies the set cached in its spool directory (as an agent that starts
// offline does; the control topic's path is the e2e tier's, on this host's kernel). A kprobe policy
// is registered and armed in the agent's own instance with its filter, and its hits arrive; one the
// kernel refuses (a missing symbol) comes back as policy.rejected with error_log's message and the
// line; one whose selector names another host is not applied; the run's teardown removes the
// policy's probe from tracefs, and the output replays through the kprobe model. The cached records
// are signed with a throw-away key whose public half the agent's config pins (policies.publicKeyFile).
import { generateKeyPairSync } from 'node:crypto';
import { replay } from '@probefleet/kprobe-model';
import { PolicySigner } from '@probefleet/signature';
import { signedPolicyCache } from '../support/policy-keys';
import { bootPerSeries, KERNEL_SERIES, parseEvents, type BootResult } from './lab';

const BOOT_TIMEOUT_MS = 300_000;
const AGENT = 'apps/agent/dist/main.js';
/** A bound only: the script stops the agent once its connections are made. */
const RUN_SECONDS = 240;
const PORT = 41401;
const CONNECTIONS = 3;
const LINE = 'p:probefleet/policy_connect tcp_v4_connect addrlen=%dx:s32';
const REFUSED_LINE = 'p:probefleet/policy_missing probefleet_no_such_function sk=%di:x64';

const POLICIES = [
  {
    name: 'conn-audit', version: 3,
    spec: {
      selector: { modes: ['kprobe'], kernels: { min: '6.1', max: '6.12' } },
      probes: [{ name: 'policy_connect', symbol: 'tcp_v4_connect', args: [{ name: 'addrlen', fetch: '%dx', type: 's32' }] }],
      filter: { probes: { policy_connect: [{ field: 'addrlen', op: '==', value: 16 }] } },
    },
  },
  { name: 'refused', version: 1, spec: { probes: [{ name: 'policy_missing', symbol: 'probefleet_no_such_function', args: [{ name: 'sk', fetch: '%di', type: 'x64' }] }] } },
  { name: 'elsewhere', version: 1, spec: { selector: { hosts: ['no-such-host-*'] }, probes: [{ name: 'policy_elsewhere', symbol: 'tcp_v4_connect' }] } },
];

const KEYS = generateKeyPairSync('ed25519');
const PUBLIC_KEY = KEYS.publicKey.export({ format: 'pem', type: 'spki' }) as string;
const CONFIG = 'host: lab-guest\npolicies:\n  enabled: true\n  publicKeyFile: /tmp/share/policy.pub\nspool:\n  dir: /tmp/share\n';
const CONNECT = `const net = require('node:net');
const s = net.createServer((c) => c.end()).listen(${PORT}, '127.0.0.1', async () => {
  for (let i = 0; i < ${CONNECTIONS}; i++) await new Promise((r) => { const c = net.connect(${PORT}, '127.0.0.1'); c.resume(); c.on('close', r); c.on('error', r); });
  s.close();
});
`;

const GUEST_SCRIPT = `set -u
T=/sys/kernel/tracing
: > /share/run.ndjson
inhost "$NODE" ${AGENT} run --mode kprobe --config "$CHROOT_SHARE/agent.yaml" --sink stdout --format json --duration ${RUN_SECONDS} > /share/run.ndjson 2> /share/run.log &
AGENT_PID=$!
i=0
while [ $i -lt 120 ] && ! { grep -q '"type":"policy.applied"' /share/run.ndjson && grep -q '"type":"policy.rejected"' /share/run.ndjson; }; do sleep 1; i=$((i+1)); done
cat $T/kprobe_events > /share/kprobe_events.during
for f in $T/instances/probefleet-*/events/probefleet/*/filter; do echo "\${f#$T/instances/*/} $(cat "$f")"; done > /share/filters
inhost "$NODE" "$CHROOT_SHARE/connect.js"
# Stopped once the connections are made (a fixed --duration can end first under TCG).
sleep 3
kill -INT $AGENT_PID
wait $AGENT_PID; echo $? > /share/run.rc
cat $T/kprobe_events > /share/kprobe_events.after
`;

const runFor = bootPerSeries({
  guestScript: GUEST_SCRIPT,
  files: { 'agent.yaml': CONFIG, 'policy.pub': PUBLIC_KEY, 'policies.json': signedPolicyCache(new PolicySigner(KEYS.privateKey), POLICIES), 'connect.js': CONNECT },
  timeoutMs: BOOT_TIMEOUT_MS,
});

beforeAll(() => {
  for (const s of KERNEL_SERIES) void runFor(s); // TCG: one host core per guest, boot both at once
});

describe.each(KERNEL_SERIES)('fleet policies in kprobe mode on the Debian %s generic kernel', (series) => {
  let r: BootResult;
  let events: ReturnType<typeof parseEvents>;
  const of = (type: string, policy: string) => events.filter((e) => e.type === type && (e.data as { policy?: string }).policy === policy);

  beforeAll(async () => {
    r = await runFor(series);
    events = parseEvents(r.read('run.ndjson'));
  }, BOOT_TIMEOUT_MS + 60_000);
  afterAll(() => r?.cleanup());

  it('registers and arms the policy\'s kprobe in its instance with its filter, and its hits arrive', () => {
    expect(r.read('run.rc').trim()).toBe('0');
    expect(of('policy.applied', 'conn-audit').map((e) => e.data)).toEqual([
      { policy: 'conn-audit', version: 3, definitions: [LINE], filters: [{ event: 'policy_connect', filter: 'addrlen == 16' }] },
    ]);
    expect(r.read('kprobe_events.during')).toContain('p:probefleet/policy_connect tcp_v4_connect');
    expect(r.read('filters')).toContain('events/probefleet/policy_connect/filter addrlen == 16');
    expect(events.find((e) => e.type === 'probe.registered' && e.data.probe === 'policy_connect')?.data).toMatchObject({ kind: 'kprobe', symbol: 'tcp_v4_connect', definition: LINE });
    const hits = events.filter((e) => e.type === 'probe.hit' && e.data.probe === 'policy_connect');
    expect(hits.length).toBeGreaterThanOrEqual(CONNECTIONS);
    expect(hits.every((h) => h.type === 'probe.hit' && h.data.args['addrlen'] === 16)).toBe(true);
  });

  it("a policy the kernel refuses comes back as policy.rejected with error_log's message and the line, and leaves nothing", () => {
    const [rejected] = of('policy.rejected', 'refused');
    expect(rejected?.data).toMatchObject({ policy: 'refused', version: 1, line: REFUSED_LINE });
    expect((rejected?.data as { kernel?: string }).kernel).toBeTruthy();
    expect((rejected?.data as { reason: string }).reason).toContain('the kernel refused a probe');
    expect(r.read('kprobe_events.during')).not.toContain('policy_missing');
    expect(events.some((e) => e.type === 'probe.registered' && e.data.probe === 'policy_missing')).toBe(false);
  });

  it('applies nothing for a selector of other hosts', () => {
    expect(events.filter((e) => (e.data as { policy?: string }).policy === 'elsewhere' || (e.data as { probe?: string }).probe === 'policy_elsewhere')).toEqual([]);
  });

  it("the run's teardown removes the policy's probe from tracefs, and the stream replays with no violation", () => {
    expect(r.read('kprobe_events.after')).not.toContain('policy_connect');
    const lifecycle = events.filter((e) => (e.type === 'probe.disarmed' || e.type === 'probe.unregistered') && e.data.probe === 'policy_connect').map((e) => e.type);
    expect(lifecycle).toEqual(['probe.disarmed', 'probe.unregistered']);
    const outcome = replay(r.read('run.ndjson').split('\n'));
    expect(outcome.ok ? 'ok' : outcome).toBe('ok');
  });
});
