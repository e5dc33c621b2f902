// Follows the control topic: from its beginning at every start (a consumer group of this run's
// own), then each change. What the topic holds up to its end at start is handed over as one set
// (caughtUp), so a version a later message replaces, or a policy since deleted, is never applied
// on the way. Every message is validated again by libs/policy; one that does not validate is
// reported (policy.rejected) and not applied.
import { randomUUID } from 'node:crypto';
import type { GroupMember, KafkaClient } from '@probefleet/kafka';
import { decodePolicyMessage, formatIssues, type PolicyIssue, type PolicyRecord } from '@probefleet/policy';
import type { Logger } from '../log';

export interface PolicyMessage {
  name: string;
  /** null: deleted (a tombstone). */
  record: PolicyRecord | null;
}

export interface InvalidPolicy {
  name: string;
  version: number | null;
  reason: string;
}

export interface PolicyListener {
  /** The topic's set as it stood at start: each name's latest (null: deleted). */
  caughtUp(set: ReadonlyMap<string, PolicyRecord | null>): Promise<void>;
  message(m: PolicyMessage): Promise<void>;
  invalid(i: InvalidPolicy): void;
}

export async function followPolicies(kafka: KafkaClient, topic: string, host: string, log: Logger, on: PolicyListener): Promise<GroupMember> {
  const admin = kafka.admin();
  const ends = await (async () => {
    // Asked first: a metadata request for a missing topic can create it (auto.create.topics.enable),
    // uncompacted, where the aggregator creates it compacted.
    if (!(await admin.listTopics()).includes(topic)) throw new Error(`topic ${topic} does not exist (yet)`);
    return admin.endOffsets(topic);
  })().finally(() => admin.close());
  // The last offset of each partition that has messages: caught up once all are read.
  const pending = new Map([...ends].filter(([, end]) => BigInt(end) > 0n).map(([p, end]) => [p, BigInt(end) - 1n]));
  const initial = new Map<string, PolicyRecord | null>();
  let caught = pending.size === 0;
  if (caught) await on.caughtUp(initial);
  return kafka.join(
    {
      groupId: `probefleet-agent-policies.${host}.${randomUUID()}`,
      topic,
      maxBytesPerPartition: 1 << 20,
      partitionsConcurrency: 1,
      sessionTimeoutMs: 10_000,
      heartbeatIntervalMs: 3000,
      maxWaitMs: 500,
    },
    async (batch, control) => {
      for (const m of batch.messages) {
        const d = decodePolicyMessage(m.key, m.value);
        if (d.ok) {
          if (caught) await on.message(d.value);
          else initial.set(d.value.name, d.value.record);
        } else {
          invalid(m, d.issues);
        }
        const last = pending.get(batch.partition);
        if (!caught && last !== undefined && BigInt(m.offset) >= last) {
          pending.delete(batch.partition);
          if (pending.size === 0) {
            caught = true;
            await on.caughtUp(initial);
          }
        }
      }
      // Past this batch: the client would fetch it again otherwise. The group is this run's alone,
      // so the next start reads from the beginning again (its offsets expire with the empty group).
      const last = batch.messages[batch.messages.length - 1];
      if (last && control.owned()) await control.commit(last.offset);
    },
    {
      joined: () => log.info({ topic }, 'following the policy topic'),
      left: (e) => (e ? log.warn({ err: e }, 'policy topic: left (reconnecting)') : undefined),
    },
  );

  function invalid(m: { key: Buffer | null; value: Buffer | null; offset: string }, issues: PolicyIssue[]): void {
    const reason = `invalid policy message at offset ${m.offset}: ${formatIssues(issues)}`;
    log.warn({ key: m.key?.toString('utf8') }, reason);
    on.invalid({ name: m.key?.toString('utf8') ?? '', version: versionOf(m.value), reason });
  }
}

/** The version a message that does not validate claims, if it says one. */
function versionOf(value: Buffer | null): number | null {
  try {
    const v = (JSON.parse(value?.toString('utf8') ?? 'null') as { version?: unknown } | null)?.version;
    return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 ? v : null;
  } catch {
    return null;
  }
}
