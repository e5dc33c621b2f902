#!/usr/bin/env node
// The `probefleet` command line: one file per command under commands/, wired here.
import { Command } from 'commander';
import { exportCommand } from './commands/export';
import { migrateCommand } from './commands/migrate';
import { rebuildCommand } from './commands/rebuild';
import { replayCommand } from './commands/replay';
import { serveCommand } from './commands/serve';

const program = new Command('probefleet')
  .description('probefleet aggregator: event store, projections and replay')
  .addCommand(replayCommand())
  .addCommand(exportCommand())
  .addCommand(migrateCommand())
  .addCommand(rebuildCommand())
  .addCommand(serveCommand());

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`probefleet: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
