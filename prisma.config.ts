// Prisma CLI configuration. Only `prisma generate` runs here (offline; see README "Database"):
// migrations are applied by `probefleet migrate`, which writes _prisma_migrations as
// `prisma migrate deploy` would, so either tool can take over.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/probefleet' },
});
