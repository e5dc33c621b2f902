import type { Event, EventType } from '../src';

export const BOOT = '6c1b2a4e-8f1d-4c7b-9a3e-2d5f7b9c1e0a';
export const INSTANCE = '0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a';

const envelope = { v: 1 as const, host: 'web-1', bootId: BOOT, instance: INSTANCE, time: '2026-11-25T19:52:23.123456789Z' };

export const TCP_HIT_ARGS = {
  skaddr: '0xffff8881234abcd0',
  family: 'AF_INET',
  saddr: '10.0.0.1',
  daddr: '10.0.0.2',
  sport: 43210,
  dport: 443,
  oldstate: 'TCP_SYN_SENT',
  newstate: 'TCP_ESTABLISHED',
} as const;

/** One valid event of every type, seq 1..10 of one stream. */
export const SAMPLES: { [T in EventType]: Extract<Event, { type: T }> } = {
  'agent.started': {
    ...envelope,
    seq: 1,
    type: 'agent.started',
    data: { kernelRelease: '6.12.0-1-amd64', arch: 'x86_64', agentVersion: '0.1.0', mode: 'kprobe', capabilities: ['kprobe_events', 'btf'] },
  },
  'probe.registered': {
    ...envelope,
    seq: 2,
    type: 'probe.registered',
    data: {
      probe: 'probefleet/tcp_set_state',
      kind: 'kprobe',
      symbol: 'tcp_set_state',
      offset: 0,
      address: '0xffffffff8206b250',
      insn: 'f30f1efa',
      definition: 'p:probefleet/tcp_set_state tcp_set_state sk=%di:x64 state=%si:s32',
    },
  },
  'probe.armed': { ...envelope, seq: 3, type: 'probe.armed', data: { probe: 'probefleet/tcp_set_state', mechanism: 'ftrace', address: '0xffffffff81c00c34' } },
  'probe.hit': {
    ...envelope,
    seq: 4,
    monoNs: '123456789012345',
    type: 'probe.hit',
    data: {
      probe: 'probefleet/tcp_set_state',
      cpu: 1,
      pid: 4242,
      comm: 'curl',
      ctx: { irqsOff: false, needResched: false, hardirq: false, softirq: true, nmi: false, preemptDepth: 1 },
      args: { ...TCP_HIT_ARGS },
    },
  },
  'probe.missed': { ...envelope, seq: 5, type: 'probe.missed', data: { probe: 'probefleet/tcp_set_state', count: 3 } },
  'agent.heartbeat': { ...envelope, seq: 6, type: 'agent.heartbeat', data: { counters: { eventsRead: 10, spoolBytes: 0 } } },
  'agent.loss': { ...envelope, seq: 7, type: 'agent.loss', data: { overruns: [{ cpu: 0, count: 12 }] } },
  'probe.disarmed': { ...envelope, seq: 8, type: 'probe.disarmed', data: { probe: 'probefleet/tcp_set_state' } },
  'probe.unregistered': { ...envelope, seq: 9, type: 'probe.unregistered', data: { probe: 'probefleet/tcp_set_state' } },
  'agent.stopped': { ...envelope, seq: 10, type: 'agent.stopped', data: { reason: 'SIGTERM' } },
  'probe.state': { ...envelope, seq: 11, type: 'probe.state', data: { probe: 'probefleet/tcp_set_state', mechanism: 'ftrace', disabled: true, gone: false } },
  // The control stream's events (the store takes them from the API only), and an agent's reports.
  'policy.put': { ...envelope, seq: 12, type: 'policy.put', data: { policy: 'https-only', version: 2, spec: { selector: { modes: ['tracepoint'] }, filter: { ports: [443] } } } },
  'policy.deleted': { ...envelope, seq: 13, type: 'policy.deleted', data: { policy: 'https-only', version: 3 } },
  'policy.applied': {
    ...envelope,
    seq: 14,
    type: 'policy.applied',
    data: { policy: 'https-only', version: 2, definitions: ['p:probefleet/conn tcp_v4_connect len=%dx:s32'], filters: [{ event: 'inet_sock_set_state', filter: '(sport == 443 || dport == 443)' }] },
  },
  'policy.rejected': {
    ...envelope,
    seq: 15,
    type: 'policy.rejected',
    data: { policy: 'bad-probe', version: 1, reason: 'the kernel refused a probe', line: 'p:probefleet/x no_such_fn', kernel: 'trace_kprobe: error: Failed to register probe event' },
  },
  'policy.removed': { ...envelope, seq: 16, type: 'policy.removed', data: { policy: 'https-only', version: 3 } },
};

export const SAMPLE_STREAM: Event[] = Object.values(SAMPLES).sort((a, b) => a.seq - b.seq);
