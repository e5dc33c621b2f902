// `probefleet serve`: the aggregator service (consumer + API) until SIGINT/SIGTERM.
import { Command } from 'commander';
import { ConfigError, loadConfig, type AggregatorConfig } from '../config';

export function serveCommand(): Command {
  return new Command('serve')
    .description('run the aggregator: consume Kafka into PostgreSQL and serve the query API (configuration from the environment)')
    .action(async () => {
      let config: AggregatorConfig;
      try {
        config = loadConfig();
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        console.error(`serve: ${err.message}`);
        process.exitCode = 1;
        return;
      }
      // Loaded here, not at the top: the other commands (replay, migrate) need none of Nest.
      const { startServer } = await import('../server.js');
      // A start that fails (Kafka refused us, the database is down) ends the process: the
      // half-built application's pool and timers would otherwise keep it alive, serving nothing.
      await startServer(config).catch((err: unknown) => {
        console.error(`serve: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
      });
    });
}
