-- Where each TCP hit came from, once (issue 12's byte budget): a transition kept its agent instance
-- (a UUID, 16 bytes) and its probe's name (~15) on every row; they are now one row of tcp_sources
-- per host, instance and probe, and the row keeps its id (4 bytes): 201 -> 173 heap bytes a row,
-- measured on 200k fleet events. tcp_transitions is rewritten (renamed, created anew, its rows
-- moved), so no dropped column stays in its layout; its indexes are built after the move, packed.

-- One row per host, agent instance and probe. Ids come from one sequence (unique across hosts, keyed
-- with the host for sharding by host). Never dropped: a few rows per agent start.
CREATE SEQUENCE "tcp_source_id_seq" AS INTEGER;
CREATE TABLE "tcp_sources" (
    "id" INTEGER NOT NULL,
    "instance" UUID NOT NULL,
    "host" TEXT NOT NULL,
    "probe" TEXT NOT NULL,

    CONSTRAINT "tcp_sources_pkey" PRIMARY KEY ("host", "id")
);
CREATE UNIQUE INDEX "tcp_sources_host_instance_probe_key" ON "tcp_sources"("host", "instance", "probe");
-- The events API and export by instance find its sources here.
CREATE INDEX "tcp_sources_instance_idx" ON "tcp_sources"("instance");

INSERT INTO "tcp_sources" (id, instance, host, probe)
SELECT nextval('tcp_source_id_seq'), instance, host, probe
  FROM (SELECT host, instance, probe, min(id) AS first FROM tcp_transitions GROUP BY host, instance, probe) s
 ORDER BY first;

-- The previous table steps aside: its indexes (names taken again below) first, then the table and
-- its partitions (tcp_transitions_p20261125 -> tcp_transitions_p20261125_sourced).
DROP INDEX "tcp_transitions_time_id_sport_dport_saddr_daddr_idx", "tcp_transitions_sport_idx", "tcp_transitions_dport_idx", "tcp_transitions_saddr_idx",
  "tcp_transitions_daddr_idx", "tcp_transitions_owner_id_idx", "tcp_transitions_id_idx";
ALTER TABLE "tcp_transitions" RENAME CONSTRAINT "tcp_transitions_pkey" TO "tcp_transitions_sourced_pkey";
DO $$
DECLARE
  p TEXT;
BEGIN
  FOR p IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'tcp_transitions'::regclass LOOP
    EXECUTE format('ALTER TABLE %I RENAME TO %I', p, p || '_sourced');
  END LOOP;
END $$;
ALTER TABLE "tcp_transitions" RENAME TO "tcp_transitions_sourced";

-- As in 20261203060000_owner_dictionary, columns in alignment order; source_id joins the 4-byte ones.
CREATE TABLE "tcp_transitions" (
    "id" BIGINT NOT NULL,
    "seq" BIGINT NOT NULL,
    "time" TIMESTAMPTZ(6) NOT NULL,
    "mono_ns" BIGINT,
    "skaddr" BIGINT NOT NULL,
    "ms_in_old_state" DOUBLE PRECISION,
    "tx_bytes" BIGINT,
    "rx_bytes" BIGINT,
    "retrans" BIGINT,
    -- The hit's agent instance and probe (tcp_sources, same host).
    "source_id" INTEGER NOT NULL,
    "pid" INTEGER NOT NULL,
    "sport" INTEGER NOT NULL,
    "dport" INTEGER NOT NULL,
    "srtt_us" INTEGER,
    "owner_id" INTEGER,
    "family" "address_family" NOT NULL,
    "old_state" "tcp_state" NOT NULL,
    "new_state" "tcp_state" NOT NULL,
    "attribution" "attribution",
    "time_ns" SMALLINT NOT NULL,
    "cpu" SMALLINT NOT NULL,
    "ctx" SMALLINT,
    "host" TEXT NOT NULL,
    "comm" TEXT NOT NULL,
    "saddr" INET NOT NULL,
    "daddr" INET NOT NULL
) PARTITION BY RANGE ("time");
ALTER TABLE "tcp_transitions" ALTER COLUMN "saddr" SET STATISTICS 1000, ALTER COLUMN "daddr" SET STATISTICS 1000;

SELECT probefleet_partition('tcp_transitions', lower) FROM (
  SELECT ((regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1])::timestamptz AS lower
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'tcp_transitions_sourced'::regclass) x WHERE lower IS NOT NULL;

INSERT INTO "tcp_transitions" (id, seq, time, mono_ns, skaddr, ms_in_old_state, tx_bytes, rx_bytes, retrans, source_id, pid, sport, dport, srtt_us,
                               owner_id, family, old_state, new_state, attribution, time_ns, cpu, ctx, host, comm, saddr, daddr)
SELECT t.id, t.seq, t.time, t.mono_ns, t.skaddr, t.ms_in_old_state, t.tx_bytes, t.rx_bytes, t.retrans, s.id, t.pid, t.sport, t.dport, t.srtt_us,
       t.owner_id, t.family, t.old_state, t.new_state, t.attribution, t.time_ns, t.cpu, t.ctx, t.host, t.comm, t.saddr, t.daddr
  FROM tcp_transitions_sourced t JOIN tcp_sources s ON s.host = t.host AND s.instance = t.instance AND s.probe = t.probe
 ORDER BY t.id;

DROP TABLE "tcp_transitions_sourced";

-- The key and indexes of 20261203060000_owner_dictionary, built over the moved rows.
ALTER TABLE "tcp_transitions" ADD CONSTRAINT "tcp_transitions_pkey" PRIMARY KEY ("host", "time", "id", "sport", "dport", "new_state", "daddr");
CREATE INDEX "tcp_transitions_time_id_sport_dport_saddr_daddr_idx" ON "tcp_transitions"("time", "id", "sport", "dport", "saddr", "daddr");
CREATE INDEX "tcp_transitions_sport_idx" ON "tcp_transitions"("sport");
CREATE INDEX "tcp_transitions_dport_idx" ON "tcp_transitions"("dport");
CREATE INDEX "tcp_transitions_saddr_idx" ON "tcp_transitions"("saddr");
CREATE INDEX "tcp_transitions_daddr_idx" ON "tcp_transitions"("daddr");
CREATE INDEX "tcp_transitions_owner_id_idx" ON "tcp_transitions"("owner_id");
CREATE INDEX "tcp_transitions_id_idx" ON "tcp_transitions" USING BRIN ("id");

-- The partitions are new tables under their old names: sealing takes them again.
DELETE FROM "partition_seals" WHERE "table_name" = 'tcp_transitions';

GRANT SELECT ON "tcp_transitions", "tcp_sources" TO "probefleet_reader";
