// probe.missed from kprobe_profile deltas, agent.loss from per-cpu overrun deltas.
// Loss has one source, the `overrun` counter: when the writer overwrites an unread page, the kernel
// adds its entries to `overrun`, and the next page trace_pipe_raw hands out is flagged with the
// difference since the previous read (rb_get_reader_page: lost_events = overrun − last_overrun),
// i.e. a RawLost repeats losses `overrun` already counted. `overrun` also counts while reading is
// paused (backpressure) and when the page had no room for the count (RawLost.count null).
import type { Tracefs, TracingInstance } from '@probefleet/tracefs';
import type { Logger } from './log';
import type { Probe } from './probes';
import type { Emit } from './reader';

export class StatsPoller {
  private readonly missed = new Map<string, number>();
  private readonly overruns = new Map<number, number>();
  private inFlight: Promise<void> | null = null;

  constructor(
    private readonly tracefs: Tracefs,
    private readonly inst: TracingInstance,
    private readonly probes: readonly Probe[],
    private readonly emit: Emit,
    private readonly log: Logger,
  ) {}

  /** Polls once; while a poll runs, returns that one (so awaiting poll() also means idle). */
  poll(): Promise<void> {
    this.inFlight ??= this.pollOnce().finally(() => (this.inFlight = null));
    return this.inFlight;
  }

  private async pollOnce(): Promise<void> {
    try {
      const kprobes = this.probes.filter((p) => p.kind !== 'tracepoint');
      if (kprobes.length > 0) {
        const profile = await this.tracefs.readKprobeProfile();
        for (const p of kprobes) {
          const entry = profile.find((e) => e.event === p.event);
          if (!entry) continue;
          const prev = this.missed.get(p.event);
          this.missed.set(p.event, entry.misses);
          if (prev !== undefined && entry.misses > prev) this.emit('probe.missed', { probe: p.name, count: entry.misses - prev });
        }
      }
      const lost: { cpu: number; count: number }[] = [];
      for (const s of await this.inst.cpuStats()) {
        const prev = this.overruns.get(s.cpu);
        this.overruns.set(s.cpu, s.overrun);
        if (prev !== undefined && s.overrun > prev) lost.push({ cpu: s.cpu, count: s.overrun - prev });
      }
      if (lost.length > 0) this.emit('agent.loss', { overruns: lost });
    } catch (e) {
      this.log.warn({ err: e }, 'stats poll failed');
    }
  }
}
