// JSON logs on stderr: stdout carries only the sink's output.
import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(level = process.env['PROBEFLEET_LOG_LEVEL'] ?? 'info'): Logger {
  return pino({ name: 'probefleet-agent', level }, pino.destination({ fd: 2, sync: true }));
}
