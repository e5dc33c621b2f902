// The last known policy set, in the spool directory (the agent's state, kept across restarts): an
// agent that starts while the broker is away applies it; each message read from the control topic
// updates it. It keeps each name's record as the aggregator signed it (deletes too: their version
// keeps an older record from being replayed after a restart), and every record passes the gate
// again on load: a record altered in the file is refused, not applied. Written whole to a
// temporary file and renamed, so a crash leaves the old or the new.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log';
import type { Gated, PolicyGate, SignedRecord } from './gate';

export const CACHE_FILE = 'policies.json';
/** The file's format: 2 = signed records (1, the unsigned records of earlier agents, is refused). */
const CACHE_FORMAT = 2;

interface CachedRecord { key: string; value: string | null; headers: Record<string, string> }

export class PolicyCache {
  private readonly records = new Map<string, SignedRecord>();
  readonly file: string;

  constructor(dir: string, private readonly log: Logger) {
    this.file = join(dir, CACHE_FILE);
  }

  /** Each cached record through `gate` (which so learns their versions): the accepted and the refused. */
  load(gate: PolicyGate): Gated[] {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ file: this.file, err: e }, 'policy cache unreadable: starting without it');
      return [];
    }
    const file = raw as { format?: unknown; records?: unknown };
    if (typeof file !== 'object' || file === null || file.format !== CACHE_FORMAT || !Array.isArray(file.records)) {
      this.log.warn({ file: this.file }, `policy cache: not the signed format ${CACHE_FORMAT}: starting without it (the control topic gives the set)`);
      return [];
    }
    const out: Gated[] = [];
    for (const r of file.records as CachedRecord[]) {
      const g = gate.check({ key: String(r?.key ?? ''), value: typeof r?.value === 'string' ? Buffer.from(r.value, 'base64') : null, headers: r?.headers ?? {} });
      if (g.ok) this.records.set(g.name, g.signed);
      out.push(g);
    }
    return out;
  }

  /** Records the topic's latest for its name (a signed put or delete). */
  set(record: SignedRecord): void {
    const prev = this.records.get(record.key);
    if (prev && JSON.stringify(prev) === JSON.stringify(record)) return;
    this.records.set(record.key, record);
    this.write();
  }

  /** Forgets a put of `name` the topic no longer has (compacted away); a delete stays, for its version. */
  forget(name: string): void {
    const prev = this.records.get(name);
    if (prev === undefined || prev.value === null) return;
    this.records.delete(name);
    this.write();
  }

  private write(): void {
    const records: CachedRecord[] = [...this.records.values()].map((r) => ({ key: r.key, value: r.value === null ? null : r.value.toString('base64'), headers: r.headers }));
    const tmp = `${this.file}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify({ format: CACHE_FORMAT, records }), { mode: 0o600 });
      renameSync(tmp, this.file);
    } catch (e) {
      this.log.warn({ file: this.file, err: e }, 'policy cache not written');
    }
  }
}
