// The aggregator's Prometheus metrics, in one registry served at /metrics.
import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

@Injectable()
export class Metrics {
  readonly registry = new Registry();
  readonly events = new Counter({ name: 'probefleet_ingest_events_total', help: 'Events consumed, by result (stored, duplicate)', labelNames: ['result'], registers: [this.registry] });
  readonly deadLetters = new Counter({ name: 'probefleet_ingest_dead_letters_total', help: 'Kafka messages stored as dead letters, by kind', labelNames: ['kind'], registers: [this.registry] });
  readonly partitionsDropped = new Counter({ name: 'probefleet_retention_partitions_dropped_total', help: 'Time partitions dropped by retention', registers: [this.registry] });
  readonly partitionsSealed = new Counter({ name: 'probefleet_partitions_sealed_total', help: 'Ended time partitions whose indexes were rebuilt packed', registers: [this.registry] });
  readonly sealReclaimedBytes = new Counter({ name: 'probefleet_partition_seal_reclaimed_bytes_total', help: 'Index bytes freed by sealing ended partitions', registers: [this.registry] });
  readonly retentionFailures = new Counter({ name: 'probefleet_retention_failures_total', help: 'Partition maintenance runs that failed', registers: [this.registry] });
  readonly batches = new Counter({ name: 'probefleet_ingest_batches_total', help: 'Kafka batches committed to PostgreSQL', registers: [this.registry] });
  readonly batchSeconds = new Histogram({ name: 'probefleet_ingest_batch_seconds', help: 'Time to store one Kafka batch', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry] });
  readonly failures = new Counter({ name: 'probefleet_ingest_failures_total', help: 'Batches whose transaction failed and is being retried', registers: [this.registry] });
  readonly violations = new Counter({ name: 'probefleet_model_violations_total', help: 'Probe lifecycle events the kprobe model refused', registers: [this.registry] });
  readonly consuming = new Gauge({ name: 'probefleet_consumer_up', help: '1 while the consumer is a running member of its group', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
