'use strict';
// Runs INSIDE the guest, with the host's node via chroot (see guest/inhost.sh), as the agent will:
//   node test/kernel-lab/guest/kprobe-lines.js SHARE
// SHARE/probes.txt: kprobe definition lines; SHARE/kprobe-lines.json: { group, ports: { v4, v6, refused } }.
// Writes the lines to kprobe_events one by one (accepted, or refused with errno + error_log), enables the
// group, makes loopback TCP connections (IPv4, IPv6, refused) and saves what tracefs says into SHARE.
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const T = '/sys/kernel/tracing';
const share = process.argv[2];
const cfg = JSON.parse(fs.readFileSync(path.join(share, 'kprobe-lines.json'), 'utf8'));
const lines = fs.readFileSync(path.join(share, 'probes.txt'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
const save = (name, text) => fs.writeFileSync(path.join(share, name), text);
const read = (f) => fs.readFileSync(path.join(T, f), 'utf8');

function register(line) {
  fs.closeSync(fs.openSync(path.join(T, 'error_log'), 'w')); // O_TRUNC clears the kernel's error log
  const fd = fs.openSync(path.join(T, 'kprobe_events'), 'a'); // append: O_TRUNC would delete all kprobes
  try {
    fs.writeSync(fd, line + '\n');
    return { line, accepted: true };
  } catch (e) {
    return { line, accepted: false, errno: e.code, errorLog: read('error_log') };
  } finally {
    fs.closeSync(fd);
  }
}

// Resolves when both ends have closed; data goes client -> server.
function exchange(host, port) {
  return new Promise((resolve, reject) => {
    let received = '';
    const server = net.createServer((c) => {
      c.on('data', (d) => (received += d));
      c.on('end', () => c.end());
      c.on('close', () => server.close(() => resolve({ ok: received === 'hello', received })));
    });
    server.on('error', reject);
    server.listen(port, host, () => {
      const client = net.connect(port, host, () => client.end('hello'));
      client.on('error', reject);
    });
  });
}

function refused(host, port) {
  return new Promise((resolve) => {
    const client = net.connect(port, host, () => { client.destroy(); resolve({ ok: false, code: 'CONNECTED' }); });
    client.on('error', (e) => resolve({ ok: e.code === 'ECONNREFUSED', code: e.code }));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const results = lines.map(register);
  const accepted = results.filter((r) => r.accepted);
  fs.writeFileSync(path.join(T, 'trace'), ''); // clear the ring buffer
  const connections = {};
  if (accepted.length) {
    fs.writeFileSync(path.join(T, 'events', cfg.group, 'enable'), '1');
    try { fs.writeFileSync(path.join(T, 'events/sock/inet_sock_set_state/enable'), '1'); } catch { /* only for comparison */ }
    fs.writeFileSync(path.join(T, 'tracing_on'), '1');
    connections.v4 = await exchange('127.0.0.1', cfg.ports.v4);
    connections.v6 = await exchange('::1', cfg.ports.v6);
    connections.refused = await refused('127.0.0.1', cfg.ports.refused);
    await sleep(200);
    fs.writeFileSync(path.join(T, 'tracing_on'), '0');
  }
  const formats = {};
  for (const r of accepted) {
    const name = r.line.split(/\s+/)[0].split('/')[1];
    try { formats[name] = read(`events/${cfg.group}/${name}/format`); } catch { /* named differently */ }
  }
  save('trace', read('trace'));
  save('kprobe_profile', read('kprobe_profile'));
  save('kprobe_events', read('kprobe_events'));
  save('error_log', results.filter((r) => !r.accepted).map((r) => r.errorLog).join(''));
  save('formats.json', JSON.stringify(formats, null, 1) + '\n');
  save('results.json', JSON.stringify({ kernelRelease: os.release(), node: process.version, lines: results, connections }, null, 1) + '\n');
  console.log(`kprobe-lines: ${accepted.length}/${results.length} accepted; connections ${JSON.stringify(connections)}`);
}

main().catch((e) => { console.error('kprobe-lines failed:', e); process.exit(1); });
