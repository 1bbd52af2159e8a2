/**
 * The backend for a connection's next attempt, shared by both data planes:
 * a ready backend not tried yet; in panic mode (none ready at all), any
 * enabled one not tried yet, as Envoy does (better to try a backend believed
 * down than to refuse outright); undefined when there is none.
 */
import type { Backend } from '../backends/backend.ts';
import type { Registry } from '../backends/registry.ts';
import type { ProxyStats } from '../observability/stats.ts';
import type { Accept, PickContext } from '../strategies/strategy.ts';

const isReady: Accept = (b) => b.ready;

export function pickBackend(registry: Registry, stats: ProxyStats, ctx: PickContext, tried: readonly Backend[] | undefined): Backend | undefined {
  const picker = registry.set.picker;
  let backend = picker.pick(ctx, tried ? (b) => b.ready && !tried.includes(b) : isReady);
  if (!backend && registry.readyCount === 0) {
    backend = picker.pick(ctx, (b) => b.enabled && !(tried?.includes(b) ?? false));
    if (backend) stats.panic++;
  }
  if (!backend && registry.pending) {
    // A coalesced rebuild still owed (registry.ts) may hold the backend this connection needs: build it now, once.
    registry.flush();
    return pickBackend(registry, stats, ctx, tried);
  }
  return backend;
}
