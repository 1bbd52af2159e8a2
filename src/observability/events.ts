/**
 * What happened, as it happened: health flips, admin changes, registrations,
 * reloads. One bus per process, fed by the registries' own events (which fire
 * on changes, never per connection) and by reloads; read by the dashboard's
 * event stream (src/admin/sse.ts). The last `capacity` events are kept in a
 * ring so a stream that reconnects can be given what it missed.
 *
 * Ids are `BOOT-SEQ`: a sequence number within this process, prefixed with a
 * token of the process's start, so an id from before a restart is recognised
 * as foreign (the whole ring is replayed) rather than as an old number.
 */
import { randomBytes } from 'node:crypto';
import type { Backend } from '../backends/backend.ts';
import type { Registry } from '../backends/registry.ts';

export type EventType = 'health' | 'state' | 'weight' | 'added' | 'removed' | 'reload' | 'service' | 'store';

export interface FulcrumEvent {
  readonly id: string;
  readonly seq: number;
  /** Epoch ms. */
  readonly time: number;
  readonly type: EventType;
  readonly service?: string;
  /** `host:port` of the backend concerned, when there is one. */
  readonly backend?: string;
  readonly from?: unknown;
  readonly to?: unknown;
  /** Anything else the event carries (a reload's summary or errors). */
  readonly detail?: unknown;
}

export type EventInput = Omit<FulcrumEvent, 'id' | 'seq' | 'time'>;

/** What a watched backend looked like at its last event, to report `from` → `to`. */
interface Seen {
  health: string;
  state: string;
  weight: number;
}

/** A service as the bus needs it: a name and a registry. */
export interface Watchable {
  readonly name: string;
  readonly registry: Registry;
}

export interface EventBusOptions {
  /** Events kept for replay. @default 512 */
  readonly capacity?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

export class EventBus {
  readonly boot = randomBytes(4).toString('hex');
  readonly #capacity: number;
  readonly #now: () => number;
  readonly #ring: (FulcrumEvent | undefined)[];
  #seq = 0;
  readonly #listeners = new Set<(event: FulcrumEvent) => void>();
  readonly #seen = new WeakMap<Backend, Seen>();
  readonly #watched = new WeakSet<Registry>();

  constructor(options: EventBusOptions = {}) {
    this.#capacity = options.capacity ?? 512;
    this.#now = options.now ?? Date.now;
    this.#ring = new Array<FulcrumEvent | undefined>(this.#capacity);
  }

  /** The id of the newest event ('' before any). */
  get lastId(): string {
    return this.#seq === 0 ? '' : `${this.boot}-${this.#seq}`;
  }

  publish(input: EventInput): FulcrumEvent {
    const seq = ++this.#seq;
    const event: FulcrumEvent = Object.freeze({ id: `${this.boot}-${seq}`, seq, time: this.#now(), ...input });
    this.#ring[seq % this.#capacity] = event;
    for (const listener of this.#listeners) listener(event);
    return event;
  }

  /** Calls `listener` with every event from now on; returns the unsubscribe. */
  subscribe(listener: (event: FulcrumEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * The events after `lastId`, oldest first, and whether some were lost in
   * between (the ring moved past them). An id of another process, or none
   * that parses, gets the whole ring and `lost: true`.
   */
  since(lastId: string | undefined): { events: FulcrumEvent[]; lost: boolean } {
    const oldest = Math.max(1, this.#seq - this.#capacity + 1);
    let from = oldest;
    let lost = false;
    const m = lastId === undefined ? null : /^([0-9a-f]+)-(\d+)$/.exec(lastId);
    if (lastId === undefined || lastId === '') from = oldest;
    else if (!m || m[1] !== this.boot || Number(m[2]) > this.#seq) lost = true;
    else {
      from = Number(m[2]) + 1;
      if (from < oldest) {
        lost = true;
        from = oldest;
      }
    }
    const events: FulcrumEvent[] = [];
    for (let s = from; s <= this.#seq; s++) events.push(this.#ring[s % this.#capacity]!);
    return { events, lost };
  }

  /**
   * Publishes the changes of a service's backends: registrations, removals,
   * health and admin-state flips, weight changes. Listens to the registry's
   * events, which fire on a change (a weight change is found on the picker
   * rebuild that follows it), never per connection. Idempotent per registry.
   */
  watch(service: Watchable): void {
    const { registry, name } = service;
    if (this.#watched.has(registry)) return;
    this.#watched.add(registry);
    for (const b of registry.list()) this.#remember(b);
    registry.on('added', (b) => {
      this.#remember(b);
      this.publish({ type: 'added', service: name, backend: b.key, to: { weight: b.weight, origin: b.origin } });
    });
    registry.on('removed', (b) => this.publish({ type: 'removed', service: name, backend: b.key, detail: { openConnections: b.active } }));
    registry.on('state', (b) => {
      const seen = this.#remember(b);
      if (seen.health !== b.health) {
        this.publish({ type: 'health', service: name, backend: b.key, from: seen.health, to: b.health, detail: b.lastFlip });
        seen.health = b.health;
      }
      if (seen.state !== b.state) {
        this.publish({ type: 'state', service: name, backend: b.key, from: seen.state, to: b.state });
        seen.state = b.state;
      }
    });
    registry.on('change', (set) => {
      for (const b of set.backends) {
        const seen = this.#remember(b);
        if (seen.weight === b.weight) continue;
        this.publish({ type: 'weight', service: name, backend: b.key, from: seen.weight, to: b.weight });
        seen.weight = b.weight;
      }
    });
  }

  /** Reports a reload, done or refused. */
  reloaded(outcome: { ok: true; summary: unknown } | { ok: false; errors: readonly string[] }): void {
    this.publish(outcome.ok ? { type: 'reload', to: 'applied', detail: outcome.summary } : { type: 'reload', to: 'refused', detail: { errors: outcome.errors } });
  }

  #remember(b: Backend): Seen {
    let seen = this.#seen.get(b);
    if (!seen) {
      seen = { health: b.health, state: b.state, weight: b.weight };
      this.#seen.set(b, seen);
    }
    return seen;
  }
}
