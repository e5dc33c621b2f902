// A paced loopback TCP load in its own process (so its CPU is measured apart): `parallel` clients
// connect to a server that closes at once — one connection ≈ 10 TCP transitions — starting
// connection k no earlier than start + k/rate (rate 0: as fast as they go), for `seconds`. The
// server listens on `port` (0: any free one); a known port lets an in-kernel filter select the load.
import { spawn } from 'node:child_process';

const loadSrc = `
const net = require('node:net');
const [seconds, parallel, rate, listenPort] = process.argv.slice(1).map(Number);
const server = net.createServer((c) => c.end()).listen(listenPort || 0, '127.0.0.1', async () => {
  const port = server.address().port;
  const start = Date.now();
  const end = start + seconds * 1000;
  let n = 0;
  let scheduled = 0;
  const pace = async () => { if (rate > 0) { const at = start + (scheduled++ * 1000) / rate; if (at > Date.now()) await new Promise((r) => setTimeout(r, at - Date.now())); } };
  const one = () => new Promise((res) => { const c = net.connect(port, '127.0.0.1'); c.on('error', res); c.resume(); c.on('close', res); });
  await Promise.all(Array.from({ length: parallel }, async () => { while (Date.now() < end) { await pace(); if (Date.now() >= end) break; await one(); n++; } }));
  const u = process.cpuUsage();
  process.stdout.write(JSON.stringify({ connections: n, seconds: (Date.now() - start) / 1000, cpuSeconds: (u.user + u.system) / 1e6 }));
  server.close();
});`;

/** Starts the load; `done` resolves with { connections, seconds, cpuSeconds }. */
export function startLoopbackLoad(seconds, parallel, rate, port = 0) {
  const child = spawn(process.execPath, ['-e', loadSrc, String(seconds), String(parallel), String(rate), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  const done = new Promise((resolve, reject) =>
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`loopback load exited ${code}`)))),
  );
  return { child, done };
}
