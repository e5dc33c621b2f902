// The socket's owner in the API (issue 15): the item fields and the filters, the same for
// tcp_transitions and the lifetimes (both keep owner_id into the per-host tcp_owners dictionary and
// their own attribution; migration 20261203060000_owner_dictionary).
import { ATTRIBUTIONS, CONTAINER_RUNTIMES, MAX_COMM_BYTES, MAX_CONTAINER_ID_BYTES, MAX_PID, MAX_POD_NAME_BYTES, MAX_POD_NAMESPACE_BYTES, utf8Length } from '@probefleet/events';
import { z } from 'zod';
import { Prisma } from '../generated/prisma/client';
import { intParam } from './params';

const bounded = (what: string, max: number) => z.string().min(1, `expected ${what}`).refine((s) => utf8Length(s) <= max, `expected ${what} of at most ${max} bytes`);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const ownerFilterShape = {
  pid: intParam(1, MAX_PID).optional().describe("The owner's process id (not the pid the kernel reported)."),
  comm: bounded('a command name', MAX_COMM_BYTES).optional().describe("The owner's command name, exactly."),
  container: z.string().regex(/^[0-9a-f]{12,64}$|^[^/\s]+\.service$/, 'expected a container id (12 to 64 lowercase hex digits: a prefix matches) or a systemd unit name')
    .refine((s) => s.length <= MAX_CONTAINER_ID_BYTES, `expected at most ${MAX_CONTAINER_ID_BYTES} bytes`).optional()
    .describe('Container id (12 or more leading hex digits, as `docker ps` shows them) or systemd unit.'),
  namespace: bounded('a namespace', MAX_POD_NAMESPACE_BYTES).optional().describe('Kubernetes namespace of the owning pod.'),
  pod: bounded('a pod name or uid', MAX_POD_NAME_BYTES).optional().describe('Owning pod: its name, or its uid.'),
};

export interface OwnerFilter {
  pid?: number; comm?: string; container?: string; namespace?: string; pod?: string;
  /** The ids of the owners the fields match (resolveOwners), once resolved. */
  ownerIds?: readonly number[];
}

/** The dictionary's owners that match the owner fields (each field has its index in tcp_owners), of the filter's host if any. */
export function ownerIdsSql(f: OwnerFilter & { host?: string }): Prisma.Sql {
  const c: Prisma.Sql[] = [];
  if (f.host !== undefined) c.push(Prisma.sql`host = ${f.host}`);
  if (f.pid !== undefined) c.push(Prisma.sql`pid = ${f.pid}`);
  if (f.comm !== undefined) c.push(Prisma.sql`comm = ${f.comm}`);
  if (f.container !== undefined) {
    // A prefix is an id's start: hex digits only, so nothing in it is a LIKE pattern character.
    c.push(/^[0-9a-f]{12,63}$/.test(f.container) ? Prisma.sql`container_id LIKE ${`${f.container}%`}` : Prisma.sql`container_id = ${f.container}`);
  }
  if (f.namespace !== undefined) c.push(Prisma.sql`pod_namespace = ${f.namespace}`);
  if (f.pod !== undefined) c.push(UUID.test(f.pod) ? Prisma.sql`pod_uid = ${f.pod}::uuid` : Prisma.sql`pod_name = ${f.pod}`);
  return Prisma.sql`SELECT id FROM tcp_owners WHERE ${Prisma.join(c, ' AND ')} ORDER BY id`;
}

/**
 * The filter with its owners resolved to ids, read first from the dictionary: the page's query then
 * names them as a constant array, which PostgreSQL estimates from owner_id's statistics (a common
 * owner: read along the time index; a rare one: from the owner_id index). A join to the dictionary
 * is estimated blind (bench/query: 47 % of 1M rows taken for 79 rows, 1.2 s instead of ~15 ms).
 */
export async function resolveOwners<F extends OwnerFilter & { host?: string }>(db: { $queryRaw<T>(sql: Prisma.Sql): Promise<T> }, f: F): Promise<F & Pick<OwnerFilter, 'ownerIds'>> {
  if (!hasOwnerFilter(f)) return f;
  const rows = await db.$queryRaw<{ id: number }[]>(ownerIdsSql(f));
  return { ...f, ownerIds: rows.map((r) => r.id) };
}

/** The owner filters as one condition on owner_id (ids are unique across hosts: one sequence). */
export function ownerConditions(f: OwnerFilter): Prisma.Sql[] {
  if (!hasOwnerFilter(f)) return [];
  if (f.ownerIds === undefined) throw new Error('an owner filter must be resolved (resolveOwners) before its query is built');
  return [Prisma.sql`owner_id = ANY(${[...f.ownerIds]}::int[])`];
}

export const hasOwnerFilter = (f: OwnerFilter): boolean => Object.keys(ownerFilterShape).some((k) => f[k as keyof OwnerFilter] !== undefined);

export const ownerItemShape = {
  ownerPid: z.number().int().nullable().describe("The socket's owning process; null when not known."),
  ownerComm: z.string().nullable(),
  cgroup: z.string().nullable().describe("The owner's cgroup path ('' if it exited before it was read)."),
  container: z.object({ id: z.string(), runtime: z.enum(CONTAINER_RUNTIMES) }).nullable(),
  podNamespace: z.string().nullable().describe('Null also when the node did not name the pod (podUid is then known).'),
  podName: z.string().nullable(),
  podUid: z.string().nullable(),
  attribution: z.enum(ATTRIBUTIONS).nullable()
    .describe('direct: seen in the owner\'s own syscall; socket: learned for this socket or its listener; unknown: never learned; null: the agent sent none.'),
};

/** The owner columns of a row, as ownerSelect and ownerJoin give them. */
export interface OwnerRow {
  owner_pid: number | null; owner_comm: string | null; cgroup: string | null; container_id: string | null; container_runtime: string | null;
  pod_namespace: string | null; pod_name: string | null; pod_uid: string | null; attribution: string | null;
}

/** The owner columns to select: the dictionary's (ownerJoin's alias o) and the row's attribution (alias `t`). */
export function ownerSelect(t: string): Prisma.Sql {
  return Prisma.raw(`o.owner_pid, o.owner_comm, o.cgroup, o.container_id, o.container_runtime, o.pod_namespace, o.pod_name, o.pod_uid, `
    + `${t}.attribution::text AS attribution`);
}

/**
 * The owner of each row of `t` (a page, after its LIMIT): one primary key probe of tcp_owners per
 * row (OFFSET 0 keeps the planner from a hash join, which reads the whole dictionary every page).
 */
export function ownerJoin(t: string): Prisma.Sql {
  return Prisma.raw(`LEFT JOIN LATERAL (SELECT pid AS owner_pid, comm AS owner_comm, cgroup, container_id, container_runtime, pod_namespace, pod_name,
    pod_uid::text AS pod_uid FROM tcp_owners WHERE host = ${t}.host AND id = ${t}.owner_id OFFSET 0) o ON true`);
}

export function ownerItem(r: OwnerRow): z.infer<z.ZodObject<typeof ownerItemShape>> {
  return {
    ownerPid: r.owner_pid, ownerComm: r.owner_comm, cgroup: r.cgroup,
    container: r.container_id === null ? null : { id: r.container_id, runtime: r.container_runtime as (typeof CONTAINER_RUNTIMES)[number] },
    podNamespace: r.pod_namespace, podName: r.pod_name, podUid: r.pod_uid, attribution: r.attribution as (typeof ATTRIBUTIONS)[number] | null,
  };
}
