import { EventSchema, TIME_PATTERN } from '@probefleet/events';
import { rfc3339Nanos, WallClock } from './clock';
import { EventStream } from './envelope';

const id = { host: 'h1', bootId: 'cf10cbf0-408d-476b-9552-ac7d32649d4f', instance: '20ae5e5c-e2c7-4c39-9551-f2c1db24f4c6' };

describe('EventStream', () => {
  it('numbers events from 1 without gaps and builds schema-valid envelopes', () => {
    const s = new EventStream(id, new WallClock(1_000_000_000_000_000_000n));
    const a = s.next('agent.started', { kernelRelease: '6.1.0', arch: 'x64', agentVersion: '0.1.0', mode: 'kprobe', capabilities: ['btf'] }, 5n);
    const b = s.next('probe.armed', { probe: 'tcp_set_state' });
    const c = s.next('agent.stopped', { reason: 'done' });
    expect([a, b, c].map((e) => e.seq)).toEqual([1, 2, 3]);
    for (const e of [a, b, c]) expect(EventSchema.safeParse(e).success).toBe(true);
    expect(a).toMatchObject({ ...id, v: 1, monoNs: '5', time: '2001-09-09T01:46:40.000000005Z' });
  });
});

describe('clock', () => {
  it('prints nanoseconds as RFC 3339 UTC with nine digits', () => {
    expect(rfc3339Nanos(1_795_637_258_387_651_809n)).toBe('2026-11-25T20:07:38.387651809Z');
    expect(rfc3339Nanos(0n)).toMatch(TIME_PATTERN);
  });

  it('maps CLOCK_MONOTONIC to the wall clock within a few ms', () => {
    const c = WallClock.measure();
    const wallMs = Number(c.wallNs(process.hrtime.bigint()) / 1_000_000n);
    expect(Math.abs(wallMs - Date.now())).toBeLessThan(5);
  });
});
