'use strict';
// Runs INSIDE the guest (host node via inhost) next to an agent with a `filter:` section:
//   node test/kernel-lab/guest/filter-connect.js PORTS_JSON OUT_JSON
// Loopback connections on the filter's port (IPv4, and IPv6 which the family filter leaves out)
// and on another port, each accepted and closed by the client; writes how many of each were made.
const fs = require('node:fs');
const net = require('node:net');

const [portsFile, outFile] = process.argv.slice(2);
const ports = JSON.parse(fs.readFileSync(portsFile, 'utf8'));

function listen(host, port) {
  return new Promise((resolve, reject) => {
    const server = net.createServer((c) => c.resume());
    server.on('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

function connectOnce(host, port) {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, host, () => c.end());
    c.on('error', reject);
    c.resume();
    c.on('close', () => resolve());
  });
}

async function main() {
  const servers = [await listen('127.0.0.1', ports.kept), await listen('::1', ports.kept), await listen('127.0.0.1', ports.other)];
  const made = { keptV4: 0, keptV6: 0, otherV4: 0 };
  for (let i = 0; i < ports.connections; i++) {
    await connectOnce('127.0.0.1', ports.kept); made.keptV4++;
    await connectOnce('::1', ports.kept); made.keptV6++;
    await connectOnce('127.0.0.1', ports.other); made.otherV4++;
    await connectOnce('127.0.0.1', ports.other); made.otherV4++;
  }
  await new Promise((r) => setTimeout(r, 500));
  for (const s of servers) await new Promise((r) => s.close(r));
  fs.writeFileSync(outFile, JSON.stringify(made));
}

main().catch((e) => { console.error(e); process.exit(1); });
