-- The owner of each socket (issue 15): TCP hits carry `owner` and `attribution` (libs/ownership),
-- kept as columns of the transition (its stored form, so export rebuilds the hit byte for byte) and
-- of the lifetime (the owner of its latest attributed transition; its strongest attribution).
-- NULL attribution: a hit from an agent before attribution (or a user probe's); NULL owner columns:
-- attribution unknown. Columns without defaults: adding them rewrites no partition.
CREATE TYPE "attribution" AS ENUM ('direct', 'socket', 'unknown');

ALTER TABLE "tcp_transitions"
  ADD COLUMN "owner_pid" INTEGER,
  ADD COLUMN "pod_uid" UUID,
  ADD COLUMN "attribution" "attribution",
  ADD COLUMN "owner_comm" TEXT,
  ADD COLUMN "cgroup" TEXT,
  ADD COLUMN "container_id" TEXT,
  ADD COLUMN "container_runtime" TEXT,
  ADD COLUMN "pod_namespace" TEXT,
  ADD COLUMN "pod_name" TEXT;

ALTER TABLE "tcp_connections"
  ADD COLUMN "owner_pid" INTEGER,
  ADD COLUMN "pod_uid" UUID,
  ADD COLUMN "attribution" "attribution",
  ADD COLUMN "owner_comm" TEXT,
  ADD COLUMN "cgroup" TEXT,
  ADD COLUMN "container_id" TEXT,
  ADD COLUMN "container_runtime" TEXT,
  ADD COLUMN "pod_namespace" TEXT,
  ADD COLUMN "pod_name" TEXT;

ALTER TABLE "tcp_open_connections"
  ADD COLUMN "owner_pid" INTEGER,
  ADD COLUMN "pod_uid" UUID,
  ADD COLUMN "attribution" "attribution",
  ADD COLUMN "owner_comm" TEXT,
  ADD COLUMN "cgroup" TEXT,
  ADD COLUMN "container_id" TEXT,
  ADD COLUMN "container_runtime" TEXT,
  ADD COLUMN "pod_namespace" TEXT,
  ADD COLUMN "pod_name" TEXT;

-- The view gains the columns at its end (CREATE OR REPLACE VIEW may only append).
CREATE OR REPLACE VIEW "tcp_lifetimes" AS
  SELECT id, host, boot_id, instance, skaddr, family, saddr, daddr, sport, dport, opened_at, closed_at, duration_ms, last_state,
         states, entered_ns, state_ms, last_seq,
         owner_pid, owner_comm, cgroup, container_id, container_runtime, pod_namespace, pod_name, pod_uid, attribution
    FROM tcp_connections
  UNION ALL
  SELECT id, host, boot_id, instance, skaddr, family, saddr, daddr, sport, dport, opened_at, NULL, NULL, last_state,
         states, entered_ns, state_ms, last_seq,
         owner_pid, owner_comm, cgroup, container_id, container_runtime, pod_namespace, pod_name, pod_uid, attribution
    FROM tcp_open_connections;
