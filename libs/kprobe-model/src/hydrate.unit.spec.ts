import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeEvent, type Event } from '@probefleet/events';
import { applyToHost, hostAfterBoot } from './evolve';
import { hydrateHost, savedProbes } from './hydrate';
import { hostSnapshot } from './snapshot';
import type { HostState } from './state';

/** The fixture's events, each stream position once (the aggregator's store drops redeliveries). */
function fixture(name: string): Event[] {
  const seen = new Set<string>();
  return readFileSync(join(__dirname, '../../../test/fixtures/replay', name), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const r = decodeEvent(line);
      if (!r.ok) throw new Error(r.reason);
      return r.value;
    })
    .filter((e) => !seen.has(`${e.instance}/${e.seq}`) && seen.add(`${e.instance}/${e.seq}`));
}

/** Applies events to one host, saving and hydrating it from rows before event `cut`. */
function fold(events: Event[], cut: number): HostState {
  let host: HostState | undefined;
  for (const [i, e] of events.entries()) {
    if (i === cut && host) host = hydrateHost(host.host, host.bootId, savedProbes(host));
    if (!host || host.bootId !== e.bootId) host = hostAfterBoot(host, e) as HostState;
    expect(applyToHost(host, e)).toBeUndefined();
  }
  return host!;
}

describe('hydrateHost / savedProbes', () => {
  it.each(['aggregated.ndjson', 'misses.ndjson', 'reboot.ndjson', 'restart.ndjson'])(
    '%s: continuing from saved rows at any point equals applying every event',
    (name) => {
      const events = fixture(name);
      for (const hostName of new Set(events.map((e) => e.host))) {
        const mine = events.filter((e) => e.host === hostName);
        const whole = hostSnapshot(fold(mine, -1));
        for (let cut = 1; cut < mine.length; cut++) expect(hostSnapshot(fold(mine, cut))).toEqual(whole);
      }
    },
  );
});
