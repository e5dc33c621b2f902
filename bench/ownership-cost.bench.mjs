// The agent's user-space hot path for TCP hits, with socket attribution on and off, in one process:
// decoded records → hitHandler (owners or none) → envelope → edge check → stdout sink (to /dev/null),
// as runAgent wires them. The records replay the loopback load of agent-vs-bpftrace (64 clients to a
// server that closes at once: ten transitions a connection, three of them in the owning task's
// syscalls, with the flags and socket-address reuse the kernel shows), or a recorded agent NDJSON
// output; each pass makes its records anew, as the page decoder does (its cost is in both). On and off alternate in rounds, so a shared machine's load falls on both alike; CPU µs
// per hit from process.cpuUsage. Reading and decoding pages (the same on and off) is not included:
// the added µs are set against the whole agent's µs per transition from agent-vs-bpftrace.
// BENCH_OWNERSHIP_BASE=<a built libs/ownership dist> adds a third variant, attribution by that build,
// to compare two versions of it in the same rounds.
//   node bench/ownership-cost.bench.mjs [hits=100000] [rounds=12] [recording.ndjson]  → bench/results/ownership-cost.json
import { mkdtempSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { codeVersion, machine, median, require, round, writeResult } from './lib/stack.mjs';

const { hitHandler } = require('@probefleet/agent/dist/reader.js');
const { planProbes } = require('@probefleet/agent/dist/probes.js');
const { StdoutSink } = require('@probefleet/agent/dist/sink.js');
const { loadConfig } = require('@probefleet/agent/dist/config.js');
const { EnvelopeEncoder, checkEncoded } = require('@probefleet/events');
const { hexPointer } = require('@probefleet/tracefs');
const variants = { on: require('@probefleet/ownership').SocketOwners, off: null };
if (process.env.BENCH_OWNERSHIP_BASE) variants.base = require(join(process.cwd(), process.env.BENCH_OWNERSHIP_BASE, 'index.js')).SocketOwners;

const hits = Number(process.argv[2] ?? 100_000);
const rounds = Number(process.argv[3] ?? 12);
const recording = process.argv[4];
const BATCH = 256;
const SERVER_PID = 4242;
const CLIENT_PID = 4243;
const PORT = 41991;

const flagsOf = new Map();
/** RawRecord.flags: shared frozen objects, one per value (as the page decoder makes them). */
function flags(softirq, needResched) {
  const k = `${softirq}|${needResched}`;
  let f = flagsOf.get(k);
  if (f === undefined) {
    f = Object.freeze({ raw: '', irqsOff: false, bhDisabled: false, needResched, context: softirq ? 'softirq' : 'normal', nested: false, preemptDepth: softirq ? 2 : 0, migrateDisable: 0 });
    flagsOf.set(k, f);
  }
  return f;
}

// TcpStateName strings: the decoder hands out one string per state (its table's), so do we.
const S = Object.fromEntries(['CLOSE', 'SYN_SENT', 'ESTABLISHED', 'LISTEN', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'CLOSE_WAIT', 'LAST_ACK'].map((s) => [s, `TCP_${s}`]));
const rec = (cpu, pid, softirq, args, t) => ({ kind: 'event', cpu, timestampNs: t, eventId: 1, event: 'inet_sock_set_state', pid, flags: flags(softirq, t % 2n === 0n), fields: {}, decoded: args });
/**
 * The record as the page decoder hands it over: a new object with a new skaddr string (hexPointer's,
 * a cons string until something flattens it) each time, as each read of a page makes them.
 */
function fresh(r) {
  const a = r.decoded;
  const sk = BigInt(a.skaddr);
  const decoded = { skaddr: hexPointer(Number(sk >> 32n), Number(sk & 0xffffffffn)), family: a.family, saddr: a.saddr, daddr: a.daddr, sport: a.sport, dport: a.dport, oldstate: a.oldstate, newstate: a.newstate };
  return { ...r, decoded };
}

/** The loopback load's transitions, ten a connection; socket addresses are reused as the kernel does. */
function synthetic(n) {
  const out = [];
  const free = [];
  let next = 0xffff888100000000n;
  const addr = () => free.pop() ?? `0x${(next += 0x1280n).toString(16)}`;
  let t = 1_000_000_000n;
  let sport = 32768;
  const tcp = (skaddr, s, d, o, nw) => ({ skaddr, family: 'AF_INET', saddr: '127.0.0.1', daddr: '127.0.0.1', sport: s, dport: d, oldstate: o, newstate: nw });
  out.push(rec(0, SERVER_PID, false, tcp(addr(), PORT, 0, S.CLOSE, S.LISTEN), t));
  while (out.length < n) {
    const c = addr();
    const v = addr();
    const p = (sport = sport >= 60999 ? 32768 : sport + 1);
    const cpu = out.length % 2;
    const step = (pid, softirq, a) => out.push(rec(cpu, pid, softirq, a, (t += 1000n)));
    step(CLIENT_PID, false, tcp(c, 0, PORT, S.CLOSE, S.SYN_SENT));
    step(CLIENT_PID, false, tcp(c, p, PORT, S.SYN_SENT, S.ESTABLISHED));
    step(CLIENT_PID, true, tcp(v, PORT, p, S.LISTEN, S.SYN_RECV));
    step(CLIENT_PID, true, tcp(v, PORT, p, S.SYN_RECV, S.ESTABLISHED));
    step(SERVER_PID, false, tcp(v, PORT, p, S.ESTABLISHED, S.FIN_WAIT1));
    step(SERVER_PID, true, tcp(c, p, PORT, S.ESTABLISHED, S.CLOSE_WAIT));
    step(CLIENT_PID, false, tcp(c, p, PORT, S.CLOSE_WAIT, S.LAST_ACK));
    step(CLIENT_PID, true, tcp(v, PORT, p, S.FIN_WAIT1, S.FIN_WAIT2));
    step(CLIENT_PID, true, tcp(v, PORT, p, S.FIN_WAIT2, S.CLOSE));
    step(CLIENT_PID, false, tcp(c, p, PORT, S.LAST_ACK, S.CLOSE));
    free.unshift(c, v); // reused once freed, not at once
  }
  return out.slice(0, n);
}

/** The hits of an agent's NDJSON output (ownership on or off), as the records they came from. */
function recorded(file, n) {
  const out = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.includes('"type":"probe.hit"')) continue;
    const e = JSON.parse(line);
    const a = e.data.args;
    const args = { ...a, oldstate: a.oldstate, newstate: a.newstate };
    out.push(rec(e.data.cpu, e.data.pid, e.data.ctx.softirq, args, BigInt(e.monoNs)));
    if (out.length >= n) break;
  }
  return out;
}

/** A /proc with the tasks the records name (the real ones have exited): status, comm, cgroup. */
function fakeProc(records) {
  const dir = mkdtempSync(join(tmpdir(), 'ownership-cost-proc-'));
  for (const pid of new Set(records.map((r) => r.pid))) {
    mkdirSync(join(dir, String(pid)));
    writeFileSync(join(dir, String(pid), 'status'), `Name:\tnode\nTgid:\t${pid}\nPid:\t${pid}\n`);
    writeFileSync(join(dir, String(pid), 'comm'), 'node\n');
    writeFileSync(join(dir, String(pid), 'cgroup'), '12:memory:/process_api/d1bc234cd475abf441de536f2145493b\n0::/process_api/d1bc234cd475abf441de536f2145493b\n');
  }
  return dir;
}

const records = recording ? recorded(recording, hits) : synthetic(hits);
const procRoot = fakeProc(records);
const config = loadConfig({ env: {}, flags: {} });
const tcp = planProbes('tracepoint', null, config).find((p) => p.tcp);
const byEvent = new Map([[tcp.event, tcp]]);
const comms = { prepare: async () => {}, comm: () => 'node' };

/** One pass over the records; returns CPU µs per hit (user + system). */
async function pass(variant) {
  const Owners = variants[variant];
  const out = createWriteStream('/dev/null');
  const sink = new StdoutSink('json', out);
  const stream = new EnvelopeEncoder({ host: 'vm', bootId: '09c1f228-4f2a-4b3e-98f0-e1c78eaa113a', instance: 'f80dfc8f-695c-4184-9c5d-c98b109637fe' }, 1_700_000_000_000_000_000n);
  let dropped = 0;
  const emitHit = (dataJson, monoNs) => {
    const e = stream.encoded('probe.hit', dataJson, monoNs);
    if (checkEncoded(e)) dropped++;
    else sink.write(e);
  };
  const owners = Owners ? new Owners('09c1f228-4f2a-4b3e-98f0-e1c78eaa113a', { procRoot, rescanMs: 1000 }) : undefined;
  owners?.scan();
  const handle = hitHandler(byEvent, comms, emitHit, owners);
  const c0 = process.cpuUsage();
  for (let i = 0; i < records.length; i += BATCH) {
    await handle(records.slice(i, i + BATCH).map(fresh));
    await sink.ready();
  }
  await sink.close();
  const c = process.cpuUsage(c0);
  out.destroy();
  if (dropped > 0) throw new Error(`${dropped} hits failed the edge check`);
  return { us: (c.user + c.system) / records.length, counters: owners?.counters() };
}

const names = Object.keys(variants);
const us = Object.fromEntries(names.map((n) => [n, []]));
const loads = [loadavg()[0]];
for (const n of names) await pass(n); // warm-up of every path
// BENCH_ONLY=<variant>: that path alone, many times (for a CPU profile).
if (process.env.BENCH_ONLY) {
  for (let r = 0; r < rounds; r++) await pass(process.env.BENCH_ONLY);
  process.exit(0);
}
let counters;
for (let r = 0; r < rounds; r++) {
  // Each round in another order, so that no variant always runs first.
  for (let i = 0; i < names.length; i++) {
    const n = names[(i + r) % names.length];
    const p = await pass(n);
    us[n].push(p.us);
    if (n === 'on') counters = p.counters;
  }
  loads.push(loadavg()[0]);
}
rmSync(procRoot, { recursive: true, force: true });
/** The median of the rounds' differences to off (each round's variants ran back to back). */
const adds = (n) => median(us[n].map((x, i) => x - us.off[i]));
const min = (xs) => Math.min(...xs);
for (const n of names) console.log(`${n.padEnd(4)} median ${median(us[n]).toFixed(2)} µs, min ${min(us[n]).toFixed(2)}${n === 'off' ? '' : `; adds ${adds(n).toFixed(3)} µs a hit over off (median of the rounds' differences), ${(min(us[n]) - min(us.off)).toFixed(3)} (of the minima)`}`);
console.log(`load ${loads.map((l) => l.toFixed(1)).join(' ')}`);
writeResult('ownership-cost.json', {
  name: 'ownership-cost',
  source: recording ? 'recorded' : 'synthetic loopback load',
  hits: records.length,
  rounds,
  notes: [
    "the agent's hot path for TCP hits after decoding (hitHandler, envelope, edge check, stdout sink to /dev/null), attribution on and off alternating in one process; reading and decoding pages are the same either way and left out",
    'addedMicrosPerHit is to be set against the whole agent µs per transition of agent-vs-bpftrace (stdout sink) for the share the goal (≤ 10 %) is about',
  ],
  microsPerHit: Object.fromEntries(names.map((n) => [n, us[n].map((x) => round(x, 3))])),
  addedMicrosPerHit: Object.fromEntries(names.filter((n) => n !== 'off').map((n) => [n, { medianOfRoundDifferences: round(adds(n), 3), ofMinima: round(min(us[n]) - min(us.off), 3) }])),
  counters,
  loadAverage: loads.map((l) => round(l, 2)),
  code: codeVersion(),
  machine: machine(),
  date: new Date().toISOString(),
});
