// Filters shared by tcp_transitions and tcp_connections (same column names in both tables).
import { z } from 'zod';
import { Prisma } from '../generated/prisma/client';
import { familyParam, intParam } from './params';

export const endpointFilterShape = {
  host: z.string().min(1, 'expected a host name').optional().describe('Host name, exactly.'),
  port: intParam(0, 65535).optional().describe('Matches sport or dport.'),
  saddr: z.string().min(1, 'expected an address').optional().describe('Source address as text ("10.0.0.1", "::1").'),
  daddr: z.string().min(1, 'expected an address').optional().describe('Destination address as text.'),
  family: familyParam.optional(),
};

export interface EndpointFilter { host?: string; port?: number; saddr?: string; daddr?: string; family?: string }

export function endpointConditions(f: EndpointFilter): Prisma.Sql[] {
  const conditions: Prisma.Sql[] = [];
  if (f.host !== undefined) conditions.push(Prisma.sql`host = ${f.host}`);
  if (f.port !== undefined) conditions.push(Prisma.sql`(sport = ${f.port} OR dport = ${f.port})`);
  if (f.saddr !== undefined) conditions.push(Prisma.sql`saddr = ${f.saddr}`);
  if (f.daddr !== undefined) conditions.push(Prisma.sql`daddr = ${f.daddr}`);
  if (f.family !== undefined) conditions.push(Prisma.sql`family = ${f.family}`);
  return conditions;
}

export function whereAll(conditions: readonly Prisma.Sql[]): Prisma.Sql {
  return conditions.length === 0 ? Prisma.empty : Prisma.sql`WHERE ${Prisma.join(conditions, ' AND ')}`;
}
