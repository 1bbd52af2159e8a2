import { createHash } from 'node:crypto';
import type { BackendOrigin } from '../config/config.ts';
import { CONNECT_BUCKETS, Histogram } from '../observability/histogram.ts';
import { effectiveProxyProtocol, formatHostPort, type BackendProxyProtocol, type BackendSpec, type ProxyVersion } from '../config/parse.ts';
import { activeCounts, allocateActiveSlot, type SlotTable } from './active-counts.ts';

export type AdminState = 'active' | 'draining';
export type Health = 'up' | 'down' | 'unknown';

/** A stable, URL-safe id derived from the address, so every worker and instance agrees on it. */
export function backendId(key: string, length = ID_LENGTH): string {
  return createHash('sha1').update(key).digest('hex').slice(0, length);
}

/** Hex digits of an id; a registry lengthens one only while it would collide with another backend's (see Registry.upsert). */
export const ID_LENGTH = 10;

/**
 * The live state of one backend. The object keeps its identity for as long as
 * the address stays registered, across snapshot swaps, so counters survive
 * weight changes and rebuilds. Only the registry changes `weight`, `state`,
 * `health` and `ready`; only the data plane changes the counters.
 */
export class Backend {
  readonly id: string;
  /** `host:port` (IPv6 in brackets): the identity of a backend. */
  readonly key: string;
  readonly host: string;
  readonly port: number;
  weight: number;
  state: AdminState = 'active';
  health: Health;
  /**
   * May take new connections: `available`, and for a backup backend also no
   * primary available (see Registry#recount). Kept as a field because it is
   * read on every pick, so the backup rule costs the data plane nothing.
   */
  ready = false;
  /** `state === 'active' && health === 'up' && !removed`: ready but for the backup rule. */
  available = false;
  /** Used only while no non-backup backend of the service is available (HAProxy `backup`). The registry sets it. */
  backup: boolean;
  /** This backend's slow-start window, ms, over its service's; undefined: the service's. */
  slowStartMs: number | undefined;
  /** The share of `weight` it takes now, in (0, 1]: below 1 while a slow start ramps it up. The registry sets it. */
  slowStartFactor = 1;
  /** When the running slow start began (the registry's clock), 0 when none runs. */
  warmingSince = 0;
  /** Whether becoming available starts a slow start: false for the backends a service starts with, until their first time up (HAProxy does not slow-start at boot). */
  warmOnReady = true;
  /**
   * The weight strategies build with (weights.ts `weightOf`), set by the
   * registry before each build while some backend slow-starts (every weight
   * scaled up so a ramping one can be a small fraction); 0 means `weight`.
   */
  pickWeight = 0;
  /** Deregistered: no new connections, existing ones run to their end. */
  removed = false;
  /** Declared in the config file, or registered over the admin API. */
  origin: BackendOrigin = 'api';
  /**
   * Its settings (maxConnections, proxyProtocol, backup, slowStart) were given
   * by a `register`, so on a backend the file declares they override the
   * file's (in the shared store too); false: a file backend has the file's.
   */
  registered = false;
  /** Connections it takes at once; a full backend is skipped, outside the strategy, as an unready one is. 0: no limit. */
  maxConnections = 0;
  /** Its own `proxyProtocol`, over the service's; undefined: the service's. */
  proxyProtocol: BackendProxyProtocol | undefined;
  /**
   * The PROXY header its connections and health checks send, resolved by the
   * registry from `proxyProtocol` and the service's; undefined: none. One
   * field for the data plane to read per connection.
   */
  sendProxy: ProxyVersion | undefined;

  /** The table holding `active`: its registry's (one per service), so least-connections scans one service's counts. */
  readonly counts: SlotTable;
  /** This backend's slot in `counts`, for this object's lifetime: least-connections scans the counts by slot. */
  readonly activeSlot: number;

  /** Connections open or being set up to this backend (an int32, kept in `counts`). */
  get active(): number {
    return this.counts.array[this.activeSlot]!;
  }

  set active(n: number) {
    const counts = this.counts;
    const cells = counts.array;
    counts.open += n - cells[this.activeSlot]!;
    cells[this.activeSlot] = n;
  }

  /** Connections that reached this backend (connect succeeded). */
  total = 0;
  /** Connect attempts that failed (refused, timed out, reset during connect). */
  failed = 0;
  /** Bytes sent to the backend (client → backend): open connections add theirs every second (the sweeper), the rest at their end. */
  bytesIn = 0;
  /** Bytes received from the backend (backend → client), counted as `bytesIn` is. */
  bytesOut = 0;
  /** Seconds the successful connects to it took. */
  readonly connectTimes = new Histogram(CONNECT_BUCKETS);
  /** Smoothed time to connect, ms, as of `connectTimeAt` (lrt; see strategies/least-response-time.ts). Kept in `counts.times`. */
  get connectTimeMs(): number {
    return this.counts.times[2 * this.activeSlot]!;
  }

  set connectTimeMs(ms: number) {
    this.counts.times[2 * this.activeSlot] = ms;
  }

  /** When `connectTimeMs` last took a sample, epoch ms; 0 before any. Fed only while the service balances by `lrt`. */
  get connectTimeAt(): number {
    return this.counts.times[2 * this.activeSlot + 1]!;
  }

  set connectTimeAt(at: number) {
    this.counts.times[2 * this.activeSlot + 1] = at;
  }
  /** Time of the last completed health probe, epoch ms; 0 before any. */
  lastCheck = 0;
  /** How long the last completed probe took, ms; -1 before any. */
  lastCheckDurationMs = -1;
  /**
   * The active check's own verdict, apart from ejection and admin state (as
   * Envoy's FAILED_ACTIVE_HC): "passing", "failed: connection refused (3 in a
   * row)"; null while active checks are off or before the first probe.
   */
  activeCheck: string | null = null;
  /** Whether the active check alone (rise/fall applied, ejections ignored) holds the backend down. */
  failedActiveCheck = false;
  /** While a passive ejection lasts: its end, epoch ms (as Envoy's FAILED_OUTLIER_CHECK); 0 otherwise. */
  ejectedUntil = 0;
  /** Passive ejections of this backend since it was registered. */
  ejections = 0;
  /** When `health` last changed, or else when the backend was registered (the registry's clock, epoch ms). */
  healthSince = 0;
  /** Why `health` last changed ("active check failed: connection refused"); '' before any change or when no reason was given. */
  healthReason = '';

  constructor(spec: BackendSpec, health: Health = 'unknown', counts: SlotTable = activeCounts, idLength = ID_LENGTH) {
    this.counts = counts;
    this.activeSlot = allocateActiveSlot(this, counts);
    this.host = spec.host;
    this.port = spec.port;
    this.key = formatHostPort(spec);
    this.id = backendId(this.key, idLength);
    this.weight = spec.weight;
    this.backup = spec.backup === true;
    this.slowStartMs = spec.slowStartMs;
    this.proxyProtocol = spec.proxyProtocol;
    // Its own alone until its registry resolves it with the service's.
    this.sendProxy = effectiveProxyProtocol(spec.proxyProtocol, undefined);
    this.health = health;
    this.updateReady();
  }

  /** Recomputes `available`, and `ready` but for the backup rule (a backup is not ready until its registry says so). */
  updateReady(): void {
    this.available = this.state === 'active' && this.health === 'up' && !this.removed;
    this.ready = this.available && !this.backup;
  }

  /** The weight it takes now: `weight`, less while slow start ramps it up. */
  get effectiveWeight(): number {
    return this.slowStartFactor === 1 ? this.weight : Math.round(this.weight * this.slowStartFactor * 100) / 100;
  }

  /** Why it is in or out, flag by flag (as Envoy's health flags), for the API. */
  get healthDetail() {
    const ejected = this.ejectedUntil > Date.now();
    return {
      activeCheck: this.activeCheck,
      failedActiveCheck: this.failedActiveCheck,
      ejectedUntil: ejected ? new Date(this.ejectedUntil).toISOString() : null,
      admin: this.removed ? 'removing' : this.state,
      reason: this.healthReason === '' ? null : this.healthReason,
      since: this.healthSince === 0 ? null : new Date(this.healthSince).toISOString(),
      ejections: this.ejections,
      lastCheck: this.lastCheck === 0 ? null : new Date(this.lastCheck).toISOString(),
      lastCheckDurationMs: this.lastCheckDurationMs < 0 ? null : this.lastCheckDurationMs,
    };
  }

  /** Why and since when `health` last changed, as health events carry it (the same values as `healthDetail`). */
  get lastFlip(): { readonly reason: string | null; readonly since: string } {
    return { reason: this.healthReason === '' ? null : this.healthReason, since: new Date(this.healthSince).toISOString() };
  }

  /** May take a connection in panic mode (every backend down): enabled and registered, health ignored. */
  get enabled(): boolean {
    return this.state === 'active' && !this.removed;
  }

  toJSON() {
    return {
      id: this.id,
      address: this.key,
      weight: this.weight,
      effectiveWeight: this.effectiveWeight,
      backup: this.backup,
      // A removed backend is listed only while connections to it remain open.
      state: this.removed ? 'removing' : this.state,
      origin: this.origin,
      health: this.health,
      activeConnections: this.active,
      maxConnections: this.maxConnections,
      // What its connections get (its own setting or the service's), `none` for no header.
      proxyProtocol: this.sendProxy ?? 'none',
      totalConnections: this.total,
      failedConnections: this.failed,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      lastCheck: this.lastCheck === 0 ? null : new Date(this.lastCheck).toISOString(),
      healthDetail: this.healthDetail,
    };
  }
}
