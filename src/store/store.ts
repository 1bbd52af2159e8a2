/**
 * Where backends registered over the API and every backend's admin state
 * live: in this process alone (MemoryStore, the default: nothing to share,
 * nothing to wait for), or in Redis for a fleet of instances (SharedStore).
 * The admin API records a change here before making it; a shared store
 * answers after Redis has it, and rejects with StoreUnavailableError while
 * Redis is unreachable, so that instances never diverge silently.
 */
import { FulcrumError } from '../errors.ts';
import type { Service } from '../service/service.ts';
import type { EntryDraft } from './entry.ts';

export type StoreState = 'connecting' | 'connected' | 'disconnected' | 'closed';

/** The store cannot be reached: the change was not made anywhere. */
export class StoreUnavailableError extends FulcrumError {
  constructor(where: string, options?: { cause?: unknown }) {
    super(`the shared store (${where}) is unreachable: nothing was changed; retry when it is back`, 'ERR_STORE_UNAVAILABLE', 'internal', options);
  }
}

/** One instance in the fleet view, as its heartbeat entry has it. */
export interface InstanceInfo {
  readonly id: string;
  /** Its admin API address. */
  readonly admin: string;
  /** Fulcrum's version. */
  readonly version: string;
  readonly startedAt: string;
  /** The last store version it applied. */
  readonly stateVersion: number;
  readonly openConnections: number;
}

export interface BackendStore {
  /** `memory`: this process only; else the Redis connection's state. */
  readonly state: 'memory' | StoreState;
  /** Where the store is (for messages), undefined for memory. */
  readonly where: string | undefined;
  /** The last store version applied here (0 for memory). */
  readonly version: number;
  /** Records a change of one backend before it is made locally. Rejects with StoreUnavailableError. */
  record(service: string, key: string, draft: EntryDraft): Promise<void>;
  /** Lays the shared entries over `service` (at its start, and after a reload rewrote its file backends). */
  overlay(service: Service): void;
  /** Reads the whole shared state again (a reload added services whose state was never read). */
  resync(reason: string): Promise<void>;
  /** Renews this instance's entry in the fleet view now (the admin address is known once it listens). */
  announce(): Promise<void>;
  /** The live instances of the fleet; memory: this one. */
  instances(): Promise<InstanceInfo[]>;
  close(): Promise<void>;
}

export class MemoryStore implements BackendStore {
  readonly state = 'memory' as const;
  readonly where = undefined;
  readonly version = 0;
  readonly #self: () => InstanceInfo;

  constructor(self: () => InstanceInfo) {
    this.#self = self;
  }

  record(): Promise<void> {
    return Promise.resolve();
  }

  overlay(): void {}

  announce(): Promise<void> {
    return Promise.resolve();
  }

  resync(): Promise<void> {
    return Promise.resolve();
  }

  instances(): Promise<InstanceInfo[]> {
    return Promise.resolve([this.#self()]);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
