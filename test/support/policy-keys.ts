// Policy signing for the tests: a throw-away key pair (the aggregator's POLICY_SIGNING_KEY_FILE and
// the agents' policies.publicKeyFile), signed or forged control topic records, and a publisher of
// them through the project's own Kafka client (libs/kafka), as an attacker with write access to the
// control topic would send them.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { clientKind, kafkaClient, type OutgoingMessage } from '@probefleet/kafka';
import { encodePolicyRecord } from '@probefleet/policy';
import { loadPolicySigner, writePolicyKeyPair, type PolicySigner } from '@probefleet/signature';
import { PolicyCache } from '../../apps/agent/src/policies/cache';
import type { Logger } from '../../apps/agent/src/log';
import { kafkaBrokers, kafkaClient as testKafka } from './stack';

export interface PolicyKeys {
  dir: string;
  /** Private, 0600: POLICY_SIGNING_KEY_FILE. */
  keyFile: string;
  /** Public: policies.publicKeyFile. */
  publicKeyFile: string;
  signer: PolicySigner;
  remove(): void;
}

export function throwawayPolicyKeys(): PolicyKeys {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'policy-keys-'));
  const made = writePolicyKeyPair(path.join(dir, 'policy.key'));
  return { dir, keyFile: made.privateFile, publicKeyFile: made.publicFile, signer: loadPolicySigner(made.privateFile), remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** A control topic record: a put of `spec` at `version` (null spec: a delete), signed by `signer` (null: unsigned). */
export function policyRecord(signer: PolicySigner | null, name: string, version: number, spec: Record<string, unknown> | null): OutgoingMessage {
  const value = spec === null ? null : encodePolicyRecord({ name, version, spec: spec as never });
  return { key: name, value, ...(signer ? { headers: signer.headers(name, value, version) } : {}) };
}

/** Sends `messages` to `topic` with libs/kafka's client (acks=-1). */
export async function publishRecords(topic: string, messages: OutgoingMessage[]): Promise<void> {
  const producer = kafkaClient(clientKind(), { clientId: 'policy-forger', brokers: kafkaBrokers(), connectionTimeoutMs: 3000, requestTimeoutMs: 30_000 }).producer();
  try {
    await producer.send(topic, messages);
  } finally {
    await producer.close();
  }
}

/** Every record of the control topic as sent (key, value, headers), to re-send one as a replay. */
export async function readControlRecords(topic: string, ms = 15_000): Promise<OutgoingMessage[]> {
  const kafka = testKafka(`policy-records-${randomUUID().slice(0, 8)}`);
  const admin = kafka.admin();
  await admin.connect();
  const [offsets] = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const high = Number(offsets?.high ?? 0);
  if (high === 0) return [];
  const consumer = kafka.consumer({ groupId: `policy-records-${randomUUID()}` });
  const out: OutgoingMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, Buffer.from(v as Buffer)]));
        out.push({ key: message.key ?? Buffer.alloc(0), value: message.value, headers });
        if (Number(message.offset) >= high - 1) done();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([finished, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${topic}: not read to offset ${high} in ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/** The agent's cache file (policies.json) holding `records` signed by `signer`, as the agent writes it. */
export function signedPolicyCache(signer: PolicySigner, records: readonly { name: string; version: number; spec: Record<string, unknown> }[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'policy-cache-'));
  try {
    const cache = new PolicyCache(dir, { warn: () => undefined } as unknown as Logger);
    for (const r of records) {
      const m = policyRecord(signer, r.name, r.version, r.spec);
      cache.set({ key: r.name, value: m.value, headers: m.headers as Record<string, string> });
    }
    return fs.readFileSync(cache.file, 'utf8');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
