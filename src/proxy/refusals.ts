/**
 * Counting and logging a refused client, the same on both data planes:
 * refused by the service's controls (allow/deny, per-IP limits), or by its
 * queue (full, or the wait ran out). Closing it is the plane's own.
 */
import type { LimitedLog } from '../observability/limited-log.ts';
import type { Logger } from '../observability/log.ts';
import type { ProxyStats } from '../observability/stats.ts';
import type { GateVerdict } from '../service/controls/gate.ts';

export type QueueRefusal = 'queue-full' | 'queue-timeout';

export function gateRefused(stats: ProxyStats, log: Logger, client: string, verdict: Exclude<GateVerdict, 'ok'>): void {
  if (verdict === 'denied') stats.rejectedDenied++;
  else if (verdict === 'per-ip-connections') stats.rejectedPerIpConnections++;
  else stats.rejectedPerIpRate++;
  log.debug({ client, reason: verdict }, 'client refused');
}

export function queueRefused(stats: ProxyStats, limited: LimitedLog, client: string, reason: QueueRefusal): void {
  if (reason === 'queue-full') stats.rejectedQueueFull++;
  else stats.rejectedQueueTimeout++;
  limited.warn(reason, { client }, reason === 'queue-full' ? 'queue full: client refused' : 'queue timeout: client refused');
}

/** `acceptProxy` or an SNI address refused the client's first bytes (or its source): counted, and logged once a second at most. */
export function firstBytesRefused(stats: ProxyStats, limited: LimitedLog, client: string, kind: 'proxy-header' | 'sni' | 'untrusted-proxy', reason: string): void {
  if (kind === 'proxy-header') stats.rejectedProxyHeader++;
  else if (kind === 'sni') stats.rejectedSni++;
  else stats.rejectedUntrustedProxy++;
  limited.warn(kind, { client, reason }, kind === 'untrusted-proxy' ? 'PROXY header from a source not in trustedProxies: connection closed' : `${kind === 'sni' ? 'no service for this TLS connection' : 'no valid PROXY header'}: connection closed`);
}
