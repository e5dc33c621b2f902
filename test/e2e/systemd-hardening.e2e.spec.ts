// The systemd unit's hardening against the agent on this kernel, without systemd as PID 1 (CI has
// none): a run confined to the unit's CapabilityBoundingSet (setpriv) works, and every system call
// it makes (strace) is one the unit's SystemCallFilter allows (groups expanded by
// `systemd-analyze syscall-filter`, systemd's own tables). ProtectSystem=strict leaves /sys
// writable by systemd's definition; deploy-config.unit.spec.ts checks the unit's directives.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { decodeEvent } from '@probefleet/events';
import { AGENT, REPO, tempDir } from '../support/agent-kafka';

const unit = readFileSync(join(REPO, 'deploy', 'systemd', 'probefleet-agent.service'), 'utf8');
const directives = (key: string) => [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!.trim());

/** Every group of `systemd-analyze syscall-filter` with its members (names or nested groups). */
function syscallGroups(): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of execFileSync('systemd-analyze', ['syscall-filter'], { encoding: 'utf8' }).split('\n')) {
    if (line.startsWith('@')) groups.set(line.trim(), (current = []));
    else if (current && line.trim() !== '' && !line.trim().startsWith('#')) current.push(line.trim());
  }
  return groups;
}

function expand(names: string[], groups: Map<string, string[]>, seen = new Set<string>()): string[] {
  return names.flatMap((n) => {
    if (!n.startsWith('@')) return [n];
    if (seen.has(n)) return [];
    seen.add(n);
    const members = groups.get(n);
    if (!members) throw new Error(`systemd knows no system call group ${n}`);
    return expand(members, groups, seen);
  });
}

describe('the systemd unit confines a working agent', () => {
  const caps = directives('CapabilityBoundingSet').join(' ').split(/\s+/);
  const filters = directives('SystemCallFilter');
  const dir = tempDir('probefleet-hardening-');
  const trace = join(dir, 'strace.txt');
  // -all,+sys_admin,...: what systemd gives the service's root from its bounding set.
  const bounding = ['-all', ...caps.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`)].join(',');
  const run = spawnSync(
    'strace',
    ['-f', '-qq', '-o', trace, 'setpriv', `--bounding-set=${bounding}`, '--inh-caps=-all', '--', process.execPath, AGENT, 'run', '--sink', 'stdout', '--duration', '3'],
    { cwd: REPO, encoding: 'utf8', env: { ...process.env, PROBEFLEET_METRICS_PORT: '0' }, timeout: 60_000 },
  );
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names the capabilities tracing needs and a filter of known groups', () => {
    expect(caps.sort()).toEqual(['CAP_SYSLOG', 'CAP_SYS_ADMIN']);
    expect(filters.length).toBeGreaterThan(0);
    const groups = syscallGroups();
    for (const f of filters) expand(f.replace(/^~/, '').split(/\s+/), groups);
  });

  it('traces within the bounding set: started, registered, stopped', () => {
    expect({ status: run.status, stderr: run.status === 0 ? '' : run.stderr }).toEqual({ status: 0, stderr: '' });
    const types = run.stdout.split('\n').filter(Boolean).map((l) => {
      const d = decodeEvent(l);
      if (!d.ok) throw new Error(`invalid event: ${l}`);
      return d.value.type;
    });
    expect(types).toEqual(expect.arrayContaining(['agent.started', 'probe.registered', 'probe.armed', 'agent.stopped']));
  });

  it('makes only system calls the filter allows', () => {
    const groups = syscallGroups();
    const allowed = new Set(filters.filter((f) => !f.startsWith('~')).flatMap((f) => expand(f.split(/\s+/), groups)));
    const denied = new Set(filters.filter((f) => f.startsWith('~')).flatMap((f) => expand(f.slice(1).split(/\s+/), groups)));
    // strace -f: "PID name(args" per call; the exec of setpriv and of node are the first lines.
    const used = new Set([...readFileSync(trace, 'utf8').matchAll(/^\d+\s+([a-z_0-9]+)\(/gm)].map((m) => m[1]!));
    expect(used.size).toBeGreaterThan(20);
    expect([...used].filter((s) => !allowed.has(s) || denied.has(s)).sort()).toEqual([]);
  });
});
