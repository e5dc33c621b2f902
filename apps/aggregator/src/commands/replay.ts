// `probefleet replay FILE.ndjson`: folds an event file through the kprobe model (libs/kprobe-model)
// and prints the final state. Exit 0: state on stdout; 1: an invariant violation; 2: a line that is
// not a valid event, or an unreadable file. FILE may hold any number of hosts and streams, interleaved
// (a whole `probefleet export`): the model keeps its state per host and its seq checks per stream.
// FILE `-` reads stdin (`probefleet export | probefleet replay -`).
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Command } from 'commander';
import { formatDecodeFailure } from '@probefleet/events';
import { createReplay, snapshot } from '@probefleet/kprobe-model';

export const EXIT_VIOLATION = 1;
export const EXIT_INVALID = 2;

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

/** Replays `file` (`-`: `stdin`), writing the state or the first failure to `output`; resolves to the exit code. */
export async function runReplay(file: string, output: Output, stdin: NodeJS.ReadableStream = process.stdin): Promise<number> {
  const run = createReplay();
  try {
    const lines = createInterface({ input: file === '-' ? stdin : createReadStream(file), crlfDelay: Infinity });
    for await (const line of lines) {
      if (run.feed(line) !== undefined) {
        lines.close();
        break;
      }
    }
  } catch (error) {
    output.err(`replay: cannot read ${file}: ${(error as Error).message}`);
    return EXIT_INVALID;
  }
  const outcome = run.finish();
  if (outcome.ok) {
    output.out(JSON.stringify(snapshot(outcome.state), null, 2));
    return 0;
  }
  if (outcome.kind === 'violation') {
    output.err(`line ${outcome.line}: ${outcome.reason}`);
    return EXIT_VIOLATION;
  }
  output.err(`line ${outcome.line}: invalid event: ${formatDecodeFailure(outcome.failure)}`);
  return EXIT_INVALID;
}

export function replayCommand(): Command {
  return new Command('replay')
    .description('fold an NDJSON event file through the kprobe model and print the final state')
    .argument('<file>', 'NDJSON file, one event per line (any hosts and streams); - for stdin')
    .action(async (file: string) => {
      process.exitCode = await runReplay(file, {
        out: (text) => process.stdout.write(`${text}\n`),
        err: (text) => process.stderr.write(`${text}\n`),
      });
    });
}
