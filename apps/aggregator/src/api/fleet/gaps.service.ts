// GET /api/v1/gaps: missing seq ranges of streams, newest first.
import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { PrismaService } from '../../store/prisma.service';
import { toPage, type Page } from '../cursor';
import { boolParam, idCursor, limitParam } from '../params';
import { bigintText, hostParam, iso } from './fleet-params';

export const GapsQuery = z.strictObject({
  host: hostParam,
  open: boolParam.optional().describe('true: seqs still missing; false: filled since.'),
  limit: limitParam,
  cursor: idCursor.optional(),
});
export const GapItem = z.object({
  id: bigintText('Row id'), host: z.string(), instance: z.uuid(), fromSeq: bigintText('First missing seq'), toSeq: bigintText('Last missing seq'),
  missing: bigintText('Seqs still missing'), remaining: z.array(z.object({ from: z.number(), to: z.number() })),
  detectedAt: z.string(), closedAt: z.string().nullable(),
});

@Injectable()
export class GapsService {
  constructor(private readonly db: PrismaService) {}

  /** Newest first, by id (gaps are few; ids follow detection). */
  async page(q: z.output<typeof GapsQuery>): Promise<Page<z.infer<typeof GapItem>>> {
    const rows = await this.db.streamGap.findMany({
      where: { host: q.host, closedAt: q.open === undefined ? undefined : q.open ? null : { not: null }, id: q.cursor === undefined ? undefined : { lt: q.cursor } },
      orderBy: { id: 'desc' },
      take: q.limit + 1,
    });
    return toPage(rows, q.limit, (g) => [g.id.toString()], (g) => ({
      id: g.id.toString(), host: g.host, instance: g.instance, fromSeq: g.fromSeq.toString(), toSeq: g.toSeq.toString(),
      missing: g.missing.toString(), remaining: g.remaining as { from: number; to: number }[], detectedAt: g.detectedAt.toISOString(), closedAt: iso(g.closedAt),
    }));
  }
}
