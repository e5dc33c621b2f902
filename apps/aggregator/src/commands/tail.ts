// `probefleet tail [filters]`: a fleet-wide tcpstates, live. Follows GET /api/v1/transitions/stream
// (resuming with Last-Event-ID after a dropped connection or a cut-off, so no row is missed or
// repeated) and prints each transition as it is stored: TIME HOST PID COMM LADDR LPORT RADDR RPORT
// OLDSTATE -> NEWSTATE MS.
import { Command } from 'commander';
import { createLiveWriter, follow, resources, transitionFilters } from '@probefleet/api-client';
import { clientOf, filterQuery, formatOf, runQuery, withQueryOptions, type QueryOptions } from './query-options';

export function tailCommand(): Command {
  const cmd = new Command('tail').description('follow TCP state transitions fleet-wide as they are stored (a live tcpstates)');
  withQueryOptions(cmd, transitionFilters).option('--since-id <id>', 'start after this event id (Last-Event-ID) instead of now');
  return cmd.action(async (o: QueryOptions & { sinceId?: string }) => {
    await runQuery(transitionFilters, async () => {
      const client = clientOf(o);
      const out = createLiveWriter(formatOf(o), resources.transitions!.columns, process.stdout, { utc: o.utc === true });
      const stop = new AbortController();
      const quit = () => stop.abort();
      process.once('SIGINT', quit).once('SIGTERM', quit);
      process.stdout.on('error', quit);
      try {
        for await (const e of follow(client, resources.transitions!.stream!, filterQuery(o, transitionFilters), { lastEventId: o.sinceId, signal: stop.signal })) {
          if (e.event === 'transition') out.row(JSON.parse(e.data) as Record<string, unknown>);
          else if (e.event === 'cutoff' || e.event === 'error') process.stderr.write(`probefleet: the server says: ${JSON.parse(e.data).reason} (resuming)\n`);
        }
      } catch (err) {
        if (!stop.signal.aborted) throw err;
      }
    });
  });
}
