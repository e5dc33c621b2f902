// The API fails closed: `probefleet serve` bound to a non-loopback address with no token refuses to
// start, saying why; API_OPEN=true serves it open knowingly; read and admin tokens stay apart.
import { createMigratedDatabase, startAggregator, whenReady, type Aggregator, type TempDatabase } from '../support/aggregator';

jest.setTimeout(60_000);

let db: TempDatabase;
const running: Aggregator[] = [];
const start = async (env: Record<string, string>) => {
  const agg = await startAggregator({ DATABASE_URL: db.url, KAFKA_TOPIC: 'unused-fail-closed', CONSUMER_ENABLED: 'false', HOST: '0.0.0.0', ...env });
  running.push(agg);
  return agg;
};

beforeAll(async () => {
  db = await createMigratedDatabase();
});

afterAll(async () => {
  await Promise.all(running.map((a) => a.stop(10_000)));
  await db.drop();
});

describe('a non-loopback bind', () => {
  it('with no token: exits non-zero, naming the bind and what to set', async () => {
    const agg = await start({ API_TOKENS: '', API_ADMIN_TOKENS: '' });
    expect(await agg.exit).toBe(1);
    expect(agg.output()).toMatch(/refusing to serve an open API on HOST=0\.0\.0\.0, which is not a loopback address: no API token is set \(API_TOKENS, API_TOKENS_FILE, API_ADMIN_TOKENS, API_ADMIN_TOKENS_FILE\); set one, or API_OPEN=true/);
  });

  it('with API_OPEN=true: serves the API open', async () => {
    const agg = await start({ API_TOKENS: '', API_OPEN: 'true' });
    await whenReady(agg);
    expect(await agg.get('/api/v1/agents')).toMatchObject({ items: [] });
  });

  it('with tokens: a read token reads, no token is refused', async () => {
    const agg = await start({ API_TOKENS: 'reader-1' });
    await whenReady(agg);
    expect((await fetch(`${agg.url}/api/v1/agents`)).status).toBe(401);
    expect((await fetch(`${agg.url}/api/v1/agents`, { headers: { authorization: 'Bearer reader-1' } })).status).toBe(200);
  });
});
