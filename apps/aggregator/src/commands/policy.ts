// `probefleet policy apply -f FILE | get NAME | list | delete NAME | status NAME`: fleet policies over
// the HTTP API (writes need an admin token as --token / PROBEFLEET_TOKEN). `apply` checks the file
// with libs/policy first, so a bad one exits 2 naming its field before anything is sent.
// `probefleet policy keygen FILE`: the aggregator's signing key pair (FILE, 0600; FILE.pub for agents).
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { createWriter, FORMATS, formatTime, type Column } from '@probefleet/api-client';
import { checkPolicyName, formatIssues, parsePolicyText } from '@probefleet/policy';
import { writePolicyKeyPair } from '@probefleet/signature';
import { clientOf, formatOf, runQuery, UsageError, type QueryOptions } from './query-options';

type Row = Record<string, unknown>;
const text = (k: string) => (r: Row) => (r[k] === null || r[k] === undefined ? '' : String(r[k]));
const when = (k: string) => (r: Row, ctx: { utc: boolean }) => formatTime(r[k] as string | null, ctx.utc);

const LIST_COLUMNS: Column<Row>[] = [
  { header: 'NAME', value: text('name') },
  { header: 'VERSION', value: text('version') },
  { header: 'UPDATED', value: when('updatedAt') },
];
const STATUS_COLUMNS: Column<Row>[] = [
  { header: 'HOST', value: text('host') },
  { header: 'STATUS', value: text('status') },
  { header: 'VERSION', value: text('version') },
  { header: 'AT', value: when('at') },
  { header: 'REASON', value: text('reason') },
  { header: 'KERNEL', value: text('kernel'), wide: true },
  { header: 'LINE', value: text('line'), wide: true },
];

const path = (name: string) => {
  const n = checkPolicyName(name);
  if (!n.ok) throw new UsageError(formatIssues(n.issues));
  return `api/v1/policies/${n.value}`;
};

function withApi(cmd: Command, output = true): Command {
  cmd.option('--url <url>', 'aggregator base URL (default: $PROBEFLEET_URL or http://127.0.0.1:8080)').option('--token <token>', 'API bearer token (default: $PROBEFLEET_TOKEN)');
  if (output) cmd.addOption(new Option('-o, --output <format>', 'output format').choices(FORMATS).default('table')).option('--json', 'same as -o json').option('--utc', 'times in UTC (default: local time)');
  return cmd;
}

const json = (v: unknown): void => void process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);

export function policyCommand(): Command {
  const cmd = new Command('policy').description('fleet policies: probes, tracepoints and kernel filters for every matching host');

  cmd.addCommand(withApi(new Command('apply').description('create or change a policy from a YAML or JSON file (its `name:`, or --name)'), false)
    .requiredOption('-f, --file <file>', 'the policy (YAML or JSON)')
    .option('--name <name>', 'the policy name when the file has none')
    .action(async (o: QueryOptions & { file: string; name?: string }) => runQuery([], async () => {
      let body: string;
      try {
        body = readFileSync(o.file, 'utf8');
      } catch (e) {
        throw new UsageError(`--file: ${(e as Error).message}`);
      }
      const checked = parsePolicyText(body);
      if (!checked.ok) throw new UsageError(`${o.file}: ${formatIssues(checked.issues)}`);
      const name = o.name ?? checked.value.name;
      if (name === undefined) throw new UsageError(`${o.file}: no name: give it a \`name:\` or --name`);
      if (checked.value.name !== undefined && o.name !== undefined && o.name !== checked.value.name) throw new UsageError(`--name ${o.name} is not the file's ${checked.value.name}`);
      json(await clientOf(o).send('PUT', path(name), { text: body, type: 'application/yaml' }));
    })));

  cmd.addCommand(withApi(new Command('get').description('one policy as stored (JSON)'), false).argument('<name>')
    .action(async (name: string, o: QueryOptions) => runQuery([], async () => {
      const { hosts: _hosts, summary: _summary, ...policy } = await clientOf(o).get<Row>(path(name));
      json(policy);
    })));

  cmd.addCommand(withApi(new Command('list').description('the policies in force'))
    .action(async (o: QueryOptions) => runQuery([], async () => {
      const out = createWriter(formatOf(o), LIST_COLUMNS, process.stdout, { utc: o.utc === true });
      for (const item of (await clientOf(o).get<{ items: Row[] }>('api/v1/policies')).items) out.row(item);
      out.end();
    })));

  cmd.addCommand(withApi(new Command('delete').description('delete a policy (agents remove it)'), false).argument('<name>')
    .action(async (name: string, o: QueryOptions) => runQuery([], async () => json(await clientOf(o).send('DELETE', path(name))))));

  cmd.addCommand(withApi(new Command('status').description('per host: applied, rejected (and why), removed or pending')).argument('<name>')
    .action(async (name: string, o: QueryOptions) => runQuery([], async () => {
      const detail = await clientOf(o).get<{ hosts: Row[]; summary: Record<string, number>; version: number; deleted: boolean }>(path(name));
      const out = createWriter(formatOf(o), STATUS_COLUMNS, process.stdout, { utc: o.utc === true });
      for (const h of detail.hosts) out.row(h);
      out.end();
      const s = detail.summary;
      if (formatOf(o) === 'table' || formatOf(o) === 'wide') {
        process.stderr.write(`version ${detail.version}${detail.deleted ? ' (deleted)' : ''}: ${s['matched']} matched, ${s['applied']} applied, ${s['rejected']} rejected, ${s['removed']} removed, ${s['pending']} pending\n`);
      }
    })));

  cmd.addCommand(new Command('keygen').description('write a new policy signing key pair: FILE (private, 0600: POLICY_SIGNING_KEY_FILE) and FILE.pub (agents\' policies.publicKeyFile); never overwrites')
    .argument('<file>')
    .action((file: string) => runQuery([], async () => {
      const made = writePolicyKeyPair(file); // an existing file exits 1, naming it
      process.stderr.write(`wrote ${made.privateFile} (private, 0600) and ${made.publicFile} (public)\n`);
      process.stdout.write(`${made.publicKey}\n`);
    })));

  return cmd;
}
