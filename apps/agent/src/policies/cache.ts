// The last known policy set, in the spool directory (the agent's state, kept across restarts): an
// agent that starts while the broker is away applies it; each message read from the control topic
// updates it. Written whole to a temporary file and renamed, so a crash leaves the old or the new.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkPolicyRecord, formatIssues, type PolicyRecord } from '@probefleet/policy';
import type { Logger } from '../log';

export const CACHE_FILE = 'policies.json';

export class PolicyCache {
  private readonly records = new Map<string, PolicyRecord>();
  readonly file: string;

  constructor(dir: string, private readonly log: Logger) {
    this.file = join(dir, CACHE_FILE);
  }

  /** The cached records, each validated again (a bad one is logged and left out). */
  load(): PolicyRecord[] {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ file: this.file, err: e }, 'policy cache unreadable: starting without it');
      return [];
    }
    for (const r of Array.isArray(raw) ? raw : []) {
      const c = checkPolicyRecord(r);
      if (c.ok) this.records.set(c.value.name, c.value);
      else this.log.warn({ file: this.file, problem: formatIssues(c.issues) }, 'policy cache: a record no longer validates: left out');
    }
    return [...this.records.values()];
  }

  /** Records the topic's latest for `name` (null: deleted). */
  set(name: string, record: PolicyRecord | null): void {
    const prev = this.records.get(name);
    if (record === null ? prev === undefined : prev?.version === record.version) return;
    if (record === null) this.records.delete(name);
    else this.records.set(name, record);
    const tmp = `${this.file}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify([...this.records.values()]), { mode: 0o600 });
      renameSync(tmp, this.file);
    } catch (e) {
      this.log.warn({ file: this.file, err: e }, 'policy cache not written');
    }
  }
}
