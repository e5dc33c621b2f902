// Real kernels (stock Debian 6.1 and 6.12 generic, under qemu): which kprobe definition lines
// kprobe_events accepts, what it says about the ones it refuses, and that the accepted probe on
// tcp_set_state fires for loopback TCP connections. One boot per kernel; both boots run at once.
// KERNEL_LAB_FIXTURES=1 also saves the outputs under test/fixtures/kernels/<release>/.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bootPerSeries, BootResult, KERNEL_SERIES, KernelSeries, REPO_ROOT } from './lab';

const BOOT_TIMEOUT_MS = 600_000;
// KERNEL_LAB_SERIES=6.12 (comma-separated) restricts the run to some kernels.
const SERIES = (process.env['KERNEL_LAB_SERIES']?.split(',') ?? [...KERNEL_SERIES]).map((s) => {
  if (!(KERNEL_SERIES as readonly string[]).includes(s)) throw new Error(`KERNEL_LAB_SERIES: unknown series ${s} (${KERNEL_SERIES.join(', ')})`);
  return s as KernelSeries;
});
const GROUP = 'probefleet';
const PORTS = { v4: 41001, v6: 41002, refused: 41003 };

// Lines every supported kernel must accept. (To be replaced by `probefleet-agent probes render`.)
const GOOD_LINES = [
  `p:${GROUP}/tcp_set_state tcp_set_state sk=%di newstate=%si:s32 family=+16(%di):u16 oldstate=+18(%di):u8 sport=+14(%di):u16 dport=+12(%di):u16 saddr=+4(%di):x32 daddr=+0(%di):x32 saddr6=+72(%di):x8[16] daddr6=+56(%di):x8[16]`,
  `p:${GROUP}/tcp_set_state_args tcp_set_state sk=$arg1 newstate=$arg2:s32`,
  `r:${GROUP}/tcp_v4_connect_ret tcp_v4_connect ret=$retval:s32`,
];

interface Refusal { errno: string; message: string }
// Lines the kernel must refuse, with errno and error_log reason per series (as the kernels said).
const BAD_LINES: { line: string; why: string; expect: Record<KernelSeries, Refusal> }[] = [
  {
    why: 'unknown register',
    line: `p:${GROUP}/bad_register tcp_set_state sk=%zz`,
    expect: { '6.1': { errno: 'EINVAL', message: 'Invalid register name' }, '6.12': { errno: 'EINVAL', message: 'Invalid register name' } },
  },
  {
    why: 'unknown symbol',
    line: `p:${GROUP}/bad_symbol probefleet_no_such_function sk=%di`,
    expect: {
      '6.1': { errno: 'ENOENT', message: 'Invalid probed address or symbol' },
      '6.12': { errno: 'EINVAL', message: 'Invalid probed address or symbol' },
    },
  },
  {
    why: 'unknown type',
    line: `p:${GROUP}/bad_type tcp_set_state newstate=%si:u7`,
    expect: { '6.1': { errno: 'EINVAL', message: 'Unknown type is specified' }, '6.12': { errno: 'EINVAL', message: 'Unknown type is specified' } },
  },
  {
    why: 'existing event name, other arguments',
    line: `p:${GROUP}/tcp_set_state tcp_set_state sk=%di`,
    expect: {
      '6.1': { errno: 'EEXIST', message: 'Argument type or name is different from existing probe' },
      '6.12': { errno: 'EEXIST', message: 'Argument type or name is different from existing probe' },
    },
  },
];

// BTF argument names: only kernels with PROBE_EVENTS_BTF_ARGS (6.12 here) accept them.
const BTF_LINE = `p:${GROUP}/btf_args tcp_set_state sk newstate=state`;
const BTF_EXPECT: Record<KernelSeries, Refusal | 'accepted'> = {
  '6.1': { errno: 'EINVAL', message: 'Invalid fetch argument' },
  '6.12': 'accepted',
};

const PROBE_LINES = [...GOOD_LINES, BTF_LINE, ...BAD_LINES.map((b) => b.line)];

// Runs in the guest (busybox sh); the kprobe work is done by node from the host root, as the agent will.
const GUEST_SCRIPT = `set -eu
uname -r > /share/uname-r
grep -w tcp_set_state /proc/kallsyms > /share/kallsyms-tcp_set_state || true
inhost "$NODE" -e 'console.log(JSON.stringify({ node: process.version, release: require("os").release(), cwd: process.cwd() }))' > /share/node-check.json
inhost "$NODE" test/kernel-lab/guest/kprobe-lines.js "$CHROOT_SHARE"
`;

interface LineResult { line: string; accepted: boolean; errno?: string; errorLog?: string }
interface GuestResults {
  kernelRelease: string;
  node: string;
  lines: LineResult[];
  connections: Record<'v4' | 'v6' | 'refused', { ok: boolean }>;
}

interface TraceEvent { task: string; pid: number; flags: string; event: string; where: string; fields: Record<string, string> }

// `node-117 [000] ..s2. 5.340190: tcp_set_state: (tcp_set_state+0x0/0x1f0) sk=0x.. newstate=1 ...`
function parseTrace(text: string): TraceEvent[] {
  const re = /^\s*(.+)-(\d+)\s+\[\d+\]\s+(\S+)\s+[\d.]+: (\w+): (?:\(([^)]*)\) )?(.*)$/;
  return text.split('\n').flatMap((l) => {
    const m = re.exec(l);
    if (!m) return [];
    const fields = Object.fromEntries((m[6] ?? '').split(' ').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    return [{ task: m[1] ?? '', pid: Number(m[2]), flags: m[3] ?? '', event: m[4] ?? '', where: m[5] ?? '', fields }];
  });
}

const be16 = (port: number): string => String(((port & 0xff) << 8) | (port >> 8)); // skc_dport is big-endian
const LOOPBACK6 = `{${[...Array(15).fill('0x0'), '0x1'].join(',')}}`;
// TCP states (include/net/tcp_states.h)
const ESTABLISHED = '1', SYN_SENT = '2', SYN_RECV = '3', CLOSE = '7';

const runFor = bootPerSeries({
  guestScript: GUEST_SCRIPT,
  files: { 'probes.txt': PROBE_LINES.join('\n') + '\n', 'kprobe-lines.json': JSON.stringify({ group: GROUP, ports: PORTS }) },
  timeoutMs: 300_000,
});

function saveFixtures(r: BootResult, results: GuestResults): void {
  const dir = path.join(REPO_ROOT, 'test', 'fixtures', 'kernels', r.kernelRelease);
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ['trace', 'kprobe_profile', 'kprobe_events', 'error_log', 'probes.txt', 'kallsyms-tcp_set_state']) {
    fs.writeFileSync(path.join(dir, f), r.read(f));
  }
  fs.rmSync(path.join(dir, 'formats'), { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'formats'));
  for (const [name, text] of Object.entries(JSON.parse(r.read('formats.json')) as Record<string, string>)) {
    fs.writeFileSync(path.join(dir, 'formats', name), text);
  }
  const table = results.lines.map((l) => `${l.accepted ? 'accepted' : 'refused'}\t${l.errno ?? '-'}\t${l.line}`);
  fs.writeFileSync(path.join(dir, 'lines.tsv'), ['status\terrno\tline', ...table].join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'console.txt'), r.console);
}

beforeAll(() => {
  // TCG runs each 1-vCPU guest on one host core: boot all kernels at once.
  for (const s of SERIES) void runFor(s);
});

describe.each(SERIES)('kprobe lines on the Debian %s generic kernel', (series) => {
  let r: BootResult;
  let results: GuestResults;
  let events: TraceEvent[];

  beforeAll(async () => {
    r = await runFor(series);
    results = JSON.parse(r.read('results.json')) as GuestResults;
    events = parseTrace(r.read('trace'));
    if (process.env['KERNEL_LAB_FIXTURES'] === '1') saveFixtures(r, results);
  }, BOOT_TIMEOUT_MS);
  afterAll(() => r?.cleanup());

  const lineResult = (line: string): LineResult => {
    const found = results.lines.find((l) => l.line === line);
    if (!found) throw new Error(`no result for ${line}`);
    return found;
  };
  const ours = (): TraceEvent[] => events.filter((e) => e.event === 'tcp_set_state');

  it('boots the stock kernel of the series and runs node from the host root via chroot', () => {
    expect(r.kernelRelease).toMatch(series === '6.1' ? /^6\.1\.0-\d+-amd64$/ : /^6\.12\.\d+\+deb12-amd64$/);
    expect(r.read('uname-r').trim()).toBe(r.kernelRelease);
    const check = JSON.parse(r.read('node-check.json')) as { node: string; release: string; cwd: string };
    expect(check).toEqual({ node: process.version, release: r.kernelRelease, cwd: REPO_ROOT });
    expect(results.kernelRelease).toBe(r.kernelRelease);
    expect(r.read('kallsyms-tcp_set_state')).toMatch(/^[0-9a-f]{16} [Tt] tcp_set_state$/m);
  });

  it.each(GOOD_LINES)('accepts %s', (line) => {
    expect(lineResult(line)).toEqual({ line, accepted: true });
    const name = line.split(' ')[0]?.split('/')[1] ?? '';
    expect(r.read('kprobe_events')).toMatch(new RegExp(`^[pr]\\d*:${GROUP}/${name} `, 'm'));
  });

  it.each(BAD_LINES)('refuses a line with $why and says why in error_log', ({ line, expect: byKernel }) => {
    const res = lineResult(line);
    expect(res.accepted).toBe(false);
    expect(res.errno).toBe(byKernel[series].errno);
    expect(res.errorLog).toContain(`trace_kprobe: error: ${byKernel[series].message}`);
    expect(res.errorLog).toContain(`Command: ${line}`);
    expect(r.read('error_log')).toContain(res.errorLog);
  });

  it('accepts BTF argument names only where the kernel supports them', () => {
    const want = BTF_EXPECT[series];
    const res = lineResult(BTF_LINE);
    if (want === 'accepted') {
      expect(res).toEqual({ line: BTF_LINE, accepted: true });
    } else {
      expect(res).toMatchObject({ accepted: false, errno: want.errno });
      expect(res.errorLog).toContain(want.message);
    }
  });

  it('made the loopback connections (IPv4, IPv6, refused)', () => {
    expect(results.connections).toEqual({ v4: expect.objectContaining({ ok: true }), v6: expect.objectContaining({ ok: true }), refused: expect.objectContaining({ ok: true }) });
  });

  it('traces the IPv4 connection on both ends', () => {
    const client = ours().filter((e) => e.fields['family'] === '2' && e.fields['dport'] === be16(PORTS.v4));
    expect(client).toContainEqual(expect.objectContaining({ fields: expect.objectContaining({ oldstate: SYN_SENT, newstate: ESTABLISHED, saddr: '0x100007f', daddr: '0x100007f' }) }));
    const server = ours().filter((e) => e.fields['family'] === '2' && e.fields['sport'] === String(PORTS.v4));
    expect(server).toContainEqual(expect.objectContaining({ fields: expect.objectContaining({ oldstate: SYN_RECV, newstate: ESTABLISHED }) }));
  });

  it('traces the IPv6 connection with ::1 addresses', () => {
    const v6 = ours().filter((e) => e.fields['family'] === '10' && (e.fields['dport'] === be16(PORTS.v6) || e.fields['sport'] === String(PORTS.v6)));
    expect(v6).toContainEqual(expect.objectContaining({ fields: expect.objectContaining({ oldstate: SYN_SENT, newstate: ESTABLISHED, saddr6: LOOPBACK6, daddr6: LOOPBACK6 }) }));
  });

  it('traces the refused connection as SYN_SENT -> CLOSE', () => {
    const refused = ours().filter((e) => e.fields['dport'] === be16(PORTS.refused));
    expect(refused).toContainEqual(expect.objectContaining({ fields: expect.objectContaining({ family: '2', oldstate: SYN_SENT, newstate: CLOSE }) }));
    expect(refused.some((e) => e.fields['newstate'] === ESTABLISHED)).toBe(false);
  });

  it('counts the hits in kprobe_profile and fires the return probe', () => {
    const profile = /^\s*tcp_set_state\s+(\d+)\s+(\d+)\s*$/m.exec(r.read('kprobe_profile'));
    expect(profile).not.toBeNull();
    expect(ours().length).toBeGreaterThan(0);
    expect(Number(profile?.[1])).toBeGreaterThanOrEqual(ours().length);
    expect(Number(profile?.[2])).toBe(0); // nmissed
    const rets = events.filter((e) => e.event === 'tcp_v4_connect_ret');
    expect(rets.length).toBeGreaterThanOrEqual(2); // the IPv4 and the refused connect
    expect(rets.every((e) => e.where.endsWith('<- tcp_v4_connect') && e.fields['ret'] === '0')).toBe(true);
  });
});
