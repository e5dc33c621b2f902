// How real kernels arm kprobes (stock Debian 6.1 and 6.12 under qemu, one boot per kernel): what
// debugfs kprobes/list says about tcp_set_state+0 (ftrace-based) and a later instruction (an int3
// the optimizer turns into a jmp, unless debug.kprobes-optimization=0), the text bytes at each
// address read from /proc/kcore, and that our parser and the kprobe model agree with both.
// KERNEL_LAB_FIXTURES=1 saves the captures under test/fixtures/kernels/<release>/kprobes/.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EVENT_VERSION, type Event } from '@probefleet/events';
import { ARMED_BYTE, evolve, initialState, NOP5, snapshot } from '@probefleet/kprobe-model';
import { kprobeMechanism, parseKprobesList, type KprobesListEntry } from '@probefleet/tracefs';
import { bootPerSeries, KERNEL_SERIES, KernelSeries, REPO_ROOT } from './lab';

const BOOT_TIMEOUT_MS = 600_000;
const SERIES = (process.env['KERNEL_LAB_SERIES']?.split(',') ?? [...KERNEL_SERIES]) as KernelSeries[];
const OFFSETS = Array.from({ length: 25 }, (_, i) => i);

// busybox sh in the guest. Phase A: a probe at every offset of tcp_set_state the kernel accepts
// (the capture). Phase B: +0 and one later boundary alone: int3 at once, optimized after the
// optimizer's delay; C: with debug.kprobes-optimization=0; D: disabled.
const GUEST_SCRIPT = `set -u
T=/sys/kernel/tracing
D=/sys/kernel/debug/kprobes
mount -t debugfs nodev /sys/kernel/debug
mount -t debugfs nodev /mnt/host/sys/kernel/debug 2>/dev/null
bytes() { inhost "$NODE" test/kernel-lab/guest/kcore-bytes.js $(awk '{print "0x"$1}' $D/list) > /share/$1.bytes.json 2>/share/$1.bytes.err; }
grep -w -e tcp_set_state -e tcp_v4_connect /proc/kallsyms > /share/kallsyms.txt
cat $D/enabled > /share/enabled.txt
cat /proc/sys/debug/kprobes-optimization > /share/optimization.txt
wc -l < $D/blacklist > /share/blacklist.count
grep -m 5 . $D/blacklist > /share/blacklist.head
: > /share/accepted.txt
for o in ${OFFSETS.join(' ')}; do
  echo "p:lab/tss_$o tcp_set_state+$o" >> $T/kprobe_events 2>/dev/null && echo $o >> /share/accepted.txt
done
cat $D/list > /share/a-registered.list
echo 1 > $T/events/lab/enable
sleep 3
cat $D/list > /share/a-armed.list
echo 0 > $T/events/lab/enable
echo > $T/kprobe_events
# The later boundary: the last accepted offset (far from the ftrace site, so the jmp can go there).
LATER=$(tail -n 1 /share/accepted.txt)
echo $LATER > /share/later.txt
echo "p:lab/entry tcp_set_state" >> $T/kprobe_events
echo "p:lab/later tcp_set_state+$LATER" >> $T/kprobe_events
echo 1 > $T/events/lab/enable
cat $D/list > /share/b-armed.list; bytes b-armed
sleep 3
cat $D/list > /share/b-settled.list; bytes b-settled
echo 0 > /proc/sys/debug/kprobes-optimization
sleep 1
cat $D/list > /share/c-noopt.list; bytes c-noopt
echo 0 > $T/events/lab/enable
cat $D/list > /share/d-disabled.list; bytes d-disabled
echo 1 > /proc/sys/debug/kprobes-optimization
echo > $T/kprobe_events
`;

const runFor = bootPerSeries({ guestScript: GUEST_SCRIPT, timeoutMs: BOOT_TIMEOUT_MS });
afterAll(() => runFor.cleanup());

describe.each(SERIES)('Debian %s', (series) => {
  let read: (name: string) => string;
  let release = '';
  beforeAll(async () => {
    const r = await runFor(series);
    read = r.read;
    release = r.kernelRelease;
    if (process.env['KERNEL_LAB_FIXTURES'] === '1') {
      const dir = path.join(REPO_ROOT, 'test/fixtures/kernels', release, 'kprobes');
      fs.mkdirSync(dir, { recursive: true });
      for (const f of fs.readdirSync(r.shareDir)) if (/\.(list|json|txt|count|head)$/.test(f)) fs.copyFileSync(path.join(r.shareDir, f), path.join(dir, f));
    }
  }, BOOT_TIMEOUT_MS + 60_000);

  const list = (name: string) => parseKprobesList(read(name));
  const byName = (entries: KprobesListEntry[], offset: number) => entries.filter((e) => e.symbol === 'tcp_set_state' && e.offset === offset);
  const bytesAt = (phase: string, address: string): string => {
    const all = JSON.parse(read(`${phase}.bytes.json`)) as Record<string, string | null>;
    const b = all[`0x${address.replace(/^0x/, '')}`];
    if (typeof b !== 'string') throw new Error(`no kcore bytes at ${address} in ${phase}`);
    return b;
  };

  it('arms tcp_set_state+0 through ftrace, at +4 past the endbr64 on 6.12', () => {
    const entries = list('b-armed.list');
    const entry = entries.find((e) => e.symbol === 'tcp_set_state' && e.offset <= 4 && kprobeMechanism(e) === 'ftrace');
    expect(entry).toBeDefined();
    expect(entry?.offset).toBe(series === '6.12' ? 4 : 0);
    // The ftrace site holds a call (e8) to the ftrace trampoline while armed, its 5-byte nop once disabled.
    expect(bytesAt('b-armed', entry?.address as string).slice(0, 2)).toBe(ARMED_BYTE.ftrace);
    expect(bytesAt('d-disabled', entry?.address as string).slice(0, 10)).toBe(NOP5);
  });

  it('arms a later instruction as an int3, optimized into a jmp once the list shows it', () => {
    const later = Number(read('later.txt').trim());
    const armed = byName(list('b-armed.list'), later)[0];
    const settled = byName(list('b-settled.list'), later)[0];
    expect(settled && kprobeMechanism(settled)).toBe('optimized');
    expect(bytesAt('b-settled', settled?.address as string).slice(0, 2)).toBe(ARMED_BYTE.optimized);
    // Read right after enabling, the optimizer may already have run: whichever the list said, the text agrees.
    const mechanism = armed && kprobeMechanism(armed);
    expect(['int3', 'optimized']).toContain(mechanism);
    expect(bytesAt('b-armed', armed?.address as string).slice(0, 2)).toBe(ARMED_BYTE[mechanism as 'int3' | 'optimized']);
  });

  it('keeps it an int3 with debug.kprobes-optimization=0', () => {
    const later = Number(read('later.txt').trim());
    const entry = byName(list('c-noopt.list'), later)[0];
    expect(entry && kprobeMechanism(entry)).toBe('int3');
    expect(bytesAt('c-noopt', entry?.address as string).slice(0, 2)).toBe(ARMED_BYTE.int3);
  });

  it("has the model's text agree with /proc/kcore in every phase, fed what the agent would report", () => {
    // probe.registered at kallsyms' symbol+offset, probe.armed with the list's mechanism and address,
    // probe.state on each change, probe.disarmed: the model's bytes (?? = a rel32 it cannot know) must
    // match the live text read in that phase.
    const later = Number(read('later.txt').trim());
    const base = BigInt(`0x${read('kallsyms.txt').split('\n').find((l) => l.endsWith(' tcp_set_state'))?.split(' ')[0]}`);
    const state = initialState();
    let seq = 0;
    const apply = (type: string, data: object) => {
      const e = { v: EVENT_VERSION, host: 'lab', bootId: '00000000-0000-4000-8000-000000000001', instance: '00000000-0000-4000-8000-000000000002', seq: ++seq, time: '2026-12-02T18:00:00.000000000Z', type, data } as Event;
      const r = evolve(state, e);
      if (!r.ok) throw new Error(`${type}: ${r.reason}`);
    };
    const probes = [['entry', 0], ['later', later]] as const;
    for (const [probe, offset] of probes) apply('probe.registered', { probe, kind: 'kprobe', symbol: 'tcp_set_state', offset, address: `0x${(base + BigInt(offset)).toString(16)}` });
    const entryOf = (phase: string, offset: number) => list(phase).find((e) => e.symbol === 'tcp_set_state' && (e.offset === offset || (offset === 0 && e.offset === 4)));
    const matches = (pattern: string, actual: string) => [...pattern].every((ch, i) => ch === '?' || ch === actual[i]);
    for (const [phase, step] of [['b-armed', 'arm'], ['b-settled', 'state'], ['c-noopt', 'state'], ['d-disabled', 'disarm']] as const) {
      for (const [probe, offset] of probes) {
        const e = entryOf(`${phase}.list`, offset) as KprobesListEntry;
        const mechanism = kprobeMechanism(e);
        if (step === 'arm') apply('probe.armed', { probe, mechanism, address: e.address });
        else if (step === 'state') apply('probe.state', { probe, mechanism, disabled: false, gone: false });
        else apply('probe.disarmed', { probe });
        const bytes = snapshot(state).hosts['lab']?.probes[probe]?.bytes;
        if (bytes === null || bytes === undefined) continue; // the model does not know the original instruction
        expect({ phase, probe, bytes, matches: matches(bytes, bytesAt(phase, e.address as string)) }).toEqual({ phase, probe, bytes, matches: true });
      }
    }
  });

  it('lists disabled probes as [DISABLED], and every registered probe of the offsets sweep', () => {
    expect(list('d-disabled.list').filter((e) => e.module === null).every((e) => e.disabled)).toBe(true);
    const accepted = read('accepted.txt').trim().split('\n').map(Number);
    expect(accepted).toContain(0);
    expect(list('a-registered.list').filter((e) => e.symbol === 'tcp_set_state').length).toBe(accepted.length);
    expect(read('enabled.txt').trim()).toBe('1');
    expect(read('optimization.txt').trim()).toBe('1');
    expect(Number(read('blacklist.count').trim())).toBeGreaterThan(100);
    expect(release).toMatch(series === '6.12' ? /^6\.12\./ : /^6\.1\./);
  });
});
