import {
  decide,
  evolve,
  initialState,
  resolveSymbol,
  snapshot,
  type Command,
  type ModelState,
} from './index';
import { KERNEL, SOURCE, TCP_SET_STATE } from '../test/kernel';

const HIT = { cpu: 0, pid: 7, comm: 'curl', args: {} };

/** Runs commands through decide + evolve like an agent would; fails on any refusal. */
function run(commands: Command[], state: ModelState = initialState()): ModelState {
  for (const command of commands) {
    const decision = decide(command, state, KERNEL);
    if (!decision.ok) throw new Error(decision.reason);
    for (const event of decision.events) {
      const evolution = evolve(state, event);
      if (!evolution.ok) throw new Error(evolution.reason);
    }
  }
  return state;
}

const c = (command: Record<string, unknown>) => ({ ...SOURCE, ...command }) as Command;
const register = (probe: string, offset = 0) => c({ type: 'register', probe, kind: 'kprobe', symbol: 'tcp_set_state', offset });

describe('register', () => {
  it('resolves symbol+offset to an address and saves the instruction there', () => {
    expect(resolveSymbol(KERNEL, 'tcp_set_state', 0)).toEqual({ address: TCP_SET_STATE, insn: 'f30f1efa' });
    expect(resolveSymbol(KERNEL, 'tcp_set_state', 5)).toEqual({ address: '0xffffffff8206b255', insn: '4889e5' });
    expect(resolveSymbol(KERNEL, 'tcp_set_state', 2)).toBe('tcp_set_state+2 is not on a known instruction boundary');
    expect(resolveSymbol(KERNEL, 'no_such_function', 0)).toBe('unknown symbol no_such_function');
  });

  it('emits probe.registered with address and insn, with seq following the stream', () => {
    const state = run([c({ type: 'start', data: { kernelRelease: '6.12', arch: 'x86_64', agentVersion: '0.1.0', mode: 'kprobe', capabilities: [] } })]);
    const decision = decide(register('p'), state, KERNEL);
    expect(decision).toMatchObject({
      ok: true,
      events: [{ type: 'probe.registered', seq: 2, data: { probe: 'p', kind: 'kprobe', address: TCP_SET_STATE, insn: 'f30f1efa' } }],
    });
  });

  it('refuses a second registration of a name', () => {
    const state = run([register('p')]);
    expect(decide(register('p', 4), state, KERNEL)).toEqual({ ok: false, reason: 'probe "p" is already registered' });
  });

  it('puts a second probe at the same address into an aggregated probe', () => {
    const state = run([register('p'), register('q')]);
    const host = state.hosts.get('web-1');
    const site = host?.probes.get('p')?.site;
    expect(site?.members.map((m) => m.name)).toEqual(['p', 'q']);
    expect(host?.table[27]).toEqual([site]);
  });

  it('tracks tracepoints without kernel text', () => {
    const state = run([c({ type: 'register', probe: 't', kind: 'tracepoint', symbol: 'sock:inet_sock_set_state', offset: 0 }), c({ type: 'arm', probe: 't' })]);
    expect(snapshot(state).hosts['web-1']).toEqual({ probes: { t: { address: null, bucket: null, armed: true, hits: 0, missed: 0 } }, text: {} });
  });
});

describe('arm and disarm', () => {
  it('writes int3 while any member of an aggregate is armed and restores the saved byte after', () => {
    const state = run([register('p'), register('q'), c({ type: 'arm', probe: 'p' }), c({ type: 'arm', probe: 'q' })]);
    const text = () => snapshot(state).hosts['web-1']?.text;
    expect(text()).toEqual({ [TCP_SET_STATE]: 'cc' });
    run([c({ type: 'disarm', probe: 'p' })], state);
    expect(text()).toEqual({ [TCP_SET_STATE]: 'cc' });
    run([c({ type: 'disarm', probe: 'q' })], state);
    expect(text()).toEqual({ [TCP_SET_STATE]: 'f3' });
  });

  it('refuses to arm twice or disarm what is not armed', () => {
    const state = run([register('p'), c({ type: 'arm', probe: 'p' })]);
    expect(decide(c({ type: 'arm', probe: 'p' }), state, KERNEL)).toEqual({ ok: false, reason: 'probe "p" is already armed' });
    expect(decide(c({ type: 'disarm', probe: 'x' }), state, KERNEL)).toEqual({ ok: false, reason: 'cannot disarm unregistered probe "x"' });
  });

  it('unregisters an armed probe by disarming and unlinking it', () => {
    const state = run([register('p'), c({ type: 'arm', probe: 'p' })]);
    const decision = decide(c({ type: 'unregister', probe: 'p' }), state, KERNEL);
    expect(decision.ok && decision.events.map((e) => e.type)).toEqual(['probe.unregistered']);
    run([c({ type: 'unregister', probe: 'p' })], state);
    expect(snapshot(state).hosts['web-1']).toEqual({ probes: {}, text: {} });
    expect(state.hosts.get('web-1')?.table.every((bucket) => bucket.length === 0)).toBe(true);
  });
});

describe('hit', () => {
  it('runs the handlers of every armed member of an aggregated probe', () => {
    const state = run([register('p'), register('q'), register('r'), c({ type: 'arm', probe: 'p' }), c({ type: 'arm', probe: 'q' })]);
    const decision = decide(c({ type: 'hit', probe: 'p', ...HIT }), state, KERNEL);
    expect(decision.ok && decision.events.map((e) => [e.type, 'probe' in e.data && e.data.probe])).toEqual([
      ['probe.hit', 'p'],
      ['probe.hit', 'q'],
    ]);
  });

  it('counts a miss when a handler runs into an int3 on its own cpu', () => {
    const connect = c({ type: 'register', probe: 'c', kind: 'kprobe', symbol: 'tcp_v4_connect', offset: 0 });
    const state = run([register('p'), connect, c({ type: 'arm', probe: 'p' }), c({ type: 'arm', probe: 'c' })]);
    run([c({ type: 'hit', probe: 'p', ...HIT, reentered: ['c'] })], state);
    expect(snapshot(state).hosts['web-1']?.probes).toMatchObject({ p: { hits: 1, missed: 0 }, c: { hits: 0, missed: 1 } });
  });

  it('refuses a hit where no int3 is', () => {
    const state = run([register('p')]);
    expect(decide(c({ type: 'hit', probe: 'p', ...HIT }), state, KERNEL)).toEqual({ ok: false, reason: 'hit on disarmed probe "p"' });
  });
});

describe('reboot', () => {
  it('starts a new boot of a host with an empty table and refuses commands of the earlier boot', () => {
    const state = run([register('p'), c({ type: 'arm', probe: 'p' })]);
    const next = { bootId: 'b7e2c1d0-3a4f-4e5d-8c6b-9a0f1e2d3c4b', instance: '1a2b3c4d-5e6f-4a0b-9c1d-2e3f4a5b6c7d' };
    run([{ ...register('p'), ...next }], state);
    expect(snapshot(state).hosts['web-1']?.probes).toEqual({ p: { address: TCP_SET_STATE, bucket: 27, armed: false, hits: 0, missed: 0 } });
    expect(decide(c({ type: 'arm', probe: 'p' }), state, KERNEL)).toEqual({
      ok: false,
      reason: `event of boot ${SOURCE.bootId} after host web-1 rebooted into ${next.bootId}`,
    });
  });
});
