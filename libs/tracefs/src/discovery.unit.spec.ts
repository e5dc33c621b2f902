import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { discover, parseBlacklist, parsePrivileges } from './discovery';
import { parseCpuStats, parseErrorLog, parseKprobeProfile, parseSavedCmdlines, Tracefs, TracefsWriteError } from './instance';

const FIXTURES = join(__dirname, '../../../test/fixtures/traces');
let root: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'tracefs-fake-'));
  await mkdir(join(root, 'proc/self'), { recursive: true });
  await mkdir(join(root, 'sys/kernel/tracing'), { recursive: true });
  await writeFile(join(root, 'proc/self/status'), 'Name:\tnode\nCapEff:\t000001fffeffffff\n');
});
afterEach(() => rm(root, { recursive: true, force: true }));

async function populate(dir: string, kprobes: boolean): Promise<void> {
  await mkdir(join(dir, 'instances'), { recursive: true });
  await writeFile(join(dir, 'available_events'), 'sock:inet_sock_set_state\nsched:sched_switch\n');
  if (kprobes) await writeFile(join(dir, 'kprobe_events'), '');
}

describe('discover (fake tree)', () => {
  it('mounts tracefs when absent and reports a host without kprobes or BTF', async () => {
    const mounted: string[] = [];
    const r = await discover({
      root,
      euid: 0,
      mountTracefs: async (dir) => {
        mounted.push(dir);
        await populate(dir, false);
      },
      // No kprobes on this kernel: debugfs is left alone.
      mountDebugfs: () => Promise.reject(new Error('must not mount debugfs')),
    });
    expect(mounted).toEqual([join(root, 'sys/kernel/tracing')]);
    expect(r).toMatchObject({
      tracefs: join(root, 'sys/kernel/tracing'), mountedTracefs: true, kprobeEvents: false, instances: true,
      btf: { present: false, bytes: null }, tracepoints: ['sock:inet_sock_set_state', 'sched:sched_switch'],
      kprobeBlacklist: null,
      kprobes: { dir: null, mounted: false, problem: null, enabled: null, optimization: null },
    });
    expect(r.privileges).toMatchObject({ euid: 0, capSysAdmin: true, canTrace: true });
    expect(r.problems.join('\n')).toMatch(/kprobe_events missing[\s\S]*btf\/vmlinux missing/);
  });

  it('finds debugfs tracing, kprobes, BTF and the blacklist', async () => {
    await populate(join(root, 'sys/kernel/debug/tracing'), true);
    await mkdir(join(root, 'sys/kernel/debug/kprobes'), { recursive: true });
    await writeFile(join(root, 'sys/kernel/debug/kprobes/blacklist'), '0xffffffff81000000-0xffffffff81000010\tdo_int3\n');
    await writeFile(join(root, 'sys/kernel/debug/kprobes/list'), '');
    await writeFile(join(root, 'sys/kernel/debug/kprobes/enabled'), '1\n');
    await mkdir(join(root, 'sys/kernel/btf'), { recursive: true });
    await writeFile(join(root, 'sys/kernel/btf/vmlinux'), Buffer.alloc(100));
    const r = await discover({ root, euid: 1000, mountTracefs: () => Promise.reject(new Error('must not mount')) });
    expect(r).toMatchObject({
      tracefs: join(root, 'sys/kernel/debug/tracing'), mountedTracefs: false, kprobeEvents: true,
      btf: { present: true, bytes: 100 }, kprobeBlacklist: ['do_int3'], problems: [],
      kprobes: { dir: join(root, 'sys/kernel/debug/kprobes'), mounted: false, problem: null, enabled: true, optimization: null },
    });
  });

  it('mounts debugfs on a kernel with kprobe events, as root, and reads the global switches', async () => {
    await populate(join(root, 'sys/kernel/tracing'), true);
    await mkdir(join(root, 'proc/sys/debug'), { recursive: true });
    await writeFile(join(root, 'proc/sys/debug/kprobes-optimization'), '0\n');
    const mounted: string[] = [];
    const r = await discover({
      root,
      euid: 0,
      mountDebugfs: async (dir) => {
        mounted.push(dir);
        await mkdir(join(dir, 'kprobes'), { recursive: true });
        await writeFile(join(dir, 'kprobes/list'), 'ffffffff81c00c34  k  tcp_set_state+0x4    [FTRACE]\n');
        await writeFile(join(dir, 'kprobes/enabled'), '1\n');
        await writeFile(join(dir, 'kprobes/blacklist'), '0xffffffff81000000-0xffffffff81000010\tdo_int3\n');
      },
    });
    expect(mounted).toEqual([join(root, 'sys/kernel/debug')]);
    expect(r.kprobes).toEqual({ dir: join(root, 'sys/kernel/debug/kprobes'), mounted: true, problem: null, enabled: true, optimization: false });
    expect(r.kprobeBlacklist).toEqual(['do_int3']);
  });

  it('says why the kprobes view is missing when debugfs cannot be mounted', async () => {
    await populate(join(root, 'sys/kernel/tracing'), true);
    const r = await discover({ root, euid: 0, mountDebugfs: () => Promise.reject(new Error('permission denied')) });
    expect(r.kprobes).toMatchObject({ dir: null, mounted: false, problem: `mounting debugfs at ${join(root, 'sys/kernel/debug')} failed: permission denied` });
    expect(r.problems).toEqual(expect.not.arrayContaining([expect.stringMatching(/debugfs/)]));
  });

  it('does not mount without privileges', async () => {
    await writeFile(join(root, 'proc/self/status'), 'CapEff:\t0000000000000000\n');
    const r = await discover({ root, euid: 1000, mountTracefs: () => Promise.reject(new Error('must not mount')), mountDebugfs: () => Promise.reject(new Error('must not mount')) });
    expect(r.tracefs).toBeNull();
    expect(r.problems).toEqual(expect.arrayContaining(['tracefs is not mounted', 'not root and no CAP_SYS_ADMIN']));
  });
});

describe('small parsers', () => {
  it('reads capabilities', () => {
    expect(parsePrivileges('CapEff:\t0000000000200000\n', 1000)).toMatchObject({ capSysAdmin: true, capBpf: false, canTrace: true });
    expect(parsePrivileges('CapEff:\t000000c000000000\n', 1000)).toMatchObject({ capSysAdmin: false, capPerfmon: true, capBpf: true, canTrace: false });
    expect(parsePrivileges(null, 0)).toMatchObject({ capEff: null, canTrace: true });
    expect(parseBlacklist('0x1-0x2\tfoo\n0x3-0x4\tbar\n')).toEqual(['foo', 'bar']);
  });

  it('parses the real error_log with the caret position', async () => {
    const log = parseErrorLog(await readFile(join(FIXTURES, 'error_log-6.12.107.txt'), 'utf8'));
    expect(log).toHaveLength(6);
    expect(log[2]).toEqual({
      timestamp: '3.332427', subsystem: 'trace_kprobe', message: 'Invalid register name',
      command: 'p:tcpcoll/x_badreg tcp_set_state sk=%zz', position: 36,
    });
    expect(log[2]?.command.slice(log[2].position ?? 0)).toBe('%zz');
    expect(log[4]?.command.slice(log[4].position ?? 0)).toBe('u128');
  });

  it('parses kprobe_profile and per-cpu stats', async () => {
    expect(parseKprobeProfile(await readFile(join(FIXTURES, 'kprobe_profile-6.12.107.txt'), 'utf8'))).toEqual(
      ['tss_regs', 'tss_offs', 'tss_args', 'tss_btf', 'tss_btfm'].map((event) => ({ event, hits: 22, misses: 0 })),
    );
    const s = parseCpuStats(1, 'entries: 5\noverrun: 2\ncommit overrun: 1\nbytes: 300\noldest event ts:   392.095417\nnow ts:   500.1\ndropped events: 7\nread events: 3\n');
    expect(s).toEqual({ cpu: 1, entries: 5, overrun: 2, commitOverrun: 1, bytes: 300, oldestEventTs: '392.095417', nowTs: '500.1', droppedEvents: 7, readEvents: 3 });
  });

  it('parses saved_cmdlines (comm may contain spaces)', () => {
    expect(parseSavedCmdlines('9132 python3\n9880 my worker-1\n3768 kworker/1:4\n')).toEqual(
      new Map([[9132, 'python3'], [9880, 'my worker-1'], [3768, 'kworker/1:4']]),
    );
  });
});

describe('Tracefs on a fake tree', () => {
  it('appends validated lines, lists leftovers of our group and instances', async () => {
    const dir = join(root, 'sys/kernel/tracing');
    await populate(dir, true);
    await writeFile(join(dir, 'kprobe_events'), 'p:other/x do_exit\n');
    await mkdir(join(dir, 'instances/probefleet-old'));
    await mkdir(join(dir, 'instances/someone-else'));
    const t = new Tracefs(dir);
    await t.addKprobe({ kind: 'p', group: 'probefleet', event: 'tcp_state', target: 'tcp_set_state', args: [{ name: 'sk', fetch: '%di' }] });
    await t.removeKprobe('probefleet', 'gone');
    expect(await readFile(join(dir, 'kprobe_events'), 'utf8')).toBe(
      'p:other/x do_exit\np:probefleet/tcp_state tcp_set_state sk=%di\n-:probefleet/gone\n',
    );
    await writeFile(join(dir, 'kprobe_events'), 'p:other/x do_exit\np:probefleet/tcp_state tcp_set_state sk=%di\n');
    const left = await t.listLeftovers('probefleet');
    expect(left.instances).toEqual(['probefleet-old']);
    expect(left.kprobes.map((k) => k.event)).toEqual(['tcp_state']);
    await expect(
      t.addKprobe({ kind: 'p', group: 'probefleet', event: 'x', target: 'tcp_set_state\nboom', args: [] }),
    ).rejects.toThrow(/target/);
  });

  it('turns a failed write into an error carrying the error_log message', async () => {
    const dir = join(root, 'sys/kernel/tracing');
    await populate(dir, false); // no kprobe_events: open fails with ENOENT
    await writeFile(join(dir, 'error_log'), '');
    const t = new Tracefs(dir);
    const err = await t.addKprobe({ kind: 'p', group: 'g', event: 'e', target: 'f', args: [] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TracefsWriteError);
    expect(err).toMatchObject({ code: 'ENOENT', line: 'p:g/e f', kernel: null });
    const e = new TracefsWriteError('kprobe_events', 'p:g/e f sk=%zz', 'EINVAL', parseErrorLog(
      '[    3.332427] trace_kprobe: error: Invalid register name\n  Command: p:g/e f sk=%zz\n                        ^\n',
    )[0] ?? null);
    expect(e.message).toContain('EINVAL');
    expect(e.message).toContain('Invalid register name\n  Command: p:g/e f sk=%zz\n                        ^');
  });
});
