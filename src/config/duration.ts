/**
 * Milliseconds back to the shortest duration text parseDuration reads as the
 * same number: `3000` -> `"3s"`, `600000` -> `"10m"`, `1500` -> `"1500ms"`.
 */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
