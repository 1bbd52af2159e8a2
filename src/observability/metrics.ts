/**
 * Prometheus metrics, read from the live objects when scraped: each
 * service's backends, ProxyStats and HealthStats. Nothing is recorded per
 * connection; the data plane keeps bumping its plain numbers and the
 * collect() callbacks copy them out. A private prom-client Registry, so
 * embedding Fulcrum (or running two in one process, as tests do) never
 * collides in the global one. Every series that belongs to a service or a
 * backend carries a `service` label.
 */
import { Counter, Gauge, Registry as PromRegistry } from 'prom-client';
import { renderProcessMetrics, type MetricsJson } from './process-metrics.ts';
import type { Backend } from '../backends/backend.ts';
import type { Service } from '../service/service.ts';
import { logDroppedTotal } from './log-destination.ts';
import { renderHistograms } from './histogram.ts';
import { rejectionsByReason } from './stats.ts';

/** Outcomes of config reloads. */
export class ReloadStats {
  success = 0;
  failure = 0;
  /** Whether the last reload applied; true until one fails. */
  lastSuccessful = true;
  /** Epoch ms of the last reload attempt; 0 before any. */
  lastAt = 0;

  succeeded(now: number): void {
    this.success++;
    this.lastSuccessful = true;
    this.lastAt = now;
  }

  failed(now: number): void {
    this.failure++;
    this.lastSuccessful = false;
    this.lastAt = now;
  }
}

export interface MetricsSources {
  /** The running services (read at each scrape). */
  readonly services: () => readonly Service[];
  readonly reloads: ReloadStats;
  /** With --workers: each worker's process metrics (asked when scraped); absent in one process. */
  readonly workerProcessMetrics?: () => Promise<{ id: string; metrics: MetricsJson }[]>;
  /** The shared store's state, read at each scrape; given only when a store is configured. */
  readonly store?: () => { readonly state: string; readonly version: number };
}

export interface Metrics {
  readonly contentType: string;
  render(): Promise<string>;
}

type Read = (b: Backend) => number;
type ReadService = (s: Service) => number;

export function createMetrics({ services, reloads, workerProcessMetrics, store }: MetricsSources): Metrics {
  const prom = new PromRegistry();
  const backendLabels = ['service', 'backend'] as const;
  const serviceLabels = ['service'] as const;

  // Counters cannot be set, so each scrape starts from zero and adds the current total.
  // That also drops the series of deregistered backends and removed services.
  const perBackendCounter = (name: string, help: string, read: Read) =>
    new Counter({
      name, help, labelNames: backendLabels, registers: [prom],
      collect() {
        this.reset();
        for (const s of services()) for (const b of s.registry.listAll()) this.inc({ service: s.name, backend: b.key }, read(b));
      },
    });
  const perBackendGauge = (name: string, help: string, read: Read) =>
    new Gauge({
      name, help, labelNames: backendLabels, registers: [prom],
      collect() {
        this.reset();
        for (const s of services()) for (const b of s.registry.listAll()) this.set({ service: s.name, backend: b.key }, read(b));
      },
    });
  const perServiceCounter = (name: string, help: string, read: ReadService) =>
    new Counter({
      name, help, labelNames: serviceLabels, registers: [prom],
      collect() {
        this.reset();
        for (const s of services()) this.inc({ service: s.name }, read(s));
      },
    });

  perBackendGauge('fulcrum_backend_active_connections', 'Connections open (or being set up) to the backend.', (b) => b.active);
  perBackendCounter('fulcrum_backend_connections_total', 'Connections that reached the backend (connect succeeded).', (b) => b.total);
  perBackendCounter('fulcrum_backend_connect_failures_total', 'Connect attempts to the backend that failed (refused, timed out, reset).', (b) => b.failed);
  perBackendCounter('fulcrum_backend_bytes_in_total', 'Bytes sent to the backend (client to backend); open connections add theirs every second.', (b) => b.bytesIn);
  perBackendCounter('fulcrum_backend_bytes_out_total', 'Bytes received from the backend (backend to client); open connections add theirs every second.', (b) => b.bytesOut);
  perBackendGauge('fulcrum_backend_up', 'Backend health: 1 up, 0 down or not yet probed.', (b) => (b.health === 'up' ? 1 : 0));
  perBackendGauge('fulcrum_backend_weight', 'Backend weight.', (b) => b.weight);

  perServiceCounter('fulcrum_connections_accepted_total', 'Client connections accepted. With --workers, summed over workers; a worker killed without warning loses at most its last 200 ms of counts.', (s) => s.stats.accepted);
  perServiceCounter('fulcrum_connections_no_backend_total', 'Client connections closed because no backend could take them.', (s) => s.stats.noBackend);
  perServiceCounter('fulcrum_panic_picks_total', 'Backends picked in panic mode (none ready, enabled ones tried anyway).', (s) => s.stats.panic);
  perServiceCounter('fulcrum_retries_total', 'Connect attempts made after a failed one.', (s) => s.stats.retries);
  perServiceCounter('fulcrum_idle_timeouts_total', 'Connections closed by the idle timeout.', (s) => s.stats.idleTimeouts);
  perServiceCounter('fulcrum_max_lifetime_closes_total', 'Connections ended by maxLifetime (a FIN each way).', (s) => s.stats.maxLifetimes);
  perServiceCounter('fulcrum_local_errors_total', 'Client connections closed because this host ran out of descriptors, ports or memory.', (s) => s.stats.localErrors);
  new Counter({
    name: 'fulcrum_connections_rejected_total', help: 'Clients refused, by reason: denied (allow/deny), per-ip-connections, per-ip-rate, queue-full, queue-timeout, no-backend, proxy-header (acceptProxy: no valid header in time), untrusted-proxy (not in trustedProxies), sni (a shared address: no ClientHello, or no service for its name).', labelNames: ['service', 'reason'] as const, registers: [prom],
    collect() {
      this.reset();
      for (const s of services()) {
        for (const [reason, n] of Object.entries(rejectionsByReason(s.stats))) this.inc({ service: s.name, reason }, n);
      }
    },
  });
  new Gauge({
    name: 'fulcrum_queue_length', help: 'Clients waiting in the service\'s queue (service or every ready backend at maxConnections). With --workers, summed over the workers as of their last reports (every 200 ms).', labelNames: serviceLabels, registers: [prom],
    collect() {
      this.reset();
      const now = Date.now();
      for (const s of services()) this.set({ service: s.name }, s.queueNow(now).length);
    },
  });
  new Gauge({
    name: 'fulcrum_queue_oldest_wait_seconds', help: 'How long the client first in the service\'s queue has waited; 0 when none waits.', labelNames: serviceLabels, registers: [prom],
    collect() {
      this.reset();
      const now = Date.now();
      for (const s of services()) this.set({ service: s.name }, s.queueNow(now).oldestWaitMs / 1000);
    },
  });
  perServiceCounter('fulcrum_accept_errors_total', 'Accepts that failed (out of descriptors and the like): the client was never served.', (s) => s.stats.acceptErrors);
  new Gauge({
    name: 'fulcrum_connections_active', help: 'Client connections open on the service, on every listener (draining ones too) and to every backend (removed ones too).', labelNames: serviceLabels, registers: [prom],
    collect() {
      this.reset();
      for (const s of services()) this.set({ service: s.name }, s.openConnections);
    },
  });
  perServiceCounter('fulcrum_access_log_dropped_total', 'Access-log lines dropped because the destination could not keep up (over 1 MiB waiting) or could not be opened or written.', (s) => s.stats.accessLogDropped);
  perServiceCounter('fulcrum_health_flips_total', 'Backend health changes (unknown to up included).', (s) => s.health.stats.flips);
  perServiceCounter('fulcrum_passive_ejections_total', 'Backends ejected by passive health (connect failures on real traffic).', (s) => s.health.stats.ejections);
  perServiceCounter('fulcrum_passive_ejections_capped_total', 'Ejections not made because passive.maxEjectedPercent of the backends were ejected already.', (s) => s.health.stats.ejectionsCapped);
  perBackendGauge('fulcrum_backend_effective_weight', 'Backend weight as the strategies use it now: less than the weight while slow start ramps it up.', (b) => b.effectiveWeight);
  new Gauge({
    name: 'fulcrum_backend_health_flag',
    help: 'Why a backend is out, flag by flag (1 set, 0 clear): failed_active_check (the active checks alone hold it down), ejected (a passive ejection runs), draining (admin state).',
    labelNames: ['service', 'backend', 'flag'] as const,
    registers: [prom],
    collect() {
      this.reset();
      const now = Date.now();
      for (const s of services()) {
        for (const b of s.registry.listAll()) {
          this.set({ service: s.name, backend: b.key, flag: 'failed_active_check' }, b.failedActiveCheck ? 1 : 0);
          this.set({ service: s.name, backend: b.key, flag: 'ejected' }, b.ejectedUntil > now ? 1 : 0);
          this.set({ service: s.name, backend: b.key, flag: 'draining' }, b.state === 'draining' ? 1 : 0);
        }
      }
    },
  });
  new Gauge({
    name: 'fulcrum_backends_ready', help: 'Backends ready to take new connections (0 means panic mode).', labelNames: serviceLabels, registers: [prom],
    collect() {
      this.reset();
      for (const s of services()) this.set({ service: s.name }, s.registry.readyCount);
    },
  });

  new Counter({
    name: 'fulcrum_log_dropped_total',
    help: 'Log lines dropped because stderr could not take them (over 1 MiB waiting for a stalled reader, or the reader gone). This process only.',
    registers: [prom],
    collect() {
      this.reset();
      this.inc(logDroppedTotal());
    },
  });
  new Counter({
    name: 'fulcrum_config_reloads_total', help: 'Config reloads (SIGHUP, POST /reload) by result.', labelNames: ['result'] as const, registers: [prom],
    collect() {
      this.reset();
      this.inc({ result: 'success' }, reloads.success);
      this.inc({ result: 'failure' }, reloads.failure);
    },
  });
  new Gauge({
    name: 'fulcrum_config_last_reload_successful', help: 'Whether the last config reload applied (1) or was refused (0); 1 before any.', registers: [prom],
    collect() {
      this.set(reloads.lastSuccessful ? 1 : 0);
    },
  });
  new Gauge({
    name: 'fulcrum_config_last_reload_timestamp_seconds', help: 'When the last config reload was attempted, Unix seconds; 0 before any.', registers: [prom],
    collect() {
      this.set(reloads.lastAt / 1000);
    },
  });
  if (store) {
    new Gauge({
      name: 'fulcrum_store_connected', help: 'Whether the shared store (Redis) is connected (1) or not (0); absent without a store.', registers: [prom],
      collect() {
        this.set(store().state === 'connected' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'fulcrum_store_version', help: 'The last shared-store version this instance applied; absent without a store.', registers: [prom],
      collect() {
        this.set(store().version);
      },
    });
  }

  return {
    contentType: prom.contentType,
    render: async () => `${await prom.metrics()}\n${histograms(services())}\n${await renderProcessMetrics(await workerProcessMetrics?.())}`,
  };
}

/** Histograms are kept as plain numbers by the data plane (histogram.ts) and rendered here. */
function histograms(services: readonly Service[]): string {
  const connect = services.flatMap((s) => s.registry.listAll().map((b) => ({ labels: `service="${s.name}",backend="${b.key}"`, histogram: b.connectTimes })));
  const durations = services.map((s) => ({ labels: `service="${s.name}"`, histogram: s.stats.durations }));
  // Only where a queue can form: a connection limit on the service or on one of its backends.
  const queued = services.filter((s) => s.settings.maxConnections > 0 || s.registry.listAll().some((b) => b.maxConnections > 0));
  return (
    renderHistograms('fulcrum_backend_connect_seconds', 'Time the successful connects to the backend took.', connect) +
    renderHistograms('fulcrum_connection_duration_seconds', 'Client connections from accept to end, however they ended.', durations) +
    renderHistograms('fulcrum_queue_wait_seconds', 'Time clients waited in the service\'s queue, to a slot or to queue.timeout (services with a connection limit).', queued.map((s) => ({ labels: `service="${s.name}"`, histogram: s.stats.queueWaits })))
  );
}
