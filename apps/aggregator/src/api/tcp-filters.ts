// Filters shared by tcp_transitions and the lifetimes (same column names and types in both).
// States and families are enums and addresses inet: parameters are cast in SQL, so the indexes on
// the typed columns serve them.
import { z } from 'zod';
import { Prisma } from '../generated/prisma/client';
import { checkAddressOrCidr } from './inet-text';
import { familyParam, intParam } from './params';
import { hasOwnerFilter, ownerConditions, ownerFilterShape, type OwnerFilter } from './owner-fields';

/** An address (exact match) or a CIDR (every address inside it), IPv4 or IPv6. */
export const addressParam = z.string().superRefine((s, ctx) => {
  const check = checkAddressOrCidr(s);
  if (!check.ok) ctx.addIssue({ code: 'custom', message: check.message });
});

const addressDescription = (end: string) =>
  `${end} address ("10.0.0.1", "::1") or CIDR ("10.0.0.0/8", "fd00::/8"); a CIDR with host bits set is refused. IPv4-mapped addresses (::ffff:a.b.c.d) are IPv6.`;

export const endpointFilterShape = {
  host: z.string().min(1, 'expected a host name').optional().describe('Host name, exactly.'),
  port: intParam(0, 65535).optional().describe('Matches sport or dport.'),
  saddr: addressParam.optional().describe(addressDescription('Source')),
  daddr: addressParam.optional().describe(addressDescription('Destination')),
  family: familyParam.optional(),
  ...ownerFilterShape,
};

export interface EndpointFilter extends OwnerFilter { host?: string; port?: number; saddr?: string; daddr?: string; family?: string }

/** The filter's conditions but the port (filteredSource takes it as two branches). */
function endpointConditions(f: EndpointFilter): Prisma.Sql[] {
  const conditions: Prisma.Sql[] = [];
  if (f.host !== undefined) conditions.push(Prisma.sql`host = ${f.host}`);
  if (f.saddr !== undefined) conditions.push(addressCondition('saddr', f.saddr));
  if (f.daddr !== undefined) conditions.push(addressCondition('daddr', f.daddr));
  if (f.family !== undefined) conditions.push(Prisma.sql`family = ${f.family}::address_family`);
  conditions.push(...ownerConditions(f));
  return conditions;
}

/**
 * A CIDR as <<= (contained by or equal): PostgreSQL derives a range of the column from it, which
 * the (time, ..., saddr, daddr) index checks inside the index while it reads newest first (broad
 * and medium CIDRs), and the column's own index reads as a range (narrow ones). A plain address as =
 * (stored addresses are all /32 or /128, so it is the same rows): PostgreSQL estimates equality from
 * the column's statistics far better than <<=.
 */
function addressCondition(column: 'saddr' | 'daddr', value: string): Prisma.Sql {
  const col = Prisma.raw(column);
  return value.includes('/') ? Prisma.sql`${col} <<= ${value}::inet` : Prisma.sql`${col} = ${value}::inet`;
}

/**
 * What a query reads: `FROM source WHERE conditions` (a page adds its ORDER BY and LIMIT). A port
 * is the UNION ALL of two branches, sport = port and dport = port (and sport <> port): sport = p OR
 * dport = p is no index condition, so PostgreSQL would read rows in time order and filter each one,
 * or bitmap every match of both ports and sort them. With one port column per branch, each branch
 * reads its own index (the column in the (time, ...) index, or the column's own), for a page in
 * page order and limited, and a Merge Append takes the page from both. The subquery keeps the
 * table's name, so the caller's columns stand.
 */
export function filteredSource(table: 'tcp_transitions' | 'tcp_lifetimes', f: EndpointFilter, conditions: readonly Prisma.Sql[],
  page?: { order: Prisma.Sql; limit: number }): { from: Prisma.Sql; where: Prisma.Sql } {
  const t = Prisma.raw(table);
  const all = [...endpointConditions(f), ...conditions];
  if (f.port === undefined) return { from: t, where: whereAll(all) };
  const tail = page === undefined ? Prisma.empty : Prisma.sql`ORDER BY ${page.order} LIMIT ${page.limit}`;
  const branch = (port: Prisma.Sql) => Prisma.sql`(SELECT * FROM ${t} ${whereAll([...all, port])} ${tail})`;
  return {
    from: Prisma.sql`(${branch(Prisma.sql`sport = ${f.port}`)} UNION ALL ${branch(Prisma.sql`dport = ${f.port} AND sport <> ${f.port}`)}) AS ${t}`,
    where: Prisma.empty,
  };
}

/** How many pages of a host's rows a host + owner page reads in order before it takes the owner index (pagedSource). */
const HOST_WALK_PAGES = 20;

/**
 * One page of rows (`limit` of them, in `order`): `SELECT * FROM source WHERE conditions ORDER BY
 * order LIMIT limit`. With a host and an owner filter, the planner multiplies the host's share by the
 * owner's, though the owner ids are that host's own: a common owner looks rare, and PostgreSQL
 * bitmaps and sorts every row of it. So the host's rows are read first in page order (the primary
 * key), HOST_WALK_PAGES pages' worth at most, the owner's kept: when they fill the page, they are
 * the page (every later match comes after them); otherwise (a rare owner) the plain query answers,
 * from the owner index. The InitPlan's count gates the second branch, which runs only then.
 */
export function pagedSource(table: 'tcp_transitions' | 'tcp_lifetimes', f: EndpointFilter, conditions: readonly Prisma.Sql[],
  order: Prisma.Sql, limit: number): Prisma.Sql {
  const { from, where } = filteredSource(table, f, conditions, { order, limit });
  const page = Prisma.sql`SELECT * FROM ${from} ${where} ORDER BY ${order} LIMIT ${limit}`;
  if (f.host === undefined || !hasOwnerFilter(f) || f.ownerIds?.length === 0) return page;
  const walkLimit = limit * HOST_WALK_PAGES;
  const hostOnly = { ...f, ...Object.fromEntries(Object.keys(ownerFilterShape).map((k) => [k, undefined])), ownerIds: undefined };
  const walk = filteredSource(table, hostOnly, conditions, { order, limit: walkLimit });
  return Prisma.sql`WITH walk AS MATERIALIZED (
      SELECT * FROM (SELECT * FROM ${walk.from} ${walk.where} ORDER BY ${order} LIMIT ${walkLimit}) w
       WHERE ${Prisma.join(ownerConditions(f), ' AND ')} ORDER BY ${order} LIMIT ${limit})
    SELECT * FROM walk WHERE (SELECT count(*) FROM walk) = ${limit}
    UNION ALL
    (SELECT * FROM (${page}) p WHERE (SELECT count(*) FROM walk) < ${limit})`;
}

export function whereAll(conditions: readonly Prisma.Sql[]): Prisma.Sql {
  return conditions.length === 0 ? Prisma.empty : Prisma.sql`WHERE ${Prisma.join(conditions, ' AND ')}`;
}

/** A transition's agent instance (alias `t`), from its source (tcp_sources): one key lookup per row of a page. */
export const sourceInstance = (t: string) => Prisma.raw(`(SELECT k.instance FROM tcp_sources k WHERE k.host = ${t}.host AND k.id = ${t}.source_id)`);

/** The kernel pointer back as the agent's text: skaddr is its signed 64-bit two's complement. */
export const SKADDR_TEXT = Prisma.raw(`'0x' || to_hex(skaddr)`);
