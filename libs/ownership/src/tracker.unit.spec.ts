import fc from 'fast-check';
import type { TcpArgs, TcpStateName } from '@probefleet/events';
import { OwnerTracker } from './tracker';

const BOOT = 'b1';
const base: TcpArgs = { skaddr: '0x1', family: 'AF_INET', saddr: '127.0.0.1', daddr: '127.0.0.1', sport: 0, dport: 0, oldstate: 'TCP_CLOSE', newstate: 'TCP_CLOSE' };
const hit = (skaddr: string, sport: number, dport: number, oldstate: TcpStateName, newstate: TcpStateName): TcpArgs => ({ ...base, skaddr, sport, dport, oldstate, newstate });
const SERVER = { pid: 100 };
const CLIENT = { pid: 200 };

describe('OwnerTracker', () => {
  it('a loopback connection: the server side from its listener, the client from connect(), whoever the kernel reported', () => {
    const t = new OwnerTracker<{ pid: number }>();
    // Process-context hits resolve to the task that made them; softirq ones must never ask.
    const softirq = () => { throw new Error('a softirq hit asked for the current task'); };
    expect(t.observe(BOOT, hit('0xa', 8080, 0, 'TCP_CLOSE', 'TCP_LISTEN'), true, () => SERVER)).toEqual({ owner: SERVER, attribution: 'direct' });
    expect(t.observe(BOOT, hit('0xc', 0, 8080, 'TCP_CLOSE', 'TCP_SYN_SENT'), true, () => CLIENT)).toEqual({ owner: CLIENT, attribution: 'direct' });
    // The child (in the client's own softirq on loopback) inherits the listener's owner.
    expect(t.observe(BOOT, hit('0xd', 8080, 40000, 'TCP_LISTEN', 'TCP_SYN_RECV'), false, softirq)).toEqual({ owner: SERVER, attribution: 'socket' });
    expect(t.observe(BOOT, hit('0xc', 40000, 8080, 'TCP_SYN_SENT', 'TCP_ESTABLISHED'), false, softirq)).toEqual({ owner: CLIENT, attribution: 'socket' });
    expect(t.observe(BOOT, hit('0xd', 8080, 40000, 'TCP_SYN_RECV', 'TCP_ESTABLISHED'), false, softirq)).toEqual({ owner: SERVER, attribution: 'socket' });
    // A process-context hit that is not a syscall of the owner is not trusted for its pid.
    expect(t.observe(BOOT, hit('0xd', 8080, 40000, 'TCP_ESTABLISHED', 'TCP_CLOSE_WAIT'), true, () => CLIENT)).toEqual({ owner: SERVER, attribution: 'socket' });
    expect(t.observe(BOOT, hit('0xd', 8080, 40000, 'TCP_CLOSE_WAIT', 'TCP_LAST_ACK'), true, () => SERVER)).toEqual({ owner: SERVER, attribution: 'direct' });
    expect(t.observe(BOOT, hit('0xd', 8080, 40000, 'TCP_LAST_ACK', 'TCP_CLOSE'), false, softirq)).toEqual({ owner: SERVER, attribution: 'socket' });
    // Freed on TCP_CLOSE: the memory's next lifetime starts unknown.
    expect(t.observe(BOOT, hit('0xd', 1, 2, 'TCP_ESTABLISHED', 'TCP_CLOSE_WAIT'), false, softirq)).toEqual({ owner: undefined, attribution: 'unknown' });
    expect(t.stats).toMatchObject({ listeners: 1, evictions: 0 });
    t.observe(BOOT, hit('0xa', 8080, 0, 'TCP_LISTEN', 'TCP_CLOSE'), true, () => SERVER);
    expect(t.stats.listeners).toBe(0);
    expect(t.observe(BOOT, hit('0xe', 8080, 40001, 'TCP_LISTEN', 'TCP_SYN_RECV'), false, softirq).attribution).toBe('unknown');
  });

  it('a wildcard listener owns children on any address; an exact one wins; IPv6 stays apart', () => {
    const t = new OwnerTracker<{ pid: number }>();
    t.observe(BOOT, { ...hit('0xa', 80, 0, 'TCP_CLOSE', 'TCP_LISTEN'), saddr: '0.0.0.0' }, true, () => SERVER);
    t.observe(BOOT, { ...hit('0xb', 80, 0, 'TCP_CLOSE', 'TCP_LISTEN'), saddr: '10.0.0.1' }, true, () => CLIENT);
    expect(t.observe(BOOT, { ...hit('0x1', 80, 5, 'TCP_LISTEN', 'TCP_SYN_RECV'), saddr: '192.168.1.1' }, false, () => undefined).owner).toBe(SERVER);
    expect(t.observe(BOOT, { ...hit('0x2', 80, 5, 'TCP_LISTEN', 'TCP_SYN_RECV'), saddr: '10.0.0.1' }, false, () => undefined).owner).toBe(CLIENT);
    expect(t.observe(BOOT, { ...hit('0x3', 80, 5, 'TCP_LISTEN', 'TCP_SYN_RECV'), family: 'AF_INET6', saddr: '::1' }, false, () => undefined).owner).toBeUndefined();
  });

  it('listeners of different owners on one address and port (SO_REUSEPORT) leave their children unknown', () => {
    const t = new OwnerTracker<{ pid: number }>();
    t.observe(BOOT, hit('0xa', 80, 0, 'TCP_CLOSE', 'TCP_LISTEN'), true, () => SERVER);
    t.observe(BOOT, hit('0xb', 80, 0, 'TCP_CLOSE', 'TCP_LISTEN'), true, () => CLIENT);
    expect(t.observe(BOOT, hit('0x1', 80, 5, 'TCP_LISTEN', 'TCP_SYN_RECV'), false, () => undefined).attribution).toBe('unknown');
  });

  it('the start-up scan: an old listener hands its owner on, an old connection is adopted by its tuple', () => {
    const t = new OwnerTracker<{ pid: number }>();
    t.addListener('AF_INET', '127.0.0.1', 9000, SERVER);
    t.addConnection('AF_INET', '127.0.0.1', 50000, '127.0.0.1', 9000, CLIENT);
    expect(t.observe(BOOT, hit('0x1', 9000, 6, 'TCP_LISTEN', 'TCP_SYN_RECV'), false, () => undefined).owner).toBe(SERVER);
    expect(t.observe(BOOT, hit('0x2', 50000, 9000, 'TCP_ESTABLISHED', 'TCP_CLOSE_WAIT'), false, () => undefined)).toEqual({ owner: CLIENT, attribution: 'socket' });
    expect(t.stats.preexisting).toBe(0);
    expect(t.observe(BOOT, hit('0x2', 50000, 9000, 'TCP_CLOSE_WAIT', 'TCP_LAST_ACK'), false, () => undefined).owner).toBe(CLIENT);
    // The scanned listener, closed by its owner, is forgotten under its scan entry.
    t.observe(BOOT, hit('0x9', 9000, 0, 'TCP_LISTEN', 'TCP_CLOSE'), true, () => SERVER);
    expect(t.stats.listeners).toBe(0);
  });

  it("a scanned listener closed by a process that exited before the hit was read keeps the scan's owner (the e2e flake)", () => {
    const t = new OwnerTracker<{ pid: number }>();
    t.addListener('AF_INET', '127.0.0.1', 9000, SERVER);
    // close() ran in the server's own syscall, but /proc/<pid> was gone when the agent read the hit.
    expect(t.observe(BOOT, hit('0x9', 9000, 0, 'TCP_LISTEN', 'TCP_CLOSE'), true, () => undefined)).toEqual({ owner: SERVER, attribution: 'socket' });
    expect(t.stats.listeners).toBe(0);
    // Only the listener on that exact address: another address's close stays unknown.
    t.addListener('AF_INET', '0.0.0.0', 9001, SERVER);
    expect(t.observe(BOOT, hit('0xa', 9001, 0, 'TCP_LISTEN', 'TCP_CLOSE'), true, () => undefined).attribution).toBe('unknown');
  });

  it('a rescan of a listener a hit already named adds no second entry that would outlive its close', () => {
    const t = new OwnerTracker<{ pid: number }>();
    t.observe(BOOT, hit('0xa', 8080, 0, 'TCP_CLOSE', 'TCP_LISTEN'), true, () => SERVER);
    t.addListener('AF_INET', '127.0.0.1', 8080, SERVER); // the rescan finds the same socket
    expect(t.stats.listeners).toBe(1);
    t.observe(BOOT, hit('0xa', 8080, 0, 'TCP_LISTEN', 'TCP_CLOSE'), true, () => SERVER);
    expect(t.stats.listeners).toBe(0);
    expect(t.observe(BOOT, hit('0xe', 8080, 40001, 'TCP_SYN_RECV', 'TCP_ESTABLISHED'), false, () => undefined).attribution).toBe('unknown');
  });

  it('an accept names the owner of the new socket over the listener it came from', () => {
    const t = new OwnerTracker<{ pid: number }>();
    const WORKER = { pid: 300 };
    t.addListener('AF_INET', '127.0.0.1', 9000, SERVER);
    // Before accept(): the child is the listener's.
    expect(t.observe(BOOT, hit('0x5', 9000, 40000, 'TCP_SYN_RECV', 'TCP_ESTABLISHED'), false, () => undefined).owner).toBe(SERVER);
    t.accepted(BOOT, '0x5', WORKER);
    expect(t.observe(BOOT, hit('0x5', 9000, 40000, 'TCP_ESTABLISHED', 'TCP_CLOSE_WAIT'), false, () => undefined)).toEqual({ owner: WORKER, attribution: 'socket' });
    expect(t.observe(BOOT, hit('0x5', 9000, 40000, 'TCP_LAST_ACK', 'TCP_CLOSE'), false, () => undefined).owner).toBe(WORKER);
    // An accept seen before the child's first transition (another CPU's buffer read first) holds too.
    t.accepted(BOOT, '0x6', WORKER);
    expect(t.observe(BOOT, hit('0x6', 9000, 40001, 'TCP_SYN_RECV', 'TCP_ESTABLISHED'), false, () => undefined).owner).toBe(WORKER);
  });

  it('a task gone by the time its syscall-only hit is read falls back to what is known', () => {
    const t = new OwnerTracker<{ pid: number }>();
    t.observe(BOOT, hit('0xc', 0, 80, 'TCP_CLOSE', 'TCP_SYN_SENT'), true, () => CLIENT);
    expect(t.observe(BOOT, hit('0xc', 1, 80, 'TCP_ESTABLISHED', 'TCP_FIN_WAIT1'), true, () => undefined)).toEqual({ owner: CLIENT, attribution: 'socket' });
  });

  it('the same skaddr on another boot is another socket', () => {
    const t = new OwnerTracker<{ pid: number }>();
    t.observe('b1', hit('0xc', 0, 80, 'TCP_CLOSE', 'TCP_SYN_SENT'), true, () => CLIENT);
    expect(t.observe('b2', hit('0xc', 1, 80, 'TCP_SYN_SENT', 'TCP_ESTABLISHED'), false, () => undefined).attribution).toBe('unknown');
  });

  it('is bounded: the least recently seen socket is evicted and counted', () => {
    const t = new OwnerTracker<{ pid: number }>({ sockets: 2, listeners: 1, preexisting: 1 });
    for (const s of ['0x1', '0x2', '0x3']) t.observe(BOOT, hit(s, 0, 80, 'TCP_CLOSE', 'TCP_SYN_SENT'), true, () => CLIENT);
    expect(t.stats).toMatchObject({ sockets: 2, evictions: 1 });
    expect(t.observe(BOOT, hit('0x1', 1, 80, 'TCP_SYN_SENT', 'TCP_ESTABLISHED'), false, () => undefined).attribution).toBe('unknown');
    t.addListener('AF_INET', '0.0.0.0', 1, SERVER);
    t.addListener('AF_INET', '0.0.0.0', 2, SERVER);
    expect(t.stats).toMatchObject({ listeners: 1, evictions: 2 });
  });

  it('a socket seen again since it was remembered outlives one that was not (second chance)', () => {
    const t = new OwnerTracker<{ pid: number }>({ sockets: 2, listeners: 1, preexisting: 1 });
    for (const s of ['0x1', '0x2']) t.observe(BOOT, hit(s, 0, 80, 'TCP_CLOSE', 'TCP_SYN_SENT'), true, () => CLIENT);
    t.observe(BOOT, hit('0x1', 1, 80, 'TCP_SYN_SENT', 'TCP_ESTABLISHED'), false, () => undefined);
    t.observe(BOOT, hit('0x3', 0, 80, 'TCP_CLOSE', 'TCP_SYN_SENT'), true, () => CLIENT);
    expect(t.stats).toMatchObject({ sockets: 2, evictions: 1 });
    expect(t.observe(BOOT, hit('0x2', 2, 80, 'TCP_SYN_SENT', 'TCP_ESTABLISHED'), false, () => undefined).attribution).toBe('unknown');
    expect(t.observe(BOOT, hit('0x1', 1, 80, 'TCP_ESTABLISHED', 'TCP_FIN_WAIT1'), false, () => undefined)).toEqual({ owner: CLIENT, attribution: 'socket' });
    expect(t.observe(BOOT, hit('0x3', 3, 80, 'TCP_SYN_SENT', 'TCP_ESTABLISHED'), false, () => undefined).attribution).toBe('socket');
  });

  it('never reports an owner it was not given, and never more sockets than its bound (any hit sequence)', () => {
    const states = ['TCP_CLOSE', 'TCP_SYN_SENT', 'TCP_LISTEN', 'TCP_SYN_RECV', 'TCP_ESTABLISHED', 'TCP_FIN_WAIT1', 'TCP_CLOSE_WAIT', 'TCP_LAST_ACK'] as const;
    const arbHit = fc.record({
      sk: fc.integer({ min: 1, max: 12 }), sport: fc.constantFrom(0, 80, 81, 40000), dport: fc.constantFrom(0, 80, 40000),
      oldstate: fc.constantFrom(...states), newstate: fc.constantFrom(...states), proc: fc.boolean(), task: fc.integer({ min: 1, max: 3 }),
    });
    fc.assert(fc.property(fc.array(arbHit, { maxLength: 60 }), (hits) => {
      const owners = [{ pid: 1 }, { pid: 2 }, { pid: 3 }];
      const t = new OwnerTracker<{ pid: number }>({ sockets: 5, listeners: 3, preexisting: 2 });
      for (const h of hits) {
        let asked = false;
        const r = t.observe(BOOT, hit(`0x${h.sk.toString(16)}`, h.sport, h.dport, h.oldstate, h.newstate), h.proc, () => ((asked = true), owners[h.task - 1]));
        expect(r.owner === undefined).toBe(r.attribution === 'unknown');
        if (r.owner !== undefined) expect(owners).toContain(r.owner);
        if (r.attribution === 'direct') expect(asked && h.proc).toBe(true);
        expect(t.stats.sockets).toBeLessThanOrEqual(5);
        expect(t.stats.listeners).toBeLessThanOrEqual(3);
      }
    }), { numRuns: 500 });
  });
});
