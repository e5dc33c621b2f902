import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EVENT_VERSION, type Event } from '@probefleet/events';
import { checkInvariants, decide, evolve, initialState, snapshot, type Command, type KernelImage, type ModelState } from './index';
import { KERNEL, KERNEL_612, KERNEL_61_NOOPT, SOURCE, TCP_SET_STATE } from '../test/kernel';

const at = (offset: number) => `0x${(BigInt(TCP_SET_STATE) + BigInt(offset)).toString(16)}`;
const c = (command: Record<string, unknown>) => ({ ...SOURCE, ...command }) as Command;
const register = (probe: string, offset: number, extra: Record<string, unknown> = {}) =>
  c({ type: 'register', probe, kind: 'kprobe', symbol: 'tcp_set_state', offset, ...extra });
const arm = (probe: string) => c({ type: 'arm', probe });
const HIT = { cpu: 0, pid: 7, comm: 'curl', args: {} };
const KERNELS = join(__dirname, '../../../test/fixtures/kernels');

/** decide + evolve as an agent on `kernel`; returns the state and every event; fails on a refusal. */
function run(kernel: KernelImage, commands: Command[], state: ModelState = initialState()) {
  const events: Event[] = [];
  for (const command of commands) {
    const decision = decide(command, state, kernel);
    if (!decision.ok) throw new Error(decision.reason);
    for (const event of decision.events) {
      const evolution = evolve(state, event);
      if (!evolution.ok) throw new Error(evolution.reason);
      expect(checkInvariants(state)).toBeUndefined();
      events.push(event);
    }
  }
  return { state, events, probes: snapshot(state).hosts['web-1']?.probes ?? {}, text: snapshot(state).hosts['web-1']?.text ?? {} };
}

/** The event after the last of `state`'s stream, for evolve-level refusals. */
function next(state: ModelState, type: string, data: unknown): Event {
  const seq = (state.streams.get(SOURCE.host)?.get(SOURCE.instance)?.lastSeq ?? 0) + 1;
  return { v: EVENT_VERSION, host: SOURCE.host, bootId: SOURCE.bootId, instance: SOURCE.instance, seq, time: SOURCE.time, type, data } as Event;
}

// The lab's Debian 6.12 capture (issue 18): probes at +0, +4, +9, +0xc, +0xe of tcp_set_state.
const LAB_612 = [0, 4, 9, 12, 14].flatMap((offset) => [register(`p${offset}`, offset), arm(`p${offset}`)]);

describe('the three mechanisms on Debian 6.12 (IBT, ftrace, optprobes)', () => {
  it('arms +0 past the endbr64 at the ftrace site, one aggregated kprobe with +4, then optimizes only +0xe', () => {
    const { probes, text, events } = run(KERNEL_612, [...LAB_612, c({ type: 'optimize' })]);
    expect(events.filter((e) => e.type === 'probe.armed').map((e) => e.data)).toEqual([
      { probe: 'p0', mechanism: 'ftrace', address: at(4) },
      { probe: 'p4', mechanism: 'ftrace', address: at(4) },
      { probe: 'p9', mechanism: 'int3', address: at(9) },
      { probe: 'p12', mechanism: 'int3', address: at(12) },
      { probe: 'p14', mechanism: 'int3', address: at(14) },
    ]);
    // +9's jmp would cover +0xc and +0xc's would cover +0xe: as kprobes/list showed, only +0xe.
    expect(events.filter((e) => e.type === 'probe.state').map((e) => e.data)).toEqual([{ probe: 'p14', mechanism: 'optimized', disabled: false, gone: false }]);
    expect(probes['p0']).toMatchObject({ address: at(4), mechanism: 'ftrace', bytes: 'e8????????' });
    expect(probes['p4']?.bucket).toBe(probes['p0']?.bucket);
    expect(probes['p9']).toMatchObject({ mechanism: 'int3', bytes: 'cc89f4' });
    expect(probes['p14']).toMatchObject({ mechanism: 'optimized', bytes: 'e9????????' });
    expect(text).toEqual({ [at(4)]: 'e8', [at(9)]: 'cc', [at(12)]: 'cc', [at(14)]: 'e9' });
  });

  it('un-optimizes a kprobe when another one is armed inside its jmp, and says so with probe.state', () => {
    const { state } = run(KERNEL_612, [register('a', 14), arm('a'), c({ type: 'optimize' })]);
    // +0x10 (mov %rdi,%rbx) is among the instructions +0xe's jmp covers.
    const { events, probes } = run(KERNEL_612, [register('b', 16), arm('b')], state);
    expect(events.slice(1).map((e) => [e.type, e.data])).toEqual([
      ['probe.armed', { probe: 'b', mechanism: 'int3', address: at(16) }],
      ['probe.state', { probe: 'a', mechanism: 'int3', disabled: false, gone: false }],
    ]);
    expect(probes['a']).toMatchObject({ mechanism: 'int3', bytes: 'cc' });
  });

  it('leaves a kprobe with a post_handler an int3, and refuses a report that optimized it', () => {
    const { state, probes } = run(KERNEL_612, [register('m', 14, { postHandler: true }), arm('m'), c({ type: 'optimize' })]);
    expect(probes['m']).toMatchObject({ mechanism: 'int3' });
    expect(evolve(state, next(state, 'probe.state', { probe: 'm', mechanism: 'optimized', disabled: false, gone: false }))).toEqual({
      ok: false,
      reason: 'probe "m" has a post_handler: a kprobe with a post_handler is never optimized',
    });
  });

  it('un-optimizes an optimized kprobe that a post_handler kprobe joins (add_new_kprobe), and says so with probe.state', () => {
    const { state } = run(KERNEL_612, [register('a', 14), arm('a'), c({ type: 'optimize' })]);
    const { events, probes } = run(KERNEL_612, [register('m', 14, { postHandler: true })], state);
    expect(events.map((e) => [e.type, e.data])).toEqual([
      ['probe.registered', expect.objectContaining({ probe: 'm', postHandler: true, address: at(14) })],
      ['probe.state', { probe: 'a', mechanism: 'int3', disabled: false, gone: false }],
    ]);
    expect(probes['a']).toMatchObject({ mechanism: 'int3', bytes: 'cc' });
  });

  it('refuses a single-step on an ftrace-based or optimized kprobe, and steps an int3 one', () => {
    const { state } = run(KERNEL_612, [...LAB_612, c({ type: 'optimize' })]);
    expect(decide(c({ type: 'single-step', probe: 'p0' }), state, KERNEL_612)).toEqual({
      ok: false,
      reason: 'single-step on ftrace-based probe "p0": kprobe_ftrace_handler runs from the ftrace call and skips the 5-byte site without stepping',
    });
    expect(decide(c({ type: 'single-step', probe: 'p14' }), state, KERNEL_612)).toMatchObject({ ok: false, reason: expect.stringMatching(/optimized probe "p14"/) });
    expect(decide(c({ type: 'single-step', probe: 'p9' }), state, KERNEL_612)).toEqual({ ok: true, events: [] });
  });

  it('hits every live member of the ftrace kprobe once', () => {
    const { events } = run(KERNEL_612, [...LAB_612, c({ type: 'hit', probe: 'p4', ...HIT })]);
    expect(events.filter((e) => e.type === 'probe.hit').map((e) => e.data.probe).sort()).toEqual(['p0', 'p4']);
  });

  it('falls back to int3 when an optimized kprobe is disarmed', () => {
    const { probes, text } = run(KERNEL_612, [register('a', 14), arm('a'), c({ type: 'optimize' }), c({ type: 'disarm', probe: 'a' })]);
    expect(probes['a']).toMatchObject({ armed: false, mechanism: 'int3', bytes: '55' });
    expect(text).toEqual({ [at(14)]: '55' });
  });
});

describe('Debian 6.1 with debug.kprobes-optimization=0', () => {
  it('arms +0 through ftrace at the symbol itself, and a later offset stays int3', () => {
    const { events, probes } = run(KERNEL_61_NOOPT, [register('f', 0), arm('f'), register('u', 11), arm('u'), c({ type: 'optimize' })]);
    expect(events.filter((e) => e.type === 'probe.state')).toEqual([]);
    expect(probes['f']).toMatchObject({ address: TCP_SET_STATE, mechanism: 'ftrace' });
    expect(probes['u']).toMatchObject({ mechanism: 'int3', bytes: 'cc' });
  });

  it('shows the ftrace site as its 5-byte nop once disarmed', () => {
    const { probes } = run(KERNEL_61_NOOPT, [register('f', 0), arm('f'), c({ type: 'disarm', probe: 'f' })]);
    expect(probes['f']).toMatchObject({ mechanism: 'ftrace', bytes: '0f1f440000' });
  });
});

describe('facts the model refuses', () => {
  const armed = (data: Record<string, unknown>) => {
    const { state } = run(KERNEL, [register('p', 0)]);
    return evolve(state, next(state, 'probe.armed', { probe: 'p', ...data }));
  };

  it('takes an older probe.armed without a mechanism as the int3 it always was', () => {
    const { state } = run(KERNEL, [register('p', 0)]);
    expect(evolve(state, next(state, 'probe.armed', { probe: 'p' }))).toMatchObject({ ok: true });
    expect(snapshot(state).hosts['web-1']?.probes['p']).toEqual({ address: TCP_SET_STATE, bucket: 27, armed: true, hits: 0, missed: 0 });
  });

  it('refuses a move other than over the endbr64 of +0', () => {
    expect(armed({ mechanism: 'int3', address: at(4) })).toMatchObject({ ok: true });
    expect(armed({ mechanism: 'int3', address: at(5) })).toEqual({
      ok: false,
      reason: `probe "p" registered at ${TCP_SET_STATE} cannot be armed at ${at(5)}: the kernel only steps a function's +0 over its endbr64 (+4)`,
    });
  });

  it('refuses an ftrace kprobe that turns into anything else', () => {
    const { state } = run(KERNEL_612, [register('a', 0), arm('a')]);
    expect(evolve(state, next(state, 'probe.state', { probe: 'a', mechanism: 'optimized', disabled: false, gone: false }))).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/reported optimized at .*, but the kprobe there is ftrace/),
    });
  });

  it('refuses a mechanism for a tracepoint, and hits once the kprobe is gone', () => {
    const { state } = run(KERNEL_612, [c({ type: 'register', probe: 'tp', kind: 'tracepoint', symbol: 'sock:inet_sock_set_state', offset: 0 })]);
    expect(evolve(state, next(state, 'probe.armed', { probe: 'tp', mechanism: 'int3' }))).toEqual({ ok: false, reason: 'tracepoint "tp" has no kprobe mechanism or address' });
    const gone = run(KERNEL_612, [register('g', 9), arm('g')]).state;
    expect(evolve(gone, next(gone, 'probe.state', { probe: 'g', mechanism: 'int3', disabled: false, gone: true }))).toMatchObject({ ok: true });
    expect(snapshot(gone).hosts['web-1']?.probes['g']).toMatchObject({ gone: true, bytes: null });
    expect(decide(c({ type: 'hit', probe: 'g', ...HIT }), gone, KERNEL_612)).toEqual({ ok: false, reason: 'hit on gone probe "g": its text is freed' });
  });
});

// The kernel lab's captures (test/kernel-lab/kprobe-mechanism.kernel.spec.ts, KERNEL_LAB_FIXTURES=1).
const CAPTURES = readdirSync(KERNELS).filter((r) => existsSync(join(KERNELS, r, 'kprobes/a-armed.list')));

describe.each(CAPTURES)('the kernel lab capture of %s', (release) => {
  const read = (name: string) => readFileSync(join(KERNELS, release, 'kprobes', name), 'utf8');

  it('has the kernel and the model optimize the same probes when one sits at every accepted offset', () => {
    const kernel = new Map<number, string>();
    for (const line of read('a-armed.list').split('\n').filter((l) => l.trim() !== '')) {
      const [, offset, flags] = /tcp_set_state\+0x([0-9a-f]+)\s*(.*)$/.exec(line) as RegExpExecArray;
      kernel.set(parseInt(offset as string, 16), flags?.includes('[FTRACE]') ? 'ftrace' : flags?.includes('[OPTIMIZED]') ? 'optimized' : 'int3');
    }
    // The accepted offsets are the instruction boundaries; the ftrace site is where the list says
    // (after endbr64 with IBT); the last instruction is taken as 5 bytes, the jmp's room.
    const offsets = read('accepted.txt').trim().split('\n').map(Number);
    const fentry = [...kernel].find(([, m]) => m === 'ftrace')?.[0] as number;
    const insns = offsets.map((o, i) => '90'.repeat((offsets[i + 1] ?? o + 5) - o));
    const image: KernelImage = { ibt: fentry === 4, symbols: { tcp_set_state: { address: TCP_SET_STATE, fentry, insns: fentry === 4 ? ['f30f1efa', ...insns.slice(1)] : insns } } };
    const { probes } = run(image, [...offsets.flatMap((o) => [register(`p${o}`, o), arm(`p${o}`)]), c({ type: 'optimize' })]);
    const model = new Map(offsets.map((o) => [o === 0 ? fentry : o, probes[`p${o}`]?.mechanism]));
    expect(model).toEqual(kernel);
  });
});
