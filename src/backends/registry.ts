import { EventEmitter } from 'node:events';
import type { BackendOrigin } from '../config/config.ts';
import { effectiveProxyProtocol, formatHostPort, MAX_WEIGHT, type BackendSpec, type ProxyVersion } from '../config/parse.ts';
import type { Picker, Strategy } from '../strategies/strategy.ts';
import { weightOf } from '../strategies/weights.ts';
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
  /** A backend's health, admin state or `proxyProtocol` changed (no rebuild needed). */
  state: [backend: Backend];
  /** A backend was deregistered; it may still have open connections. */
  removed: [backend: Backend];
}

/** The least time between two rebuilds of one registry's picker, ms (see `#rebuild`). */
const MIN_GAP_MS = 2;
/** Steps of a slow start: its effective weight changes (and the picker is rebuilt) this many times across the window. */
export const SLOW_START_STEPS = 10;
/** While a slow start runs, weights are scaled up by at most this, so a ramping backend can take a small fraction of a weight of 1. */
const SLOW_START_SCALE = 20;

export interface RegistryOptions {
  readonly strategy: Strategy;
  /**
   * Health of a newly added backend: 'unknown' when health checks run (ready
   * on its first passing probe), 'up' when they are off.
   */
  readonly initialHealth: Health;
  /** The service's slow-start window, ms; 0 disables (a backend's own `slowStartMs` wins). @default 0 */
  readonly slowStartMs?: number;
  /** Every ready backup takes connections while no primary is ready, not only the first. @default false */
  readonly allBackups?: boolean;
  /** The PROXY header the service's backends get unless their own `proxyProtocol` says otherwise. @default none */
  readonly proxyProtocol?: ProxyVersion | undefined;
  /** Clock for slow start, injectable for tests. @default Date.now */
  readonly now?: () => number;
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
  #primaryReadyCount = 0;
  #slowStartMs: number;
  #allBackups: boolean;
  #proxyProtocol: ProxyVersion | undefined;
  readonly #now: () => number;
  /** Backends whose slow start is running; `#warmTimer` steps them. */
  readonly #warming = new Set<Backend>();
  #warmTimer: NodeJS.Timeout | undefined;
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
    this.#slowStartMs = options.slowStartMs ?? 0;
    this.#allBackups = options.allBackups ?? false;
    this.#proxyProtocol = options.proxyProtocol;
    this.#now = options.now ?? Date.now;
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

  /**
   * `batch`, for the backends a service starts with: they take their full
   * weight when they first come up (HAProxy does not slow-start at boot);
   * later comebacks, and backends added afterwards, slow-start.
   */
  initial<T>(fn: () => T): T {
    const before = new Set(this.#byKey.values());
    return this.batch(() => {
      const result = fn();
      for (const b of this.#byKey.values()) {
        if (before.has(b)) continue;
        // Up already (active checks off): its slow start is cancelled; else its first time up skips it.
        if (b.available) {
          if (this.#warming.delete(b)) this.#endWarmUp(b);
        } else b.warmOnReady = false;
      }
      return result;
    });
  }

  /** A reload changed the service's slow-start window; running slow starts keep theirs until they end. */
  setSlowStart(ms: number): void {
    this.#slowStartMs = ms;
  }

  /** A reload changed the service's `proxyProtocol`: new connections and probes of every backend that does not set its own follow. */
  setProxyProtocol(version: ProxyVersion | undefined): void {
    if (this.#proxyProtocol === version) return;
    this.#proxyProtocol = version;
    for (const b of this.#byKey.values()) b.sendProxy = effectiveProxyProtocol(b.proxyProtocol, version);
  }

  setAllBackups(all: boolean): void {
    if (this.#allBackups === all) return;
    this.#allBackups = all;
    this.#recount();
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

  /** How many backends are ready (serving backups included); 0 means panic mode. */
  get readyCount(): number {
    return this.#readyCount;
  }

  /** How many non-backup backends are available; while 0, backups take the connections. */
  get primaryReadyCount(): number {
    return this.#primaryReadyCount;
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
      // Enforced in the data plane (each worker too): a new limit is announced like a state change.
      if (spec.maxConnections !== undefined && spec.maxConnections !== existing.maxConnections) {
        this.#setMaxConnections(existing, spec.maxConnections);
        this.emit('state', existing);
      }
      existing.slowStartMs = spec.slowStartMs;
      // The data plane reads this one (workers too): a change is announced like a state change.
      const proxyChanged = existing.proxyProtocol !== spec.proxyProtocol;
      existing.proxyProtocol = spec.proxyProtocol;
      existing.sendProxy = effectiveProxyProtocol(spec.proxyProtocol, this.#proxyProtocol);
      if (proxyChanged) this.emit('state', existing);
      if (existing.backup !== (spec.backup === true)) {
        existing.backup = spec.backup === true;
        this.#stateChanged(existing);
      }
      if (existing.weight !== spec.weight) {
        existing.weight = spec.weight;
        this.#rebuild();
      }
      return { backend: existing, created: false };
    }
    const probe = new Backend(spec, this.#initialHealth, this.counts, this.#idLength(key));
    probe.origin = origin;
    probe.sendProxy = effectiveProxyProtocol(spec.proxyProtocol, this.#proxyProtocol);
    // Its health holds since it joined, until the first flip says otherwise.
    probe.healthSince = this.#now();
    this.#setMaxConnections(probe, spec.maxConnections ?? 0);
    this.#byKey.set(probe.key, probe);
    this.#members = undefined;
    this.#byId.set(probe.id, probe);
    // Added up (active checks off): it joins now.
    if (probe.available) this.#becameAvailable(probe);
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

  /**
   * Sets health; on a change, also when and why (`reason`, for the API and
   * the dashboard: flips are rare, so recording them costs nothing).
   */
  setHealth(backend: Backend, health: Health, reason = ''): void {
    if (backend.health === health) return;
    backend.health = health;
    backend.healthSince = this.#now();
    backend.healthReason = reason;
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
    if (this.#warming.delete(backend)) backend.warmingSince = 0;
    if (backend.active > 0) this.#removing.add(backend);
    this.#recount();
    this.#rebuild();
    this.emit('removed', backend);
    return true;
  }

  #stateChanged(backend: Backend): void {
    const was = backend.available;
    backend.updateReady();
    if (!was && backend.available) this.#becameAvailable(backend);
    else if (was && !backend.available && this.#warming.delete(backend)) this.#endWarmUp(backend);
    this.#recount();
    this.emit('state', backend);
  }

  /**
   * Counts the ready backends and applies the backup rule: backups are ready
   * only while no primary is available, and then only the first available
   * one in registration order (HAProxy's default), or all of them with
   * `allBackups`. Runs on state changes, never per connection.
   */
  #recount(): void {
    let primaries = 0;
    for (const b of this.#byKey.values()) if (b.available && !b.backup) primaries++;
    let n = primaries;
    let backupTaken = false;
    for (const b of this.#byKey.values()) {
      if (!b.backup) continue;
      b.ready = primaries === 0 && b.available && (this.#allBackups || !backupTaken);
      if (b.ready) {
        n++;
        backupTaken = true;
      }
    }
    this.#primaryReadyCount = primaries;
    this.#readyCount = n;
    this.#countReadyWeight();
  }

  /** The ready backends' weight, for maglev's bound on load (`counts.readyWeight`). */
  #countReadyWeight(): void {
    let weight = 0;
    for (const b of this.#byKey.values()) if (b.ready) weight += weightOf(b);
    this.counts.readyWeight = weight;
  }

  /** A backend joined, or came back from down or draining: it slow-starts, if a window applies. */
  #becameAvailable(backend: Backend): void {
    const windowMs = backend.slowStartMs ?? this.#slowStartMs;
    if (!backend.warmOnReady) {
      backend.warmOnReady = true;
      return;
    }
    if (windowMs <= 0) return;
    backend.warmingSince = this.#now();
    this.#warming.add(backend);
    this.refreshSlowStart();
  }

  #endWarmUp(backend: Backend): void {
    backend.warmingSince = 0;
    if (backend.slowStartFactor !== 1) {
      backend.slowStartFactor = 1;
      this.#rebuild();
    }
  }

  /**
   * Steps every running slow start to the current time: the effective
   * weight is the middle of the current tenth of the ramp (5%, 15%, … 95%
   * of the weight, then 100%), so the share taken over each step is what a
   * linear ramp would give. Rebuilds the picker when a factor changed, and
   * sets a timer for the next step. Called by that timer; tests with an
   * injected clock call it after moving the clock.
   */
  refreshSlowStart(): void {
    const now = this.#now();
    let changed = false;
    let next = Infinity;
    for (const b of this.#warming) {
      const windowMs = b.slowStartMs ?? this.#slowStartMs;
      const elapsed = now - b.warmingSince;
      let factor = 1;
      if (b.available && windowMs > 0 && elapsed < windowMs) {
        const step = Math.max(0, Math.floor((elapsed * SLOW_START_STEPS) / windowMs));
        factor = (step + 0.5) / SLOW_START_STEPS;
        next = Math.min(next, b.warmingSince + ((step + 1) * windowMs) / SLOW_START_STEPS);
      }
      if (factor !== b.slowStartFactor) {
        b.slowStartFactor = factor;
        changed = true;
      }
      if (factor === 1) {
        this.#warming.delete(b);
        b.warmingSince = 0;
      }
    }
    if (changed) this.#rebuild();
    clearTimeout(this.#warmTimer);
    this.#warmTimer = next === Infinity ? undefined : setTimeout(() => this.refreshSlowStart(), Math.max(1, next - now)).unref();
  }

  /** A worker's replica takes the factor its primary computed (the primary alone runs the clock). */
  setSlowStartFactor(backend: Backend, factor: number): void {
    if (backend.slowStartFactor === factor || !(factor > 0 && factor <= 1)) return;
    backend.slowStartFactor = factor;
    this.#rebuild();
  }

  /** Stops the slow-start timer (the service is closing). */
  close(): void {
    clearTimeout(this.#warmTimer);
    this.#warmTimer = undefined;
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
    assignPickWeights(backends);
    this.#countReadyWeight();
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

/**
 * Sets `pickWeight` for a build. With no slow start running it is 0 (the
 * strategies use `weight`, exactly as without slow start). While one runs,
 * every weight is scaled up by as much as MAX_WEIGHT allows (up to
 * SLOW_START_SCALE) and a ramping backend takes its fraction of that, at
 * least 1: a weight-1 backend then ramps 1, 3, 5, … 19 against 20.
 */
function assignPickWeights(backends: readonly Backend[]): void {
  let warming = false;
  let max = 1;
  for (const b of backends) {
    if (b.slowStartFactor < 1) warming = true;
    if (b.weight > max) max = b.weight;
  }
  const scale = warming ? Math.max(1, Math.min(SLOW_START_SCALE, Math.floor(MAX_WEIGHT / max))) : 0;
  for (const b of backends) {
    b.pickWeight = scale === 0 ? 0 : b.slowStartFactor < 1 ? Math.max(1, Math.round(b.weight * scale * b.slowStartFactor)) : b.weight * scale;
  }
}
