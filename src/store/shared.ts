/**
 * The shared store's sync: keeps this instance's copy of every entry of its
 * services, in step with Redis. A change heard on the channel with the next
 * version is applied at once; a version gap (a message lost), a reconnect
 * and the periodic resync each read the whole state again and lay it over
 * the services (src/backends/shared.ts says how an entry applies). Each
 * entry carries the version that wrote it, so an older message never undoes
 * a newer change, whatever order they arrive in.
 */
import type { StoreConfig } from '../config/store.ts';
import type { Logger } from '../observability/log.ts';
import { applyShared } from '../backends/shared.ts';
import type { Service } from '../service/service.ts';
import type { ChangeMessage, EntryDraft, SharedEntry } from './entry.ts';
import { RedisStore, type RedisStoreOptions } from './redis.ts';
import { StoreUnavailableError, type BackendStore, type InstanceInfo, type StoreState } from './store.ts';

/** Messages held during one resync; past it, another resync reads them instead. */
const MAX_PENDING = 10_000;

export interface SharedStoreOptions {
  readonly config: StoreConfig;
  readonly log: Logger;
  /** The running services (read at each change). */
  readonly services: () => readonly Service[];
  /** The names of the configured services, whose state a resync reads (known before the services start). */
  readonly names: () => readonly string[];
  /** This instance as the fleet view shows it. */
  readonly self: () => Omit<InstanceInfo, 'stateVersion'>;
  /** Tests pass ioredis-mock. */
  readonly connect?: RedisStoreOptions['connect'];
}

/** Counts for tests and metrics. */
export interface SyncStats {
  resyncs: number;
  gaps: number;
  applied: number;
}

export class SharedStore implements BackendStore {
  readonly redis: RedisStore;
  readonly stats: SyncStats = { resyncs: 0, gaps: 0, applied: 0 };
  readonly #o: SharedStoreOptions;
  readonly #log: Logger;
  /** service -> key -> entry, as last read or heard. */
  readonly #entries = new Map<string, Map<string, SharedEntry>>();
  /** The highest version applied in order; a message past version + 1 is a gap. */
  #version = 0;
  /** Whether the whole state has been read once; until then messages wait for it. */
  #loaded = false;
  #resyncing: Promise<void> | undefined;
  #resyncAgain = false;
  /** Messages heard while a resync runs, applied after it. */
  #pending: ChangeMessage[] = [];
  #resyncTimer: NodeJS.Timeout | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #loadedOnce: (() => void) | undefined;
  readonly #firstLoad: Promise<void>;

  constructor(options: SharedStoreOptions) {
    this.#o = options;
    this.#log = options.log.child({ component: 'store' });
    this.redis = new RedisStore({ config: options.config, log: options.log, ...(options.connect && { connect: options.connect }) });
    this.#firstLoad = new Promise((resolve) => (this.#loadedOnce = resolve));
    this.redis.on('ready', () => {
      void this.resync('connected');
      void this.#beat();
    });
    this.redis.on('message', (m) => this.#onMessage(m));
  }

  get state(): StoreState {
    return this.redis.state;
  }

  get where(): string {
    return this.redis.where;
  }

  get version(): number {
    return this.#version;
  }

  get loaded(): boolean {
    return this.#loaded;
  }

  /**
   * Connects and reads the shared state, waiting at most the start-up
   * timeout. Resolves true when the state is in; false when the timeout
   * passed (the instance then starts with its file, and the first resync
   * after Redis answers merges the rest).
   */
  async start(): Promise<boolean> {
    const { startupTimeoutMs, resyncIntervalMs, heartbeatIntervalMs } = this.#o.config;
    this.redis.connect();
    this.#resyncTimer = setInterval(() => void this.resync('periodic'), resyncIntervalMs).unref();
    this.#heartbeatTimer = setInterval(() => void this.#beat(), heartbeatIntervalMs).unref();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), startupTimeoutMs)));
    const loaded = await Promise.race([this.#firstLoad.then(() => true as const), timedOut]);
    clearTimeout(timer);
    if (!loaded) this.#log.warn({ store: this.where, startupTimeoutMs }, 'store did not answer in time; starting with the config file alone (the shared state merges when it answers)');
    return loaded;
  }

  async record(service: string, key: string, draft: EntryDraft): Promise<void> {
    const v = await this.redis.write(service, key, draft);
    this.#keep(service, key, { ...draft, v });
  }

  overlay(service: Service): void {
    const entries = this.#entries.get(service.name);
    if (!entries) return;
    for (const [key, entry] of entries) applyShared(service, key, entry);
  }

  /** Reads the whole state and lays it over every service. Runs one at a time; a request meanwhile runs once more after. */
  resync(reason: string): Promise<void> {
    if (this.#resyncing) {
      this.#resyncAgain = true;
      return this.#resyncing;
    }
    this.#resyncing = (async () => {
      do {
        this.#resyncAgain = false;
        await this.#resyncOnce(reason);
      } while (this.#resyncAgain && this.redis.connected);
    })().finally(() => {
      this.#resyncing = undefined;
      const pending = this.#pending.sort((a, b) => a.v - b.v);
      this.#pending = [];
      if (this.#loaded) for (const m of pending) this.#onMessage(m);
    });
    return this.#resyncing;
  }

  async #resyncOnce(reason: string): Promise<void> {
    if (!this.redis.connected) return;
    const names = this.#o.names();
    let snapshot;
    try {
      snapshot = await this.redis.snapshot(names);
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      this.#log.debug({ reason }, 'store resync failed; retried on reconnect');
      return;
    }
    if (snapshot.version === 0 && this.#version > 0) {
      // Redis came back empty (restarted without persistence, or flushed): put back what this instance knew,
      // unless another instance was first; either way read the store again.
      try {
        if (await this.redis.seed(this.#version, this.#entries)) this.#log.warn({ version: this.#version }, 'store was empty (Redis lost its data?); put back the shared state this instance last knew');
      } catch (err) {
        if (!(err instanceof StoreUnavailableError)) throw err;
        return;
      }
      this.#resyncAgain = true;
      return;
    }
    const wentBack = snapshot.version < this.#version;
    if (wentBack) this.#log.warn({ from: this.#version, to: snapshot.version }, 'store version went back; taking the store as it is now');
    this.stats.resyncs++;
    const services = this.#o.services();
    for (const [name, fresh] of snapshot.services) {
      const old = this.#entries.get(name) ?? new Map<string, SharedEntry>();
      const next = new Map(fresh);
      // A change written or heard after the snapshot was read is newer than it: kept, not undone
      // (unless the store went back in time, and is then taken as it is).
      if (!wentBack) for (const [key, entry] of old) if (entry.v > snapshot.version) next.set(key, entry);
      this.#entries.set(name, next);
      const service = services.find((s) => s.name === name);
      if (!service) continue;
      // Keys that were shared and are no longer, keys now shared, and API backends the store never had.
      const keys = new Set([...old.keys(), ...fresh.keys()]);
      for (const b of service.registry.list()) if (b.origin === 'api') keys.add(b.key);
      service.registry.batch(() => {
        for (const key of keys) applyShared(service, key, next.get(key));
      });
    }
    const was = this.#version;
    this.#version = snapshot.version;
    if (!this.#loaded) {
      this.#loaded = true;
      this.#loadedOnce?.();
    }
    this.#log.debug({ reason, from: was, to: snapshot.version }, 'store resynced');
  }

  #onMessage(m: ChangeMessage): void {
    if (!this.#loaded || this.#resyncing) {
      // Held until the resync under way ends: its snapshot may predate the message.
      if (this.#pending.length < MAX_PENDING) this.#pending.push(m);
      else this.#resyncAgain = true;
      return;
    }
    if (m.v <= this.#version) return;
    if (m.v > this.#version + 1) {
      this.stats.gaps++;
      this.#log.warn({ expected: this.#version + 1, got: m.v }, 'store version gap (a change message was lost); resyncing');
      void this.resync('gap');
      return;
    }
    this.#version = m.v;
    if (!this.#keep(m.service, m.key, m.entry)) return;
    const service = this.#o.services().find((s) => s.name === m.service);
    if (!service) return;
    this.stats.applied++;
    applyShared(service, m.key, m.entry);
  }

  /** Keeps `entry` unless a newer one for the key is kept already; true when kept. */
  #keep(service: string, key: string, entry: SharedEntry): boolean {
    let entries = this.#entries.get(service);
    if (!entries) this.#entries.set(service, (entries = new Map()));
    const held = entries.get(key);
    if (held && held.v >= entry.v) return false;
    entries.set(key, entry);
    return true;
  }

  /** The entries kept for a service (tests, the dashboard). */
  entries(service: string): ReadonlyMap<string, SharedEntry> {
    return this.#entries.get(service) ?? new Map();
  }

  #ttlMs(): number {
    return this.#o.config.heartbeatIntervalMs * 3;
  }

  announce(): Promise<void> {
    return this.#beat();
  }

  async #beat(): Promise<void> {
    try {
      await this.redis.heartbeat({ ...this.#o.self(), stateVersion: this.#version }, this.#ttlMs());
    } catch (err) {
      this.#log.debug({ err: (err as Error).message }, 'store heartbeat failed');
    }
  }

  instances(): Promise<InstanceInfo[]> {
    return this.redis.instances();
  }

  async close(): Promise<void> {
    clearInterval(this.#resyncTimer);
    clearInterval(this.#heartbeatTimer);
    await this.redis.close(this.#o.self().id);
  }
}
