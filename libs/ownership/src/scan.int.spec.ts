import { readFileSync } from 'node:fs';
// The start-up scan against this host's /proc: a server process listening (and holding one accepted
// connection, its client in another process) before the tracker exists is found with its real pid,
// and the tracker then hands that owner to the listener's next child and to the old connection.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { OwnerTracker } from './tracker';
import { ProcessResolver } from './process';
import { scanSockets } from './scan';
import { SocketOwners } from './owners';

/** The task's comm as the kernel has it (node names its main thread: Node 24 reads MainThread here, Node 20 node). */
const commOf = (pid: number) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim();

const SERVER = `
const net = require('node:net');
const held = [];
const s = net.createServer((c) => held.push(c)).listen(0, '127.0.0.1', () => console.log(s.address().port));`;
const CLIENT = `
const c = require('node:net').connect(Number(process.argv[1]), '127.0.0.1', () => console.log(c.localPort));`;

function line(c: ChildProcess): Promise<string> {
  return new Promise((resolve) => c.stdout!.once('data', (b: Buffer) => resolve(b.toString().trim())));
}

describe('scanSockets (this host)', () => {
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const c of children) {
      c.kill('SIGKILL');
      await once(c, 'exit');
    }
  });

  it('finds a listener and a connection made before the scan, owned by their processes', async () => {
    const server = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(server);
    const port = Number(await line(server));
    const client = spawn(process.execPath, ['-e', CLIENT, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(client);
    const clientPort = Number(await line(client));
    await new Promise((r) => setTimeout(r, 200)); // the server's accept callback

    const resolver = new ProcessResolver();
    const { sockets } = scanSockets((pid) => resolver.read(pid));
    const listener = sockets.find((s) => s.listening && s.sport === port);
    expect(listener).toMatchObject({ family: 'AF_INET', saddr: '127.0.0.1', owner: { pid: server.pid, comm: commOf(server.pid!) } });
    const outgoing = sockets.find((s) => !s.listening && s.sport === clientPort && s.dport === port);
    expect(outgoing?.owner.pid).toBe(client.pid);
    const accepted = sockets.find((s) => !s.listening && s.sport === port && s.dport === clientPort);
    expect(accepted?.owner.pid).toBe(server.pid);

    const t = new OwnerTracker<{ pid: number }>();
    for (const s of sockets) {
      if (s.listening) t.addListener(s.family, s.saddr, s.sport, s.owner);
      else t.addConnection(s.family, s.saddr, s.sport, s.daddr, s.dport, s.owner);
    }
    const args = { family: 'AF_INET' as const, saddr: '127.0.0.1', daddr: '127.0.0.1' };
    const child = t.observe('b', { ...args, skaddr: '0x10', sport: port, dport: 55555, oldstate: 'TCP_LISTEN', newstate: 'TCP_SYN_RECV' }, false, () => undefined);
    expect(child).toEqual({ owner: listener!.owner, attribution: 'socket' });
    const old = t.observe('b', { ...args, skaddr: '0x11', sport: clientPort, dport: port, oldstate: 'TCP_ESTABLISHED', newstate: 'TCP_CLOSE_WAIT' }, false, () => undefined);
    expect(old.owner?.pid).toBe(client.pid);
  });
});

describe('SocketOwners (this host)', () => {
  it('a listener started after the scan and never seen listening (kprobe mode) is found on its first child', async () => {
    const owners = new SocketOwners('boot');
    owners.scan();
    const server = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = Number(await line(server));
      const child = owners.attribute({ skaddr: '0x20', family: 'AF_INET', saddr: '127.0.0.1', daddr: '127.0.0.1', sport: port, dport: 40000, oldstate: 'TCP_SYN_RECV', newstate: 'TCP_ESTABLISHED' }, undefined, 0);
      expect(child).toMatchObject({ owner: { pid: server.pid, comm: commOf(server.pid!) }, attribution: 'socket' });
      expect(owners.rescans).toBe(1);
      // Rate-limited: another unknown child does not re-read /proc at once again.
      expect(owners.attribute({ skaddr: '0x21', family: 'AF_INET', saddr: '127.0.0.1', daddr: '127.0.0.1', sport: 1, dport: 2, oldstate: 'TCP_SYN_RECV', newstate: 'TCP_ESTABLISHED' }, undefined, 0).attribution).toBe('unknown');
      expect(owners.rescans).toBe(1);
      expect(owners.counters().attributionUnknown).toBe(1);
    } finally {
      server.kill('SIGKILL');
      await once(server, 'exit');
    }
  });

  it('an unknown socket that is no listener\'s first child never re-reads /proc: it would use up the rate limit a new listener needs', async () => {
    const owners = new SocketOwners('boot', { rescanMs: 60_000 });
    owners.scan();
    const server = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = Number(await line(server));
      // A client socket whose connect() hit came late from another CPU: unknown, and no rescan.
      expect(owners.attribute({ skaddr: '0x30', family: 'AF_INET', saddr: '127.0.0.1', daddr: '127.0.0.1', sport: 41000, dport: port, oldstate: 'TCP_SYN_SENT', newstate: 'TCP_ESTABLISHED' }, undefined, 0).attribution).toBe('unknown');
      expect(owners.rescans).toBe(0);
      const child = owners.attribute({ skaddr: '0x31', family: 'AF_INET', saddr: '127.0.0.1', daddr: '127.0.0.1', sport: port, dport: 41000, oldstate: 'TCP_SYN_RECV', newstate: 'TCP_ESTABLISHED' }, undefined, 0);
      expect(child).toMatchObject({ owner: { pid: server.pid }, attribution: 'socket' });
      expect(owners.rescans).toBe(1);
    } finally {
      server.kill('SIGKILL');
      await once(server, 'exit');
    }
  });
});
