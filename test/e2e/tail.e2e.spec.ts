// `probefleet tail` end to end on this machine's kernel: the built agent (tracepoint mode, kafka
// sink) → a fresh topic → the built aggregator → /api/v1/transitions/stream → the tail command.
// One loopback connection's transitions (every edge of the client and the accepted socket) must
// be printed by tail within 2 s of the exchange ending (the bound).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { AGENT, brokers, freshTopic, startKafkaAgent, tempDir, type KafkaAgent } from '../support/agent-kafka';
import { AGGREGATOR, createMigratedDatabase, eventually, startAggregator, whenReady, type Aggregator, type TempDatabase } from '../support/aggregator';
import { ACCEPTED, echoThenCloseServer, exchangeOnce } from '../support/loopback';
import { deleteTopic } from '../support/stack';

jest.setTimeout(60_000);

const HOST = os.hostname();
let topic: string | undefined;
let db: TempDatabase | undefined;
let aggregator: Aggregator | undefined;
let agent: KafkaAgent | undefined;
let tail: ChildProcess | undefined;
const spoolDir = tempDir('tail-spool-');

beforeAll(async () => {
  for (const f of [AGENT, AGGREGATOR]) if (!fs.existsSync(f)) throw new Error(`${f} missing: run \`npm run build\` first`);
  if (process.geteuid?.() !== 0) throw new Error('needs root (tracefs)');
  topic = await freshTopic('tail-e2e');
  db = await createMigratedDatabase();
  aggregator = await startAggregator({ DATABASE_URL: db.url, KAFKA_TOPIC: topic });
  await whenReady(aggregator);
  agent = startKafkaAgent({ kafka: { brokers: brokers(), topic, lingerMs: 5 }, spool: { dir: spoolDir }, heartbeatIntervalS: 1 });
  const instance = (await agent.waitForLog('agent started', 15_000))['instance'] as string;
  const agg = aggregator;
  await eventually('the agent in /api/v1/agents', 15_000, async () =>
    (await agg.get<{ items: { instance: string }[] }>(`/api/v1/agents?host=${encodeURIComponent(HOST)}`)).items.find((a) => a.instance === instance));
}, 60_000);

afterAll(async () => {
  tail?.kill('SIGTERM');
  agent?.child.kill('SIGKILL');
  await aggregator?.stop(5000);
  await db?.drop();
  if (topic !== undefined) await deleteTopic(topic);
  fs.rmSync(spoolDir, { recursive: true, force: true });
}, 20_000);

test('probefleet tail prints a loopback connection\'s transitions from this kernel within 2 s', async () => {
  const server = await echoThenCloseServer('127.0.0.1');
  // From the start of this fresh store, filtered to the server's port: nothing is missed while tail connects.
  tail = spawn(process.execPath, [AGGREGATOR, 'tail', '--url', aggregator!.url, '--port', String(server.port), '--since-id', '0', '--utc'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: { at: number; text: string }[] = [];
  let buffered = '';
  tail.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buffered += d;
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    for (const text of parts) lines.push({ at: Date.now(), text });
  });
  let stderr = '';
  tail.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  // The listener's own CLOSE -> LISTEN says tail is following the stream.
  await eventually(`tail's first line (stderr: ${stderr})`, 15_000, async () => (lines.some((l) => / CLOSE +-> +LISTEN /.test(l.text)) ? true : undefined));

  await exchangeOnce('127.0.0.1', server.port, 'ping');
  const done = Date.now();
  await server.stop();
  const wanted = [...ACCEPTED.client, ...ACCEPTED.child].map((e) => e.replace('->', ' -> '));
  const edgeOf = (text: string) => text.split(/ {2,}/).slice(8, 11).join(' ');
  await eventually('every edge of the connection in tail', 10_000, async () =>
    wanted.every((w) => lines.some((l) => edgeOf(l.text) === w)) ? true : undefined);

  expect(lines[0]!.text).toBe('# times in UTC');
  expect(lines[1]!.text.split(/ {2,}/)).toEqual(['TIME', 'HOST', 'PID', 'COMM', 'LADDR', 'LPORT', 'RADDR', 'RPORT', 'OLDSTATE', '->', 'NEWSTATE', 'MS']);
  const latest = Math.max(...wanted.map((w) => lines.find((l) => edgeOf(l.text) === w)!.at));
  const rows = lines.slice(2).map((l) => l.text.split(/ {2,}/));
  expect(rows.every((r) => r[1] === HOST && (r[5] === String(server.port) || r[7] === String(server.port)))).toBe(true);
  // The last edge (the client's LAST_ACK -> CLOSE) happens as the exchange ends: all shown within 2 s of it.
  expect(latest - done).toBeLessThan(2000);
});
