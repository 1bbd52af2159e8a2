import { pino, type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { BoundedLogStream } from './log-destination.ts';

export type { Logger };

/** `json`: one object per line, level names and ISO times, for machines; `pretty`: one aligned line per event, for people. */
export type LogFormat = 'json' | 'pretty';
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];

/** Pretty on a terminal, JSON when stderr goes to a file, a pipe or the journal. */
export const defaultLogFormat = (): LogFormat => (process.stderr.isTTY ? 'pretty' : 'json');

let stderrStream: BoundedLogStream | undefined;

/**
 * Logs on stderr, so stdout stays for the startup lines a user reads.
 * Bounded and never blocking (log-destination.ts), in either format.
 */
export function createLogger(level: string, format: LogFormat = defaultLogFormat()): Logger {
  stderrStream ??= new BoundedLogStream();
  const out = stderrStream;
  if (format === 'json') {
    return pino(
      {
        level,
        base: { name: 'fulcrum' },
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
      },
      out,
    );
  }
  // pino-pretty formats each line in this process (no worker thread), then the same bounded stream takes it.
  const prettify = prettyFactory({
    colorize: false,
    singleLine: true,
    translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
    ignore: 'pid,hostname,name',
    // The name from pino's own table (pino-pretty 13 hands custom prettifiers no label), padded so messages align.
    customPrettifiers: { level: (level) => (pino.levels.labels[Number(level)] ?? String(level)).toUpperCase().padEnd(5) },
  });
  return pino({ level, base: { name: 'fulcrum' } }, { write: (line: string) => out.write(prettify(line)) });
}

/** Waits at most `ms` for buffered log lines to reach stderr; what is left is lost at exit. */
export function flushLogs(ms: number): Promise<void> {
  return stderrStream?.flush(ms) ?? Promise.resolve();
}

/** A logger that drops everything, for tests and embedding. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
