/**
 * A service's health: active checks, passive ejection and the panic watch,
 * built from its health settings and rebuilt whole when a reload changes
 * them. Backend health lives on the Backend objects, so a rebuild keeps
 * every backend's current state: nothing flaps to `unknown`.
 */
import type { Backend } from '../backends/backend.ts';
import type { Registry } from '../backends/registry.ts';
import type { HealthConfig, PassiveHealthConfig } from '../config/config.ts';
import { HealthChecker } from '../health/checker.ts';
import { httpCheck } from '../health/http-check.ts';
import { HealthMonitor, HealthStats } from '../health/monitor.ts';
import { PanicWatch } from '../health/panic.ts';
import { PassiveHealth } from '../health/passive.ts';
import type { Probe } from '../health/probe.ts';
import { POSTGRES_PRESET, REDIS_PRESET, sendExpectCheck } from '../health/send-expect-check.ts';
import { tcpCheck } from '../health/tcp-check.ts';
import { formatHostPort, parseEscapes, parseExpect, parseStatusRange } from '../config/parse.ts';
import type { Logger } from '../observability/log.ts';
import type { ConnectObserver } from '../proxy/session.ts';

export interface ServiceHealthOptions {
  readonly registry: Registry;
  readonly log: Logger;
  readonly random: () => number;
  readonly now: () => number;
}

interface Parts {
  readonly monitor: HealthMonitor;
  /** Undefined when active checks are off (`intervalMs` 0). */
  readonly checker: HealthChecker | undefined;
  /** Undefined when passive health is off (`maxFails` 0). */
  readonly passive: PassiveHealth | undefined;
}

export class ServiceHealth implements ConnectObserver {
  readonly stats = new HealthStats();
  readonly #o: ServiceHealthOptions;
  readonly #panic: PanicWatch;
  #health: HealthConfig | undefined;
  #passiveConfig: PassiveHealthConfig | undefined;
  #parts: Parts | undefined;

  constructor(options: ServiceHealthOptions) {
    this.#o = options;
    this.#panic = new PanicWatch(options.registry, options.log);
  }

  /**
   * Applies health settings; a no-op when they are unchanged. The registry's
   * initial health follows whether probes run ('unknown' until the first
   * passes, or 'up' when nothing will ever probe).
   */
  configure(health: HealthConfig, passive: PassiveHealthConfig): void {
    if (this.#parts && sameJson(health, this.#health) && sameJson(passive, this.#passiveConfig)) return;
    this.#stopParts();
    this.#health = health;
    this.#passiveConfig = passive;
    const { registry, log, random, now } = this.#o;
    const activeChecks = health.intervalMs > 0;
    registry.setInitialHealth(activeChecks ? 'unknown' : 'up');
    // Nothing will probe a backend that is waiting for its first probe: take it as up, as a new one would be.
    if (!activeChecks) for (const b of registry.list()) if (b.health === 'unknown') registry.setHealth(b, 'up', 'active checks off');
    const monitor = new HealthMonitor({ registry, log, stats: this.stats, thresholds: health, activeChecks, now });
    const checker = activeChecks
      ? new HealthChecker({
          registry,
          monitor,
          probe: probeFor(health),
          intervalMs: health.intervalMs,
          timeoutMs: health.timeoutMs,
          random,
        })
      : undefined;
    const passiveHealth = passive.maxFails > 0 ? new PassiveHealth({ registry, ejector: monitor, config: passive, now }) : undefined;
    this.#parts = { monitor, checker, passive: passiveHealth };
  }

  connectSucceeded(backend: Backend): void {
    this.#parts?.passive?.connectSucceeded(backend);
  }

  connectFailed(backend: Backend, error: Error): void {
    this.#parts?.passive?.connectFailed(backend, error);
  }

  /** Stops every probe and timer. Idempotent. */
  close(): void {
    this.#stopParts();
    this.#panic.close();
  }

  #stopParts(): void {
    const parts = this.#parts;
    this.#parts = undefined;
    parts?.checker?.close();
    parts?.passive?.close();
    parts?.monitor.close();
  }
}

/**
 * The probe `health` asks for: a preset by `type`, HTTP when `type: http` or
 * a path is set, send/expect when either is set, else a bare connect; aimed
 * at `health.port` when set. Each sends the backend's PROXY header for
 * checks first when it expects one (probe.ts), on its traffic port only.
 */
export function probeFor(health: HealthConfig): Probe {
  const type = health.type ?? (health.httpPath !== undefined ? 'http' : 'tcp');
  let probe: Probe;
  if (type === 'redis') probe = sendExpectCheck(REDIS_PRESET.send, REDIS_PRESET.expect);
  else if (type === 'postgres') probe = sendExpectCheck(POSTGRES_PRESET.send, POSTGRES_PRESET.expect);
  else if (type === 'http') {
    const statuses = health.expectStatus === undefined ? undefined : parseStatusRange('health.expectStatus', health.expectStatus);
    probe = httpCheck(health.httpPath ?? '/', { host: health.host, ...(statuses && { statuses }) });
  } else if (health.send !== undefined || health.expect !== undefined) {
    const send = health.send === undefined ? undefined : parseEscapes('health.send', health.send);
    const expect = health.expect === undefined ? undefined : parseExpect('health.expect', health.expect);
    probe = sendExpectCheck(send, expect);
  } else probe = tcpCheck;
  const port = health.port;
  if (port === undefined) return probe;
  // Another port, no PROXY header: it is not the traffic port that expects one (HAProxy's rule for `check port`).
  return (target, timeoutMs) => probe({ host: target.host, port, key: formatHostPort({ host: target.host, port }) }, timeoutMs);
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
