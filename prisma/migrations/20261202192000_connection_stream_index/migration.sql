-- The connections stream finds each closed lifetime from the transition that closed it (same host,
-- instance, seq, skaddr and time: closed_at). Without an index on closed_at that join read the whole
-- closing day's partition for every page (~400 ms at 300k lifetimes); with it, one index probe per
-- row (~1 ms a page). About 22 bytes per lifetime, ~4 per stored event.
CREATE INDEX "tcp_connections_closed_at_idx" ON "tcp_connections"("closed_at");
