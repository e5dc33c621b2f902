// Checks that PostgreSQL answers at DATABASE_URL and creates the database when it is missing.
// Bounded: a server that does not answer is reported within a few seconds, never a hang.
const { Client } = require('pg');

const url = new URL(process.env.DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/probefleet');
const database = decodeURIComponent(url.pathname.slice(1));
const where = `${url.hostname}:${url.port || 5432}`;

async function connect(db) {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(db)}`;
  const client = new Client({ connectionString: u.toString(), connectionTimeoutMillis: 5000 });
  await client.connect();
  return client;
}

async function main() {
  if (!/^[A-Za-z0-9_-]+$/.test(database)) throw new Error(`database name "${database}" in DATABASE_URL is not a plain identifier`);
  let admin;
  try {
    admin = await connect('postgres');
  } catch (err) {
    throw new Error(`PostgreSQL is not reachable at ${where} (DATABASE_URL): ${err.message}`);
  }
  try {
    const { rows } = await admin.query('SELECT version() AS v, EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS present', [database]);
    console.log(`[postgres] ${where} answers: ${rows[0].v.split(',')[0]}`);
    if (rows[0].present) {
      console.log(`[postgres] database "${database}" exists`);
    } else {
      await admin.query(`CREATE DATABASE "${database}"`);
      console.log(`[postgres] created database "${database}"`);
    }
  } finally {
    await admin.end();
  }
}

main().catch((err) => {
  console.error(`[postgres] ${err.message}`);
  process.exit(1);
});
