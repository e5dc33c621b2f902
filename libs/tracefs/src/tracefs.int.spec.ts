// Against this machine's real tracefs, as root (CI runs on the same kind of host).
import { existsSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { discover } from './discovery';
import { Tracefs, TracingInstance } from './instance';
import { parseTraceLine } from './parser';
import { decodeInetSockSetState, type TcpStateChange } from './tcp';

jest.setTimeout(20000);

function listen(): Promise<Server> {
  return new Promise((resolve) => {
    const server = createServer((sock) => sock.end());
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/** Connects, lets the server close its side, closes ours, waits for both sockets to finish. */
async function roundTrip(port: number): Promise<void> {
  const client: Socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    client.on('error', reject);
    client.on('end', () => client.end());
    client.on('close', () => resolve());
    client.resume();
  });
}

async function collect(inst: TracingInstance, port: number, until: (xs: TcpStateChange[]) => boolean): Promise<TcpStateChange[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 10000);
  const out: TcpStateChange[] = [];
  try {
    for await (const line of inst.lines({ signal: ac.signal, pollMs: 20 })) {
      const hit = parseTraceLine(line);
      if (hit?.event !== 'inet_sock_set_state') continue;
      const c = decodeInetSockSetState(hit);
      if (c && (c.sport === port || c.dport === port)) out.push(c);
      if (until(out)) break;
    }
  } finally {
    clearTimeout(timer);
  }
  return out;
}

describe('tracefs on this host', () => {
  const id = `int${process.pid}`;
  let tracefs: Tracefs;

  beforeAll(async () => {
    const report = await discover();
    expect(report.tracefs).not.toBeNull();
    expect(report.privileges.canTrace).toBe(true);
    expect(report.tracepoints).toContain('sock:inet_sock_set_state');
    expect(report.btf.present).toBe(true);
    tracefs = new Tracefs(report.tracefs as string);
  });

  it('traces a loopback TCP connection through an own instance and leaves nothing behind', async () => {
    const inst = await tracefs.createInstance(id);
    try {
      expect(existsSync(inst.dir)).toBe(true);
      expect(inst.name).toBe(`probefleet-${id}`);
      await inst.setClock('mono');
      expect((await inst.clocks()).current).toBe('mono');
      expect(await inst.isEventEnabled('sock', 'inet_sock_set_state')).toBe(false);
      await inst.enableEvent('sock', 'inet_sock_set_state');
      expect(await inst.isEventEnabled('sock', 'inet_sock_set_state')).toBe(true);

      const server = await listen();
      const port = (server.address() as AddressInfo).port;
      const lines = collect(inst, port, (xs) => xs.filter((x) => x.newstate === 'TCP_CLOSE').length >= 3);
      await roundTrip(port);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      const changes = await lines;

      const client = changes.filter((c) => c.dport === port);
      const server_ = changes.filter((c) => c.sport === port && c.dport !== 0);
      const listener = changes.filter((c) => c.sport === port && c.dport === 0);
      const t = (xs: TcpStateChange[]) => xs.map((x) => `${x.oldstate}>${x.newstate}`);
      expect(t(client)).toEqual([
        'TCP_CLOSE>TCP_SYN_SENT', 'TCP_SYN_SENT>TCP_ESTABLISHED', 'TCP_ESTABLISHED>TCP_CLOSE_WAIT',
        'TCP_CLOSE_WAIT>TCP_LAST_ACK', 'TCP_LAST_ACK>TCP_CLOSE',
      ]);
      // The server socket closes first (it ends the connection), the client follows.
      expect(t(server_)).toEqual([
        'TCP_LISTEN>TCP_SYN_RECV', 'TCP_SYN_RECV>TCP_ESTABLISHED', 'TCP_ESTABLISHED>TCP_FIN_WAIT1',
        'TCP_FIN_WAIT1>TCP_FIN_WAIT2', 'TCP_FIN_WAIT2>TCP_CLOSE',
      ]);
      expect(t(listener)).toEqual(['TCP_CLOSE>TCP_LISTEN', 'TCP_LISTEN>TCP_CLOSE']);
      const est = client[1] as TcpStateChange;
      expect(est).toMatchObject({ family: 'AF_INET', saddr: '127.0.0.1', daddr: '127.0.0.1', dport: port, skaddr: null });
      expect(server_[1]).toMatchObject({ sport: port, dport: est.sport });

      const stats = await inst.cpuStats();
      expect(stats.length).toBeGreaterThan(0);
      expect(stats.every((s) => s.droppedEvents === 0 && s.overrun === 0)).toBe(true);
    } finally {
      await inst.remove();
    }
    expect(existsSync(inst.dir)).toBe(false);
    expect((await tracefs.listLeftovers('probefleet')).instances).not.toContain(`probefleet-${id}`);
  });

  it('event filters: only matching transitions reach the ring buffer; a refused filter carries the kernel message; bad lines never reach tracefs', async () => {
    const inst = await tracefs.createInstance(`${id}f`);
    const [kept, dropped] = [await listen(), await listen()];
    try {
      const keptPort = (kept.address() as AddressInfo).port;
      await inst.setEventFilter('sock', 'inet_sock_set_state', `sport == ${keptPort} || dport == ${keptPort}`);
      expect(await inst.readEventFilter('sock', 'inet_sock_set_state')).toBe(`sport == ${keptPort} || dport == ${keptPort}`);
      await inst.enableEvent('sock', 'inet_sock_set_state');
      for (let i = 0; i < 3; i++) await roundTrip((dropped.address() as AddressInfo).port);
      await roundTrip(keptPort);
      await new Promise((r) => setTimeout(r, 200));
      await inst.disableEvent('sock', 'inet_sock_set_state');
      const hits = (await inst.drain()).map(parseTraceLine).filter((h) => h?.event === 'inet_sock_set_state');
      const changes = hits.map((h) => decodeInetSockSetState(h as NonNullable<typeof h>));
      // One connection's transitions, both ends, and none of the three others: the kernel never recorded them.
      expect(changes.length).toBeGreaterThanOrEqual(8);
      expect(changes.every((c) => c?.sport === keptPort || c?.dport === keptPort)).toBe(true);

      await expect(inst.setEventFilter('sock', 'inet_sock_set_state', 'sport == 1\n0')).rejects.toThrow(/non-printable/);
      await expect(inst.setEventFilter('sock', 'inet_sock_set_state', 'sport == 1 || comm == "x"')).rejects.toThrow(/field op integer/);
      // Refused by the grammar: the file still holds the last good filter (nothing was written).
      expect(await inst.readEventFilter('sock', 'inet_sock_set_state')).toBe(`sport == ${keptPort} || dport == ${keptPort}`);
      const refused = inst.setEventFilter('sock', 'inet_sock_set_state', 'nosuchfield == 1');
      await expect(refused).rejects.toMatchObject({ name: 'TracefsWriteError', kernel: { message: 'Field not found', command: 'nosuchfield == 1', position: 12 } });
    } finally {
      kept.close();
      dropped.close();
      await inst.remove();
    }
  });

  it('refuses a second instance with the same id and lists it among leftovers until removed', async () => {
    const inst = await tracefs.createInstance(`${id}b`);
    await expect(tracefs.createInstance(`${id}b`)).rejects.toThrow(/EEXIST/);
    expect((await tracefs.listLeftovers('probefleet')).instances).toContain(inst.name);
    await new TracingInstance(tracefs, inst.name).remove();
    expect((await tracefs.listLeftovers('probefleet')).instances).not.toContain(inst.name);
  });

  it('stops streaming trace_pipe promptly when aborted, with no event arriving', async () => {
    const inst = await tracefs.createInstance(`${id}c`);
    try {
      const ac = new AbortController();
      const t0 = Date.now();
      setTimeout(() => ac.abort(), 100);
      const got: string[] = [];
      for await (const line of inst.lines({ signal: ac.signal, pollMs: 500 })) got.push(line);
      expect(got).toEqual([]);
      expect(Date.now() - t0).toBeLessThan(1000);
    } finally {
      await inst.remove();
    }
  });
});
