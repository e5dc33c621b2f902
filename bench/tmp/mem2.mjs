// scratch: agent memory under load, from its /metrics (prom-client process + nodejs metrics)
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLoopbackLoad } from '../lib/loopback-load.mjs';
const root = new URL('../..', import.meta.url).pathname;
const [rate = 2000, sink = 'kafka', ...nodeArgs] = process.argv.slice(2);
const work = mkdtempSync(join(tmpdir(), 'mem2-'));
const port = 20000 + Math.floor(Math.random() * 20000), mport = port + 1;
const cfg = { sink, format: 'json', filter: { ports: [port] }, bufferSizeKb: 4096, metrics: { port: mport }, heartbeatIntervalS: 5,
  ...(sink === 'kafka' ? { kafka: { brokers: ['127.0.0.1:9092'], topic: 'mem2-topic' }, spool: { dir: join(work, 'spool') } } : {}) };
writeFileSync(join(work, 'a.json'), JSON.stringify(cfg));
const child = spawn(process.execPath, [...nodeArgs, join(root, 'apps/agent/dist/main.js'), 'run', '--config', join(work, 'a.json')], { stdio: ['ignore', openSync('/dev/null', 'w'), 'inherit'] });
await new Promise((r) => setTimeout(r, 4000));
const grab = async () => { const t = await (await fetch(`http://127.0.0.1:${mport}/metrics`)).text(); const g = (n) => Math.round(Number(new RegExp(`^${n}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(t)?.[1] ?? NaN) / 2 ** 20); 
  const st = readFileSync(`/proc/${child.pid}/status`, 'utf8'); const k = (n) => Math.round(Number(new RegExp(`^${n}:\\s+(\\d+)`, 'm').exec(st)[1]) / 1024);
  return { rss: k('VmRSS'), anon: k('RssAnon'), file: k('RssFile'), heapUsed: g('nodejs_heap_size_used_bytes'), heapTotal: g('nodejs_heap_size_total_bytes'), external: g('nodejs_external_memory_bytes') }; };
console.log('idle', await grab());
const load = startLoopbackLoad(20, 64, Number(rate), port);
const iv = setInterval(async () => console.log(await grab()), 3000);
await load.done; clearInterval(iv);
console.log('after', await grab());
child.kill('SIGTERM');
