// The Kafka that probefleet needs, as one small interface of its own: what the agent's publish path
// and the aggregator's consumer use, and nothing more, so the client library behind it can change.
import type { ConnectionOptions } from 'node:tls';

export const CLIENT_KINDS = ['kafkajs', 'platformatic'] as const;
export type ClientKind = (typeof CLIENT_KINDS)[number];

/** Header values as Kafka carries them; a plain record, so a caller can add its own (a signature). */
export type OutgoingHeaders = Record<string, string | Buffer>;

export interface OutgoingMessage {
  key: string | Buffer;
  /** null: a tombstone (a compacted topic then forgets the key). */
  value: Buffer | null;
  headers?: OutgoingHeaders;
}

export interface IncomingMessage {
  /** The offset, as a decimal string (Kafka offsets are 64-bit). */
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer>;
}

/** Consecutive messages of one partition, in offset order. */
export interface Batch {
  topic: string;
  partition: number;
  messages: IncomingMessage[];
}

export interface BatchControl {
  /** False once the member stops or the partition moved to another member: store nothing more, commit nothing. */
  owned(): boolean;
  /** Keeps the member in its group while a batch takes long (a no-op where the client heartbeats on its own). */
  heartbeat(): Promise<void>;
  /** Commits the partition past `lastOffset` (the next read starts after it); call only after the batch is stored. */
  commit(lastOffset: string): Promise<void>;
}

/** A group with no committed offset starts at the earliest message. */
export interface GroupOptions {
  groupId: string;
  topic: string;
  maxBytesPerPartition: number;
  /** Batches of this many partitions are handled at once (each partition's in order). */
  partitionsConcurrency: number;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  maxWaitMs: number;
}

export interface GroupEvents {
  joined(info: { groupId: string; memberId: string; partitions: number[] }): void;
  left(error?: Error): void;
}

export type EachBatch = (batch: Batch, control: BatchControl) => Promise<void>;

export interface GroupMember {
  /** Lets the batches in hand finish, then leaves the group. */
  close(): Promise<void>;
}

/** Idempotent (one request in flight, so retries cannot reorder); every send waits for acks=-1. */
export interface Producer {
  /** Resolves once every message is acked by all in-sync replicas; connects on first use. */
  send(topic: string, messages: readonly OutgoingMessage[]): Promise<void>;
  close(): Promise<void>;
}

export interface Admin {
  listTopics(): Promise<string[]>;
  /** `configs`: topic-level settings, e.g. `cleanup.policy: compact`. */
  createTopic(topic: string, partitions: number, configs?: Record<string, string>): Promise<void>;
  deleteTopic(topic: string): Promise<void>;
  /** Each partition's end (the offset the next message will get), as decimal strings. */
  endOffsets(topic: string): Promise<Map<number, string>>;
  close(): Promise<void>;
}

export interface KafkaClient {
  readonly kind: ClientKind;
  producer(): Producer;
  admin(): Admin;
  /** Joins `groupId` on `topic` (from the committed offsets, else the earliest) and runs `eachBatch`. */
  join(options: GroupOptions, eachBatch: EachBatch, events: GroupEvents): Promise<GroupMember>;
}

export type SaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

export interface ClientConfig {
  clientId: string;
  brokers: string[];
  ssl?: boolean | ConnectionOptions;
  sasl?: { mechanism: SaslMechanism; username: string; password: string };
  connectionTimeoutMs: number;
  requestTimeoutMs: number;
  /** The client's own retries inside one request (callers retry whole sends on top). */
  retry?: { retries: number; initialMs: number; maxMs: number };
  /** The client's own log lines, for the caller's logger. */
  log?: (level: 'error' | 'warn' | 'info' | 'debug', message: string, extra: Record<string, unknown>) => void;
}
