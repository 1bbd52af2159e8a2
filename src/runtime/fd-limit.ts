/**
 * The start-up check of the open-file limit. Every proxied connection holds
 * two descriptors (client and backend), so a limit of 1024, a common default,
 * caps Fulcrum near 500 connections, after which clients are closed at accept
 * (counted as local errors). Better said once at start-up than found under load.
 *
 * Node raises its soft limit to the hard limit when it starts, so the limit
 * read here is in effect the hard one: `ulimit -n` before starting (which sets
 * both) or `LimitNOFILE=` in a systemd unit raises it; `ulimit -Sn` alone does not.
 */
import { readFileSync } from 'node:fs';

/** Two descriptors per proxied connection: the client's socket and the backend's. */
export const FDS_PER_CONNECTION = 2;
/** The least a balancer should start with: about 2,000 proxied connections. */
export const FD_FLOOR = 4096;
/** Listeners, the admin API, health probes, logs and Node's own (epoll, eventfds, pipes). */
const FDS_BASE = 64;

/**
 * The soft "Max open files" limit from Linux's /proc/self/limits text:
 * Infinity when unlimited, undefined where it cannot be read (not Linux).
 */
export function softFdLimit(limits?: string): number | undefined {
  let text = limits;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return undefined;
    }
  }
  const soft = /^Max open files\s+(\S+)/m.exec(text)?.[1];
  if (soft === undefined) return undefined;
  return soft === 'unlimited' ? Infinity : Number(soft);
}

/** Descriptors the configuration needs: the floor, or 2 per connection of the configured maximum plus the base. */
export function fdsNeeded(maxConnections?: number): number {
  return maxConnections === undefined ? FD_FLOOR : Math.max(FD_FLOOR, FDS_BASE + FDS_PER_CONNECTION * maxConnections);
}

/** The warning for `limit` against `needed`, or undefined when the limit is enough (or unknown). */
export function fdLimitWarning(limit: number | undefined, needed: number): string | undefined {
  if (limit === undefined || Number.isNaN(limit) || limit >= needed) return undefined;
  const raiseTo = 2 ** Math.ceil(Math.log2(Math.max(needed, 65536)));
  return `open-file limit is ${limit}, below the ${needed} Fulcrum wants (${FDS_PER_CONNECTION} per proxied connection, ` +
    `so about ${Math.floor((limit - FDS_BASE) / FDS_PER_CONNECTION)} connections at most): raise it with \`ulimit -n ${raiseTo}\` ` +
    `before starting, or LimitNOFILE=${raiseTo} in the systemd unit`;
}

/** Runs the check and logs one warning line when the limit is too low. */
export function checkFdLimit(log: { warn(obj: object, msg: string): void }, maxConnections?: number): void {
  const limit = softFdLimit();
  const needed = fdsNeeded(maxConnections);
  const warning = fdLimitWarning(limit, needed);
  if (warning !== undefined) log.warn({ fdLimit: limit, fdsNeeded: needed }, warning);
}
