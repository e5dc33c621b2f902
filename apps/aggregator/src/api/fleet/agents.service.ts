// GET /api/v1/agents: the fleet, one row per host from its latest agent.
import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { PrismaService } from '../../store/prisma.service';
import { bigintText, hostParam, iso } from './fleet-params';

export const AgentsQuery = z.strictObject({ host: hostParam });
export const AgentItem = z.object({
  host: z.string(), bootId: z.uuid(), instance: z.uuid().describe('The latest agent instance (stream) of the host.'),
  kernelRelease: z.string().nullable(), arch: z.string().nullable(), agentVersion: z.string().nullable(), mode: z.string().nullable(),
  capabilities: z.unknown(), startedAt: z.string().nullable(), stoppedAt: z.string().nullable(), lastSeen: z.string(),
  events: bigintText('Events stored'), hits: bigintText('Probe hits'), missed: bigintText('Probe misses'),
  lost: bigintText('Events the kernel dropped'), counters: z.unknown().describe('The latest heartbeat counters.'),
  labels: z.record(z.string(), z.string()).optional().describe('What the host declares about itself (agent config `labels:`), for policy selectors; absent when none.'),
});
export const AgentsResponse = z.object({ items: z.array(AgentItem) });

@Injectable()
export class AgentsService {
  constructor(private readonly db: PrismaService) {}

  async list(q: z.output<typeof AgentsQuery>): Promise<z.infer<typeof AgentsResponse>> {
    const rows = await this.db.agent.findMany({ where: { host: q.host }, orderBy: { host: 'asc' } });
    return {
      items: rows.map(({ labels, ...a }) => ({
        ...a, ...(labels === null ? {} : { labels: labels as Record<string, string> }), startedAt: iso(a.startedAt), stoppedAt: iso(a.stoppedAt), lastSeen: a.lastSeen.toISOString(),
        events: a.events.toString(), hits: a.hits.toString(), missed: a.missed.toString(), lost: a.lost.toString(),
      })),
    };
  }
}
