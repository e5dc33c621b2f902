import { WallClock } from './clock';

describe('clock', () => {
  it('maps CLOCK_MONOTONIC to the wall clock within a few ms', () => {
    const c = WallClock.measure();
    const wallMs = Number(c.wallNs(process.hrtime.bigint()) / 1_000_000n);
    expect(Math.abs(wallMs - Date.now())).toBeLessThan(5);
  });
});
