// Discovery with the config's tracefs override applied, and the doctor report built from it.
import { access, readFile } from 'node:fs/promises';
import { arch, release } from 'node:os';
import { join } from 'node:path';
import { discover, type DiscoveryReport } from '@probefleet/tracefs';
import type { Mode } from './config';
import { TCP_TRACEPOINT } from '@probefleet/events';
import { capabilities, chooseMode, type ModeChoice } from './mode';

const present = (p: string) => access(p).then(() => true, () => false);

export async function discoverHost(tracefsOverride?: string): Promise<DiscoveryReport> {
  const r = await discover({ mount: tracefsOverride === undefined });
  if (tracefsOverride === undefined) return r;
  const dir = tracefsOverride;
  const events = await readFile(join(dir, 'available_events'), 'utf8').catch(() => null);
  const problems = r.problems.filter((p) => !/tracefs|kprobe_events/.test(p));
  if (events === null) problems.push(`${dir} is not a tracefs mount (no available_events)`);
  return {
    ...r,
    tracefs: events === null ? null : dir,
    mountedTracefs: false,
    kprobeEvents: await present(join(dir, 'kprobe_events')),
    dynamicEvents: await present(join(dir, 'dynamic_events')),
    instances: await present(join(dir, 'instances')),
    tracepoints: events?.split('\n').filter((l) => l !== '') ?? [],
    problems,
  };
}

export interface DoctorReport {
  kernelRelease: string;
  arch: string;
  tracefs: string | null;
  mountedTracefs: boolean;
  kprobeEvents: boolean;
  dynamicEvents: boolean;
  instances: boolean;
  btf: DiscoveryReport['btf'];
  tracepoint: { name: string; present: boolean };
  kprobeBlacklist: { readable: boolean; entries: number; tcpSetStateListed: boolean };
  /** debugfs kprobes/ (list, enabled) and sysctl debug.kprobes-optimization: how kprobes get armed here. */
  kprobes: DiscoveryReport['kprobes'];
  privileges: DiscoveryReport['privileges'];
  capabilities: string[];
  problems: string[];
  run: ModeChoice;
}

/** `cpuArch`: Node's name of the CPU (injectable: the kprobe's registers are x86-64 only). */
export function doctorReport(r: DiscoveryReport, requested: Mode, cpuArch: string = arch()): DoctorReport {
  return {
    kernelRelease: release(),
    arch: cpuArch,
    tracefs: r.tracefs,
    mountedTracefs: r.mountedTracefs,
    kprobeEvents: r.kprobeEvents,
    dynamicEvents: r.dynamicEvents,
    instances: r.instances,
    btf: r.btf,
    tracepoint: { name: TCP_TRACEPOINT.name, present: r.tracepoints.includes(TCP_TRACEPOINT.name) },
    kprobeBlacklist: {
      readable: r.kprobeBlacklist !== null,
      entries: r.kprobeBlacklist?.length ?? 0,
      tcpSetStateListed: r.kprobeBlacklist?.includes('tcp_set_state') ?? false,
    },
    kprobes: r.kprobes,
    privileges: r.privileges,
    capabilities: capabilities(r),
    problems: r.problems,
    run: chooseMode(r, requested, cpuArch),
  };
}

function kprobeLines(k: DoctorReport['kprobes'], kprobeEvents: boolean): string[] {
  if (!kprobeEvents) return [];
  const onOff = (b: boolean | null, on: string, off: string) => (b === null ? 'unknown' : b ? on : off);
  return [
    `kprobes/list    ${k.dir !== null ? `${k.dir}/list${k.mounted ? ' (debugfs mounted now)' : ''}` : `unreadable: ${k.problem ?? '?'} — mechanism unknown`}`,
    `kprobes enabled ${onOff(k.enabled, 'yes', 'NO (kprobes/enabled = 0: every kprobe disarmed)')}`,
    `optimization    ${onOff(k.optimization, 'on (debug.kprobes-optimization = 1)', 'off (debug.kprobes-optimization = 0: kprobes stay int3)')}`,
  ];
}

export function formatDoctor(d: DoctorReport): string {
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  const lines = [
    `kernel          ${d.kernelRelease} (${d.arch})`,
    `tracefs         ${d.tracefs ?? 'not mounted'}${d.mountedTracefs ? ' (mounted now)' : ''}`,
    `kprobe_events   ${yes(d.kprobeEvents)}`,
    `dynamic_events  ${yes(d.dynamicEvents)}`,
    `instances       ${yes(d.instances)}`,
    `BTF             ${d.btf.present ? `${d.btf.path} (${d.btf.bytes} bytes)` : `no (${d.btf.path})`}`,
    `tracepoint      ${d.tracepoint.name}: ${d.tracepoint.present ? 'present' : 'absent'}`,
    `kprobe blacklist ${d.kprobeBlacklist.readable ? `${d.kprobeBlacklist.entries} entries, tcp_set_state ${d.kprobeBlacklist.tcpSetStateListed ? 'LISTED' : 'not listed'}` : 'not readable (debugfs)'}`,
    ...kprobeLines(d.kprobes, d.kprobeEvents),
    `privileges      euid ${d.privileges.euid}, CapEff ${d.privileges.capEff ?? '?'}, can trace: ${yes(d.privileges.canTrace)}`,
    `run mode        ${d.run.mode}: ${d.run.reason}${d.run.unusable ? ` — UNUSABLE: ${d.run.unusable}` : ''}`,
  ];
  for (const p of d.problems) lines.push(`problem         ${p}`);
  return lines.join('\n');
}
