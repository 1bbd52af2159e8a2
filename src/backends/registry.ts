import { EventEmitter } from 'node:events';
import type { BackendOrigin } from '../config/config.ts';
import { formatHostPort, type BackendSpec } from '../config/parse.ts';
import type { Picker, Strategy } from '../strategies/strategy.ts';
import { SlotTable } from './active-counts.ts';
import { Backend, backendId, ID_LENGTH, type AdminState, type Health } from './backend.ts';

/**
 * An immutable view of the registered backends and the picker built for
 * them. Replaced whole whenever membership or a weight changes; readers hold
 * one reference and never see a half-made set.
 */
export interface BackendSet {
  readonly version: number;
  /** Registered backends in registration order, down and draining ones included. */
  readonly backends: readonly Backend[];
  readonly picker: Picker;
}

export interface RegistryEvents {
  /** The picker was rebuilt (membership, weights or strategy changed); `set` is the new snapshot. Coalesced under bursts. */
  change: [set: BackendSet];
  /** A backend was registered; emitted at once, before the picker (which may trail) includes it. */
  added: [backend: Backend];
  /** A backend's health or admin state changed (no rebuild needed). */
  state: [backend: Backend];
  /** A backend was deregistered; it may still have open connections. */
  removed: [backend: Backend];
}

/** The least time between two rebuilds of one registry's picker, ms (see `#rebuild`). */
const MIN_GAP_MS = 2;

export interface RegistryOptions {
  readonly strategy: Strategy;
  /**
   * Health of a newly added backend: 'unknown' when health checks run (ready
   * on its first passing probe), 'up' when they are off.
   */
  readonly initialHealth: Health;
}

/**
 * The single owner of which backends exist. Every change goes through here,
 * so the snapshot, the `ready` flags and `readyCount` are always consistent.
 */
export class Registry extends EventEmitter<RegistryEvents> {
  #strategy: Strategy;
  #initialHealth: Health;
  /** This registry's live connection counts: one table per registry, so per service (least-connections scans it). */
  readonly counts = new SlotTable(64);
  readonly #byKey = new Map<string, Backend>();
  readonly #byId = new Map<string, Backend>();
  /** Deregistered backends that may still have open connections; pruned as they reach 0 (see `removing`). */
  readonly #removing = new Set<Backend>();
  #set: BackendSet;
  #readyCount = 0;
  /** Registered backends with a `maxConnections`. */
  #limitedCount = 0;
  /** Registered backends in registration order; rebuilt lazily after a membership change. */
  #members: readonly Backend[] | undefined = Object.freeze([]);
  /** A rebuild is owed (changes came faster than rebuilds may run); `#timer` runs it. */
  #dirty = false;
  #timer: NodeJS.Timeout | undefined;
  /** Inside `batch`: changes only mark the picker owed. */
  #batching = 0;
  /** When the last rebuild ended (performance.now()), and what it cost, ms. */
  #lastRebuildEnd = -Infinity;
  #lastRebuildCost = 0;

  constructor(options: RegistryOptions) {
    super();
    this.#strategy = options.strategy;
    this.#initialHealth = options.initialHealth;
    this.#set = { version: 0, backends: [], picker: options.strategy.build([]) };
  }

  get strategyName(): string {
    return this.#strategy.name;
  }

  /** Swaps the strategy (a reload changed `algo`) and rebuilds the picker; counters and health stay. */
  setStrategy(strategy: Strategy): void {
    this.#strategy = strategy;
    this.#dirty = true;
    if (this.#batching === 0) this.#rebuildNow();
  }

  /**
   * Runs `fn` (many changes: a reload, a service's start) with one rebuild at
   * the end instead of one per change.
   */
  batch<T>(fn: () => T): T {
    this.#batching++;
    try {
      return fn();
    } finally {
      if (--this.#batching === 0) this.flush();
    }
  }

  /** The health new backends start with; a reload that turns active checks on or off changes it. */
  setInitialHealth(health: Health): void {
    this.#initialHealth = health;
  }

  /**
   * Deregistered backends whose connections have not all ended, in removal
   * order. Pruned here, on read, rather than by the data plane when a count
   * reaches 0: the per-connection path stays free of the check.
   */
  removing(): readonly Backend[] {
    for (const b of this.#removing) if (b.active <= 0) this.#removing.delete(b);
    return [...this.#removing];
  }

  /** Registered backends, then the removing ones: what the admin API lists. */
  listAll(): readonly Backend[] {
    const removing = this.removing();
    const members = this.list();
    return removing.length === 0 ? members : [...members, ...removing];
  }

  /** A removing backend by id (for a forced delete of its last connections). */
  getRemoving(id: string): Backend | undefined {
    for (const b of this.removing()) if (b.id === id) return b;
    return undefined;
  }

  /** The current snapshot; read once per connection. */
  get set(): BackendSet {
    return this.#set;
  }

  /** How many backends are ready; 0 means panic mode. */
  get readyCount(): number {
    return this.#readyCount;
  }

  /** Registered backends in registration order, down and draining ones included; always current (the picker may trail it, see `#rebuild`). */
  list(): readonly Backend[] {
    return (this.#members ??= Object.freeze([...this.#byKey.values()]));
  }

  /** Whether some backend has a `maxConnections`: only then does the data plane ask about room. */
  get limited(): boolean {
    return this.#limitedCount > 0;
  }

  #setMaxConnections(backend: Backend, max: number): void {
    if (backend.maxConnections === max) return;
    this.#limitedCount += (max > 0 ? 1 : 0) - (backend.maxConnections > 0 ? 1 : 0);
    backend.maxConnections = max;
  }

  /** Whether a rebuild is owed: the picker trails a change made within the last gap. */
  get pending(): boolean {
    return this.#dirty;
  }

  /**
   * The shortest id length (10 hex digits, then 2 more at a time) at which
   * `key`'s id names no other backend here, registered or still removing:
   * two addresses whose SHA-1s share 10 digits (127.0.0.1:5003 and
   * 127.0.0.2:21176 do) must stay reachable by id. Deterministic for a given
   * set, so the ids agree wherever the same backends are registered.
   */
  #idLength(key: string): number {
    let length = ID_LENGTH;
    for (;;) {
      const id = backendId(key, length);
      const holder = this.#byId.get(id) ?? this.getRemoving(id);
      if (!holder || holder.key === key || length >= 40) return length;
      length += 2;
    }
  }

  /** Runs an owed rebuild now, so the picker reflects every change made so far. */
  flush(): void {
    if (this.#dirty) this.#rebuildNow();
  }

  get(id: string): Backend | undefined {
    return this.#byId.get(id);
  }

  getByKey(key: string): Backend | undefined {
    return this.#byKey.get(key);
  }

  /**
   * Registers a backend, or updates the weight of the one already at that
   * address. Returns it and whether it is new.
   */
  upsert(spec: BackendSpec, origin: BackendOrigin = 'api'): { backend: Backend; created: boolean } {
    const key = formatHostPort(spec);
    const existing = this.#byKey.get(key);
    if (existing) {
      // A file entry takes over a backend registered over the API; the API never takes one from the file.
      if (origin === 'file') existing.origin = 'file';
      if (spec.maxConnections !== undefined) this.#setMaxConnections(existing, spec.maxConnections);
      if (existing.weight !== spec.weight) {
        existing.weight = spec.weight;
        this.#rebuild();
      }
      return { backend: existing, created: false };
    }
    const probe = new Backend(spec, this.#initialHealth, this.counts, this.#idLength(key));
    probe.origin = origin;
    this.#setMaxConnections(probe, spec.maxConnections ?? 0);
    this.#byKey.set(probe.key, probe);
    this.#members = undefined;
    this.#byId.set(probe.id, probe);
    this.#recount();
    this.#rebuild();
    this.emit('added', probe);
    return { backend: probe, created: true };
  }

  setWeight(backend: Backend, weight: number): void {
    if (backend.removed || backend.weight === weight) return;
    backend.weight = weight;
    this.#rebuild();
  }

  setAdminState(backend: Backend, state: AdminState): void {
    if (backend.removed || backend.state === state) return;
    backend.state = state;
    this.#stateChanged(backend);
  }

  setHealth(backend: Backend, health: Health): void {
    if (backend.health === health) return;
    backend.health = health;
    this.#stateChanged(backend);
  }

  /** Deregisters a backend: no new connections from now on. Existing ones are the caller's to keep or close. */
  remove(backend: Backend): boolean {
    if (backend.removed || this.#byKey.get(backend.key) !== backend) return false;
    this.#byKey.delete(backend.key);
    this.#members = undefined;
    this.#byId.delete(backend.id);
    backend.removed = true;
    this.#setMaxConnections(backend, 0);
    backend.updateReady();
    if (backend.active > 0) this.#removing.add(backend);
    this.#recount();
    this.#rebuild();
    this.emit('removed', backend);
    return true;
  }

  #stateChanged(backend: Backend): void {
    backend.updateReady();
    this.#recount();
    this.emit('state', backend);
  }

  #recount(): void {
    let n = 0;
    for (const b of this.#byKey.values()) if (b.ready) n++;
    this.#readyCount = n;
  }

  /**
   * A change needs a new picker. The first change after a quiet spell
   * rebuilds at once, so a single admin call takes effect before it answers;
   * changes that follow within the gap are coalesced into one rebuild at its
   * end. The gap is at least MIN_GAP_MS and ten times the last rebuild's cost,
   * so a burst (a thousand registrations, a flapping reconcile) spends at most
   * a tenth of the loop on rebuilds instead of rebuilding per change. Until
   * then the data plane picks from the previous set, which is safe: `accept`
   * refuses removed and unready backends, and a backend not yet in the picker
   * simply waits for it.
   */
  #rebuild(): void {
    this.#dirty = true;
    if (this.#timer || this.#batching > 0) return;
    const wait = this.#lastRebuildEnd + Math.max(MIN_GAP_MS, 10 * this.#lastRebuildCost) - performance.now();
    if (wait <= 0) return this.#rebuildNow();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#dirty) this.#rebuildNow();
    }, wait).unref();
  }

  #rebuildNow(): void {
    const started = performance.now();
    this.#dirty = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const backends = this.list();
    this.#set = Object.freeze({
      version: this.#set.version + 1,
      backends,
      picker: this.#strategy.build(backends),
    });
    this.#lastRebuildEnd = performance.now();
    this.#lastRebuildCost = this.#lastRebuildEnd - started;
    this.emit('change', this.#set);
  }

}
