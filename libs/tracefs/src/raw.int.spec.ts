// Against this machine's real tracefs, as root: trace_pipe_raw of an own instance, decoded, and
// compared with the text of the same events from a second instance.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { discover } from './discovery';
import { Tracefs, type TracingInstance } from './instance';
import { parseTraceLine } from './parser';
import { type RawItem, type RawRecord } from './raw';
import { RawTraceReader } from './raw-reader';
import { decodeInetSockSetState, type TcpStateChange } from './tcp';
import { decodeInetSockSetStateRaw } from './tcp-raw';

jest.setTimeout(30000);

function listen(host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((sock) => sock.end());
    server.on('error', reject).listen(0, host, () => resolve(server));
  });
}

/** Connects, lets the server close its side, closes ours, waits for the client socket to close. */
function roundTrip(port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const client = connect(port, host);
    client.on('error', reject).on('end', () => client.end()).on('close', () => resolve()).resume();
  });
}

const t = (xs: TcpStateChange[]) => xs.map((x) => `${x.oldstate}>${x.newstate}`);
const closes = (xs: TcpStateChange[], port: number) => xs.filter((x) => (x.sport === port || x.dport === port) && x.newstate === 'TCP_CLOSE').length;

describe('trace_pipe_raw on this host', () => {
  const suffix = randomBytes(4).toString('hex');
  let tracefs: Tracefs;
  const made: TracingInstance[] = [];

  beforeAll(async () => {
    const report = await discover();
    expect(report.privileges.canTrace).toBe(true);
    expect(report.tracepoints).toContain('sock:inet_sock_set_state');
    tracefs = new Tracefs(report.tracefs as string);
  });

  afterAll(async () => {
    for (const inst of made) if (existsSync(inst.dir)) await inst.remove();
  });

  it('decodes loopback IPv4/IPv6 transitions with skaddr, in agreement with the text of the same events', async () => {
    const raw = await tracefs.createInstance(`rawtest-${suffix}`);
    made.push(raw);
    const text = await tracefs.createInstance(`rawtext-${suffix}`);
    made.push(text);
    for (const inst of [raw, text]) {
      await inst.setClock('mono');
      await inst.enableEvent('sock', 'inet_sock_set_state');
    }
    const reader = await RawTraceReader.open(raw.dir);
    expect(reader.cpus.length).toBeGreaterThan(0);

    const servers = { v4: await listen('127.0.0.1'), v6: await listen('::1') };
    const ports = { v4: (servers.v4.address() as AddressInfo).port, v6: (servers.v6.address() as AddressInfo).port };
    const ours = (c: TcpStateChange) => [ports.v4, ports.v6].some((p) => c.sport === p || c.dport === p);

    // Stream while the connections happen; stop once both ports saw client, server and listener close.
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 15000);
    const items: RawItem[] = [];
    const changes: TcpStateChange[] = [];
    const rawRecords: RawRecord[] = [];
    const streamed = (async () => {
      for await (const item of reader.records({ signal: ac.signal, pollMs: 20 })) {
        items.push(item);
        if (item.kind !== 'event') continue;
        const c = decodeInetSockSetStateRaw(item);
        if (c && ours(c)) {
          changes.push(c);
          rawRecords.push(item);
        }
        if (closes(changes, ports.v4) >= 3 && closes(changes, ports.v6) >= 3) ac.abort();
      }
    })();
    await roundTrip(ports.v4, '127.0.0.1');
    await roundTrip(ports.v6, '::1');
    await Promise.all([servers.v4, servers.v6].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    await streamed;
    clearTimeout(timer);

    for (const inst of [raw, text]) await inst.disableEvent('sock', 'inet_sock_set_state');
    const rest = await reader.drain();
    // Everything of ours was streamed before the abort; drain() reads what the buffers still held.
    const late = rest.flatMap((i) => (i.kind === 'event' ? [decodeInetSockSetStateRaw(i)] : [])).filter((c) => c !== null && ours(c));
    expect(late).toEqual([]);
    expect(items.filter((i) => i.kind === 'lost')).toEqual([]);
    expect(reader.decoder.unknownRecords).toBe(0);
    // Merged across CPUs in time order.
    const ts = items.map((i) => i.timestampNs);
    expect(ts.every((x, i) => i === 0 || x >= (ts[i - 1] as bigint))).toBe(true);
    expect(rawRecords.every((r) => r.event === 'inet_sock_set_state' && r.pid > 0)).toBe(true);

    for (const [family, port, addr] of [['AF_INET', ports.v4, '127.0.0.1'], ['AF_INET6', ports.v6, '::1']] as const) {
      const client = changes.filter((c) => c.dport === port);
      const server = changes.filter((c) => c.sport === port && c.dport !== 0);
      const listener = changes.filter((c) => c.sport === port && c.dport === 0);
      expect(t(client)).toEqual([
        'TCP_CLOSE>TCP_SYN_SENT', 'TCP_SYN_SENT>TCP_ESTABLISHED', 'TCP_ESTABLISHED>TCP_CLOSE_WAIT',
        'TCP_CLOSE_WAIT>TCP_LAST_ACK', 'TCP_LAST_ACK>TCP_CLOSE',
      ]);
      expect(t(server)).toEqual([
        'TCP_LISTEN>TCP_SYN_RECV', 'TCP_SYN_RECV>TCP_ESTABLISHED', 'TCP_ESTABLISHED>TCP_FIN_WAIT1',
        'TCP_FIN_WAIT1>TCP_FIN_WAIT2', 'TCP_FIN_WAIT2>TCP_CLOSE',
      ]);
      expect(t(listener)).toEqual(['TCP_CLOSE>TCP_LISTEN', 'TCP_LISTEN>TCP_CLOSE']);
      for (const c of [...client, ...server]) expect(c).toMatchObject({ family, saddr: addr, daddr: addr });
      for (const c of listener) expect(c).toMatchObject({ family, saddr: addr, daddr: family === 'AF_INET' ? '0.0.0.0' : '::' });
      for (const c of [...client, ...server, ...listener]) expect(c.skaddr).toMatch(/^0xffff[0-9a-f]{12}$/);
      // One socket, one address for its whole life; three different sockets.
      const sk = (xs: TcpStateChange[]) => new Set(xs.map((x) => x.skaddr));
      expect(sk(client).size).toBe(1);
      expect(sk(server).size).toBe(1);
      expect(sk(listener).size).toBe(1);
      expect(new Set([...sk(client), ...sk(server), ...sk(listener)]).size).toBe(3);
      expect(server[1]).toMatchObject({ sport: port, dport: (client[1] as TcpStateChange).sport });
    }

    // The text instance saw the same events: compare everything the text has (it has no skaddr).
    const fromText = (await text.drain())
      .map(parseTraceLine)
      .flatMap((l) => (l?.event === 'inet_sock_set_state' ? [decodeInetSockSetState(l)] : []))
      .filter((c): c is TcpStateChange => c !== null && ours(c));
    const key = (c: TcpStateChange) => JSON.stringify({ ...c, skaddr: null });
    expect(changes.map(key).sort()).toEqual(fromText.map(key).sort());
    expect(changes).toHaveLength(24);

    for (const inst of [raw, text]) await inst.remove();
    expect(existsSync(raw.dir) || existsSync(text.dir)).toBe(false);
    const left = (await tracefs.listLeftovers('probefleet')).instances;
    expect(left.filter((n) => n.endsWith(suffix))).toEqual([]);
  });
});
