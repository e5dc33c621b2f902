// The owner of a socket by hand: the codec's fast path and the agent's and the store's spelling.
import { fitsKernelText, fitsUtf8, MAX_CGROUP_BYTES, MAX_COMM_BYTES, MAX_CONTAINER_ID_BYTES, MAX_POD_NAME_BYTES, MAX_POD_NAMESPACE_BYTES } from './limits';
import { CONTAINER_RUNTIMES, MAX_PID, UUID_PATTERN, type Owner } from './schemas';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const keys = (o: object): number => Object.keys(o).length;
const isText = (s: unknown, max: number): boolean => typeof s === 'string' && s.length > 0 && fitsUtf8(s, max);

/** OwnerSchema by hand (the hit fast path of the codec); never more lenient than the schema. */
export function isValidOwner(o: unknown): o is Owner {
  if (!isRecord(o)) return false;
  const { pid, comm, cgroup, container, pod } = o;
  if (keys(o) !== 3 + (container === undefined ? 0 : 1) + (pod === undefined ? 0 : 1)) return false;
  if (!Number.isSafeInteger(pid) || (pid as number) < 1 || (pid as number) > MAX_PID) return false;
  if (typeof comm !== 'string' || !fitsKernelText(comm, MAX_COMM_BYTES)) return false;
  if (typeof cgroup !== 'string' || !fitsKernelText(cgroup, MAX_CGROUP_BYTES)) return false;
  if (container !== undefined) {
    if (!isRecord(container) || keys(container) !== 2 || !isText(container.id, MAX_CONTAINER_ID_BYTES)) return false;
    if (!(CONTAINER_RUNTIMES as readonly unknown[]).includes(container.runtime)) return false;
  }
  if (pod !== undefined) {
    if (!isRecord(pod)) return false;
    const { namespace, name, uid } = pod;
    if (keys(pod) !== 1 + (namespace === undefined ? 0 : 1) + (name === undefined ? 0 : 1)) return false;
    if (typeof uid !== 'string' || !UUID_PATTERN.test(uid)) return false;
    if (namespace !== undefined && !isText(namespace, MAX_POD_NAMESPACE_BYTES)) return false;
    if (name !== undefined && !isText(name, MAX_POD_NAME_BYTES)) return false;
  }
  return true;
}

/** The owner's JSON in the schema's key order (what the agent sends and export gives back). */
export function ownerJson(o: Owner): string {
  const c = o.container === undefined ? '' : `,"container":{"id":${JSON.stringify(o.container.id)},"runtime":"${o.container.runtime}"}`;
  let p = '';
  if (o.pod !== undefined) {
    const ns = o.pod.namespace === undefined ? '' : `"namespace":${JSON.stringify(o.pod.namespace)},`;
    const name = o.pod.name === undefined ? '' : `"name":${JSON.stringify(o.pod.name)},`;
    p = `,"pod":{${ns}${name}"uid":"${o.pod.uid}"}`;
  }
  return `{"pid":${o.pid},"comm":${JSON.stringify(o.comm)},"cgroup":${JSON.stringify(o.cgroup)}${c}${p}}`;
}

/** The owner with its keys in the schema's order (for a value rebuilt from columns or jsonb). */
export function ownerInOrder(o: Owner): Owner {
  return JSON.parse(ownerJson(o)) as Owner;
}
