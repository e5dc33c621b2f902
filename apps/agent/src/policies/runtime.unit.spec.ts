// PolicyRuntime on a tracefs laid out in a temporary directory (the kernel's refusals are the kernel
// lab's and the e2e tier's): what it writes where, the events it reports and in which order, and
// what it undoes on a change or a delete.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkPolicyRecord, type PolicyRecord } from '@probefleet/policy';
import { Tracefs, type RawTraceReader } from '@probefleet/tracefs';
import pino from 'pino';
import { KprobeView } from '../kprobe-view';
import { planProbes, type Probe } from '../probes';
import type { Emit } from '../reader';
import type { Live } from '../run';
import { PolicyCache } from './cache';
import { PolicyRuntime } from './runtime';

const FORMATS = join(__dirname, '../../../../test/fixtures/tracefs-raw');
const log = pino({ level: 'silent' });

function record(name: string, version: number, spec: unknown): PolicyRecord {
  const r = checkPolicyRecord({ name, version, spec });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.value;
}

function setup(mode: 'tracepoint' | 'kprobe') {
  const dir = mkdtempSync(join(tmpdir(), 'policy-runtime-'));
  const tracefs = new Tracefs(dir);
  const inst = tracefs.instance('1-00000000-0000-4000-8000-000000000000');
  const event = (group: string, name: string, format?: string) => {
    const d = join(inst.dir, 'events', group, name);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'filter'), 'none\n');
    writeFileSync(join(d, 'enable'), '0\n');
    if (format) copyFileSync(join(FORMATS, format), join(d, 'format'));
  };
  writeFileSync(join(dir, 'kprobe_events'), '');
  writeFileSync(join(dir, 'error_log'), '');
  event('sock', 'inet_sock_set_state', 'inet_sock_set_state.format');
  event('sched', 'sched_process_exec', 'sched_process_exec.format');
  // What the kernel makes on registering the policy's kprobe (its format: any event's will do here).
  event('probefleet', 'policy_connect', 'sched_process_exec.format');
  const tcp: Probe = mode === 'tracepoint'
    ? planProbes('tracepoint', null, { probes: [], filter: { families: ['AF_INET'] } })[0]!
    : { ...planProbes('tracepoint', null, { probes: [] })[0]!, name: 'tcp_set_state', kind: 'kprobe', group: 'probefleet', event: 'tcp_set_state', filter: '' };
  if (mode === 'kprobe') event('probefleet', 'tcp_set_state', 'sched_process_exec.format');
  const emitted: { type: string; data: Record<string, unknown> }[] = [];
  const emit: Emit = (type, data) => void emitted.push({ type, data: data as Record<string, unknown> });
  const added: string[] = [];
  const reader = { decoder: { addFormat: (f: { name: string }) => void added.push(f.name) } } as unknown as RawTraceReader;
  const live: Live[] = [{ probe: tcp, address: undefined, registered: true, armed: true }];
  const byEvent = new Map([[tcp.event, tcp]]);
  const probes = [tcp];
  const runtime = new PolicyRuntime({
    mode, tracefs, inst, reader, live, byEvent, probes, tcp, localFilter: mode === 'tracepoint' ? { families: ['AF_INET'] } : undefined,
    view: new KprobeView(null, log), emit, log, host: { host: 'web-1', kernelRelease: '6.18.0', mode, labels: { role: 'web' } }, cache: new PolicyCache(dir, log),
  });
  const file = (...p: string[]) => readFileSync(join(inst.dir, 'events', ...p), 'utf8').trim();
  return { dir, runtime, emitted, added, live, byEvent, probes, file, kprobeEvents: () => readFileSync(join(dir, 'kprobe_events'), 'utf8'), done: () => rmSync(dir, { recursive: true, force: true }) };
}

const types = (e: { type: string; data: Record<string, unknown> }[]) => e.map((x) => `${x.type} ${String(x.data['policy'] ?? x.data['probe'])}${x.data['version'] ? `@${String(x.data['version'])}` : ''}`);

describe('PolicyRuntime', () => {
  it('joins a filter policy to the config\'s TCP filter, replaces it on a new version and restores the config\'s on delete', async () => {
    const t = setup('tracepoint');
    try {
      await t.runtime.receive({ name: 'web', record: record('web', 1, { selector: { labels: { role: 'web' } }, filter: { ports: [443] } }) });
      expect(t.file('sock', 'inet_sock_set_state', 'filter')).toBe('family == 2 && (sport == 443 || dport == 443)');
      await t.runtime.receive({ name: 'web', record: record('web', 1, { filter: { ports: [443] } }) }); // the same version again: nothing
      await t.runtime.receive({ name: 'web', record: record('web', 2, { filter: { ports: [8443] } }) });
      expect(t.file('sock', 'inet_sock_set_state', 'filter')).toBe('family == 2 && (sport == 8443 || dport == 8443)');
      await t.runtime.receive({ name: 'web', record: null });
      expect(t.file('sock', 'inet_sock_set_state', 'filter')).toBe('family == 2');
      expect(types(t.emitted)).toEqual(['policy.applied web@1', 'policy.removed web@2', 'policy.applied web@2', 'policy.removed web@2']);
      expect(t.emitted[0]!.data['filters']).toEqual([{ event: 'inet_sock_set_state', filter: 'family == 2 && (sport == 443 || dport == 443)' }]);
    } finally {
      t.done();
    }
  });

  it('enables a tracepoint with its filter, reports its hits only once armed, and takes it down on delete', async () => {
    const t = setup('tracepoint');
    try {
      await t.runtime.receive({ name: 'execs', record: record('execs', 1, { tracepoints: [{ name: 'execs', tracepoint: 'sched:sched_process_exec' }], filter: { probes: { execs: [{ field: 'pid', op: '>', value: 1 }] } } }) });
      expect(t.file('sched', 'sched_process_exec', 'filter')).toBe('pid > 1');
      expect(t.file('sched', 'sched_process_exec', 'enable')).toBe('1');
      expect(t.added).toEqual(['sched_process_exec']);
      expect(t.byEvent.get('sched_process_exec')?.name).toBe('execs');
      expect(t.live.map((l) => l.probe.name)).toEqual(['inet_sock_set_state', 'execs']);
      await t.runtime.receive({ name: 'execs', record: null });
      expect(t.file('sched', 'sched_process_exec', 'enable')).toBe('0');
      expect(t.file('sched', 'sched_process_exec', 'filter')).toBe('0');
      expect(t.byEvent.has('sched_process_exec')).toBe(false);
      expect(t.probes.map((p) => p.name)).toEqual(['inet_sock_set_state']);
      expect(types(t.emitted)).toEqual(['probe.registered execs', 'probe.armed execs', 'policy.applied execs@1', 'probe.disarmed execs', 'probe.unregistered execs', 'policy.removed execs@1']);
    } finally {
      t.done();
    }
  });

  it('refuses kprobes in tracepoint mode and a probe on an event the run already traces, writing nothing', async () => {
    const t = setup('tracepoint');
    try {
      await t.runtime.receive({ name: 'k', record: record('k', 1, { probes: [{ name: 'policy_connect', symbol: 'tcp_v4_connect' }] }) });
      await t.runtime.receive({ name: 'dup', record: record('dup', 1, { tracepoints: [{ name: 'again', tracepoint: 'sock:inet_sock_set_state' }] }) });
      expect(t.emitted.map((e) => [e.type, e.data['policy'], e.data['reason']])).toEqual([
        ['policy.rejected', 'k', 'user kprobes need kprobe mode; this host runs tracepoint mode'],
        ['policy.rejected', 'dup', 'again (sock:inet_sock_set_state) is already traced here (inet_sock_set_state)'],
      ]);
      expect(t.kprobeEvents()).toBe('');
      expect(t.file('sock', 'inet_sock_set_state', 'filter')).toBe('none');
    } finally {
      t.done();
    }
  });

  it('registers a kprobe policy in kprobe_events and removes it again', async () => {
    const t = setup('kprobe');
    try {
      await t.runtime.receive({ name: 'conn', record: record('conn', 1, { probes: [{ name: 'policy_connect', symbol: 'tcp_v4_connect', args: [{ name: 'addrlen', fetch: '%dx', type: 's32' }] }] }) });
      expect(t.kprobeEvents()).toBe('p:probefleet/policy_connect tcp_v4_connect addrlen=%dx:s32\n');
      expect(t.file('probefleet', 'policy_connect', 'enable')).toBe('1');
      await t.runtime.receive({ name: 'conn', record: record('conn', 2, { selector: { hosts: ['db-*'] }, probes: [{ name: 'policy_connect', symbol: 'tcp_v4_connect' }] }) });
      expect(t.kprobeEvents()).toBe('p:probefleet/policy_connect tcp_v4_connect addrlen=%dx:s32\n-:probefleet/policy_connect\n');
      expect(types(t.emitted)).toEqual(['probe.registered policy_connect', 'probe.armed policy_connect', 'policy.applied conn@1', 'probe.disarmed policy_connect', 'probe.unregistered policy_connect', 'policy.removed conn@2']);
    } finally {
      t.done();
    }
  });
});
