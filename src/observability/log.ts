import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stderr, so stdout stays for the startup lines a user reads. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { name: 'fulcrum' } }, pino.destination({ fd: 2, sync: false }));
}

/** A logger that drops everything, for tests and embedding. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
