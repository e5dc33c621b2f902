import { decodeEvent } from './codec';
import { EnvelopeEncoder, schemaOrderLine } from './envelope';
import { HitEncoder, jsonString } from './hit-encode';
import { TIME_PATTERN } from './schemas';
import { rfc3339Nanos, timeToNs } from './time';

const id = { host: 'h1', bootId: 'cf10cbf0-408d-476b-9552-ac7d32649d4f', instance: '20ae5e5c-e2c7-4c39-9551-f2c1db24f4c6' };

describe('EnvelopeEncoder', () => {
  it('numbers events from 1 without gaps and encodes exactly what JSON.stringify of the envelope gives', () => {
    const s = new EnvelopeEncoder(id, 1_000_000_000_000_000_000n);
    const started = { kernelRelease: '6.1.0', arch: 'x64', agentVersion: '0.1.0', mode: 'kprobe' as const, capabilities: ['btf'] };
    const a = s.next('agent.started', started, 5n);
    const b = s.next('probe.armed', { probe: 'tcp_set_state' }, 7n);
    expect([a.seq, b.seq]).toEqual([1, 2]);
    const envelope = { v: 1, type: 'agent.started', ...id, seq: 1, time: '2001-09-09T01:46:40.000000005Z', monoNs: '5', data: started };
    expect(a.line).toBe(JSON.stringify(envelope));
    expect(a.line.slice(a.dataAt)).toBe(`,"data":${JSON.stringify(started)}}`);
    for (const e of [a, b]) expect(decodeEvent(e.line).ok).toBe(true);
    // The stdout order: zod's.
    const { v, type, data, ...rest } = envelope;
    expect(schemaOrderLine(a)).toBe(JSON.stringify({ v, ...rest, type, data }));
  });

  it('hit data as JSON.stringify of { probe, cpu, pid, comm, ctx, args }, escapes included', () => {
    const enc = new HitEncoder();
    const ctx = { irqsOff: false, needResched: true, hardirq: false, softirq: true, nmi: false, preemptDepth: 2 };
    const args = { skaddr: '0xffff1', family: 'AF_INET6', saddr: '::1', daddr: '::1', sport: 1, dport: 65535, oldstate: 'TCP_CLOSE', newstate: 'TCP_SYN_SENT' } as const;
    for (const comm of ['curl', 'a"b', 'c\\d', 'x\u0001', 'wörk', '\ud800']) {
      const data = { probe: 'inet_sock_set_state', cpu: 3, pid: 77, comm, ctx, args };
      expect(enc.data(data.probe, 3, 77, comm, ctx, enc.tcpArgs(args))).toBe(JSON.stringify(data));
      expect(jsonString(comm)).toBe(JSON.stringify(comm));
    }
    expect(enc.data('p', 0, 0, '<idle>', undefined, enc.userArgs({ a: 1, b: 'x' }))).toBe('{"probe":"p","cpu":0,"pid":0,"comm":"<idle>","args":{"a":1,"b":"x"}}');
  });
});

describe('time', () => {
  it('prints nanoseconds as RFC 3339 UTC with nine digits, and reads them back', () => {
    expect(rfc3339Nanos(1_795_637_258_387_651_809n)).toBe('2026-11-25T20:07:38.387651809Z');
    expect(rfc3339Nanos(1_795_637_258_000_000_001n)).toBe('2026-11-25T20:07:38.000000001Z');
    expect(rfc3339Nanos(1_795_637_259_100_000_000n)).toBe('2026-11-25T20:07:39.100000000Z');
    expect(rfc3339Nanos(0n)).toMatch(TIME_PATTERN);
    for (const ns of [0n, 1_795_637_258_387_651_809n, 1_795_637_258_000_000_001n]) expect(timeToNs(rfc3339Nanos(ns))).toBe(ns);
  });
});
