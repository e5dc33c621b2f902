// Loopback TCP workloads on ports the test picks, and what this kernel reports for them.
import * as net from 'node:net';

/**
 * A port nobody listens on right now. Pick it before the agent starts: finding it makes a listener
 * the agent would otherwise see.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, host, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** A connect to `port`, which must be refused. */
export function refusedConnect(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, host);
    c.on('connect', () => reject(new Error(`port ${port} unexpectedly accepted`)));
    c.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNREFUSED' ? resolve() : reject(e)));
  });
}

export type EchoServer = net.Server & { port: number; stop(): Promise<void> };

/** Answers the first data of each connection with the same bytes and closes at once (active close). */
export function echoThenCloseServer(host: string): Promise<EchoServer> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((c) => c.once('data', (d) => c.end(d)));
    server.on('error', reject);
    server.listen(0, host, () => {
      const stop = () => new Promise<void>((r) => server.close(() => r()));
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
