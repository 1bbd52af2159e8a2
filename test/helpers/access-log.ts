/** Reading the access log a test's Fulcrum writes: a fresh file per test, lines parsed as they come. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { until } from './wait.ts';

export interface AccessLine {
  time: string;
  service: string;
  client: string;
  listener: string;
  backend: string | null;
  attempts: number;
  queueMs: number | null;
  connectMs: number | null;
  durationMs: number;
  bytesIn: number;
  bytesOut: number;
  end: string;
  detail?: string;
}

/** A path in a directory removed after the test. */
export function accessLogPath(t: TestContext, name = 'access.log'): string {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-access-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, name);
}

export function readLines(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => l !== '');
}

/** Waits until the file holds at least `n` lines, and returns them all. */
export async function linesOf(path: string, n: number, ms = 5000): Promise<string[]> {
  return until(`${n} access-log line(s) in ${path}`, () => {
    const lines = readLines(path);
    return lines.length >= n ? lines : undefined;
  }, ms);
}

/** The `n`th JSON line (1-based), once it is there; every line must parse. */
export async function jsonLine(path: string, n = 1): Promise<AccessLine> {
  const lines = await linesOf(path, n);
  return JSON.parse(lines[n - 1]!) as AccessLine;
}
