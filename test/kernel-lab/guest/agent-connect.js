'use strict';
// Runs INSIDE the guest (host node via inhost) next to a running agent:
//   node test/kernel-lab/guest/agent-connect.js AGENT_NDJSON PORTS_JSON OUT_JSON
// Waits for the agent's probe.armed events, then makes loopback TCP connections on the given ports
// (IPv4 and IPv6 accepted — the server closes first — and IPv4/IPv6 refused) and writes what happened.
const fs = require('node:fs');
const net = require('node:net');

const [agentOut, portsFile, outFile] = process.argv.slice(2);
const ports = JSON.parse(fs.readFileSync(portsFile, 'utf8'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitArmed(expected, timeoutMs) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const text = fs.existsSync(agentOut) ? fs.readFileSync(agentOut, 'utf8') : '';
    if ((text.match(/"type":"probe\.armed"/g) || []).length >= expected) return;
    await sleep(100);
  }
  throw new Error(`agent not armed within ${timeoutMs} ms`);
}

function accepted(host, port) {
  return new Promise((resolve, reject) => {
    const server = net.createServer((c) => c.end());
    server.on('error', reject);
    server.listen(port, host, () => {
      const client = net.connect(port, host);
      client.on('error', reject);
      client.resume();
      client.on('close', () => server.close(() => resolve({ ok: true })));
    });
  });
}

function refused(host, port) {
  return new Promise((resolve) => {
    const c = net.connect(port, host, () => { c.destroy(); resolve({ ok: false, code: 'CONNECTED' }); });
    c.on('error', (e) => resolve({ ok: e.code === 'ECONNREFUSED', code: e.code }));
  });
}

async function main() {
  await waitArmed(Number(process.env.ARMED || 1), 60000);
  const out = {
    v4: await accepted('127.0.0.1', ports.v4),
    v6: await accepted('::1', ports.v6),
    refused4: await refused('127.0.0.1', ports.refused4),
    refused6: await refused('::1', ports.refused6),
  };
  fs.writeFileSync(outFile, JSON.stringify(out));
}

main().catch((e) => {
  fs.writeFileSync(outFile, JSON.stringify({ error: String(e && e.stack || e) }));
  process.exit(1);
});
