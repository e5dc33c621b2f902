// Fleet policies: changes stored as events (store/policies.ts) and published (PolicyPublisher); the
// views read the `policies` projection, and the per-host status joins the hosts' reports with the
// agents the selector matches (libs/policy decides the match, as each agent does).
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown, ServiceUnavailableException } from '@nestjs/common';
import type { KafkaClient } from '@probefleet/kafka';
import type { PolicySigner } from '@probefleet/signature';
import { selects, type PolicySpec } from '@probefleet/policy';
import { z } from 'zod';
import { CONFIG } from '../config.module';
import type { AggregatorConfig } from '../config';
import { recordPolicyChange, type PolicyChange } from '../store/policies';
import { PrismaService } from '../store/prisma.service';
import { POLICY_KAFKA, POLICY_SIGNER } from './policy-kafka';
import { PolicyPublisher } from './publisher';

export const PolicyItem = z.object({
  name: z.string(), version: z.number().int(), spec: z.unknown().describe('The policy as validated (libs/policy).'), updatedAt: z.string(),
});
export const HostStatus = z.object({
  host: z.string(),
  status: z.enum(['applied', 'rejected', 'removed', 'pending']).describe('pending: the selector matches a running agent that has not reported this version yet.'),
  version: z.number().int().nullable().describe('The version the host last reported on.'),
  reason: z.string().nullable(), line: z.string().nullable(), kernel: z.string().nullable().describe("The kernel's error_log message, on rejection."),
  definitions: z.unknown(), filters: z.unknown(), at: z.string().nullable(),
});
export const PolicyDetail = PolicyItem.extend({
  spec: z.unknown().describe('The policy as validated (libs/policy); null once deleted.'),
  deleted: z.boolean().describe('Deleted: each host that had it is pending until it reports it removed.'),
  hosts: z.array(HostStatus),
  summary: z.object({ matched: z.number().int(), applied: z.number().int(), rejected: z.number().int(), removed: z.number().int(), pending: z.number().int() }),
});
export const PolicyWrite = z.object({ name: z.string(), version: z.number().int(), deleted: z.boolean(), published: z.boolean().describe('Acked by the control topic; false: stored, published when Kafka is back.') });

@Injectable()
export class PoliciesService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger(PoliciesService.name);
  private readonly publisher: PolicyPublisher;

  constructor(
    @Inject(CONFIG) config: AggregatorConfig,
    @Inject(POLICY_KAFKA) kafka: KafkaClient,
    @Inject(POLICY_SIGNER) private readonly signer: PolicySigner | null,
    private readonly db: PrismaService,
  ) {
    this.publisher = new PolicyPublisher(config, kafka, db, signer);
  }

  onApplicationBootstrap(): void {
    this.publisher.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.publisher.stop();
  }

  /** A 503 without a signing key: agents would refuse anything published. */
  assertWritable(): void {
    if (this.signer === null) {
      throw new ServiceUnavailableException('policy writes are disabled: POLICY_SIGNING_KEY_FILE is not set (agents apply only signed policy records; make a key with `probefleet policy keygen FILE`)');
    }
  }

  /** null: a delete of no live policy. */
  async change(name: string, change: PolicyChange): Promise<z.infer<typeof PolicyWrite> | null> {
    this.assertWritable();
    const event = await recordPolicyChange(this.db.pool, name, change);
    if (!event) return null;
    const published = await this.publisher.publish([name]).then(
      () => true,
      (e: unknown) => {
        this.log.warn(`policy ${name} v${event.data.version} stored, not published yet: ${(e as Error).message}`);
        return false;
      },
    );
    return { name, version: event.data.version, deleted: event.type === 'policy.deleted', published };
  }

  async list(): Promise<{ items: z.infer<typeof PolicyItem>[] }> {
    const rows = await this.db.policy.findMany({ where: { deleted: false }, orderBy: { name: 'asc' } });
    return { items: rows.map((r) => ({ name: r.name, version: r.version, spec: r.spec, updatedAt: r.updatedAt.toISOString() })) };
  }

  async get(name: string): Promise<z.infer<typeof PolicyDetail> | null> {
    const p = await this.db.policy.findUnique({ where: { name } });
    if (!p) return null;
    const reports = await this.db.policyHost.findMany({ where: { policy: name }, orderBy: { host: 'asc' } });
    const report = (r: (typeof reports)[number], status: z.infer<typeof HostStatus>['status']): z.infer<typeof HostStatus> =>
      ({ host: r.host, status, version: r.version, reason: r.reason, line: r.line, kernel: r.kernel, definitions: r.definitions, filters: r.filters, at: r.at.toISOString() });
    const summary = (items: z.infer<typeof HostStatus>[], matched: number) => {
      const count = (s: string) => items.filter((i) => i.status === s).length;
      return { matched, applied: count('applied'), rejected: count('rejected'), removed: count('removed'), pending: count('pending') };
    };
    const base = { name, version: p.version, spec: p.spec, deleted: p.deleted, updatedAt: p.updatedAt.toISOString() };
    if (p.deleted) {
      // Whatever version a host last reported, only its removal means nothing of the policy is left there.
      const items = reports.map((r) => report(r, r.status === 'removed' ? 'removed' : 'pending'));
      return { ...base, hosts: items, summary: summary(items, 0) };
    }
    const spec = p.spec as PolicySpec;
    const agents = await this.db.agent.findMany({ where: { stoppedAt: null }, orderBy: { host: 'asc' } });
    const byHost = new Map(reports.map((r) => [r.host, r]));
    const matched = agents.filter((a) => (a.mode === 'kprobe' || a.mode === 'tracepoint')
      && selects(spec.selector, { host: a.host, kernelRelease: a.kernelRelease ?? '', mode: a.mode, labels: (a.labels ?? {}) as Record<string, string> }));
    const hosts = new Set([...reports.map((r) => r.host), ...matched.map((a) => a.host)]);
    const items = [...hosts].sort().map((host): z.infer<typeof HostStatus> => {
      const r = byHost.get(host);
      if (!r || r.version < p.version) {
        return { host, status: 'pending', version: r?.version ?? null, reason: null, line: null, kernel: null, definitions: null, filters: null, at: r?.at.toISOString() ?? null };
      }
      return report(r, r.status as 'applied' | 'rejected' | 'removed');
    });
    return { ...base, hosts: items, summary: summary(items, matched.length) };
  }
}
