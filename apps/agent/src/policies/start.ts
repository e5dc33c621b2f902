// Wiring of fleet policies into a run: the cached set first (so an agent without its broker applies
// it), then the control topic from its beginning, joined again with backoff while the broker is away
// (none with the stdout sink: the cached set alone). Both pass one gate (gate.ts): the cache's
// versions guard the topic against replays of older records.
import type { GroupMember, KafkaClient } from '@probefleet/kafka';
import type { PolicyRefusal, PolicyVerifier } from '@probefleet/signature';
import { PolicyCache } from './cache';
import { followPolicies } from './follower';
import { PolicyGate } from './gate';
import { PolicyRuntime, type PolicyRun } from './runtime';

export interface Policies {
  stop(): Promise<void>;
}

export interface PolicyOptions {
  kafka: KafkaClient | null;
  topic: string;
  cacheDir: string;
  /** The pinned public keys of the aggregator's policy signer (policies.publicKeyFile). */
  verifier: PolicyVerifier;
  /** Counts a refused record (the agent's metrics). */
  refused?: (reason: PolicyRefusal) => void;
}

const BACKOFF_MS = { initial: 500, max: 10_000 };
const CLOSE_MS = 3000;

export function startPolicies(o: PolicyOptions, run: Omit<PolicyRun, 'cache' | 'refused'>): Policies {
  const cache = new PolicyCache(o.cacheDir, run.log);
  const runtime = new PolicyRuntime({ ...run, cache, ...(o.refused ? { refused: o.refused } : {}) });
  const gate = new PolicyGate(o.verifier);
  const cached = cache.load(gate);
  const names: string[] = [];
  for (const g of cached) {
    if (!g.ok) {
      run.log.warn({ file: cache.file, key: g.name, refused: g.refused }, `policy cache: record refused, not applied: ${g.reason}`);
      runtime.invalid({ name: g.name, reason: `cached policy record refused (${g.refused ?? 'invalid'}): ${g.reason}`, ...(g.version !== undefined ? { version: g.version } : {}), ...(g.refused ? { refused: g.refused } : {}) });
      continue;
    }
    names.push(g.name);
    if (g.record !== null) run.log.info({ policy: g.name, version: g.version }, 'applying a cached policy');
    void runtime.receive({ name: g.name, record: g.record, signed: g.signed });
  }
  let member: GroupMember | undefined;
  let stopped = false;
  const { kafka } = o;
  const join = async (wait: number): Promise<void> => {
    if (stopped || kafka === null) return;
    try {
      const m = await followPolicies(kafka, o.topic, run.host.host, gate, run.log, {
        caughtUp: (set) => runtime.reconcile(set, names),
        message: (msg) => runtime.receive(msg),
        invalid: (i) => runtime.invalid(i),
      });
      if (stopped) await m.close();
      else member = m;
    } catch (e) {
      run.log.warn({ err: (e as Error).message, retryMs: wait }, 'policy topic unreachable: the cached set stays applied');
      // Unref'd: a stopped agent does not wait for the next attempt.
      await new Promise((r) => setTimeout(r, wait).unref());
      return join(Math.min(wait * 2, BACKOFF_MS.max));
    }
  };
  void join(BACKOFF_MS.initial);
  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      // Bounded: leaving the group while the broker is away can wait on its timeouts.
      await Promise.race([member?.close().catch(() => undefined), new Promise((r) => setTimeout(r, CLOSE_MS).unref())]);
      await runtime.stop();
    },
  };
}
