// `probefleet <resource> [filters]`: one listing command, for each resource of @probefleet/api-client.
import { Command } from 'commander';
import { createWriter, type Resource } from '@probefleet/api-client';
import { clientOf, filterQuery, formatOf, positiveInt, runQuery, withQueryOptions, type QueryOptions } from './query-options';

export function listingCommand(resource: Resource): Command {
  const cmd = new Command(resource.name).description(`list ${resource.description}`);
  withQueryOptions(cmd, resource.filters);
  if (resource.paged) {
    cmd.option('--limit <n>', 'rows to list (default 100)', positiveInt('--limit'))
      .option('--all', 'every row, page by page (keyset pagination)');
  }
  return cmd.action(async (o: QueryOptions & { limit?: number; all?: boolean }) => {
    await runQuery(resource.filters, async () => {
      const client = clientOf(o);
      const query = filterQuery(o, resource.filters);
      const out = createWriter(formatOf(o), resource.columns, process.stdout, { utc: o.utc === true });
      if (resource.paged) {
        for await (const item of client.items<Record<string, unknown>>(resource.path, query, { limit: o.limit ?? 100, all: o.all === true })) out.row(item);
      } else {
        for (const item of (await client.get<{ items: Record<string, unknown>[] }>(resource.path, query)).items) out.row(item);
      }
      out.end();
    });
  });
}
