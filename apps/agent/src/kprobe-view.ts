// The kernel's own view of our kprobes (debugfs kprobes/list): how each was armed (int3, ftrace,
// optimized), the address it really probes (past an endbr64 on IBT kernels), and later changes
// (the optimizer's jmp, [DISABLED], [GONE]). Read after arming each probe and at every heartbeat;
// without debugfs the mechanism is unknown and left out of the events.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EventData, Mechanism } from '@probefleet/events';
import { findListed, kprobeMechanism, parseKprobesList, type KprobesListEntry } from '@probefleet/tracefs';
import type { Logger } from './log';

/** What the agent knows of one of its probes to find it in the list. */
export interface ViewedProbe {
  name: string;
  kind: 'kprobe' | 'kretprobe' | 'tracepoint';
  symbol: string | null;
  offset: number;
  /** symbol+offset from kallsyms (probe.registered's address), when readable. */
  address: string | undefined;
}

interface Seen {
  mechanism: Mechanism;
  disabled: boolean;
  gone: boolean;
}

export class KprobeView {
  /** Armed kprobes and what was last reported of each (null: not in the list yet). */
  private readonly watched = new Map<string, { probe: ViewedProbe; last: Seen | null }>();
  private failed = false;

  /** `dir`: debugfs's kprobes directory (discovery), null when it cannot be had. */
  constructor(
    private readonly dir: string | null,
    private readonly log: Logger,
  ) {}

  /** probe.armed data for a probe just enabled: with mechanism and real address when the list shows them. */
  async armed(probe: ViewedProbe): Promise<EventData<'probe.armed'>> {
    if (probe.kind === 'tracepoint' || probe.symbol === null) return { probe: probe.name };
    const entry = this.find(await this.read(), probe);
    this.watched.set(probe.name, { probe, last: entry === undefined ? null : seen(entry) });
    if (entry === undefined) return { probe: probe.name };
    return { probe: probe.name, mechanism: kprobeMechanism(entry), ...(entry.address !== null ? { address: entry.address } : {}) };
  }

  /** probe.state for each armed probe whose view changed since it was last reported (heartbeat). */
  async changes(): Promise<EventData<'probe.state'>[]> {
    if (this.watched.size === 0) return [];
    const entries = await this.read();
    const out: EventData<'probe.state'>[] = [];
    // Probes disarmed while the file was read are no longer watched: nothing is said about them.
    for (const [name, watch] of this.watched) {
      const entry = this.find(entries, watch.probe);
      if (entry === undefined) continue;
      const now = seen(entry);
      const last = watch.last;
      if (last !== null && now.mechanism === last.mechanism && now.disabled === last.disabled && now.gone === last.gone) continue;
      watch.last = now;
      out.push({ probe: name, ...now });
    }
    return out;
  }

  /** The probe is being disarmed: its later states are not reported. */
  forget(name: string): void {
    this.watched.delete(name);
  }

  private find(entries: readonly KprobesListEntry[] | null, probe: ViewedProbe): KprobesListEntry | undefined {
    return entries === null || probe.symbol === null ? undefined : findListed(entries, { symbol: probe.symbol, offset: probe.offset, address: probe.address });
  }

  private async read(): Promise<KprobesListEntry[] | null> {
    if (this.dir === null) return null;
    try {
      return parseKprobesList(await readFile(join(this.dir, 'list'), 'utf8'));
    } catch (e) {
      if (!this.failed) this.log.warn({ err: e }, 'kprobes/list unreadable: kprobe mechanism unknown');
      this.failed = true;
      return null;
    }
  }
}

function seen(entry: KprobesListEntry): Seen {
  return { mechanism: kprobeMechanism(entry), disabled: entry.disabled, gone: entry.gone };
}
