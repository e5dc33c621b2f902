import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { decodeEvent, encodeEvent, OwnerSchema, scanHit, TcpArgsSchema, type Event, type TcpArgs } from '@probefleet/events';
import { replay } from '@probefleet/kprobe-model';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_VERSION, TCP_PROBE_LINE_DEBIAN as TCP_KPROBE_DEFINITION } from '@probefleet/events';
import { Fleet, generateFleet, type FleetOptions } from './fleet';
import { KERNELS } from './hosts';
import { checkTcpPaths } from './tcp';

const START = '2026-11-25T10:00:00.000000000Z';
const base: FleetOptions = { seed: 1, agents: 12, eventsPerSecond: 2000, start: START };
/** Agents restart, hosts reboot and crash within seconds: every lifecycle path in a short run. */
const eventful: FleetOptions = { ...base, eventsPerSecond: 100, restartMeanS: 20, rebootMeanS: 40, crashShare: 0.4, lossMeanS: 2, missedMeanS: 2, heartbeatIntervalS: 1 };

const streamKey = (e: Event) => `${e.host}/${e.instance}`;

function byStream(events: readonly Event[]): Map<string, Event[]> {
  const m = new Map<string, Event[]>();
  for (const e of events) {
    const list = m.get(streamKey(e)) ?? [];
    list.push(e);
    m.set(streamKey(e), list);
  }
  return m;
}

/** The failures of the contract: replay through the model, seq 1..n per stream, valid TCP paths. */
function contractProblems(events: readonly Event[]): string[] {
  const problems: string[] = [];
  const outcome = replay(events.map(encodeEvent));
  if (!outcome.ok) problems.push(`replay: line ${outcome.line}: ${outcome.kind === 'violation' ? outcome.reason : outcome.failure.reason}`);
  for (const [key, stream] of byStream(events)) {
    stream.forEach((e, i) => {
      if (e.seq !== i + 1) problems.push(`${key}: event ${i} has seq ${e.seq}`);
    });
  }
  return [...problems, ...checkTcpPaths(events)];
}

describe('what the simulator restates of the agent', () => {
  // Checked against the agent itself: its version, and the tcp_set_state line it wrote on the
  // recorded Debian kernels (test/fixtures/kernels), built by libs/tracefs from their BTF.
  it('is what the agent reports', () => {
    const root = join(__dirname, '../../..');
    expect(AGENT_VERSION).toBe((JSON.parse(readFileSync(join(root, 'apps/agent/package.json'), 'utf8')) as { version: string }).version);
    for (const release of ['6.1.0-56-amd64', '6.12.117+deb12-amd64']) {
      const file = join(root, 'test/fixtures/kernels', release, 'agent-run.ndjson');
      const defs = readFileSync(file, 'utf8').split('\n').filter((l) => l.includes('"probe":"tcp_set_state","kind":"kprobe"')).map((l) => (JSON.parse(l) as { data: { definition: string } }).data.definition);
      expect(defs.length).toBeGreaterThan(0);
      for (const d of defs) expect(d).toBe(TCP_KPROBE_DEFINITION);
    }
  });
});

describe('Fleet', () => {
  const events = generateFleet(eventful, 20000);

  it('is deterministic for a seed, and the seed matters', () => {
    expect(generateFleet(eventful, 20000)).toEqual(events);
    expect(generateFleet({ ...eventful, seed: 2 }, 2000)).not.toEqual(events.slice(0, 2000));
  });

  it('replays through the kprobe model without a violation; every stream is seq 1..n; every TCP path is valid', () => {
    expect(contractProblems(events)).toEqual([]);
  });

  it('exercises restarts, reboots, crashes, losses, misses and heartbeats', () => {
    const fleet = new Fleet(eventful);
    for (let i = 0; i < 20000; i++) fleet.next();
    fleet.finish();
    const s = fleet.stats();
    expect(s.restarts).toBeGreaterThan(0);
    expect(s.reboots).toBeGreaterThan(s.crashes);
    expect(s.crashes).toBeGreaterThan(0);
    expect(s.streams).toBeGreaterThan(eventful.agents);
    for (const type of ['agent.heartbeat', 'agent.loss', 'probe.missed', 'agent.stopped']) expect(s.byType[type]).toBeGreaterThan(0);
    expect(s.agentsRunning).toBe(0);
    expect(s.events).toBe(events.length);
  });

  it('spells every event as the agent does: valid, in encodeEvent key order, hits on the replay fast path', () => {
    const problems: string[] = [];
    const envelopeKeys = 'v,type,host,bootId,instance,seq,time,monoNs,data';
    for (const e of events) {
      const line = encodeEvent(e);
      const decoded = decodeEvent(line);
      // zod rebuilds non-hit events in its schema's key order: compare values, not text.
      if (!decoded.ok || !isDeepStrictEqual(decoded.value, e)) problems.push(`${line}: does not decode to itself`);
      if (Object.keys(e).join() !== envelopeKeys) problems.push(`${line}: envelope keys`);
      if (e.type === 'probe.hit') {
        const scanned = scanHit(line);
        if (scanned?.seq !== e.seq || scanned.host !== e.host) problems.push(`${line}: not on the replay fast path`);
        if (!TcpArgsSchema.safeParse(e.data.args).success) problems.push(`${line}: not TCP args`);
        if (Object.keys(e.data).join() !== 'probe,cpu,pid,comm,ctx,args,owner,attribution') problems.push(`${line}: hit data keys`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('gives every TCP hit its socket\'s owner: the connecting or accepting process, whoever ran the softirq; pods for web, app and worker', () => {
    const problems: string[] = [];
    const owners = new Map<string, string>();
    for (const e of events) {
      if (e.type !== 'probe.hit' || e.data.owner === undefined) continue;
      const { owner, attribution } = e.data;
      if (!OwnerSchema.safeParse(owner).success) problems.push(`seq ${e.seq}: owner does not parse`);
      // In process context the kernel's task is the owner's (one of its threads); in softirq it is whoever ran.
      if (attribution === 'direct' && (e.data.ctx?.softirq || e.data.comm !== owner.comm)) problems.push(`${e.host} seq ${e.seq}: direct but ${e.data.comm} in ${JSON.stringify(e.data.ctx)}`);
      const role = e.host.split('-')[0]!;
      const inPod = owner.pod !== undefined;
      if (inPod !== (['web', 'app', 'worker'].includes(role) && owner.comm !== 'curl')) problems.push(`${e.host}: ${owner.comm} in a pod: ${inPod}`);
      if (inPod && !owner.cgroup.includes(`-pod${owner.pod!.uid.replace(/-/g, '_')}.slice/cri-containerd-${owner.container!.id}.scope`)) problems.push(`${e.host}: cgroup ${owner.cgroup}`);
      owners.set(`${e.host}/${e.bootId}/${owner.comm}/${owner.pid}`, owner.cgroup);
    }
    expect(problems).toEqual([]);
    expect(events.filter((e) => e.type === 'probe.hit').every((e) => e.type === 'probe.hit' && e.data.attribution !== undefined)).toBe(true);
    expect(owners.size).toBeGreaterThan(12);
  });

  it('sends tcplife\'s counters on kprobe-mode TCP_CLOSE hits when asked, and then only there', () => {
    const withLife = generateFleet({ ...eventful, tcplife: true }, 5000);
    const closes = withLife.filter((e) => e.type === 'probe.hit' && (e.data.args as TcpArgs).newstate === 'TCP_CLOSE');
    const modes = new Map(withLife.filter((e) => e.type === 'agent.started').map((e) => [e.instance, (e.data as { mode: string }).mode]));
    expect(closes.length).toBeGreaterThan(0);
    for (const e of withLife.filter((x) => x.type === 'probe.hit')) {
      const d = e.data as unknown as { life?: unknown; args: TcpArgs };
      expect(d.life !== undefined).toBe(d.args.newstate === 'TCP_CLOSE' && modes.get(e.instance) === 'kprobe');
      if (d.life !== undefined) expect(decodeEvent(encodeEvent(e))).toMatchObject({ ok: true, value: e });
    }
    // The same fleet otherwise: the counters draw nothing from the seed's stream.
    expect(withLife.map((e) => ({ ...e, data: { ...e.data, life: undefined } }))).toEqual(generateFleet(eventful, 5000).map((e) => ({ ...e, data: { ...e.data, life: undefined } })));
  });

  it('has event times in order, advancing at about the configured rate', () => {
    const fleet = new Fleet({ ...base, eventsPerSecond: 5000 });
    const times = Array.from({ length: 50000 }, () => fleet.next().time);
    expect([...times].sort()).toEqual(times);
    const seconds = (Date.parse(times[times.length - 1] as string) - Date.parse(START)) / 1000;
    // 50000 events at 5000/s: ~10 virtual seconds (agent start-up takes ~2 of them before hits flow).
    expect(seconds).toBeGreaterThan(9);
    expect(seconds).toBeLessThan(13);
  });

  it('starts each stream as the agent does and ends it with agent.stopped unless the host crashed', () => {
    const streams = byStream(events);
    const crashedBoots = new Set<string>();
    for (const stream of streams.values()) {
      const types = stream.map((e) => e.type);
      expect(types.slice(0, 1)).toEqual(['agent.started']);
      if (types[types.length - 1] !== 'agent.stopped') crashedBoots.add(`${stream[0]?.host}/${stream[0]?.bootId}`);
      // The orderly stop undoes what the start did (a stop may come before the probe was armed).
      else {
        // Every probe disarmed, then every probe unregistered (the agent's teardown order).
        const n = types.filter((t) => t === 'probe.registered').length;
        const undo = [...(types.includes('probe.armed') ? Array(n).fill('probe.disarmed') : []), ...Array(n).fill('probe.unregistered'), 'agent.stopped'];
        if (n > 0) expect(types.slice(-undo.length)).toEqual(undo);
      }
      // Registered and armed before any hit.
      const firstHit = types.indexOf('probe.hit');
      if (firstHit >= 0) {
        expect(types.indexOf('probe.registered')).toBeLessThan(types.indexOf('probe.armed'));
        expect(types.indexOf('probe.armed')).toBeLessThan(firstHit);
      }
    }
    // A stream without agent.stopped ended with its boot (a crash): no later stream runs in that boot.
    const lastStreamOfBoot = new Map<string, string>();
    for (const e of events) lastStreamOfBoot.set(`${e.host}/${e.bootId}`, e.instance);
    for (const stream of streams.values()) {
      const first = stream[0] as Event;
      if (stream[stream.length - 1]?.type !== 'agent.stopped') expect(lastStreamOfBoot.get(`${first.host}/${first.bootId}`)).toBe(first.instance);
    }
    expect(crashedBoots.size).toBeGreaterThan(0);
  });

  it('registers the agent probe of the mode its kernel allows', () => {
    for (const e of events) {
      if (e.type !== 'probe.registered') continue;
      const started = events.find((s) => s.type === 'agent.started' && s.instance === e.instance);
      if (started?.type !== 'agent.started') throw new Error('no agent.started');
      expect(KERNELS.find((k) => k.release === started.data.kernelRelease)?.mode).toBe(started.data.mode);
      if (started.data.mode === 'kprobe' && e.data.probe === 'connect_v4') {
        expect(e.data).toEqual({ probe: 'connect_v4', kind: 'kprobe', symbol: 'tcp_v4_connect', offset: e.data.offset, address: expect.stringMatching(/^0xffffffff[89ab]/), definition: `p:probefleet/connect_v4 tcp_v4_connect+${e.data.offset} sk=%di:x64` });
        expect([9, 13]).toContain(e.data.offset);
      } else if (started.data.mode === 'kprobe') {
        expect(e.data).toEqual({ probe: 'tcp_set_state', kind: 'kprobe', symbol: 'tcp_set_state', offset: 0, address: expect.stringMatching(/^0xffffffff[89ab]/), definition: TCP_KPROBE_DEFINITION });
      } else expect(e.data).toEqual({ probe: 'inet_sock_set_state', kind: 'tracepoint', symbol: 'sock:inet_sock_set_state', offset: 0 });
    }
  });

  it('gives a reboot a new bootId, a new kprobe address (KASLR) and a restarted monotonic clock', () => {
    const boots = new Map<string, { bootId: string; address?: string; firstMono: bigint }[]>();
    for (const e of events) {
      const list = boots.get(e.host) ?? [];
      boots.set(e.host, list);
      let boot = list[list.length - 1];
      if (boot?.bootId !== e.bootId) list.push((boot = { bootId: e.bootId, firstMono: BigInt(e.monoNs as string) }));
      if (e.type === 'probe.registered' && e.data.address !== undefined && e.data.probe === 'tcp_set_state') {
        if (boot.address !== undefined) expect(e.data.address).toBe(boot.address);
        boot.address = e.data.address;
      }
    }
    const rebooted = [...boots.values()].filter((b) => b.length > 1);
    expect(rebooted.length).toBeGreaterThan(0);
    for (const list of rebooted) {
      expect(new Set(list.map((b) => b.bootId)).size).toBe(list.length);
      // Booted during the run: the agent starts seconds after boot.
      for (const b of list.slice(1)) expect(b.firstMono).toBeLessThan(60_000_000_000n);
      const addresses = list.map((b) => b.address).filter((a) => a !== undefined);
      if (addresses.length > 1) expect(new Set(addresses).size).toBeGreaterThan(1);
    }
  });

  it('arms the three ways the kernel does: tcp_set_state+0 through ftrace, a user probe as an int3 the optimizer may turn into a jmp', () => {
    const fleet = generateFleet({ ...base, agents: 40 }, 20000);
    const armed = fleet.filter((e) => e.type === 'probe.armed');
    const mechanisms = (probe: string) => new Set(armed.flatMap((e) => (e.type === 'probe.armed' && e.data.probe === probe ? [e.data.mechanism] : [])));
    expect(mechanisms('tcp_set_state')).toEqual(new Set(['ftrace']));
    expect(mechanisms('inet_sock_set_state')).toEqual(new Set([undefined]));
    expect(mechanisms('connect_v4')).toEqual(new Set(['int3']));
    const states = fleet.filter((e) => e.type === 'probe.state');
    expect(states.length).toBeGreaterThan(0);
    expect(new Set(states.map((e) => e.type === 'probe.state' && `${e.data.probe} ${e.data.mechanism}`))).toEqual(new Set(['connect_v4 optimized']));
    // Hosts with debug.kprobes-optimization=0 keep their user probe an int3.
    const optimizedHosts = new Set(states.map((e) => e.host));
    const userHosts = new Set(armed.filter((e) => e.type === 'probe.armed' && e.data.probe === 'connect_v4').map((e) => e.host));
    expect(optimizedHosts.size).toBeLessThan(userHosts.size);
    expect(contractProblems(fleet)).toEqual([]);
  });

  it('reports monotonic heartbeat counters per stream', () => {
    for (const stream of byStream(events).values()) {
      let prev: Record<string, number> | undefined;
      for (const e of stream) {
        if (e.type !== 'agent.heartbeat') continue;
        const c = e.data.counters;
        expect(c['eventsRead']).toBe(stream.filter((x) => x.type === 'probe.hit' && x.seq < e.seq).length);
        expect(c['eventsSpooled']).toBe(e.seq - 1);
        if (prev) for (const k of ['eventsRead', 'eventsSpooled', 'eventsPublished', 'kernelOverruns', 'kprobeMisses']) expect(c[k]).toBeGreaterThanOrEqual(prev[k] as number);
        prev = c;
      }
    }
  });

  it('refuses what it cannot simulate', () => {
    expect(() => new Fleet({ ...base, agents: 0 })).toThrow(/agents/);
    expect(() => new Fleet({ ...base, eventsPerSecond: 0 })).toThrow(/eventsPerSecond/);
    expect(() => new Fleet({ ...base, start: 'yesterday' })).toThrow(/date-time/);
    const fleet = new Fleet(base);
    fleet.next();
    fleet.finish();
    expect(() => fleet.next()).toThrow(/finished/);
  });
});

describe('any generated fleet', () => {
  it('replays through the model with no violation, every stream is seq 1..n and every TCP path is valid', () => {
    const options = fc.record({
      seed: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      agents: fc.integer({ min: 1, max: 16 }),
      eventsPerSecond: fc.integer({ min: 10, max: 100_000 }),
      tracepointShare: fc.double({ min: 0, max: 1, noNaN: true }),
      ipv6Share: fc.double({ min: 0, max: 1, noNaN: true }),
      heartbeatIntervalS: fc.constantFrom(0.5, 5, 30),
      restartMeanS: fc.constantFrom(0.5, 3, 60, Infinity),
      rebootMeanS: fc.constantFrom(1, 10, 600, Infinity),
      crashShare: fc.double({ min: 0, max: 1, noNaN: true }),
      lossMeanS: fc.constantFrom(0.5, 100, Infinity),
      missedMeanS: fc.constantFrom(0.5, 100, Infinity),
    });
    fc.assert(
      fc.property(options, fc.integer({ min: 1, max: 3000 }), (o, count) => {
        const events = generateFleet({ ...o, start: START }, count);
        expect(events.length).toBeGreaterThanOrEqual(count);
        expect(contractProblems(events)).toEqual([]);
      }),
      { numRuns: 60 },
    );
  });
});
