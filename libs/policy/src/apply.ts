// What an agent does with a policy message, decided purely: apply it (its selector matches and it
// is new), replace the version it runs, remove it (deleted, or no longer for this host), or nothing
// (an older or the same version again: the control topic is read from its beginning at every start).
import { renderFilter, type FilterExpression } from './filter-grammar';
import { tcpFilter, type FilterConfig, type TcpSource } from './filter-config';
import type { PolicyRecord } from './policy';
import { selects, type HostFacts } from './selector';

export type PolicyAction =
  | { kind: 'none' }
  | { kind: 'apply'; record: PolicyRecord }
  | { kind: 'replace'; old: PolicyRecord; record: PolicyRecord }
  /** `version`: the version that removed it (the deleting one is unknown to a tombstone: the old one). */
  | { kind: 'remove'; old: PolicyRecord; version: number };

export function nextAction(current: PolicyRecord | undefined, incoming: PolicyRecord | null, host: HostFacts): PolicyAction {
  if (incoming === null) return current ? { kind: 'remove', old: current, version: current.version } : { kind: 'none' };
  if (current && incoming.version <= current.version) return { kind: 'none' };
  if (!selects(incoming.spec.selector, host)) return current ? { kind: 'remove', old: current, version: incoming.version } : { kind: 'none' };
  return current ? { kind: 'replace', old: current, record: incoming } : { kind: 'apply', record: incoming };
}

/**
 * The TCP event's filter with the config's and every applied policy's clauses: each narrows what is
 * recorded, so all must hold. '' when none filters.
 */
export function combinedTcpFilter(mode: TcpSource, local: FilterConfig | undefined, policies: readonly (FilterConfig | undefined)[]): string {
  const expr: FilterExpression = [local, ...policies].flatMap((f) => tcpFilter(mode, f));
  return expr.length === 0 ? '' : renderFilter(expr, 'filter');
}
