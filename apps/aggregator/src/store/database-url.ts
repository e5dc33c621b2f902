/** Where PostgreSQL is when DATABASE_URL is not set: the local stack's database. */
export const DEFAULT_DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/probefleet';
