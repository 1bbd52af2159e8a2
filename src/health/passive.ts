/**
 * Passive health (outlier detection, as Envoy has it): connect failures on
 * real traffic count against a backend, and `maxFails` in a row eject it at
 * once, without waiting for the next probe. Each ejection in a series lasts
 * twice the one before (capped); a backend that then stays in for as long as
 * its last ejection lasted starts the series over.
 *
 * Called on every connect, so the success path is one map lookup and nothing
 * is allocated for a backend that never failed.
 */
import type { Backend, Health } from '../backends/backend.ts';
import type { Registry } from '../backends/registry.ts';
import type { PassiveHealthConfig } from '../config/config.ts';
import type { ConnectObserver } from '../proxy/session.ts';
import type { Ejector } from './monitor.ts';

export interface PassiveHealthOptions {
  readonly registry: Registry;
  readonly ejector: Ejector;
  readonly config: PassiveHealthConfig;
  readonly now?: () => number;
}

interface Entry {
  /** Consecutive connect failures while up. */
  fails: number;
  /** Ejections in the current series; the next lasts base × 2^ejections. */
  ejections: number;
  /** How long the last ejection lasted, ms. */
  lastDurationMs: number;
  /** When the backend last came back up, epoch ms. */
  upSince: number;
  /** Health as of the last 'state' event, to tell a comeback from an admin-state change. */
  health: Health;
}

export class PassiveHealth implements ConnectObserver {
  readonly #registry: Registry;
  readonly #ejector: Ejector;
  readonly #config: PassiveHealthConfig;
  readonly #now: () => number;
  readonly #entries = new Map<Backend, Entry>();
  readonly #onState = (backend: Backend) => {
    const entry = this.#entries.get(backend);
    if (!entry) return;
    if (backend.health === 'up' && entry.health !== 'up') entry.upSince = this.#now();
    entry.health = backend.health;
  };
  readonly #onRemoved = (backend: Backend) => this.#entries.delete(backend);

  constructor(options: PassiveHealthOptions) {
    this.#registry = options.registry;
    this.#ejector = options.ejector;
    this.#config = options.config;
    this.#now = options.now ?? Date.now;
    this.#registry.on('state', this.#onState);
    this.#registry.on('removed', this.#onRemoved);
  }

  connectSucceeded(backend: Backend): void {
    const entry = this.#entries.get(backend);
    if (entry) entry.fails = 0;
  }

  connectFailed(backend: Backend, error: Error): void {
    const { maxFails } = this.#config;
    // A backend already down (or never seen up) is not ejected again: panic traffic to it proves nothing new.
    if (maxFails === 0 || backend.health !== 'up' || backend.removed) return;
    let entry = this.#entries.get(backend);
    if (!entry) {
      entry = { fails: 0, ejections: 0, lastDurationMs: 0, upSince: this.#now(), health: 'up' };
      this.#entries.set(backend, entry);
    }
    if (++entry.fails < maxFails) return;

    entry.fails = 0;
    if (entry.ejections > 0 && this.#now() - entry.upSince >= entry.lastDurationMs) entry.ejections = 0;
    const durationMs = this.ejectionTime(entry.ejections);
    entry.ejections++;
    entry.lastDurationMs = durationMs;
    const code = (error as NodeJS.ErrnoException).code ?? error.message;
    if (this.#ejector.ejectedCount() >= this.maxEjected()) {
      // Envoy's max_ejection_percent: past the cap, real traffic's failures eject no more.
      this.#ejector.ejectionCapped?.(backend, `${maxFails} consecutive connect failures (last: ${code}), but ${this.maxEjected()} of ${this.#registry.list().length} backends are ejected already (passive.maxEjectedPercent ${this.#config.maxEjectedPercent})`);
      return;
    }
    this.#ejector.eject(backend, durationMs, `${maxFails} consecutive connect failures (last: ${code})`);
  }

  /** The most backends ejected at once: `maxEjectedPercent` of them, rounded down, but at least one (as Envoy); 0% ejects none. */
  maxEjected(): number {
    const percent = this.#config.maxEjectedPercent ?? 100;
    if (percent <= 0) return 0;
    return Math.max(1, Math.floor((this.#registry.list().length * percent) / 100));
  }

  /** base × 2^n, capped at the maximum. */
  ejectionTime(n: number): number {
    const { ejectBaseMs, ejectMaxMs } = this.#config;
    return Math.min(ejectMaxMs, ejectBaseMs * 2 ** Math.min(n, 30));
  }

  close(): void {
    this.#registry.off('state', this.#onState);
    this.#registry.off('removed', this.#onRemoved);
    this.#entries.clear();
  }
}
