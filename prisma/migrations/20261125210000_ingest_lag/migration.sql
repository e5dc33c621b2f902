-- Ingest lag for Grafana: probefleet_reader may not read the raw event store, so it gets this
-- aggregate instead (a view runs with its owner's rights: the reader sees per-minute statistics,
-- never an event).

-- The view's time column is this expression, and Grafana filters on it; PostgreSQL cannot turn a
-- range on a truncated time into a range on ingested_at, so an index on ingested_at alone would not
-- be used. date_bin (unlike date_trunc on timestamptz) is immutable, hence indexable. Prisma's
-- schema cannot declare an expression index: test/schema-drift.spec.ts lists it separately.
-- CreateIndex
CREATE INDEX "events_ingest_minute_idx" ON "events"(date_bin('1 minute', "ingested_at", TIMESTAMPTZ '2000-01-01 00:00:00+00'));

-- Per host and minute of arrival: how long events took from the agent to the store, in ms.
-- "time" is the host's wall clock, so the lag includes that host's clock skew (it can even be
-- negative); compare hosts with that in mind.
-- CreateView
CREATE VIEW "ingest_lag" AS
SELECT "minute", "host", count(*) AS "events",
       percentile_cont(0.5) WITHIN GROUP (ORDER BY "lag_ms") AS "p50_ms",
       percentile_cont(0.95) WITHIN GROUP (ORDER BY "lag_ms") AS "p95_ms",
       percentile_cont(0.99) WITHIN GROUP (ORDER BY "lag_ms") AS "p99_ms",
       max("lag_ms") AS "max_ms"
  FROM (SELECT date_bin('1 minute', "ingested_at", TIMESTAMPTZ '2000-01-01 00:00:00+00') AS "minute", "host",
               (extract(epoch FROM "ingested_at" - "time") * 1000)::double precision AS "lag_ms"
          FROM "events") AS e
 GROUP BY "minute", "host";

GRANT SELECT ON "ingest_lag" TO "probefleet_reader";
