import { createHash } from 'node:crypto';
import type { BackendOrigin } from '../config/config.ts';
import { formatHostPort, type BackendSpec } from '../config/parse.ts';
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
  /** `state === 'active' && health === 'up' && !removed`, kept as a field because it is read on every pick. */
  ready = false;
  /** Deregistered: no new connections, existing ones run to their end. */
  removed = false;
  /** Declared in the config file, or registered over the admin API. */
  origin: BackendOrigin = 'api';
  /** Connections it takes at once; a full backend is skipped, outside the strategy, as an unready one is. 0: no limit. */
  maxConnections = 0;

  /** The table holding `active`: its registry's (one per service), so least-connections scans one service's counts. */
  readonly counts: SlotTable;
  /** This backend's slot in `counts`, for this object's lifetime: least-connections scans the counts by slot. */
  readonly activeSlot: number;

  /** Connections open or being set up to this backend (an int32, kept in `counts`). */
  get active(): number {
    return this.counts.array[this.activeSlot]!;
  }

  set active(n: number) {
    this.counts.array[this.activeSlot] = n;
  }

  /** Connections that reached this backend (connect succeeded). */
  total = 0;
  /** Connect attempts that failed (refused, timed out, reset during connect). */
  failed = 0;
  /** Bytes sent to the backend (client → backend), counted when a connection ends. */
  bytesIn = 0;
  /** Bytes received from the backend (backend → client), counted when a connection ends. */
  bytesOut = 0;
  /** Time of the last completed health probe, epoch ms; 0 before any. */
  lastCheck = 0;

  constructor(spec: BackendSpec, health: Health = 'unknown', counts: SlotTable = activeCounts, idLength = ID_LENGTH) {
    this.counts = counts;
    this.activeSlot = allocateActiveSlot(this, counts);
    this.host = spec.host;
    this.port = spec.port;
    this.key = formatHostPort(spec);
    this.id = backendId(this.key, idLength);
    this.weight = spec.weight;
    this.health = health;
    this.updateReady();
  }

  updateReady(): void {
    this.ready = this.state === 'active' && this.health === 'up' && !this.removed;
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
      // A removed backend is listed only while connections to it remain open.
      state: this.removed ? 'removing' : this.state,
      origin: this.origin,
      health: this.health,
      activeConnections: this.active,
      maxConnections: this.maxConnections,
      totalConnections: this.total,
      failedConnections: this.failed,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      lastCheck: this.lastCheck === 0 ? null : new Date(this.lastCheck).toISOString(),
    };
  }
}
