// A host's reports of a policy in the policy_hosts projection: a refusal of a record the agent could
// not verify (policy.rejected with `refused` and no version) is stored as an event but never stands
// for the host's status, so a forged record claiming a high version cannot freeze it.
import { createPrisma, type Db } from '../src/store/prisma';
import { record, testStream } from './streams';
import { ingest } from './test-ingest';
import { createMigratedDatabase, type TempDatabase } from './temp-database';

describe('policy reports', () => {
  let tmp: TempDatabase;
  let db: Db;
  beforeAll(async () => {
    tmp = await createMigratedDatabase(`${process.env.PROBEFLEET_TEST_DB_PREFIX || 'probefleet_'}policy_reports`);
    db = createPrisma(tmp.url);
  });
  afterAll(async () => {
    await db?.$disconnect();
    await tmp?.drop();
  });

  it('keeps a versionless refusal out of the host status, and a later version still moves it', async () => {
    const s = testStream('web-1');
    const events = [
      s.event('policy.applied', { policy: 'web', version: 2, definitions: [], filters: [] }),
      s.event('policy.rejected', { policy: 'web', refused: 'unsigned', reason: 'refused (unsigned) policy message at offset 7: unsigned' }),
      s.event('policy.rejected', { policy: 'intruder', refused: 'foreign-key', reason: 'signed by another key' }),
    ];
    expect((await ingest(db, [record(events)])).stored).toBe(3);
    const hosts = () => db.policyHost.findMany({ orderBy: { policy: 'asc' } });
    expect((await hosts()).map((h) => [h.policy, h.host, h.status, h.version])).toEqual([['web', 'web-1', 'applied', 2]]);
    await ingest(db, [record([s.event('policy.applied', { policy: 'web', version: 3, definitions: [], filters: [] })], 0, 1)]);
    expect((await hosts()).map((h) => [h.policy, h.status, h.version])).toEqual([['web', 'applied', 3]]);
    expect(await db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM events WHERE type = 'policy.rejected'`).toEqual([{ n: 2n }]);
  });
});
