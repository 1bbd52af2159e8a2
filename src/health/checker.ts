/**
 * Active health checks: one probe per backend every `intervalMs` ± 10%, so
 * probes of many backends (and of many balancers) do not fire in lock-step.
 * Follows the registry: a new backend is probed at once, a removed one's timer
 * is cleared and its in-flight result dropped. Results go to the monitor,
 * which alone decides health.
 */
import type { Backend } from '../backends/backend.ts';
import type { Registry } from '../backends/registry.ts';
import type { HealthMonitor } from './monitor.ts';
import type { Probe } from './probe.ts';

export interface HealthCheckerOptions {
  readonly registry: Registry;
  readonly monitor: Pick<HealthMonitor, 'report'>;
  readonly probe: Probe;
  /** More than 0; with 0 the caller builds no checker. */
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Uniform in [0, 1); drives the jitter. @default Math.random */
  readonly random?: () => number;
}

const JITTER = 0.1;

interface Entry {
  timer: NodeJS.Timeout | undefined;
}

export class HealthChecker {
  readonly #registry: Registry;
  readonly #monitor: Pick<HealthMonitor, 'report'>;
  readonly #probe: Probe;
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #random: () => number;
  /** Backends being probed; an entry replaced or gone means "drop the in-flight result". */
  readonly #entries = new Map<Backend, Entry>();
  readonly #onAdded = () => this.#follow(this.#registry.list());
  readonly #onRemoved = (backend: Backend) => this.#stop(backend);
  #closed = false;

  constructor(options: HealthCheckerOptions) {
    if (!(options.intervalMs > 0)) throw new RangeError('HealthChecker needs an interval above 0');
    this.#registry = options.registry;
    this.#monitor = options.monitor;
    this.#probe = options.probe;
    this.#intervalMs = options.intervalMs;
    this.#timeoutMs = options.timeoutMs;
    this.#random = options.random ?? Math.random;
    this.#registry.on('added', this.#onAdded);
    this.#registry.on('removed', this.#onRemoved);
    this.#follow(this.#registry.list());
  }

  /** Stops every timer; in-flight probes settle on their own and are ignored. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#registry.off('added', this.#onAdded);
    this.#registry.off('removed', this.#onRemoved);
    for (const backend of [...this.#entries.keys()]) this.#stop(backend);
  }

  /** The next delay: the interval ± 10%. */
  nextDelay(): number {
    return this.#intervalMs * (1 - JITTER + 2 * JITTER * this.#random());
  }

  #follow(backends: readonly Backend[]): void {
    for (const backend of backends) {
      if (this.#entries.has(backend) || backend.removed) continue;
      const entry: Entry = { timer: undefined };
      this.#entries.set(backend, entry);
      void this.#run(backend, entry);
    }
  }

  #stop(backend: Backend): void {
    const entry = this.#entries.get(backend);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.#entries.delete(backend);
  }

  async #run(backend: Backend, entry: Entry): Promise<void> {
    entry.timer = undefined;
    const started = Date.now();
    const result = await this.#probe(backend, this.#timeoutMs);
    if (this.#entries.get(backend) !== entry) return;
    backend.lastCheck = Date.now();
    backend.lastCheckDurationMs = backend.lastCheck - started;
    this.#monitor.report(backend, result);
    // Measured from the start of this probe, so a slow backend is not probed less often.
    const delay = Math.max(0, this.nextDelay() - (Date.now() - started));
    entry.timer = setTimeout(() => void this.#run(backend, entry), delay).unref();
  }
}
