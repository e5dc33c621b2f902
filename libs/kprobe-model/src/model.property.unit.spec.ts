import fc from 'fast-check';
import { decodeEvent, encodeEvent, type Event } from '@probefleet/events';
import { checkInvariants, decide, evolve, initialState, replay, snapshot, type Command, type KernelImage } from './index';
import { KERNEL, KERNEL_612, KERNEL_61_NOOPT } from '../test/kernel';

// Three kernels' worth of runs take a few seconds on our shared 2-core machine under load.
jest.setTimeout(60_000);

/** The seed's x86 without ftrace, Debian 6.12 (IBT, ftrace, optprobes), 6.1 with optimization off. */
const KERNELS: readonly KernelImage[] = [KERNEL, KERNEL_612, KERNEL_61_NOOPT];
const kernel = fc.constantFrom(...KERNELS);

const PROBES = ['p1', 'p2', 'p3', 'tp'];
const probe = fc.constantFrom(...PROBES);

const action = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      type: fc.constant('register' as const),
      probe,
      symbol: fc.constantFrom('tcp_set_state', 'tcp_v4_connect'),
      // Instruction boundaries of the kernels (ftrace sites, optimizable and blocked ranges) and one that is none.
      offset: fc.constantFrom(0, 0, 4, 1, 5, 9, 12, 14, 16),
      // A module's kprobe with a post_handler now and then: never optimized.
      postHandler: fc.constantFrom(false, false, false, true),
    }),
  },
  { weight: 2, arbitrary: fc.constantFrom({ type: 'optimize' as const }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('single-step' as const), probe }) },
  { weight: 4, arbitrary: fc.record({ type: fc.constantFrom('arm' as const, 'disarm' as const, 'unregister' as const), probe }) },
  { weight: 5, arbitrary: fc.record({ type: fc.constant('hit' as const), probe, cpu: fc.nat(3), reentered: fc.array(probe, { maxLength: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('report-missed' as const), probe, count: fc.integer({ min: 1, max: 5 }) }) },
  // An agent restart (new instance, same boot) or a reboot (new boot too) of the step's host.
  { weight: 1, arbitrary: fc.constantFrom({ type: 'restart' as const }, { type: 'reboot' as const }) },
);

const uuid = (kind: number, host: number, n: number) => `00000000-0000-4000-8${kind}${host}0-${n.toString(16).padStart(12, '0')}`;

// Every host starts with an aggregated kprobe and a tracepoint, armed, so random steps find something to hit.
const prelude = [0, 1].flatMap((host) => [
  [host, { type: 'register', probe: 'p1', symbol: 'tcp_set_state', offset: 0 }],
  [host, { type: 'register', probe: 'p2', symbol: 'tcp_set_state', offset: 0 }],
  [host, { type: 'register', probe: 'tp', symbol: '', offset: 0 }],
  [host, { type: 'arm', probe: 'p1' }],
  [host, { type: 'arm', probe: 'tp' }],
]) as [number, Action][];

type Action = typeof action extends fc.Arbitrary<infer A> ? A : never;

/** Command sequences of two hosts, each running one agent at a time. */
const commands = fc.array(fc.tuple(fc.nat(1), action), { maxLength: 80 }).map((randomSteps) => {
  const steps = [...prelude, ...randomSteps];
  const current = [{ boot: 0, instance: 0 }, { boot: 0, instance: 0 }];
  const cmds: Command[] = [];
  for (const [i, [hostIndex, act]] of steps.entries()) {
    const at = current[hostIndex] as { boot: number; instance: number };
    if (act.type === 'restart' || act.type === 'reboot') {
      at.instance++;
      if (act.type === 'reboot') at.boot++;
      continue;
    }
    const base = {
      host: `web-${hostIndex}`,
      bootId: uuid(0, hostIndex, at.boot),
      instance: uuid(1, hostIndex, at.instance),
      time: `2026-11-25T19:52:${String(i % 60).padStart(2, '0')}.000000000Z`,
    };
    if (act.type === 'register') {
      const kind = act.probe === 'tp' ? 'tracepoint' : 'kprobe';
      const symbol = kind === 'tracepoint' ? 'sock:inet_sock_set_state' : act.symbol;
      const postHandler = act.postHandler === true && kind === 'kprobe';
      cmds.push({ ...base, type: 'register', probe: act.probe, kind, symbol, offset: kind === 'tracepoint' ? 0 : (act.offset ?? 0), ...(postHandler ? { postHandler } : {}) });
    } else if (act.type === 'hit') cmds.push({ ...base, ...act, pid: 1, comm: 'swapper/0', args: { sport: 443 } });
    else cmds.push({ ...base, ...act });
  }
  return cmds;
});

/** Drives the model like a fleet of agents on `image`; returns the live state and every emitted event. */
function live(cmds: Command[], image: KernelImage = KERNEL) {
  const state = initialState();
  const events: Event[] = [];
  for (const command of cmds) {
    const before = JSON.stringify(snapshot(state));
    const decision = decide(command, state, image);
    expect(JSON.stringify(snapshot(state))).toBe(before); // decide only reads
    if (command.type === 'single-step' && decision.ok) {
      // Only an int3 hit single-steps: ftrace emulates the nop, the detour buffer runs copied instructions.
      expect(snapshot(state).hosts[command.host]?.probes[command.probe]?.mechanism ?? 'int3').toBe('int3');
    }
    if (!decision.ok) continue;
    for (const event of decision.events) {
      const evolution = evolve(state, event);
      if (!evolution.ok) throw new Error(`emitted event refused: ${evolution.reason}`);
      expect(checkInvariants(state)).toBeUndefined();
      events.push(event);
    }
  }
  return { state, events };
}





describe('model properties', () => {
  it('replaying the emitted events gives the live state, with every invariant holding', () => {
    fc.assert(
      fc.property(commands, kernel, (cmds, image) => {
        const { state, events } = live(cmds, image);
        const outcome = replay(events.map(encodeEvent));
        expect(outcome.ok && snapshot(outcome.state)).toEqual(snapshot(state));
      }),
      { numRuns: 300 },
    );
  });

  it('skips redelivered events', () => {
    fc.assert(
      fc.property(commands, kernel, fc.nat(), (cmds, image, seed) => {
        const { state, events } = live(cmds, image);
        // Redeliver a suffix of up to 5 events right after it, as a consumer retrying a batch would.
        const lines = events.map(encodeEvent);
        const cut = lines.length === 0 ? 0 : seed % lines.length;
        const redelivered = [...lines.slice(0, cut + 1), ...lines.slice(Math.max(0, cut - 4), cut + 1), ...lines.slice(cut + 1)];
        const outcome = replay(redelivered);
        expect(outcome.ok && snapshot(outcome.state)).toEqual(snapshot(state));
      }),
      { numRuns: 100 },
    );
  });

  it('emits events that round-trip through the codec', () => {
    fc.assert(
      fc.property(commands, kernel, (cmds, image) => {
        for (const event of live(cmds, image).events) expect(decodeEvent(encodeEvent(event))).toEqual({ ok: true, value: event });
      }),
      { numRuns: 50 },
    );
  });

  it('finds the first refused event of a stream with a dropped event', () => {
    fc.assert(
      fc.property(commands, kernel, fc.nat(), (cmds, image, seed) => {
        const { events } = live(cmds, image);
        fc.pre(events.length >= 2);
        const dropped = seed % events.length;
        const outcome = replay(events.filter((_, i) => i !== dropped).map(encodeEvent));
        const { host, instance } = events[dropped] as Event;
        const laterOfStream = events.findIndex((e, i) => i > dropped && e.host === host && e.instance === instance);
        if (laterOfStream === -1) return; // the last event of its stream: nothing can tell it was dropped
        expect(outcome.ok).toBe(false);
        // The violation is at the first later event of that stream at the latest (line numbers skip the dropped one).
        expect(!outcome.ok && outcome.line).toBeLessThanOrEqual(laterOfStream);
      }),
      { numRuns: 200 },
    );
  });

  it('reaches all three mechanisms, and replays every text byte they leave', () => {
    const seen = new Set<string>();
    for (const [cmds, image] of fc.sample(fc.tuple(commands, kernel), { numRuns: 200, seed: 18 })) {
      const { state, events } = live(cmds, image);
      for (const e of events) if ((e.type === 'probe.armed' || e.type === 'probe.state') && e.data.mechanism) seen.add(e.data.mechanism);
      const outcome = replay(events.map(encodeEvent));
      expect(outcome.ok && snapshot(outcome.state).hosts).toEqual(snapshot(state).hosts);
    }
    expect([...seen].sort()).toEqual(['ftrace', 'int3', 'optimized']);
  });
});
