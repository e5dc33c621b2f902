// pid → comm for raw records, which carry only the pid. The kernel's text output resolves names
// the same way, at read time, from saved_cmdlines: a map the kernel fills at context switches after
// a traced event on that cpu, so it keeps names of tasks that have exited (unlike /proc/<pid>/comm).
// Limitations, shared with the text output: a task that has not been switched out since its hit
// reads as `<...>` until then; the map is bounded (saved_cmdlines_size), so under heavy pid churn a
// slot may be reused before we read it (`<...>`); a name changed after the hit (exec,
// prctl) or a pid reused by a new task shows what the map holds at our refresh.
import type { RawItem } from '@probefleet/tracefs';

export class CommResolver {
  private map = new Map<number, string>();
  private loadedAt = -Infinity;

  constructor(
    private readonly load: () => Promise<Map<number, string>>,
    /** Refresh at least this often while records arrive. */
    private readonly maxAgeMs = 1000,
    /** A pid missing from the map refreshes it, but not more often than this. */
    private readonly missRetryMs = 50,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Refreshes the map before `items` are resolved when it is old or lacks one of their pids. */
  async prepare(items: readonly RawItem[]): Promise<void> {
    const age = this.now() - this.loadedAt;
    if (age < this.missRetryMs) return;
    if (age < this.maxAgeMs && !items.some((r) => r.kind === 'event' && r.pid > 0 && !this.map.has(r.pid))) return;
    this.map = await this.load();
    this.loadedAt = this.now();
  }

  /** What the kernel prints (trace_find_cmdline): `<idle>` for pid 0, `<...>` when unknown. */
  comm(pid: number): string {
    if (pid === 0) return '<idle>';
    return this.map.get(pid) ?? '<...>';
  }
}
