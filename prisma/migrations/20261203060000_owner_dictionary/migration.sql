-- The socket's owner through a per-host dictionary (issue 15, within issue 12's byte budget): a TCP
-- hit's owner (pid, comm, cgroup, container, pod: ~250 bytes with a kubepods cgroup path) was a set
-- of columns on every transition and lifetime; it is now one row of tcp_owners per host and owner,
-- and the rows keep its owner_id (and their own attribution). Lifetimes gain tcplife's counters
-- (kprobe mode: the agent reads them from tcp_sock at TCP_CLOSE; kept on the closing transition, its
-- stored form, and on the lifetime). The three tables are rewritten
-- (renamed, created anew, their rows moved), so no dropped column stays in their layout.

-- The dictionary key of an owner: md5 of its fields, each text length-prefixed and NULL spelled '-'
-- (no two owners share a spelling), so that a cgroup of up to 4 KiB needs no btree entry of its own.
-- Ingest computes it with this function too: one definition.
CREATE FUNCTION probefleet_owner_key(pid INTEGER, comm TEXT, cgroup TEXT, container_id TEXT, container_runtime TEXT,
                                     pod_namespace TEXT, pod_name TEXT, pod_uid UUID) RETURNS UUID
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT md5(pid::text || '/' || octet_length(comm)::text || ':' || comm || '/' || octet_length(cgroup)::text || ':' || cgroup
    || '/' || coalesce(octet_length(container_id)::text || ':' || container_id || '/' || container_runtime, '-')
    || '/' || coalesce(octet_length(pod_namespace)::text || ':' || pod_namespace, '-')
    || '/' || coalesce(octet_length(pod_name)::text || ':' || pod_name, '-')
    || '/' || coalesce(pod_uid::text, '-'))::uuid
$$;

-- One row per host and owner. Ids come from one sequence (unique across hosts, keyed with the host
-- for sharding by host). last_day: the newest UTC day of a transition or closed lifetime that names
-- the owner; retention drops the owners whose last day is older than every kept partition (and that
-- no open lifetime names), without reading a raw partition.
CREATE SEQUENCE "tcp_owner_id_seq" AS INTEGER;
CREATE TABLE "tcp_owners" (
    "id" INTEGER NOT NULL,
    "pid" INTEGER NOT NULL,
    "last_day" DATE NOT NULL,
    "key" UUID NOT NULL,
    "pod_uid" UUID,
    "host" TEXT NOT NULL,
    "comm" TEXT NOT NULL,
    "cgroup" TEXT NOT NULL,
    "container_id" TEXT,
    "container_runtime" TEXT,
    "pod_namespace" TEXT,
    "pod_name" TEXT,

    CONSTRAINT "tcp_owners_pkey" PRIMARY KEY ("host", "id")
);
CREATE UNIQUE INDEX "tcp_owners_host_key_key" ON "tcp_owners"("host", "key");
CREATE INDEX "tcp_owners_last_day_idx" ON "tcp_owners"("last_day");
-- The API's owner filters find their owners here (a few bytes per owner, none per event).
CREATE INDEX "tcp_owners_pid_idx" ON "tcp_owners"("pid");
CREATE INDEX "tcp_owners_comm_idx" ON "tcp_owners"("comm");
CREATE INDEX "tcp_owners_pod_namespace_idx" ON "tcp_owners"("pod_namespace");
CREATE INDEX "tcp_owners_pod_name_idx" ON "tcp_owners"("pod_name");
CREATE INDEX "tcp_owners_pod_uid_idx" ON "tcp_owners"("pod_uid");
-- text_pattern_ops: a container id prefix (LIKE 'abc%') reads a range of it.
CREATE INDEX "tcp_owners_container_id_idx" ON "tcp_owners"("container_id" text_pattern_ops);

INSERT INTO "tcp_owners" (host, id, key, pid, comm, cgroup, container_id, container_runtime, pod_namespace, pod_name, pod_uid, last_day)
SELECT host, nextval('tcp_owner_id_seq'), probefleet_owner_key(owner_pid, owner_comm, cgroup, container_id, container_runtime, pod_namespace, pod_name, pod_uid),
       owner_pid, owner_comm, cgroup, container_id, container_runtime, pod_namespace, pod_name, pod_uid, max(day)
  FROM (SELECT host, owner_pid, owner_comm, cgroup, container_id, container_runtime, pod_namespace, pod_name, pod_uid, (time AT TIME ZONE 'UTC')::date AS day
          FROM tcp_transitions WHERE owner_pid IS NOT NULL
        UNION ALL
        SELECT host, owner_pid, owner_comm, cgroup, container_id, container_runtime, pod_namespace, pod_name, pod_uid, (closed_at AT TIME ZONE 'UTC')::date
          FROM tcp_connections WHERE owner_pid IS NOT NULL
        UNION ALL
        SELECT host, owner_pid, owner_comm, cgroup, container_id, container_runtime, pod_namespace, pod_name, pod_uid, (opened_at AT TIME ZONE 'UTC')::date
          FROM tcp_open_connections WHERE owner_pid IS NOT NULL) o
 GROUP BY host, owner_pid, owner_comm, cgroup, container_id, container_runtime, pod_namespace, pod_name, pod_uid
 ORDER BY host, min(day), owner_pid;

-- The previous tables step aside: their indexes (names taken again below) first, then the tables
-- and their partitions (tcp_transitions_p20261125 → tcp_transitions_p20261125_inline).
DROP VIEW "tcp_lifetimes";
DROP INDEX "tcp_transitions_time_id_sport_dport_saddr_daddr_idx", "tcp_transitions_sport_idx", "tcp_transitions_dport_idx", "tcp_transitions_saddr_idx",
  "tcp_transitions_daddr_idx", "tcp_transitions_id_idx", "tcp_connections_opened_at_id_sport_dport_saddr_daddr_idx", "tcp_connections_dport_idx",
  "tcp_connections_sport_idx", "tcp_connections_closed_at_idx", "tcp_open_connections_host_boot_id_skaddr_idx", "tcp_open_connections_opened_at_id_idx";
ALTER TABLE "tcp_transitions" RENAME CONSTRAINT "tcp_transitions_pkey" TO "tcp_transitions_inline_pkey";
ALTER TABLE "tcp_connections" RENAME CONSTRAINT "tcp_connections_pkey" TO "tcp_connections_inline_pkey";
ALTER TABLE "tcp_open_connections" RENAME CONSTRAINT "tcp_open_connections_pkey" TO "tcp_open_connections_inline_pkey";
DO $$
DECLARE
  t TEXT;
  p TEXT;
BEGIN
  FOREACH t IN ARRAY ARRAY['tcp_transitions', 'tcp_connections'] LOOP
    FOR p IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = t::regclass LOOP
      EXECUTE format('ALTER TABLE %I RENAME TO %I', p, p || '_inline');
    END LOOP;
    EXECUTE format('ALTER TABLE %I RENAME TO %I', t, t || '_inline');
  END LOOP;
END $$;
ALTER TABLE "tcp_open_connections" RENAME TO "tcp_open_connections_inline";

-- As in 20261202090000_store_v2, columns in alignment order; owner_id and attribution join the 4-byte ones.
CREATE TABLE "tcp_transitions" (
    "id" BIGINT NOT NULL,
    "seq" BIGINT NOT NULL,
    "time" TIMESTAMPTZ(6) NOT NULL,
    "mono_ns" BIGINT,
    "skaddr" BIGINT NOT NULL,
    "ms_in_old_state" DOUBLE PRECISION,
    -- tcplife's counters of a TCP_CLOSE hit (data.life, kprobe mode), NULL on every other row: the
    -- hit's stored form, which the closed lifetime takes (and rebuild takes again).
    "tx_bytes" BIGINT,
    "rx_bytes" BIGINT,
    "retrans" BIGINT,
    "instance" UUID NOT NULL,
    "pid" INTEGER NOT NULL,
    "sport" INTEGER NOT NULL,
    "dport" INTEGER NOT NULL,
    "srtt_us" INTEGER,
    -- The hit's owner (tcp_owners, same host); NULL when it carried none (attribution unknown or NULL).
    "owner_id" INTEGER,
    "family" "address_family" NOT NULL,
    "old_state" "tcp_state" NOT NULL,
    "new_state" "tcp_state" NOT NULL,
    -- NULL: a hit from an agent before attribution (or a user probe's).
    "attribution" "attribution",
    "time_ns" SMALLINT NOT NULL,
    "cpu" SMALLINT NOT NULL,
    "ctx" SMALLINT,
    "host" TEXT NOT NULL,
    "probe" TEXT NOT NULL,
    "comm" TEXT NOT NULL,
    "saddr" INET NOT NULL,
    "daddr" INET NOT NULL,

    CONSTRAINT "tcp_transitions_pkey" PRIMARY KEY ("host", "time", "id", "sport", "dport", "new_state", "daddr")
) PARTITION BY RANGE ("time");
CREATE INDEX "tcp_transitions_time_id_sport_dport_saddr_daddr_idx" ON "tcp_transitions"("time", "id", "sport", "dport", "saddr", "daddr");
CREATE INDEX "tcp_transitions_sport_idx" ON "tcp_transitions"("sport");
CREATE INDEX "tcp_transitions_dport_idx" ON "tcp_transitions"("dport");
CREATE INDEX "tcp_transitions_saddr_idx" ON "tcp_transitions"("saddr");
CREATE INDEX "tcp_transitions_daddr_idx" ON "tcp_transitions"("daddr");
-- A rare owner's rows (as for a rare port): a deduplicated btree, a few bytes a row.
CREATE INDEX "tcp_transitions_owner_id_idx" ON "tcp_transitions"("owner_id");
CREATE INDEX "tcp_transitions_id_idx" ON "tcp_transitions" USING BRIN ("id");
ALTER TABLE "tcp_transitions" ALTER COLUMN "saddr" SET STATISTICS 1000, ALTER COLUMN "daddr" SET STATISTICS 1000;

CREATE TABLE "tcp_connections" (
    "id" BIGINT NOT NULL,
    "skaddr" BIGINT NOT NULL,
    "last_seq" BIGINT NOT NULL,
    "opened_at" TIMESTAMPTZ(6) NOT NULL,
    "closed_at" TIMESTAMPTZ(6) NOT NULL,
    "duration_ms" DOUBLE PRECISION NOT NULL,
    -- tcplife's counters at TCP_CLOSE (kprobe mode; NULL when the closing hit had none): bytes acked
    -- (TX) and received (RX), retransmitted segments, smoothed RTT in µs.
    "tx_bytes" BIGINT,
    "rx_bytes" BIGINT,
    "retrans" BIGINT,
    "boot_id" UUID NOT NULL,
    "instance" UUID NOT NULL,
    "sport" INTEGER NOT NULL,
    "dport" INTEGER NOT NULL,
    -- The owner of its latest attributed transition; its strongest attribution.
    "owner_id" INTEGER,
    "srtt_us" INTEGER,
    "family" "address_family" NOT NULL,
    "last_state" "tcp_state" NOT NULL,
    "attribution" "attribution",
    "host" TEXT NOT NULL,
    "saddr" INET NOT NULL,
    "daddr" INET NOT NULL,
    "states" "tcp_state"[] NOT NULL,
    "entered_ns" BIGINT[] NOT NULL,
    "state_ms" DOUBLE PRECISION[] NOT NULL,

    CONSTRAINT "tcp_connections_pkey" PRIMARY KEY ("host", "id", "closed_at")
) PARTITION BY RANGE ("closed_at");
CREATE INDEX "tcp_connections_opened_at_id_sport_dport_saddr_daddr_idx" ON "tcp_connections"("opened_at", "id", "sport", "dport", "saddr", "daddr");
CREATE INDEX "tcp_connections_dport_idx" ON "tcp_connections"("dport");
CREATE INDEX "tcp_connections_sport_idx" ON "tcp_connections"("sport");
CREATE INDEX "tcp_connections_closed_at_idx" ON "tcp_connections"("closed_at");
CREATE INDEX "tcp_connections_owner_id_idx" ON "tcp_connections"("owner_id");

CREATE TABLE "tcp_open_connections" (
    "id" BIGINT NOT NULL,
    "skaddr" BIGINT NOT NULL,
    "last_seq" BIGINT NOT NULL,
    "opened_at" TIMESTAMPTZ(6) NOT NULL,
    "boot_id" UUID NOT NULL,
    "instance" UUID NOT NULL,
    "sport" INTEGER NOT NULL,
    "dport" INTEGER NOT NULL,
    "owner_id" INTEGER,
    "family" "address_family" NOT NULL,
    "last_state" "tcp_state" NOT NULL,
    "attribution" "attribution",
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

-- The same partitions again (probefleet_partition names them as before), then the rows with their owner's id.
SELECT probefleet_partition('tcp_transitions', lower) FROM (
  SELECT ((regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1])::timestamptz AS lower
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'tcp_transitions_inline'::regclass) x WHERE lower IS NOT NULL;
SELECT probefleet_partition('tcp_connections', lower) FROM (
  SELECT ((regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1])::timestamptz AS lower
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'tcp_connections_inline'::regclass) x WHERE lower IS NOT NULL;

INSERT INTO "tcp_transitions" (id, seq, time, mono_ns, skaddr, ms_in_old_state, instance, pid, sport, dport, owner_id, family, old_state, new_state,
                               attribution, time_ns, cpu, ctx, host, probe, comm, saddr, daddr)
SELECT t.id, t.seq, t.time, t.mono_ns, t.skaddr, t.ms_in_old_state, t.instance, t.pid, t.sport, t.dport, o.id, t.family, t.old_state, t.new_state,
       t.attribution, t.time_ns, t.cpu, t.ctx, t.host, t.probe, t.comm, t.saddr, t.daddr
  FROM tcp_transitions_inline t
  LEFT JOIN tcp_owners o ON t.owner_pid IS NOT NULL AND o.host = t.host
   AND o.key = probefleet_owner_key(t.owner_pid, t.owner_comm, t.cgroup, t.container_id, t.container_runtime, t.pod_namespace, t.pod_name, t.pod_uid);

INSERT INTO "tcp_connections" (id, skaddr, last_seq, opened_at, closed_at, duration_ms, boot_id, instance, sport, dport, owner_id, family, last_state,
                               attribution, host, saddr, daddr, states, entered_ns, state_ms)
SELECT c.id, c.skaddr, c.last_seq, c.opened_at, c.closed_at, c.duration_ms, c.boot_id, c.instance, c.sport, c.dport, o.id, c.family, c.last_state,
       c.attribution, c.host, c.saddr, c.daddr, c.states, c.entered_ns, c.state_ms
  FROM tcp_connections_inline c
  LEFT JOIN tcp_owners o ON c.owner_pid IS NOT NULL AND o.host = c.host
   AND o.key = probefleet_owner_key(c.owner_pid, c.owner_comm, c.cgroup, c.container_id, c.container_runtime, c.pod_namespace, c.pod_name, c.pod_uid);

INSERT INTO "tcp_open_connections" (id, skaddr, last_seq, opened_at, boot_id, instance, sport, dport, owner_id, family, last_state, attribution,
                                    host, saddr, daddr, states, entered_ns, state_ms)
SELECT c.id, c.skaddr, c.last_seq, c.opened_at, c.boot_id, c.instance, c.sport, c.dport, o.id, c.family, c.last_state, c.attribution,
       c.host, c.saddr, c.daddr, c.states, c.entered_ns, c.state_ms
  FROM tcp_open_connections_inline c
  LEFT JOIN tcp_owners o ON c.owner_pid IS NOT NULL AND o.host = c.host
   AND o.key = probefleet_owner_key(c.owner_pid, c.owner_comm, c.cgroup, c.container_id, c.container_runtime, c.pod_namespace, c.pod_name, c.pod_uid);

DROP TABLE "tcp_transitions_inline", "tcp_connections_inline", "tcp_open_connections_inline";

-- Every lifetime, closed or open; the owner by id (join tcp_owners), tcplife's counters NULL while open.
CREATE VIEW "tcp_lifetimes" AS
  SELECT id, host, boot_id, instance, skaddr, family, saddr, daddr, sport, dport, opened_at, closed_at, duration_ms, last_state,
         states, entered_ns, state_ms, last_seq, owner_id, attribution, tx_bytes, rx_bytes, retrans, srtt_us
    FROM tcp_connections
  UNION ALL
  SELECT id, host, boot_id, instance, skaddr, family, saddr, daddr, sport, dport, opened_at, NULL, NULL, last_state,
         states, entered_ns, state_ms, last_seq, owner_id, attribution, NULL, NULL, NULL, NULL
    FROM tcp_open_connections;

GRANT SELECT ON "tcp_transitions", "tcp_connections", "tcp_open_connections", "tcp_lifetimes", "tcp_owners" TO "probefleet_reader";
