-- probefleet's first schema: the event store, its projections, and a read-only role for Grafana.
-- Written in the shape `prisma migrate dev` generates from prisma/schema.prisma (names included).

-- CreateTable
CREATE TABLE "events" (
    "id" BIGSERIAL NOT NULL,
    "v" SMALLINT NOT NULL,
    "type" TEXT NOT NULL,
    "host" TEXT NOT NULL,
    "boot_id" UUID NOT NULL,
    "instance" UUID NOT NULL,
    "seq" BIGINT NOT NULL,
    "time" TIMESTAMPTZ(6) NOT NULL,
    "time_text" TEXT NOT NULL,
    "mono_ns" BIGINT,
    "data" JSONB NOT NULL,
    "kafka_partition" INTEGER,
    "kafka_offset" BIGINT,
    "ingested_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "streams" (
    "instance" UUID NOT NULL,
    "host" TEXT NOT NULL,
    "boot_id" UUID NOT NULL,
    "contiguous_to" BIGINT NOT NULL,
    "max_seq" BIGINT NOT NULL,
    "events" BIGINT NOT NULL DEFAULT 0,
    "first_time" TIMESTAMPTZ(6) NOT NULL,
    "last_time" TIMESTAMPTZ(6) NOT NULL,

    CONSTRAINT "streams_pkey" PRIMARY KEY ("instance")
);

-- CreateTable
CREATE TABLE "stream_gaps" (
    "id" BIGSERIAL NOT NULL,
    "host" TEXT NOT NULL,
    "instance" UUID NOT NULL,
    "from_seq" BIGINT NOT NULL,
    "to_seq" BIGINT NOT NULL,
    "missing" BIGINT NOT NULL,
    "remaining" JSONB NOT NULL,
    "detected_at" TIMESTAMPTZ(6) NOT NULL,
    "closed_at" TIMESTAMPTZ(6),

    CONSTRAINT "stream_gaps_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "agents" (
    "host" TEXT NOT NULL,
    "boot_id" UUID NOT NULL,
    "instance" UUID NOT NULL,
    "kernel_release" TEXT,
    "arch" TEXT,
    "agent_version" TEXT,
    "mode" TEXT,
    "capabilities" JSONB,
    "started_at" TIMESTAMPTZ(6),
    "stopped_at" TIMESTAMPTZ(6),
    "last_seen" TIMESTAMPTZ(6) NOT NULL,
    "events" BIGINT NOT NULL DEFAULT 0,
    "hits" BIGINT NOT NULL DEFAULT 0,
    "missed" BIGINT NOT NULL DEFAULT 0,
    "lost" BIGINT NOT NULL DEFAULT 0,
    "counters" JSONB,

    CONSTRAINT "agents_pkey" PRIMARY KEY ("host")
);

-- CreateTable
CREATE TABLE "probes" (
    "host" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "symbol" TEXT NOT NULL,
    "offset" INTEGER NOT NULL DEFAULT 0,
    "address" TEXT,
    "bucket" SMALLINT,
    "insn" TEXT,
    "armed" BOOLEAN NOT NULL DEFAULT false,
    "hits" BIGINT NOT NULL DEFAULT 0,
    "missed" BIGINT NOT NULL DEFAULT 0,
    "definition" TEXT,
    "boot_id" UUID NOT NULL,
    "instance" UUID NOT NULL,
    "registered_at" TIMESTAMPTZ(6) NOT NULL,
    "updated_at" TIMESTAMPTZ(6) NOT NULL,

    CONSTRAINT "probes_pkey" PRIMARY KEY ("host","name")
);

-- CreateTable
CREATE TABLE "tcp_transitions" (
    "id" BIGSERIAL NOT NULL,
    "host" TEXT NOT NULL,
    "instance" UUID NOT NULL,
    "seq" BIGINT NOT NULL,
    "time" TIMESTAMPTZ(6) NOT NULL,
    "skaddr" TEXT NOT NULL,
    "family" TEXT NOT NULL,
    "saddr" TEXT NOT NULL,
    "daddr" TEXT NOT NULL,
    "sport" INTEGER NOT NULL,
    "dport" INTEGER NOT NULL,
    "old_state" TEXT NOT NULL,
    "new_state" TEXT NOT NULL,
    "ms_in_old_state" DOUBLE PRECISION,
    "pid" INTEGER,
    "comm" TEXT,
    "cpu" SMALLINT,
    "in_irq" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "tcp_transitions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "tcp_connections" (
    "id" BIGSERIAL NOT NULL,
    "host" TEXT NOT NULL,
    "boot_id" UUID NOT NULL,
    "skaddr" TEXT NOT NULL,
    "family" TEXT NOT NULL,
    "saddr" TEXT NOT NULL,
    "daddr" TEXT NOT NULL,
    "sport" INTEGER NOT NULL,
    "dport" INTEGER NOT NULL,
    "opened_at" TIMESTAMPTZ(6) NOT NULL,
    "closed_at" TIMESTAMPTZ(6),
    "duration_ms" DOUBLE PRECISION,
    "last_state" TEXT NOT NULL,
    "states" JSONB NOT NULL,
    "last_seq" BIGINT NOT NULL,
    "instance" UUID NOT NULL,

    CONSTRAINT "tcp_connections_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "dead_letters" (
    "id" BIGSERIAL NOT NULL,
    "received_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "topic" TEXT NOT NULL,
    "partition" INTEGER NOT NULL,
    "offset" BIGINT NOT NULL,
    "key" TEXT,
    "raw" BYTEA NOT NULL,
    "kind" TEXT NOT NULL,
    "reason" TEXT NOT NULL,

    CONSTRAINT "dead_letters_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "events_host_time_idx" ON "events"("host", "time");

-- CreateIndex
CREATE UNIQUE INDEX "events_instance_seq_key" ON "events"("instance", "seq");

-- CreateIndex
CREATE INDEX "streams_host_idx" ON "streams"("host");

-- CreateIndex
CREATE INDEX "stream_gaps_host_detected_at_idx" ON "stream_gaps"("host", "detected_at");

-- CreateIndex
CREATE INDEX "stream_gaps_closed_at_idx" ON "stream_gaps"("closed_at");

-- CreateIndex
CREATE UNIQUE INDEX "stream_gaps_instance_from_seq_key" ON "stream_gaps"("instance", "from_seq");

-- CreateIndex
CREATE INDEX "agents_last_seen_idx" ON "agents"("last_seen");

-- CreateIndex
CREATE INDEX "tcp_transitions_time_id_idx" ON "tcp_transitions"("time", "id");

-- CreateIndex
CREATE INDEX "tcp_transitions_host_time_idx" ON "tcp_transitions"("host", "time");

-- CreateIndex
CREATE INDEX "tcp_transitions_host_new_state_time_id_idx" ON "tcp_transitions"("host", "new_state", "time", "id");

-- CreateIndex
CREATE INDEX "tcp_transitions_new_state_time_idx" ON "tcp_transitions"("new_state", "time");

-- CreateIndex
CREATE INDEX "tcp_transitions_sport_time_idx" ON "tcp_transitions"("sport", "time");

-- CreateIndex
CREATE INDEX "tcp_transitions_dport_time_idx" ON "tcp_transitions"("dport", "time");

-- CreateIndex
CREATE INDEX "tcp_transitions_saddr_time_idx" ON "tcp_transitions"("saddr", "time");

-- CreateIndex
CREATE INDEX "tcp_transitions_daddr_time_idx" ON "tcp_transitions"("daddr", "time");

-- CreateIndex
CREATE UNIQUE INDEX "tcp_transitions_instance_seq_key" ON "tcp_transitions"("instance", "seq");

-- CreateIndex
CREATE INDEX "tcp_connections_host_skaddr_closed_at_idx" ON "tcp_connections"("host", "skaddr", "closed_at");

-- CreateIndex
CREATE INDEX "tcp_connections_opened_at_id_idx" ON "tcp_connections"("opened_at", "id");

-- CreateIndex
CREATE INDEX "tcp_connections_closed_at_idx" ON "tcp_connections"("closed_at");

-- CreateIndex
CREATE INDEX "tcp_connections_dport_opened_at_idx" ON "tcp_connections"("dport", "opened_at");

-- CreateIndex
CREATE INDEX "tcp_connections_sport_opened_at_idx" ON "tcp_connections"("sport", "opened_at");

-- CreateIndex
CREATE INDEX "dead_letters_received_at_idx" ON "dead_letters"("received_at");

-- CreateIndex
CREATE UNIQUE INDEX "dead_letters_topic_partition_offset_key" ON "dead_letters"("topic", "partition", "offset");

-- Grafana reads the projections through this role, never the raw event store. It cannot log in:
-- a deployment creates its own login role (with its own secret) and grants it probefleet_reader.
-- Roles are cluster-wide, hence the existence check.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'probefleet_reader') THEN
        CREATE ROLE "probefleet_reader" NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO "probefleet_reader";
GRANT SELECT ON "agents", "probes", "streams", "stream_gaps", "tcp_transitions", "tcp_connections", "dead_letters" TO "probefleet_reader";
