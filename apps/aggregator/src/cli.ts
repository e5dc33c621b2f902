#!/usr/bin/env node
// The `probefleet` command line: one file per command under commands/, wired here. A bad flag or
// argument exits 2 naming it; a server or network error exits 1 with its message.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { agentsCommand } from './commands/agents';
import { connectionsCommand } from './commands/connections';
import { deadLettersCommand } from './commands/dead-letters';
import { exportCommand } from './commands/export';
import { gapsCommand } from './commands/gaps';
import { migrateCommand } from './commands/migrate';
import { policyCommand } from './commands/policy';
import { EXIT_USAGE } from './commands/query-options';
import { rebuildCommand } from './commands/rebuild';
import { replayCommand } from './commands/replay';
import { serveCommand } from './commands/serve';
import { tailCommand } from './commands/tail';
import { transitionsCommand } from './commands/transitions';

// dist/cli.js and src/cli.ts both sit one level below the package.
const version = (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;

const program = new Command('probefleet')
  .description('probefleet aggregator: event store, projections and replay; the query CLI over its HTTP API')
  .version(version, '-V, --version')
  .addCommand(tailCommand())
  .addCommand(transitionsCommand())
  .addCommand(connectionsCommand())
  .addCommand(agentsCommand())
  .addCommand(gapsCommand())
  .addCommand(deadLettersCommand())
  .addCommand(policyCommand())
  .addCommand(replayCommand())
  .addCommand(exportCommand())
  .addCommand(migrateCommand())
  .addCommand(rebuildCommand())
  .addCommand(serveCommand());

// Usage errors (unknown option, bad choice, missing argument) exit 2, as getopt tools do; commander
// has already printed the message naming the flag. Help and --version exit 0.
const usage = (cmd: Command): void => {
  cmd.exitOverride((err: CommanderError) => {
    if (err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version') process.exit(0);
    process.exit(EXIT_USAGE);
  });
  cmd.commands.forEach(usage);
};
usage(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`probefleet: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
