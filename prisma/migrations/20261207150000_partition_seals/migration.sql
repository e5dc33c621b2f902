-- Sealed partitions (store/seals.ts): a time partition whose range has ended takes almost no more
-- rows, so its indexes are rebuilt once (REINDEX CONCURRENTLY) from the half-full pages that
-- inserting at many points at once leaves (a btree page that splits in the middle stays ~50 % full)
-- to packed ones. One row per partition sealed, with its index bytes before and after.
CREATE TABLE "partition_seals" (
    "partition" TEXT NOT NULL,
    "table_name" TEXT NOT NULL,
    "range_to" TIMESTAMPTZ(6) NOT NULL,
    "index_bytes_before" BIGINT NOT NULL,
    "index_bytes_after" BIGINT NOT NULL,
    "sealed_at" TIMESTAMPTZ(6) NOT NULL,

    CONSTRAINT "partition_seals_pkey" PRIMARY KEY ("partition")
);
