import { DURATION_BUCKETS, Histogram, QUEUE_WAIT_BUCKETS } from './histogram.ts';

/**
 * Process-wide counters of the data plane. Plain numbers, bumped in place on
 * the hot path; metrics and the admin API read them when asked.
 */
export class ProxyStats {
  /** Client connections accepted by the listener. */
  accepted = 0;
  /** Client connections closed because no backend could take them. */
  noBackend = 0;
  /** Connect attempts made after a first one failed. */
  retries = 0;
  /** Picks made in panic mode (no backend ready, every enabled one tried). */
  panic = 0;
  /** Connections closed by the idle timeout. */
  idleTimeouts = 0;
  /** Connections ended by `maxLifetime`. */
  maxLifetimes = 0;
  /** Client connections closed because this host ran out of descriptors, ports or memory for the backend side. */
  localErrors = 0;
  /** Accepts that failed (out of descriptors and the like); the client waits in the backlog or is shed by libuv. */
  acceptErrors = 0;
  /** Clients refused by `deny`/`allow`. */
  rejectedDenied = 0;
  /** Clients refused by `limits.maxConnectionsPerIp`. */
  rejectedPerIpConnections = 0;
  /** Clients refused by `limits.connectionRatePerIp`. */
  rejectedPerIpRate = 0;
  /** Clients refused because the service's queue was full. */
  rejectedQueueFull = 0;
  /** Clients refused because they waited in the queue for `queue.timeout`. */
  rejectedQueueTimeout = 0;
  /** `acceptProxy`: clients closed for a missing, malformed or late PROXY header. */
  rejectedProxyHeader = 0;
  /** `acceptProxy` with `trustedProxies`: connections from a source not listed, closed at accept. */
  rejectedUntrustedProxy = 0;
  /** A shared (SNI) address: clients closed for a ClientHello that did not parse or come in time, or a name no service takes. */
  rejectedSni = 0;
  /** Access-log lines dropped because the destination could not keep up (or is gone). */
  accessLogDropped = 0;
  /** Seconds from accept to end, every connection. */
  readonly durations = new Histogram(DURATION_BUCKETS);
  /** Seconds waited in the queue, by those that left it (for a backend or at queue.timeout). */
  readonly queueWaits = new Histogram(QUEUE_WAIT_BUCKETS);
}

/** Refusals by reason, as `fulcrum_connections_rejected_total{reason}` and the dashboard name them. */
export function rejectionsByReason(stats: ProxyStats) {
  return {
    denied: stats.rejectedDenied,
    'per-ip-connections': stats.rejectedPerIpConnections,
    'per-ip-rate': stats.rejectedPerIpRate,
    'queue-full': stats.rejectedQueueFull,
    'queue-timeout': stats.rejectedQueueTimeout,
    'no-backend': stats.noBackend,
    'proxy-header': stats.rejectedProxyHeader,
    'untrusted-proxy': stats.rejectedUntrustedProxy,
    sni: stats.rejectedSni,
  };
}
