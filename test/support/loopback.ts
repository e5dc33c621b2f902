// Loopback TCP workloads on ports the test picks, and what this kernel reports for them.
import * as fs from 'node:fs';
import * as net from 'node:net';

// Below the kernel's ephemeral range (ip_local_port_range): no listen(0) of this or another process
// and no connect's source port is taken from here, so a port handed out stays free. From inside the
// ephemeral range it did not: an echo server's listen(0) got a "refused" port back, and a connect to
// such a port can even pick it as its own source port and connect to itself.
const EPHEMERAL_LOW = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
const PICK_FROM = 20_000;
const handedOut = new Set<number>();

/**
 * A port nobody listens on right now, outside the ephemeral range, never the same twice in a process.
 * Pick it before the agent starts: finding it makes a listener the agent would otherwise see.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const port = PICK_FROM + Math.floor(Math.random() * (EPHEMERAL_LOW - PICK_FROM));
    if (handedOut.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen({ port, host, exclusive: true }, () => s.close(() => resolve(true)));
    });
    if (!free) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port in ${PICK_FROM}..${EPHEMERAL_LOW - 1} on ${host} after 200 tries`);
}

/** A connect to `port`, which must be refused. */
export function refusedConnect(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, host);
    c.on('connect', () => {
      // Closed at once: a listener that got it would otherwise wait on it, and its close() with it.
      c.destroy();
      reject(new Error(`port ${port} unexpectedly accepted`));
    });
    c.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNREFUSED' ? resolve() : reject(e)));
  });
}

export type EchoServer = net.Server & { port: number; stop(): Promise<void> };

/** Answers the first data of each connection with the same bytes and closes at once (active close). */
export function echoThenCloseServer(host: string): Promise<EchoServer> {
  return new Promise((resolve, reject) => {
    // Its open connections are destroyed on stop: close() alone waits for a peer that may never send.
    const open = new Set<net.Socket>();
    const server = net.createServer((c) => {
      open.add(c.on('close', () => open.delete(c)));
      c.once('data', (d) => c.end(d));
    });
    server.on('error', reject);
    server.listen(0, host, () => {
      const stop = () => new Promise<void>((r) => {
        server.close(() => r());
        for (const c of open) c.destroy();
      });
      resolve(Object.assign(server, { port: (server.address() as net.AddressInfo).port, stop }));
    });
  });
}

/** Sends `payload`, reads the echo and closes after the server's FIN; rejects when the echo differs. */
export function exchangeOnce(host: string, port: number, payload: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, host, () => c.write(payload));
    let got = '';
    c.setEncoding('utf8').on('data', (d: string) => (got += d));
    c.on('error', reject);
    c.on('close', () => (got === payload ? resolve() : reject(new Error(`port ${port}: echoed ${JSON.stringify(got)}, sent ${JSON.stringify(payload)}`))));
  });
}

// What the kernel does for one accepted loopback connection whose server closes first, per socket.
export const ACCEPTED = {
  listener: ['CLOSE->LISTEN', 'LISTEN->CLOSE'],
  client: ['CLOSE->SYN_SENT', 'SYN_SENT->ESTABLISHED', 'ESTABLISHED->CLOSE_WAIT', 'CLOSE_WAIT->LAST_ACK', 'LAST_ACK->CLOSE'],
  child: ['LISTEN->SYN_RECV', 'SYN_RECV->ESTABLISHED', 'ESTABLISHED->FIN_WAIT1', 'FIN_WAIT1->FIN_WAIT2', 'FIN_WAIT2->CLOSE'],
};
/** ... and for a refused connect. */
export const REFUSED = ['CLOSE->SYN_SENT', 'SYN_SENT->CLOSE'];
