/**
 * Logs panic mode once on the way in and once on the way out. Panic is the
 * data plane's own rule (src/proxy/session.ts: no backend ready, so it tries
 * the enabled ones anyway, counted in stats.panic); this only reports it.
 *
 * Panic here means: no backend is ready and at least one enabled backend is
 * known to be down. Backends still 'unknown' at startup are not a panic, only
 * not yet probed, and an empty or all-draining pool has nothing to panic over.
 */
import type { Registry } from '../backends/registry.ts';
import type { Logger } from '../observability/log.ts';

export class PanicWatch {
  readonly #registry: Registry;
  readonly #log: Logger;
  readonly #check = () => this.#update();
  #panic = false;

  constructor(registry: Registry, log: Logger) {
    this.#registry = registry;
    this.#log = log;
    registry.on('state', this.#check);
    registry.on('change', this.#check);
    registry.on('added', this.#check);
    this.#update();
  }

  get panic(): boolean {
    return this.#panic;
  }

  close(): void {
    this.#registry.off('state', this.#check);
    this.#registry.off('change', this.#check);
    this.#registry.off('added', this.#check);
  }

  #update(): void {
    const registry = this.#registry;
    const panic = registry.readyCount === 0 && registry.list().some((b) => b.enabled && b.health === 'down');
    if (panic === this.#panic) return;
    this.#panic = panic;
    const backends = registry.list().length;
    if (panic) this.#log.error({ backends }, 'panic: no backend is ready; trying enabled backends anyway');
    else this.#log.info({ backends, ready: registry.readyCount }, 'panic over');
  }
}
