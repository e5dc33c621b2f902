// In-kernel filters in kprobe mode on real kernels (stock Debian 6.1 and 6.12 under qemu): the agent
// renders its `filter:` section against the kprobe's own fetch args — sport in host order, the
// destination port as the kernel keeps it (big-endian, dport_be) — into the event's filter file in
// its instance. The kernel then records only matching hits: the instance's per-cpu counters equal
// what the agent reported, a client's transitions (matched by their destination port only) prove the
// byte order, and IPv6 and other ports never reach user space. A hostile value is refused (exit 2)
// before tracefs is touched.
import { bootPerSeries, KERNEL_SERIES, parseEvents, type BootResult } from './lab';

const BOOT_TIMEOUT_MS = 300_000;
const PORTS = { kept: 41301, other: 41302, connections: 4 };
const AGENT = 'apps/agent/dist/main.js';
const RUN_SECONDS = 30;
const FILTER_CONFIG = `filter:\n  ports: [${PORTS.kept}]\n  families: [AF_INET]\n`;
const HOSTILE_CONFIG = 'filter:\n  ports: [80]\n  families: ["AF_INET) || (1"]\n';

const GUEST_SCRIPT = `set -u
T=/sys/kernel/tracing
inhost "$NODE" ${AGENT} probes render --mode kprobe --config "$CHROOT_SHARE/filter.yaml" --json > /share/render.json 2> /share/render.log
: > /share/run.ndjson
inhost "$NODE" ${AGENT} run --mode kprobe --config "$CHROOT_SHARE/filter.yaml" --sink stdout --format json --duration ${RUN_SECONDS} > /share/run.ndjson 2> /share/run.log &
AGENT_PID=$!
i=0
while [ $i -lt 100 ] && ! grep -q '"type":"probe.armed"' /share/run.ndjson; do sleep 1; i=$((i+1)); done
# The agent's own event group only: a cat per file of the instance's ~1,500 events outlasts the run under TCG.
for f in $T/instances/probefleet-*/events/probefleet/*/filter; do echo "\${f#$T/instances/*/} $(cat "$f")"; done > /share/filters
inhost "$NODE" test/kernel-lab/guest/filter-connect.js "$CHROOT_SHARE/ports.json" "$CHROOT_SHARE/connections.json"
sleep 3
cat $T/instances/probefleet-*/per_cpu/cpu*/stats > /share/stats
wait $AGENT_PID; echo $? > /share/run.rc
cat $T/kprobe_events > /share/kprobe_events.before
ls $T/instances > /share/instances.before
inhost "$NODE" ${AGENT} run --mode kprobe --config "$CHROOT_SHARE/hostile.yaml" --sink stdout > /share/hostile.out 2> /share/hostile.err
echo $? > /share/hostile.rc
cat $T/kprobe_events > /share/kprobe_events.after
ls $T/instances > /share/instances.after
`;

const runFor = bootPerSeries({
  guestScript: GUEST_SCRIPT,
  files: { 'filter.yaml': FILTER_CONFIG, 'hostile.yaml': HOSTILE_CONFIG, 'ports.json': JSON.stringify(PORTS) },
  timeoutMs: BOOT_TIMEOUT_MS,
});

type Args = { family: string; sport: number; dport: number };

/** A per-cpu `stats` counter summed over every cpu of the instance. */
const statSum = (stats: string, key: string) => [...stats.matchAll(new RegExp(`^${key}: (\\d+)`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);

beforeAll(() => {
  for (const s of KERNEL_SERIES) void runFor(s); // TCG: one host core per guest, boot both at once
});

describe.each(KERNEL_SERIES)('probefleet-agent filter: in kprobe mode on the Debian %s generic kernel', (series) => {
  let r: BootResult;
  let hits: Args[];
  let accepts: Args[];

  beforeAll(async () => {
    r = await runFor(series);
    const events = parseEvents(r.read('run.ndjson'));
    const of = (probe: string) => events.flatMap((e) => (e.type === 'probe.hit' && e.data.probe === probe ? [e.data.args as unknown as Args] : []));
    hits = of('tcp_set_state');
    accepts = of('inet_csk_accept');
  }, BOOT_TIMEOUT_MS + 60_000);
  afterAll(() => r?.cleanup());

  it('writes the rendered filter, against the kprobe\'s fetch args, into the event\'s filter file of its instance', () => {
    const render = JSON.parse(r.read('render.json')) as { filters: { file: string; filter: string }[] };
    const be = ((PORTS.kept & 0xff) << 8) | (PORTS.kept >> 8);
    // The accept kretprobe (ownership) reads the same fields of the socket it returns: the same filter.
    const filter = `(sport == ${PORTS.kept} || dport_be == ${be}) && family == 2`;
    expect(render.filters).toEqual([{ file: 'events/probefleet/tcp_set_state/filter', filter }, { file: 'events/probefleet/inet_csk_accept/filter', filter }]);
    expect(r.read('filters').trim().split('\n').sort()).toEqual(render.filters.map((f) => `${f.file} ${f.filter}`).sort());
  });

  it('the kernel hands over only matching transitions: the kept port over IPv4, clients matched by their big-endian destination port', () => {
    expect(r.read('run.rc').trim()).toBe('0');
    expect(JSON.parse(r.read('connections.json'))).toEqual({ keptV4: PORTS.connections, keptV6: PORTS.connections, otherV4: 2 * PORTS.connections });
    expect(hits.filter((h) => h.family !== 'AF_INET' || (h.sport !== PORTS.kept && h.dport !== PORTS.kept))).toEqual([]);
    // Each IPv4 connection: the client's five transitions (dport = the kept port, sport ephemeral) and the accepted child's four.
    expect(hits.filter((h) => h.dport === PORTS.kept && h.sport !== PORTS.kept)).toHaveLength(5 * PORTS.connections);
    expect(hits.filter((h) => h.sport === PORTS.kept && h.dport !== 0)).toHaveLength(4 * PORTS.connections);
    // Nothing else entered the ring buffer: what the kernel recorded is what the agent reported (read, or left when it stopped).
    const stats = r.read('stats');
    expect(statSum(stats, 'overrun')).toBe(0);
    // The kept port's IPv4 accepts, and only they, passed the accept probe's filter.
    expect(accepts.map((a) => [a.family, a.sport])).toEqual(Array(PORTS.connections).fill(['AF_INET', PORTS.kept]));
    expect(statSum(stats, 'read events') + statSum(stats, 'entries')).toBe(hits.length + accepts.length);
  });

  it('refuses a hostile filter value (exit 2) naming it, before tracefs is touched', () => {
    expect(r.read('hostile.rc').trim()).toBe('2');
    expect(r.read('hostile.err')).toContain('filter.families[0]');
    expect(r.read('hostile.out')).toBe('');
    expect(r.read('kprobe_events.after')).toBe(r.read('kprobe_events.before'));
    expect(r.read('instances.after')).toBe(r.read('instances.before'));
  });
});
