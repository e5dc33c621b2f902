// Wiring of fleet policies into a run: the cached set first (so an agent without its broker applies
// it), then the control topic from its beginning, joined again with backoff while the broker is away
// (none with the stdout sink: the cached set alone).
import type { GroupMember, KafkaClient } from '@probefleet/kafka';
import { PolicyCache } from './cache';
import { followPolicies } from './follower';
import { PolicyRuntime, type PolicyRun } from './runtime';

export interface Policies {
  stop(): Promise<void>;
}

const BACKOFF_MS = { initial: 500, max: 10_000 };
const CLOSE_MS = 3000;

export function startPolicies(o: { kafka: KafkaClient | null; topic: string; cacheDir: string }, run: Omit<PolicyRun, 'cache'>): Policies {
  const cache = new PolicyCache(o.cacheDir, run.log);
  const runtime = new PolicyRuntime({ ...run, cache });
  const cached = cache.load();
  if (cached.length > 0) run.log.info({ policies: cached.map((r) => `${r.name}@${r.version}`) }, 'applying the cached policy set');
  for (const record of cached) void runtime.receive({ name: record.name, record });
  let member: GroupMember | undefined;
  let stopped = false;
  const { kafka } = o;
  const join = async (wait: number): Promise<void> => {
    if (stopped || kafka === null) return;
    try {
      const m = await followPolicies(kafka, o.topic, run.host.host, run.log, {
        caughtUp: (set) => runtime.reconcile(set, cached.map((r) => r.name)),
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
