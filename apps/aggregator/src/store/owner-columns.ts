// A TCP hit's owner and attribution as the owner columns of tcp_transitions and of the lifetimes
// (migration 20261202190000_socket_owner), and back: one spelling for ingest, the lifetimes and export.
import { ownerInOrder, type Attribution, type Owner } from '@probefleet/events';
import { COPY_NULL, copyText } from './copy';

export const OWNER_COLUMNS = ['owner_pid', 'owner_comm', 'cgroup', 'container_id', 'container_runtime', 'pod_namespace', 'pod_name', 'pod_uid', 'attribution'];

/** What a hit (or a lifetime) says of its owner; attribution undefined: the hit carried none. */
export interface Owned { owner?: Owner | undefined; attribution?: Attribution | undefined }

const text = (s: string | undefined) => (s === undefined ? COPY_NULL : copyText(s));

/** The owner columns as COPY cells, each after a tab. */
export function ownerCells({ owner: o, attribution }: Owned): string {
  if (attribution === undefined) return '\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N';
  if (o === undefined) return `\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t${attribution}`;
  return `\t${o.pid}\t${copyText(o.comm)}\t${copyText(o.cgroup)}\t${text(o.container?.id)}\t${text(o.container?.runtime)}`
    + `\t${text(o.pod?.namespace)}\t${text(o.pod?.name)}\t${text(o.pod?.uid)}\t${attribution}`;
}

/** The owner columns as one value each, for parameter arrays (UPDATE … FROM unnest). */
export function ownerValues({ owner: o, attribution }: Owned): (string | number | null)[] {
  return [o?.pid ?? null, o?.comm ?? null, o?.cgroup ?? null, o?.container?.id ?? null, o?.container?.runtime ?? null,
    o?.pod?.namespace ?? null, o?.pod?.name ?? null, o?.pod?.uid ?? null, attribution ?? null];
}

/** The SELECT list of the owner columns of table alias `t`. */
export const ownerSelect = (t: string) => OWNER_COLUMNS.map((c) => `${t}.${c}${c === 'pod_uid' || c === 'attribution' ? '::text' : ''} AS ${c}`).join(', ');

/* eslint-disable @typescript-eslint/no-explicit-any */
/** A row's owner columns back to what the hit said, keys in the agent's order. */
export function ownedFromRow(r: any): Owned {
  if (r.attribution === null) return {};
  if (r.owner_pid === null) return { attribution: r.attribution };
  const owner = {
    pid: r.owner_pid, comm: r.owner_comm, cgroup: r.cgroup,
    ...(r.container_id === null ? {} : { container: { id: r.container_id, runtime: r.container_runtime } }),
    ...(r.pod_uid === null ? {} : {
      pod: { ...(r.pod_namespace === null ? {} : { namespace: r.pod_namespace }), ...(r.pod_name === null ? {} : { name: r.pod_name }), uid: r.pod_uid },
    }),
  } as Owner;
  return { owner: ownerInOrder(owner), attribution: r.attribution };
}
/* eslint-enable @typescript-eslint/no-explicit-any */
