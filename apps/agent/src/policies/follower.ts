// Follows the control topic: from its beginning at every start (a consumer group of this run's
// own), then each change. What the topic holds up to its end at start is handed over as one set
// (caughtUp), so a version a later message replaces, or a policy since deleted, is never applied
// on the way. Every message is validated again by libs/policy; one that does not validate is
// reported (policy.rejected) and not applied.
import { randomUUID } from 'node:crypto';
import type { GroupMember, KafkaClient } from '@probefleet/kafka';
import type { PolicyRecord } from '@probefleet/policy';
import type { PolicyRefusal } from '@probefleet/signature';
import type { Logger } from '../log';
import type { PolicyGate, SignedRecord } from './gate';

export interface PolicyMessage {
  name: string;
  /** null: deleted (a tombstone). */
  record: PolicyRecord | null;
  /** The record as signed (what the cache keeps); absent for a removal the agent decided itself. */
  signed?: SignedRecord;
}

export interface InvalidPolicy {
  name: string;
  /** The verified version; absent when the record was refused (`refused`) unverified. */
  version?: number;
  refused?: PolicyRefusal;
  reason: string;
}

export interface PolicyListener {
  /** The topic's set as it stood at start: each name's latest accepted message (record null: deleted). */
  caughtUp(set: ReadonlyMap<string, PolicyMessage>): Promise<void>;
  message(m: PolicyMessage): Promise<void>;
  invalid(i: InvalidPolicy): void;
}

export async function followPolicies(kafka: KafkaClient, topic: string, host: string, gate: PolicyGate, log: Logger, on: PolicyListener): Promise<GroupMember> {
  const admin = kafka.admin();
  const ends = await (async () => {
    // Asked first: a metadata request for a missing topic can create it (auto.create.topics.enable),
    // uncompacted, where the aggregator creates it compacted.
    if (!(await admin.listTopics()).includes(topic)) throw new Error(`topic ${topic} does not exist (yet)`);
    return admin.endOffsets(topic);
  })().finally(() => admin.close());
  // The last offset of each partition that has messages: caught up once all are read.
  const pending = new Map([...ends].filter(([, end]) => BigInt(end) > 0n).map(([p, end]) => [p, BigInt(end) - 1n]));
  const initial = new Map<string, PolicyMessage>();
  let caught = pending.size === 0;
  if (caught) await on.caughtUp(initial);
  return kafka.join(
    {
      groupId: `probefleet-agent-policies.${host}.${randomUUID()}`,
      topic,
      maxBytesPerPartition: 1 << 20,
      partitionsConcurrency: 1,
      // Applying a policy holds the batch (kprobes armed, filters written: seconds under qemu TCG),
      // and a member busy past its session is dropped: the session is long, a heartbeat follows each
      // message, and the client replaces a dropped member from the last commit anyway.
      sessionTimeoutMs: 45_000,
      heartbeatIntervalMs: 3000,
      maxWaitMs: 500,
    },
    async (batch, control) => {
      for (const m of batch.messages) {
        const g = gate.check(m);
        if (g.ok) {
          const msg: PolicyMessage = { name: g.name, record: g.record, signed: g.signed };
          if (caught) await on.message(msg);
          else initial.set(g.name, msg);
        } else {
          const reason = `${g.refused ? `refused (${g.refused})` : 'invalid'} policy message at offset ${m.offset}: ${g.reason}`;
          log.warn({ key: g.name, refused: g.refused }, reason);
          on.invalid({ name: g.name, reason, ...(g.version !== undefined ? { version: g.version } : {}), ...(g.refused ? { refused: g.refused } : {}) });
        }
        await control.heartbeat();
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
}
