// What the agent lets through from the control topic or its cache: a record the aggregator signed
// (a pinned key: libs/signature), that decodes (libs/policy), and is not older than the newest
// version verified of its name (a replay). A refused record is never applied; its claimed version
// is not reported (it is not the aggregator's word), only why it was refused.
import { POLICY_NAME_PATTERN } from '@probefleet/events';
import { decodePolicyMessage, formatIssues, PolicyVersions, type PolicyRecord } from '@probefleet/policy';
import type { PolicyMessageParts, PolicyRefusal, PolicyVerifier } from '@probefleet/signature';

/** A record as signed: what the cache keeps, to verify again on load. */
export interface SignedRecord {
  key: string;
  value: Buffer | null;
  headers: Record<string, string>;
}

export type Gated =
  | { ok: true; name: string; record: PolicyRecord | null; version: number; signed: SignedRecord }
  /** Signed, but not a policy this agent can read: reported with its (verified) version. */
  | { ok: false; name: string; version: number; reason: string; refused?: undefined }
  | { ok: false; name: string; version?: undefined; refused: PolicyRefusal; reason: string };

const text = (b: string | Buffer | Uint8Array | null): string => (b === null ? '' : typeof b === 'string' ? b : Buffer.from(b).toString('utf8'));

export class PolicyGate {
  private readonly versions = new PolicyVersions();

  constructor(private readonly verifier: PolicyVerifier) {}

  check(m: PolicyMessageParts): Gated {
    const name = text(m.key);
    const v = this.verifier.verify(m);
    if (!v.ok) return { ok: false, name, refused: v.refused, reason: v.message };
    const value = m.value === null || m.value.byteLength === 0 ? null : Buffer.from(m.value);
    const d = decodePolicyMessage(Buffer.from(name), value);
    if (!d.ok) return { ok: false, name, version: v.version, reason: `invalid policy record: ${formatIssues(d.issues)}` };
    if (d.value.record !== null && d.value.record.version !== v.version) {
      return { ok: false, name, refused: 'malformed', reason: `the value says version ${d.value.record.version}, the signed header ${v.version}` };
    }
    if (!this.versions.admit(name, v.version)) {
      return { ok: false, name, refused: 'replayed', reason: `a ${v.op} of version ${v.version}, older than version ${this.versions.newestOf(name)} already verified: a replayed record` };
    }
    const headers = Object.fromEntries(Object.entries((m.headers ?? {}) as Record<string, unknown>)
      .filter(([k]) => k.startsWith('policy-'))
      .map(([k, h]) => [k, text(Array.isArray(h) ? h[0] : (h as string | Buffer))]));
    return { ok: true, name, record: d.value.record, version: v.version, signed: { key: name, value, headers } };
  }
}

/** Whether a refusal can be reported as policy.rejected (its key is a policy name). */
export const reportable = (name: string): boolean => POLICY_NAME_PATTERN.test(name);
