// temporary: per-statement timing of in-process ingest (not committed)
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Session } from 'node:inspector/promises';
import { createBenchDb, require, root, main, onCleanup } from './lib/stack.mjs';
import { publishFleet, readFleetTopic } from './lib/fleet.mjs';
const FILE = '/tmp/lead/msgs.json';
const N = Number(process.env.N || 100000);
await main(async () => {
  let messages;
  if (existsSync(FILE)) messages = JSON.parse(readFileSync(FILE, 'utf8'));
  else {
    const topic = `prof-${randomUUID()}`;
    await publishFleet({ topic, agents: 200, events: N, partitions: 6 });
    messages = (await readFleetTopic(topic, N)).map((m) => ({ partition: m.partition, offset: String(m.offset), key: Buffer.from(m.key).toString(), value: Buffer.from(m.value).toString() }));
    writeFileSync(FILE, JSON.stringify(messages));
  }
  const db = await createBenchDb('prof');
  const { createPrisma } = require(join(root, 'apps/aggregator/dist/store/prisma.js'));
  const { ingest } = require(join(root, 'apps/aggregator/dist/store/ingest.js'));
  const store = createPrisma(db.url);
  onCleanup(() => store.$disconnect());
  const pg = require('pg');
  const orig = pg.Client.prototype.query;
  const times = new Map();
  pg.Client.prototype.query = function (q, ...rest) {
    const text = typeof q === 'string' ? q : q.text ?? (q.constructor?.name + ':' + (q.text ?? q._text ?? ''));
    const key = String(text).replace(/\s+/g, ' ').slice(0, 70);
    const t = performance.now();
    const r = orig.call(this, q, ...rest);
    if (r && typeof r.then === 'function') r.then(() => { const e = times.get(key) ?? [0, 0]; e[0] += performance.now() - t; e[1]++; times.set(key, e); }, () => {});
    else if (r && r.on) r.on('finish', () => { const e = times.get(key) ?? [0, 0]; e[0] += performance.now() - t; e[1]++; times.set(key, e); });
    return r;
  };
  const byP = Array.from({ length: 6 }, () => []);
  for (const m of messages) byP[m.partition].push({ topic: 'b', partition: m.partition, offset: m.offset, key: Buffer.from(m.key), value: Buffer.from(m.value) });
  const batches = [];
  for (const p of byP) for (let i = 0; i < p.length; i += 400) batches.push(p.slice(i, i + 400));
  await ingest(store, batches.shift());
  times.clear();
  const session = new Session(); session.connect();
  await session.post('Profiler.enable'); await session.post('Profiler.setSamplingInterval', { interval: 100 }); await session.post('Profiler.start');
  const cpu0 = process.cpuUsage(); const t0 = performance.now(); let n = 0;
  for (const b of batches) { const r = await ingest(store, b); n += r.stored; }
  const ms = performance.now() - t0; const cpu = process.cpuUsage(cpu0);
  const { profile } = await session.post('Profiler.stop'); writeFileSync('/tmp/lead/ingest.cpuprofile', JSON.stringify(profile));
  console.log(`stored ${n} in ${ms.toFixed(0)} ms: ${(n / ms * 1000).toFixed(0)} ev/s; node cpu ${((cpu.user + cpu.system) / n).toFixed(1)} µs/ev; batches ${batches.length}`);
  for (const [k, [t, c]] of [...times].sort((a, b) => b[1][0] - a[1][0])) console.log(`${t.toFixed(0).padStart(7)} ms ${String(c).padStart(5)}x  ${k}`);
  const { rows } = await store.pool.query(`SELECT relname, pg_total_relation_size(c.oid) b FROM pg_class c WHERE relkind IN ('r','i') ORDER BY 2 DESC LIMIT 25`);
  for (const r of rows) console.log(`${(r.b / n).toFixed(1).padStart(7)} B/ev ${r.relname}`);
  await store.$disconnect(); await db.drop();
});
