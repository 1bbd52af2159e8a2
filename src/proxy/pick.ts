/**
 * The backend for a connection's next attempt, shared by both data planes:
 * the strategy's preference among the backends `accept` allows that this
 * connection has not tried; in panic mode (none ready at all), any enabled
 * one not tried yet, as Envoy does (better to try a backend believed down
 * than to refuse outright); undefined when there is none.
 */
import type { Backend } from '../backends/backend.ts';
import type { Registry } from '../backends/registry.ts';
import type { ProxyStats } from '../observability/stats.ts';
import type { Accept, PickContext } from '../strategies/strategy.ts';

export const isReady: Accept = (b) => b.ready;

/** Ready and under its own `maxConnections`: asked instead of `isReady` only while some backend of the service has a limit. */
export const isReadyWithRoom: Accept = (b) => b.ready && (b.maxConnections === 0 || b.active < b.maxConnections);

/** `isReadyWithRoom` while the registry has limited backends, else `isReady`. */
export const acceptFor = (registry: Registry): Accept => (registry.limited ? isReadyWithRoom : isReady);

export function pickBackend(
  registry: Registry,
  stats: ProxyStats,
  ctx: PickContext,
  tried: readonly Backend[] | undefined,
  accept: Accept,
  panic = true,
): Backend | undefined {
  const picker = registry.set.picker;
  let backend = picker.pick(ctx, tried ? (b) => accept(b) && !tried.includes(b) : accept);
  if (!backend && panic && registry.readyCount === 0) {
    backend = picker.pick(ctx, (b) => b.enabled && !(tried?.includes(b) ?? false));
    if (backend) stats.panic++;
  }
  return backend;
}

/** Where a connection's next attempt goes: a backend, the service's queue, or nowhere. */
export type NextStep = Backend | 'queue' | undefined;

/**
 * The decision both data planes make before each attempt. `holdsSlot`: the
 * connection already has one of the service's slots (a retry), so a full
 * service does not send it to the queue.
 */
export function nextStep(
  registry: Registry,
  stats: ProxyStats,
  admissionFull: boolean,
  ctx: PickContext,
  tried: readonly Backend[] | undefined,
  holdsSlot: boolean,
): NextStep {
  if (!holdsSlot && admissionFull) return 'queue';
  const backend = pickBackend(registry, stats, ctx, tried, acceptFor(registry));
  if (backend) return backend;
  // A coalesced rebuild still owed (registry.ts) may hold the backend this connection needs: build it now, once.
  if (registry.pending) {
    registry.flush();
    return nextStep(registry, stats, admissionFull, ctx, tried, holdsSlot);
  }
  // Every ready backend is at its own limit: wait for one to have room, as HAProxy queues on a server's maxconn.
  if (registry.limited && pickBackend(registry, stats, ctx, tried, isReady, false) !== undefined) return 'queue';
  return undefined;
}
