import { pino, type Logger } from 'pino';
import { BoundedLogStream } from './log-destination.ts';

export type { Logger };

let stderrStream: BoundedLogStream | undefined;

/**
 * Structured JSON logs on stderr, so stdout stays for the startup lines a
 * user reads. Bounded and never blocking (log-destination.ts).
 */
export function createLogger(level: string): Logger {
  stderrStream ??= new BoundedLogStream();
  return pino({ level, base: { name: 'fulcrum' } }, stderrStream);
}

/** Waits at most `ms` for buffered log lines to reach stderr; what is left is lost at exit. */
export function flushLogs(ms: number): Promise<void> {
  return stderrStream?.flush(ms) ?? Promise.resolve();
}

/** A logger that drops everything, for tests and embedding. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
