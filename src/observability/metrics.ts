/**
 * Prometheus metrics, read from the live objects when scraped: the
 * registry's backends, ProxyStats and HealthStats. Nothing is recorded per
 * connection; the data plane keeps bumping its plain numbers and the
 * collect() callbacks copy them out. A private prom-client Registry, so
 * embedding Fulcrum (or running two in one process, as tests do) never
 * collides in the global one.
 */
import { Counter, Gauge, Registry as PromRegistry } from 'prom-client';
import type { Backend } from '../backends/backend.ts';
import type { Registry } from '../backends/registry.ts';
import type { HealthStats } from '../health/monitor.ts';
import { logDroppedTotal } from './log-destination.ts';
import type { ProxyStats } from './stats.ts';

export interface MetricsSources {
  readonly registry: Registry;
  readonly stats: ProxyStats;
  readonly health: HealthStats;
}

export interface Metrics {
  readonly contentType: string;
  render(): Promise<string>;
}

type Read = (b: Backend) => number;

export function createMetrics({ registry, stats, health }: MetricsSources): Metrics {
  const prom = new PromRegistry();
  const labelNames = ['backend'] as const;

  // Counters cannot be set, so each scrape starts from zero and adds the current total.
  // That also drops the series of deregistered backends.
  const perBackendCounter = (name: string, help: string, read: Read) =>
    new Counter({
      name, help, labelNames, registers: [prom],
      collect() {
        this.reset();
        for (const b of registry.list()) this.inc({ backend: b.key }, read(b));
      },
    });
  const perBackendGauge = (name: string, help: string, read: Read) =>
    new Gauge({
      name, help, labelNames, registers: [prom],
      collect() {
        this.reset();
        for (const b of registry.list()) this.set({ backend: b.key }, read(b));
      },
    });
  const globalCounter = (name: string, help: string, read: () => number) =>
    new Counter({
      name, help, registers: [prom],
      collect() {
        this.reset();
        this.inc(read());
      },
    });

  perBackendGauge('fulcrum_backend_active_connections', 'Connections open (or being set up) to the backend.', (b) => b.active);
  perBackendCounter('fulcrum_backend_connections_total', 'Connections that reached the backend (connect succeeded).', (b) => b.total);
  perBackendCounter('fulcrum_backend_connect_failures_total', 'Connect attempts to the backend that failed (refused, timed out, reset).', (b) => b.failed);
  perBackendCounter('fulcrum_backend_bytes_in_total', 'Bytes sent to the backend (client to backend), counted when a connection ends.', (b) => b.bytesIn);
  perBackendCounter('fulcrum_backend_bytes_out_total', 'Bytes received from the backend (backend to client), counted when a connection ends.', (b) => b.bytesOut);
  perBackendGauge('fulcrum_backend_up', 'Backend health: 1 up, 0 down or not yet probed.', (b) => (b.health === 'up' ? 1 : 0));
  perBackendGauge('fulcrum_backend_weight', 'Backend weight.', (b) => b.weight);

  globalCounter('fulcrum_connections_accepted_total', 'Client connections accepted.', () => stats.accepted);
  globalCounter('fulcrum_connections_no_backend_total', 'Client connections closed because no backend could take them.', () => stats.noBackend);
  globalCounter('fulcrum_panic_picks_total', 'Backends picked in panic mode (none ready, enabled ones tried anyway).', () => stats.panic);
  globalCounter('fulcrum_retries_total', 'Connect attempts made after a failed one.', () => stats.retries);
  globalCounter('fulcrum_idle_timeouts_total', 'Connections closed by the idle timeout.', () => stats.idleTimeouts);
  globalCounter('fulcrum_local_errors_total', 'Client connections closed because this host ran out of descriptors, ports or memory.', () => stats.localErrors);
  globalCounter('fulcrum_log_dropped_total', 'Log lines dropped because stderr could not take them (over 1 MiB waiting for a stalled reader, or the reader gone). This process only.', logDroppedTotal);
  globalCounter('fulcrum_health_flips_total', 'Backend health changes (unknown to up included).', () => health.flips);
  globalCounter('fulcrum_passive_ejections_total', 'Backends ejected by passive health (connect failures on real traffic).', () => health.ejections);
  new Gauge({
    name: 'fulcrum_backends_ready', help: 'Backends ready to take new connections (0 means panic mode).', registers: [prom],
    collect() {
      this.set(registry.readyCount);
    },
  });

  return { contentType: prom.contentType, render: () => prom.metrics() };
}
