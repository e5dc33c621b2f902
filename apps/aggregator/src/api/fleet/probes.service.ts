// GET /api/v1/probes: probes per host, as the kprobe model folds their lifecycle.
import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { PrismaService } from '../../store/prisma.service';
import { bigintText, hostParam } from './fleet-params';

export const ProbesQuery = z.strictObject({ host: hostParam });
export const ProbeItem = z.object({
  host: z.string(), name: z.string(), kind: z.string(), symbol: z.string(), offset: z.number().int(),
  address: z.string().nullable(), bucket: z.number().int().nullable().describe('kprobe_table bucket (hash_ptr(addr, 6)).'),
  insn: z.string().nullable(), armed: z.boolean(), hits: bigintText('Hits'), missed: bigintText('Misses'),
  definition: z.string().nullable(), bootId: z.uuid(), instance: z.uuid(), registeredAt: z.string(), updatedAt: z.string(),
  mechanism: z.enum(['int3', 'ftrace', 'optimized']).nullable()
    .describe('How the kernel armed it (debugfs kprobes/list): int3, ftrace (the function\'s ftrace site) or optimized (a jmp); null when not reported.'),
  postHandler: z.boolean().describe('A kprobe with a post_handler (never optimized); trace kprobes have none.'),
  disabled: z.boolean().describe('kprobes/list [DISABLED].'),
  gone: z.boolean().describe('kprobes/list [GONE]: the probed text went away (module unloaded).'),
});
export const ProbesResponse = z.object({ items: z.array(ProbeItem) });

@Injectable()
export class ProbesService {
  constructor(private readonly db: PrismaService) {}

  async list(q: z.output<typeof ProbesQuery>): Promise<z.infer<typeof ProbesResponse>> {
    const rows = await this.db.probe.findMany({ where: { host: q.host }, orderBy: [{ host: 'asc' }, { name: 'asc' }] });
    return {
      items: rows.map((p) => ({
        ...p, mechanism: p.mechanism as z.infer<typeof ProbeItem>['mechanism'], hits: p.hits.toString(), missed: p.missed.toString(), registeredAt: p.registeredAt.toISOString(), updatedAt: p.updatedAt.toISOString(),
      })),
    };
  }
}
