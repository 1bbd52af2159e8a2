/**
 * `accessLog` / `--access-log`: `off`, `stdout`, `stderr` or a file path.
 * A path is checked where it is given (its directory must exist), so a typo
 * stops start-up or a reload with the field named, instead of every line
 * being dropped later.
 */
import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';

export const ACCESS_LOG_STREAMS = ['off', 'stdout', 'stderr'] as const;

export function parseAccessLogTarget(field: string, value: string): string {
  if (value.trim() === '') throw new ConfigError(field, 'is empty (use off, stdout, stderr or a file path)');
  if ((ACCESS_LOG_STREAMS as readonly string[]).includes(value)) return value;
  const dir = dirname(resolve(value));
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(field, `"${value}": its directory ${dir} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? 'error'})`}`, { cause: error });
  }
  if (!isDir) throw new ConfigError(field, `"${value}": ${dir} is not a directory`);
  return value;
}
