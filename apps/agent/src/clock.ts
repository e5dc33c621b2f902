// Trace timestamps → wall clock. The agent's tracing instance uses trace_clock `mono`, which is
// CLOCK_MONOTONIC (ktime_get_mono_fast_ns), the same clock as process.hrtime.bigint(). At start we
// sample (mono, wall, mono) and take offset = wall - midpoint(mono): wall(t) = t + offset.
// Error: Date.now() has 1 ms resolution, so the offset is off by up to ~1 ms plus half the sample
// window (we keep the narrowest of several samples, normally < 10 µs). The offset is fixed for the
// run: NTP slewing of CLOCK_REALTIME after start is not followed (tens of µs per minute at most);
// ordering and durations use monoNs, which is exact.

export class WallClock {
  constructor(readonly offsetNs: bigint) {}

  static measure(samples = 8): WallClock {
    let best: { window: bigint; offset: bigint } | null = null;
    for (let i = 0; i < samples; i++) {
      const a = process.hrtime.bigint();
      const wall = BigInt(Date.now()) * 1_000_000n;
      const b = process.hrtime.bigint();
      const window = b - a;
      if (best === null || window < best.window) best = { window, offset: wall - (a + (b - a) / 2n) };
    }
    return new WallClock((best as { offset: bigint }).offset);
  }

  static monoNow(): bigint {
    return process.hrtime.bigint();
  }

  wallNs(monoNs: bigint): bigint {
    return monoNs + this.offsetNs;
  }
}

// The `time` text itself: rfc3339Nanos in @probefleet/events (one codec for agent, simulator, projections).
