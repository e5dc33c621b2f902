// What the fleet endpoints share. These are small tables or one-stream reads: the Prisma query
// builder over their primary keys is enough.
import { z } from 'zod';

export const hostParam = z.string().min(1, 'expected a host name').optional().describe('Host name, exactly.');
export const bigintText = (what: string) => z.string().describe(`${what} (a BIGINT, as a string).`);
export const iso = (d: Date | null): string | null => d?.toISOString() ?? null;
