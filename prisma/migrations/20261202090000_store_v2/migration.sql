-- The store at fleet scale (issue 12): each fact written once, typed and compact, partitioned by
-- time with retention by dropping partitions, and rollups. A TCP probe.hit's typed row in
-- tcp_transitions IS its stored form; every other event stays a generic row in events. Both take
-- their ids from one numbering: (batch << 20) + position in the batch, so "store order" is id
-- order across them, and store_batches lets readers walk the store batch by batch.
-- Data stored by the previous layout is moved in place (the *_v1 tables), then dropped.

-- The kernel's TCP states, declared in kernel number order (include/net/tcp_states.h: 1..12), so
-- Grafana and SQL compare with the kernel's names ('TCP_CLOSE') while a row holds 4 bytes.
CREATE TYPE "tcp_state" AS ENUM ('TCP_ESTABLISHED', 'TCP_SYN_SENT', 'TCP_SYN_RECV', 'TCP_FIN_WAIT1', 'TCP_FIN_WAIT2',
  'TCP_TIME_WAIT', 'TCP_CLOSE', 'TCP_CLOSE_WAIT', 'TCP_LAST_ACK', 'TCP_LISTEN', 'TCP_CLOSING', 'TCP_NEW_SYN_RECV');
CREATE TYPE "address_family" AS ENUM ('AF_INET', 'AF_INET6');

CREATE SEQUENCE "store_batch_seq" AS BIGINT;

DROP VIEW "ingest_lag";
ALTER TABLE "events" RENAME TO "events_v1";
ALTER TABLE "tcp_transitions" RENAME TO "tcp_transitions_v1";
ALTER TABLE "tcp_connections" RENAME TO "tcp_connections_v1";
-- The old tables' indexes go first (their names are taken again below); the join keys stay.
DROP INDEX "events_host_time_idx", "events_ingest_minute_idx", "tcp_transitions_time_id_idx", "tcp_transitions_host_time_idx",
  "tcp_transitions_host_new_state_time_id_idx", "tcp_transitions_new_state_time_idx", "tcp_transitions_sport_time_idx",
  "tcp_transitions_dport_time_idx", "tcp_transitions_saddr_time_idx", "tcp_transitions_daddr_time_idx",
  "tcp_connections_host_skaddr_closed_at_idx", "tcp_connections_opened_at_id_idx", "tcp_connections_closed_at_idx",
  "tcp_connections_dport_opened_at_idx", "tcp_connections_sport_opened_at_idx";
ALTER TABLE "events_v1" RENAME CONSTRAINT "events_pkey" TO "events_v1_pkey";
ALTER TABLE "tcp_transitions_v1" RENAME CONSTRAINT "tcp_transitions_pkey" TO "tcp_transitions_v1_pkey";
ALTER TABLE "tcp_connections_v1" RENAME CONSTRAINT "tcp_connections_pkey" TO "tcp_connections_v1_pkey";

-- Every event but TCP hits. Lifecycle events (agent.started/stopped, probe.registered/armed/
-- disarmed/unregistered) are few and the kprobe model needs all of them to replay a host, so they
-- are kept (LIST partition "kept"); the rest (heartbeats, loss, misses, user-probe hits) is
-- range-partitioned by day and dropped by retention.
CREATE TABLE "events" (
    "id" BIGINT NOT NULL,
    "host" TEXT NOT NULL,
    "instance" UUID NOT NULL,
    "seq" BIGINT NOT NULL,
    "kept" BOOLEAN NOT NULL,
    "time" TIMESTAMPTZ(6) NOT NULL,
    -- Nanoseconds past the microsecond (0..999): with "time" the agent's exact RFC 3339 text.
    "time_ns" SMALLINT NOT NULL,
    "mono_ns" BIGINT,
    "type" TEXT NOT NULL,
    "data" JSONB NOT NULL,

    CONSTRAINT "events_pkey" PRIMARY KEY ("host", "instance", "seq", "kept", "time")
) PARTITION BY LIST ("kept");
CREATE TABLE "events_kept" PARTITION OF "events" FOR VALUES IN (true);
CREATE TABLE "events_timed" PARTITION OF "events" FOR VALUES IN (false) PARTITION BY RANGE ("time");
CREATE INDEX "events_id_idx" ON "events" USING BRIN ("id");

-- One row per TCP state change (tcpstates), the stored form of a TCP probe.hit. The envelope's
-- bootId and v come from its stream (streams row); in_irq is ctx's hardirq|softirq|nmi.
CREATE TABLE "tcp_transitions" (
    -- Columns in alignment order (8-, 4-, 2-byte, then variable): no padding inside a row.
    "id" BIGINT NOT NULL,
    "seq" BIGINT NOT NULL,
    "time" TIMESTAMPTZ(6) NOT NULL,
    "mono_ns" BIGINT,
    -- The kernel pointer as a signed 64-bit integer (two's complement of the unsigned address).
    "skaddr" BIGINT NOT NULL,
    "ms_in_old_state" DOUBLE PRECISION,
    "instance" UUID NOT NULL,
    "pid" INTEGER NOT NULL,
    "sport" INTEGER NOT NULL,
    "dport" INTEGER NOT NULL,
    "family" "address_family" NOT NULL,
    "old_state" "tcp_state" NOT NULL,
    "new_state" "tcp_state" NOT NULL,
    "time_ns" SMALLINT NOT NULL,
    "cpu" SMALLINT NOT NULL,
    -- ftrace's context flags as bits: 1 irqs off, 2 need-resched, 4 hardirq, 8 softirq, 16 nmi,
    -- preempt depth << 5; NULL when the hit carried none.
    "ctx" SMALLINT,
    "host" TEXT NOT NULL,
    "probe" TEXT NOT NULL,
    "comm" TEXT NOT NULL,
    "saddr" INET NOT NULL,
    "daddr" INET NOT NULL,

    -- The key is also the index of one host's pages: host-leading (sharding by host), in page order
    -- (time, id), and with the columns host filters combine with, which a btree checks in the index
    -- (no heap visit for the rows they refuse).
    CONSTRAINT "tcp_transitions_pkey" PRIMARY KEY ("host", "time", "id", "sport", "dport", "new_state", "daddr")
) PARTITION BY RANGE ("time");
-- Pages without a host, in page order, the port and address columns checked in the index: a broad
-- or medium filter (a service port, a /24 among thousands of them) reads index entries newest first
-- until a page is full. A rare value is found in the plain column indexes below (deduplicated btrees,
-- a few bytes a row), its rows then sorted; the planner picks by the column's statistics.
CREATE INDEX "tcp_transitions_time_id_sport_dport_saddr_daddr_idx" ON "tcp_transitions"("time", "id", "sport", "dport", "saddr", "daddr");
CREATE INDEX "tcp_transitions_sport_idx" ON "tcp_transitions"("sport");
CREATE INDEX "tcp_transitions_dport_idx" ON "tcp_transitions"("dport");
CREATE INDEX "tcp_transitions_saddr_idx" ON "tcp_transitions"("saddr");
CREATE INDEX "tcp_transitions_daddr_idx" ON "tcp_transitions"("daddr");
CREATE INDEX "tcp_transitions_id_idx" ON "tcp_transitions" USING BRIN ("id");
-- Which of those a CIDR takes (newest first along the time index, or its rows from the address
-- index, then sorted) the planner decides from the column's histogram: the default 100 buckets
-- misjudged a /48 by 4x and chose the sort. probefleet_partition gives new partitions these too.
ALTER TABLE "tcp_transitions" ALTER COLUMN "saddr" SET STATISTICS 1000, ALTER COLUMN "daddr" SET STATISTICS 1000;

-- One row per socket lifetime (tcplife), written once when the socket reaches TCP_CLOSE and
-- partitioned by that day; lifetimes still open wait in tcp_open_connections (below). Columns in
-- alignment order.
CREATE SEQUENCE "tcp_connection_id_seq";
CREATE TABLE "tcp_connections" (
    "id" BIGINT NOT NULL,
    "skaddr" BIGINT NOT NULL,
    "last_seq" BIGINT NOT NULL,
    "opened_at" TIMESTAMPTZ(6) NOT NULL,
    "closed_at" TIMESTAMPTZ(6) NOT NULL,
    "duration_ms" DOUBLE PRECISION NOT NULL,
    "boot_id" UUID NOT NULL,
    "instance" UUID NOT NULL,
    "sport" INTEGER NOT NULL,
    "dport" INTEGER NOT NULL,
    "family" "address_family" NOT NULL,
    "last_state" "tcp_state" NOT NULL,
    "host" TEXT NOT NULL,
    "saddr" INET NOT NULL,
    "daddr" INET NOT NULL,
    -- The states visited in order: each one's entry (ns since the epoch; NULL before the first
    -- transition seen) and the ms spent in it (NULL while in it, or when its entry is unknown).
    "states" "tcp_state"[] NOT NULL,
    "entered_ns" BIGINT[] NOT NULL,
    "state_ms" DOUBLE PRECISION[] NOT NULL,

    CONSTRAINT "tcp_connections_pkey" PRIMARY KEY ("host", "id", "closed_at")
) PARTITION BY RANGE ("closed_at");
-- The API's pages, as on tcp_transitions: in page order with the port and address columns checked in
-- the index, and plain deduplicated btrees for rare ports.
CREATE INDEX "tcp_connections_opened_at_id_sport_dport_saddr_daddr_idx" ON "tcp_connections"("opened_at", "id", "sport", "dport", "saddr", "daddr");
CREATE INDEX "tcp_connections_dport_idx" ON "tcp_connections"("dport");
CREATE INDEX "tcp_connections_sport_idx" ON "tcp_connections"("sport");

-- The lifetimes not closed yet: few rows (the sockets open now), updated by every batch that moves
-- them on. No indexed column changes on those updates and pages keep room for the new version
-- (fillfactor), so they are HOT: no index is touched and the page prunes itself.
CREATE TABLE "tcp_open_connections" (
    "id" BIGINT NOT NULL,
    "skaddr" BIGINT NOT NULL,
    "last_seq" BIGINT NOT NULL,
    "opened_at" TIMESTAMPTZ(6) NOT NULL,
    "boot_id" UUID NOT NULL,
    "instance" UUID NOT NULL,
    "sport" INTEGER NOT NULL,
    "dport" INTEGER NOT NULL,
    "family" "address_family" NOT NULL,
    "last_state" "tcp_state" NOT NULL,
    "host" TEXT NOT NULL,
    "saddr" INET NOT NULL,
    "daddr" INET NOT NULL,
    "states" "tcp_state"[] NOT NULL,
    "entered_ns" BIGINT[] NOT NULL,
    "state_ms" DOUBLE PRECISION[] NOT NULL,

    CONSTRAINT "tcp_open_connections_pkey" PRIMARY KEY ("host", "id")
) WITH (fillfactor = 70);
CREATE INDEX "tcp_open_connections_host_boot_id_skaddr_idx" ON "tcp_open_connections"("host", "boot_id", "skaddr");
CREATE INDEX "tcp_open_connections_opened_at_id_idx" ON "tcp_open_connections"("opened_at", "id");

-- Every lifetime, closed or open, for the API and Grafana. Filters reach both tables (PostgreSQL
-- pushes them into each branch); a state filter on closed_at leaves the other branch out.
CREATE VIEW "tcp_lifetimes" AS
  SELECT id, host, boot_id, instance, skaddr, family, saddr, daddr, sport, dport, opened_at, closed_at, duration_ms, last_state,
         states, entered_ns, state_ms, last_seq
    FROM tcp_connections
  UNION ALL
  SELECT id, host, boot_id, instance, skaddr, family, saddr, daddr, sport, dport, opened_at, NULL, NULL, last_state,
         states, entered_ns, state_ms, last_seq
    FROM tcp_open_connections;

-- Counts of transitions per minute and per hour (resolution in seconds), by states and by the
-- connection's service port (-1: not known), maintained in the ingest transaction; partitioned by
-- month and kept longer than raw rows (ROLLUP_RETENTION_DAYS).
CREATE TABLE "tcp_rollups" (
    "resolution" INTEGER NOT NULL,
    "bucket" TIMESTAMPTZ(6) NOT NULL,
    "host" TEXT NOT NULL,
    "old_state" "tcp_state" NOT NULL,
    "new_state" "tcp_state" NOT NULL,
    "service_port" INTEGER NOT NULL,
    "count" BIGINT NOT NULL,

    CONSTRAINT "tcp_rollups_pkey" PRIMARY KEY ("host", "resolution", "bucket", "old_state", "new_state", "service_port")
) PARTITION BY RANGE ("bucket");
CREATE INDEX "tcp_rollups_resolution_bucket_idx" ON "tcp_rollups"("resolution", "bucket");

-- The same counts summed over the fleet, by states only (a few rows per bucket): stats and Grafana
-- panels without a host read these. Maintained by the same code in the same transaction, partitioned
-- like tcp_rollups (probefleet_partition creates both) and dropped with it. Its key cannot hold a host:
-- sharded by host, it would stay on the coordinator (a few rows per minute).
CREATE TABLE "tcp_rollups_fleet" (
    "resolution" INTEGER NOT NULL,
    "bucket" TIMESTAMPTZ(6) NOT NULL,
    "old_state" "tcp_state" NOT NULL,
    "new_state" "tcp_state" NOT NULL,
    "count" BIGINT NOT NULL,

    CONSTRAINT "tcp_rollups_fleet_pkey" PRIMARY KEY ("resolution", "bucket", "old_state", "new_state")
) PARTITION BY RANGE ("bucket");

-- Per host and minute of arrival: how long events took from the agent to the store (Grafana's
-- ingest-lag panel; the reader role sees these aggregates, never an event).
CREATE TABLE "ingest_lag" (
    "minute" TIMESTAMPTZ(6) NOT NULL,
    "host" TEXT NOT NULL,
    "events" BIGINT NOT NULL,
    "sum_ms" DOUBLE PRECISION NOT NULL,
    "max_ms" DOUBLE PRECISION NOT NULL,

    CONSTRAINT "ingest_lag_pkey" PRIMARY KEY ("host", "minute")
);
CREATE INDEX "ingest_lag_minute_idx" ON "ingest_lag"("minute");

-- One row per stored batch: its number (its events' ids are number << 20 + position), size and time span.
CREATE TABLE "store_batches" (
    "id" BIGINT NOT NULL,
    "rows" INTEGER NOT NULL,
    "min_time" TIMESTAMPTZ(6) NOT NULL,
    "max_time" TIMESTAMPTZ(6) NOT NULL,
    "stored_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "store_batches_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "store_batches_max_time_idx" ON "store_batches"("max_time");

-- What retention dropped: a whole partition, its range, and when. export/replay/rebuild and the
-- gaps read it to know that the store starts later.
CREATE TABLE "retention_drops" (
    "id" BIGSERIAL NOT NULL,
    "table_name" TEXT NOT NULL,
    "partition" TEXT NOT NULL,
    "range_from" TIMESTAMPTZ(6) NOT NULL,
    "range_to" TIMESTAMPTZ(6) NOT NULL,
    "rows" BIGINT NOT NULL,
    "dropped_at" TIMESTAMPTZ(6) NOT NULL,

    CONSTRAINT "retention_drops_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "retention_drops_partition_key" ON "retention_drops"("partition");

-- Unique and primary keys include the host (sharding by host: deploy/README.md).
ALTER TABLE "streams" DROP CONSTRAINT "streams_pkey";
ALTER TABLE "streams" ADD CONSTRAINT "streams_pkey" PRIMARY KEY ("host", "instance");
CREATE UNIQUE INDEX "streams_instance_key" ON "streams"("instance");
DROP INDEX "streams_host_idx";
DROP INDEX "stream_gaps_instance_from_seq_key";
ALTER TABLE "stream_gaps" DROP CONSTRAINT "stream_gaps_pkey";
ALTER TABLE "stream_gaps" ADD CONSTRAINT "stream_gaps_pkey" PRIMARY KEY ("host", "id");
CREATE UNIQUE INDEX "stream_gaps_host_instance_from_seq_key" ON "stream_gaps"("host", "instance", "from_seq");

-- The partition of a table for the day (or month) holding a time: created when missing. Used by
-- this migration for the data it moves and by the aggregator ahead of time and on demand.
CREATE FUNCTION probefleet_partition(parent TEXT, at TIMESTAMPTZ) RETURNS TEXT LANGUAGE plpgsql AS $$
DECLARE
  monthly BOOLEAN := parent IN ('tcp_rollups', 'tcp_rollups_fleet');
  lo TIMESTAMPTZ := date_trunc(CASE WHEN monthly THEN 'month' ELSE 'day' END, at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  hi TIMESTAMPTZ := lo + CASE WHEN monthly THEN INTERVAL '1 month' ELSE INTERVAL '1 day' END;
  root TEXT := CASE WHEN parent = 'events' THEN 'events_timed' ELSE parent END;
  name TEXT := parent || '_p' || to_char(lo AT TIME ZONE 'UTC', CASE WHEN monthly THEN 'YYYYMM' ELSE 'YYYYMMDD' END);
  col NAME;
  target INT;
BEGIN
  IF to_regclass(name) IS NULL THEN
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', name, root, lo, hi);
    -- A partition does not take its parent's statistics targets by itself.
    FOR col, target IN SELECT attname, attstattarget FROM pg_attribute WHERE attrelid = root::regclass AND attnum > 0 AND attstattarget > 0 LOOP
      EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET STATISTICS %s', name, col, target);
    END LOOP;
  END IF;
  IF parent = 'tcp_rollups' THEN
    PERFORM probefleet_partition('tcp_rollups_fleet', at);
  END IF;
  RETURN name;
END $$;

-- Move the data of the previous layout. Its "time" was PostgreSQL's rounding of the agent's text to
-- the microsecond; it is kept (the API answers stay the same), and time_ns is then the signed
-- remainder (-500..999 ns) that gives the agent's exact text back.
SELECT probefleet_partition('tcp_transitions', d) FROM (SELECT DISTINCT date_trunc('day', time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS d FROM tcp_transitions_v1) x;
SELECT probefleet_partition('events', d) FROM (SELECT DISTINCT date_trunc('day', time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS d FROM events_v1) x;
SELECT probefleet_partition('tcp_connections', d) FROM (SELECT DISTINCT date_trunc('day', closed_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS d FROM tcp_connections_v1 WHERE closed_at IS NOT NULL) x;
SELECT probefleet_partition('tcp_rollups', d) FROM (SELECT DISTINCT date_trunc('month', time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS d FROM tcp_transitions_v1) x;

INSERT INTO "tcp_transitions" (id, host, instance, seq, time, time_ns, mono_ns, probe, cpu, pid, comm, ctx, skaddr, family, saddr, daddr,
                               sport, dport, old_state, new_state, ms_in_old_state)
SELECT e.id, e.host, e.instance, e.seq, e.time,
       (((substr(e.time_text, 21, 6)::int - (extract(microseconds FROM e.time)::int % 1000000) + 1500000) % 1000000 - 500000) * 1000
         + substr(e.time_text, 27, 3)::int)::smallint, e.mono_ns, e.data->>'probe',
       (e.data->>'cpu')::smallint, (e.data->>'pid')::int, e.data->>'comm',
       -- (PostgreSQL gives | and << the same precedence: every term is parenthesised.)
       CASE WHEN e.data ? 'ctx' THEN ((e.data->'ctx'->>'irqsOff')::boolean::int | ((e.data->'ctx'->>'needResched')::boolean::int << 1)
            | ((e.data->'ctx'->>'hardirq')::boolean::int << 2) | ((e.data->'ctx'->>'softirq')::boolean::int << 3)
            | ((e.data->'ctx'->>'nmi')::boolean::int << 4) | ((e.data->'ctx'->>'preemptDepth')::int << 5))::smallint END,
       ('x' || lpad(substr(t.skaddr, 3), 16, '0'))::bit(64)::bigint, t.family::address_family, t.saddr::inet, t.daddr::inet,
       t.sport, t.dport, t.old_state::tcp_state, t.new_state::tcp_state, t.ms_in_old_state
  FROM events_v1 e JOIN tcp_transitions_v1 t ON t.instance = e.instance AND t.seq = e.seq;

INSERT INTO "events" (id, host, instance, seq, kept, time, time_ns, mono_ns, type, data)
SELECT e.id, e.host, e.instance, e.seq,
       e.type IN ('agent.started', 'agent.stopped', 'probe.registered', 'probe.armed', 'probe.disarmed', 'probe.unregistered'),
       e.time, (((substr(e.time_text, 21, 6)::int - (extract(microseconds FROM e.time)::int % 1000000) + 1500000) % 1000000 - 500000) * 1000
         + substr(e.time_text, 27, 3)::int)::smallint, e.mono_ns, e.type, e.data
  FROM events_v1 e
 WHERE NOT EXISTS (SELECT 1 FROM tcp_transitions_v1 t WHERE t.instance = e.instance AND t.seq = e.seq);

-- The moved events keep their ids (< 2^20 per former batch number 0.. below): one pseudo-batch per 2^20 ids.
INSERT INTO "store_batches" (id, rows, min_time, max_time)
SELECT id >> 20, count(*), min(time), max(time) FROM events_v1 GROUP BY id >> 20;
SELECT setval('store_batch_seq', greatest((SELECT max(id) FROM events_v1) >> 20, 0) + 1, false);

INSERT INTO "tcp_connections" (id, host, boot_id, instance, skaddr, family, saddr, daddr, sport, dport, opened_at, closed_at, duration_ms,
                               last_state, states, entered_ns, state_ms, last_seq)
SELECT c.id, c.host, c.boot_id, c.instance, ('x' || lpad(substr(c.skaddr, 3), 16, '0'))::bit(64)::bigint, c.family::address_family,
       c.saddr::inet, c.daddr::inet, c.sport, c.dport, c.opened_at, c.closed_at, c.duration_ms, c.last_state::tcp_state,
       ARRAY(SELECT (s->>'state')::tcp_state FROM jsonb_array_elements(c.states) WITH ORDINALITY AS x(s, i) ORDER BY i),
       ARRAY(SELECT (extract(epoch FROM date_trunc('second', (s->>'enteredAt')::timestamptz))::bigint * 1000000000
                     + substr(s->>'enteredAt', 21, 9)::bigint) FROM jsonb_array_elements(c.states) WITH ORDINALITY AS x(s, i) ORDER BY i),
       ARRAY(SELECT (s->>'ms')::float8 FROM jsonb_array_elements(c.states) WITH ORDINALITY AS x(s, i) ORDER BY i),
       c.last_seq
  FROM tcp_connections_v1 c WHERE c.closed_at IS NOT NULL;
INSERT INTO "tcp_open_connections" (id, host, boot_id, instance, skaddr, family, saddr, daddr, sport, dport, opened_at,
                                    last_state, states, entered_ns, state_ms, last_seq)
SELECT c.id, c.host, c.boot_id, c.instance, ('x' || lpad(substr(c.skaddr, 3), 16, '0'))::bit(64)::bigint, c.family::address_family,
       c.saddr::inet, c.daddr::inet, c.sport, c.dport, c.opened_at, c.last_state::tcp_state,
       ARRAY(SELECT (s->>'state')::tcp_state FROM jsonb_array_elements(c.states) WITH ORDINALITY AS x(s, i) ORDER BY i),
       ARRAY(SELECT (extract(epoch FROM date_trunc('second', (s->>'enteredAt')::timestamptz))::bigint * 1000000000
                     + substr(s->>'enteredAt', 21, 9)::bigint) FROM jsonb_array_elements(c.states) WITH ORDINALITY AS x(s, i) ORDER BY i),
       ARRAY(SELECT (s->>'ms')::float8 FROM jsonb_array_elements(c.states) WITH ORDINALITY AS x(s, i) ORDER BY i),
       c.last_seq
  FROM tcp_connections_v1 c WHERE c.closed_at IS NULL;
SELECT setval('tcp_connection_id_seq', greatest((SELECT max(id) FROM tcp_connections_v1), 1));

INSERT INTO "tcp_rollups" (resolution, bucket, host, old_state, new_state, service_port, count)
SELECT r.resolution, date_bin(r.resolution * INTERVAL '1 second', t.time, TIMESTAMPTZ '1970-01-01T00:00:00Z'), t.host,
       t.old_state::tcp_state, t.new_state::tcp_state, -1, count(*)
  FROM tcp_transitions_v1 t CROSS JOIN (VALUES (60), (3600)) AS r(resolution)
 GROUP BY 1, 2, 3, 4, 5;
INSERT INTO "tcp_rollups_fleet" (resolution, bucket, old_state, new_state, count)
SELECT resolution, bucket, old_state, new_state, sum(count) FROM "tcp_rollups" GROUP BY 1, 2, 3, 4;

INSERT INTO "ingest_lag" (minute, host, events, sum_ms, max_ms)
SELECT date_bin('1 minute', ingested_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'), host, count(*),
       sum(extract(epoch FROM ingested_at - time) * 1000), max(extract(epoch FROM ingested_at - time) * 1000)
  FROM events_v1 GROUP BY 1, 2;

DROP TABLE "tcp_transitions_v1";
DROP TABLE "tcp_connections_v1";
DROP TABLE "events_v1";

-- Privileges are checked on the parent a query names, so new partitions need no grant.
GRANT SELECT ON "tcp_transitions", "tcp_connections", "tcp_open_connections", "tcp_lifetimes", "tcp_rollups", "tcp_rollups_fleet", "ingest_lag",
  "retention_drops" TO "probefleet_reader";
