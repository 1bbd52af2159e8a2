/**
 * Counting and logging a refused client, the same on both data planes:
 * refused by the service's controls (allow/deny, per-IP limits), or by its
 * queue (full, or the wait ran out). Closing it is the plane's own.
 */
import type { AccessLog } from '../observability/access-log/access-log.ts';
import { End } from '../observability/access-log/end-reasons.ts';
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

/** What a refusal before any session exists needs of the service it is counted on (a listener). */
export interface RefusalOwner {
  readonly stats: ProxyStats;
  readonly limited: LimitedLog;
  readonly settings: { readonly accessLog: AccessLog | undefined };
  /** The listening address (ip:port), for the access log. */
  readonly listenAddress: string;
}

/**
 * `acceptProxy` or an SNI address refused the client's first bytes (or its
 * source): counted, logged once a second at most, and given its access-log
 * line (`proxy-header`, or `rejected` with the kind for an untrusted source
 * or an SNI refusal), since no session exists to write one.
 */
export function firstBytesRefused(owner: RefusalOwner, client: { readonly address: string; readonly port: number }, startedAt: number, kind: 'proxy-header' | 'sni' | 'untrusted-proxy', reason: string): void {
  const stats = owner.stats;
  if (kind === 'proxy-header') stats.rejectedProxyHeader++;
  else if (kind === 'sni') stats.rejectedSni++;
  else stats.rejectedUntrustedProxy++;
  const ip = client.address.startsWith('::ffff:') ? client.address.slice(7) : client.address;
  owner.limited.warn(kind, { client: ip, reason }, kind === 'untrusted-proxy' ? 'PROXY header from a source not in trustedProxies: connection closed' : `${kind === 'sni' ? 'no service for this TLS connection' : 'no valid PROXY header'}: connection closed`);
  owner.settings.accessLog?.write(
    {
      startedAt,
      clientIp: ip,
      clientPort: client.port,
      backendKey: undefined,
      attempts: 0,
      queueMs: -1,
      connectMs: -1,
      bytesIn: 0,
      bytesOut: 0,
      endReason: kind === 'proxy-header' ? End.ProxyHeader : End.Rejected,
      endDetail: kind === 'proxy-header' ? reason : `${kind}: ${reason}`,
    },
    owner.listenAddress,
  );
}
