// GET /api/v1/dead-letters: messages that could not be stored as events, newest first.
import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { PrismaService } from '../../store/prisma.service';
import { toPage, type Page } from '../cursor';
import { idCursor, limitParam } from '../params';
import { bigintText } from './fleet-params';

const PREVIEW_BYTES = 256;

export const DeadLettersQuery = z.strictObject({ limit: limitParam, cursor: idCursor.optional() });
export const DeadLetterItem = z.object({
  id: bigintText('Row id'), receivedAt: z.string(), topic: z.string(), partition: z.number().int(), offset: bigintText('Kafka offset'),
  key: z.string().nullable(), kind: z.string(), reason: z.string(),
  size: z.number().int().describe('Bytes in the message.'),
  raw: z.string().describe('The message exactly as received, base64.'),
  preview: z.string().describe(`The first ${PREVIEW_BYTES} bytes as UTF-8 (invalid bytes as U+FFFD).`),
});

@Injectable()
export class DeadLettersService {
  constructor(private readonly db: PrismaService) {}

  /** Newest first, by id (ids follow arrival). */
  async page(q: z.output<typeof DeadLettersQuery>): Promise<Page<z.infer<typeof DeadLetterItem>>> {
    const rows = await this.db.deadLetter.findMany({
      where: { id: q.cursor === undefined ? undefined : { lt: q.cursor } }, orderBy: { id: 'desc' }, take: q.limit + 1,
    });
    return toPage(rows, q.limit, (d) => [d.id.toString()], (d) => {
      const raw = Buffer.from(d.raw);
      return {
        id: d.id.toString(), receivedAt: d.receivedAt.toISOString(), topic: d.topic, partition: d.partition, offset: d.offset.toString(),
        key: d.key, kind: d.kind, reason: d.reason, size: raw.length, raw: raw.toString('base64'), preview: raw.subarray(0, PREVIEW_BYTES).toString('utf8'),
      };
    });
  }
}
