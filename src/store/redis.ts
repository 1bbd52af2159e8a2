/**
 * The Redis side of the shared store (ioredis): one connection for commands,
 * one subscribed to the change channel. Writes go through one Lua script, so
 * the entry, the version it got from INCR and the PUBLISH that announces it
 * are one atomic step: messages leave in version order and a reader never
 * sees a version without its entry. Keyspace notifications are not used
 * (managed Redis turns them off, ioredis-mock has none).
 *
 * Connection state is one string changed through `#setState`, which logs
 * each transition once (not every failed retry); ioredis reconnects with the
 * back-off of `retryDelay`.
 */
import { EventEmitter } from 'node:events';
import { Redis, type RedisOptions } from 'ioredis';
import { describeStore, type StoreConfig } from '../config/store.ts';
import type { Logger } from '../observability/log.ts';
import { StoreUnavailableError, type InstanceInfo, type StoreState } from './store.ts';
import { decodeEntry, decodeMessage, encodeDraft, type ChangeMessage, type EntryDraft, type SharedEntry } from './entry.ts';


/** Names of the keys, all under one prefix. */
export const KEYS = {
  version: 'fulcrum:version',
  channel: 'fulcrum:changes',
  backends: (service: string) => `fulcrum:backends:${service}`,
  instance: (id: string) => `fulcrum:instance:${id}`,
  instances: 'fulcrum:instances',
} as const;

// KEYS[1] version, KEYS[2] the service's hash; ARGV: key, draft JSON (an object), service name and key as JSON strings, channel.
const WRITE = `
local v = redis.call('INCR', KEYS[1])
local entry = '{"v":' .. string.format('%d', v) .. ',' .. string.sub(ARGV[2], 2)
redis.call('HSET', KEYS[2], ARGV[1], entry)
redis.call('PUBLISH', ARGV[5], '{"v":' .. string.format('%d', v) .. ',"s":' .. ARGV[3] .. ',"k":' .. ARGV[4] .. ',"e":' .. entry .. '}')
return v`;

// Puts a fleet's last known state back into a Redis that lost it, unless another instance did already.
// KEYS[1] version, KEYS[2..] the hash of each entry; ARGV[1] the version, then field and value of each entry.
const SEED = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
for i = 2, #KEYS do redis.call('HSET', KEYS[i], ARGV[2 * i - 2], ARGV[2 * i - 1]) end
return 1`;

/** Reconnect back-off: 100 ms doubling to 2 s, for ever (ioredis's retryStrategy). */
export function retryDelay(attempt: number): number {
  return Math.min(100 * 2 ** Math.min(attempt - 1, 5), 2000);
}

export interface Snapshot {
  readonly version: number;
  readonly services: ReadonlyMap<string, ReadonlyMap<string, SharedEntry>>;
}


export interface RedisStoreEvents {
  state: [state: StoreState];
  /** Both connections are up (again): the whole state should be read. */
  ready: [];
  message: [message: ChangeMessage];
}

export interface RedisStoreOptions {
  readonly config: StoreConfig;
  readonly log: Logger;
  /** Makes a client (tests pass ioredis-mock). @default new Redis(from the config) */
  readonly connect?: (options: RedisOptions) => Redis;
}

export class RedisStore extends EventEmitter<RedisStoreEvents> {
  readonly where: string;
  readonly #log: Logger;
  readonly #cmd: Redis;
  readonly #sub: Redis;
  #state: StoreState = 'connecting';
  /** The connections that are ready. */
  readonly #up = new Set<Redis>();

  constructor(options: RedisStoreOptions) {
    super();
    const { config } = options;
    this.where = describeStore(config);
    this.#log = options.log.child({ store: this.where });
    const base: RedisOptions = {
      lazyConnect: true,
      // A command while disconnected fails at once (the admin API answers 503) instead of queueing.
      enableOfflineQueue: false,
      // A write cut off by a disconnect is not re-sent on reconnect: the admin API has answered 503 by then.
      maxRetriesPerRequest: 0,
      connectTimeout: 2000,
      commandTimeout: 2000,
      retryStrategy: retryDelay,
      ...(config.sentinels && { sentinels: config.sentinels.map((s) => ({ host: s.host, port: s.port })), name: config.name, db: config.db }),
      ...(config.password !== undefined && { password: config.password }),
    };
    const make = options.connect ?? ((o: RedisOptions) => (config.url !== undefined ? new Redis(config.url, o) : new Redis(o)));
    this.#cmd = make(base);
    // The subscriber may queue its SUBSCRIBE until connected; ioredis re-subscribes after each reconnect.
    this.#sub = make({ ...base, enableOfflineQueue: true, commandTimeout: undefined });
    for (const client of [this.#cmd, this.#sub]) {
      // Tracked from the events rather than read from `status`, which ioredis-mock lacks.
      client.on('ready', () => {
        this.#up.add(client);
        this.#check();
      });
      client.on('close', () => {
        this.#up.delete(client);
        this.#lost();
      });
      // ioredis emits one error per failed attempt; the state change is what gets logged.
      client.on('error', (err: Error) => this.#log.debug({ err: err.message }, 'store connection error'));
    }
    this.#sub.on('message', (channel: string, text: string) => {
      if (channel !== KEYS.channel) return;
      const message = decodeMessage(text);
      if (typeof message === 'string') this.#log.warn({ reason: message, text: text.slice(0, 200) }, 'store message unreadable; ignored (the next resync repairs)');
      else this.emit('message', message);
    });
  }

  get state(): StoreState {
    return this.#state;
  }

  get connected(): boolean {
    return this.#state === 'connected';
  }

  /** Starts connecting (and reconnecting for ever); `ready` fires each time both connections are up. */
  connect(): void {
    void this.#cmd.connect().catch(() => {});
    void this.#sub
      .connect()
      .then(() => this.#sub.subscribe(KEYS.channel))
      .catch(() => {});
  }

  /** A connection came up: connected once both are. */
  #check(): void {
    if (this.#state === 'closed' || this.#state === 'connected') return;
    if (this.#up.size === 2) {
      this.#setState('connected');
      this.emit('ready');
    }
  }

  /** A connection closed (or a first attempt failed): disconnected until both are back. */
  #lost(): void {
    if (this.#state !== 'closed') this.#setState('disconnected');
  }

  #setState(next: StoreState): void {
    const from = this.#state;
    if (from === next) return;
    this.#state = next;
    if (next === 'disconnected' && from === 'connecting') this.#log.warn({ from, to: next }, 'store unreachable; retrying with back-off');
    else if (next === 'disconnected') this.#log.warn({ from, to: next }, 'store disconnected; serving the last known state, reconnecting');
    else this.#log.info({ from, to: next }, next === 'connected' ? 'store connected' : `store ${next}`);
    this.emit('state', next);
  }

  /** Writes one entry and announces it; resolves with its version. Rejects with StoreUnavailableError. */
  async write(service: string, key: string, draft: EntryDraft): Promise<number> {
    if (!this.connected) throw new StoreUnavailableError(this.where);
    try {
      const v = await this.#cmd.eval(WRITE, 2, KEYS.version, KEYS.backends(service), key, encodeDraft(draft), JSON.stringify(service), JSON.stringify(key), KEYS.channel);
      return Number(v);
    } catch (err) {
      throw new StoreUnavailableError(this.where, { cause: err });
    }
  }

  /**
   * Writes `entries` at `version` into a store that has no version key (it
   * lost its data); resolves false when the key exists (another instance
   * seeded it first, or it was never lost).
   */
  async seed(version: number, entries: ReadonlyMap<string, ReadonlyMap<string, SharedEntry>>): Promise<boolean> {
    const keys: string[] = [KEYS.version];
    const args: string[] = [String(version)];
    for (const [service, map] of entries) {
      for (const [key, entry] of map) {
        keys.push(KEYS.backends(service));
        args.push(key, JSON.stringify(entry));
      }
    }
    try {
      return Number(await this.#cmd.eval(SEED, keys.length, ...keys, ...args)) === 1;
    } catch (err) {
      throw new StoreUnavailableError(this.where, { cause: err });
    }
  }

  /** The version and every entry of `services`, read in one transaction. Bad entries are logged and left out. */
  async snapshot(services: readonly string[]): Promise<Snapshot> {
    const tx = this.#cmd.multi().get(KEYS.version);
    for (const s of services) tx.hgetall(KEYS.backends(s));
    const replies = await tx.exec();
    if (!replies) throw new StoreUnavailableError(this.where);
    for (const [err] of replies) if (err) throw new StoreUnavailableError(this.where, { cause: err });
    const out = new Map<string, Map<string, SharedEntry>>();
    services.forEach((s, i) => {
      const hash = (replies[i + 1]![1] ?? {}) as Record<string, string>;
      const entries = new Map<string, SharedEntry>();
      for (const [key, text] of Object.entries(hash)) {
        const entry = decodeEntry(text);
        if (typeof entry === 'string') this.#log.warn({ service: s, key, reason: entry }, 'store entry unreadable; ignored');
        else entries.set(key, entry);
      }
      out.set(s, entries);
    });
    return { version: Number(replies[0]![1] ?? 0), services: out };
  }

  /** Renews this instance's entry in the fleet view; it expires after `ttlMs` unless renewed. */
  async heartbeat(info: InstanceInfo, ttlMs: number): Promise<void> {
    if (!this.connected) return;
    await this.#cmd.multi().set(KEYS.instance(info.id), JSON.stringify(info), 'PX', ttlMs).sadd(KEYS.instances, info.id).exec();
  }

  /** The instances whose heartbeat has not expired; expired ones are dropped from the set. */
  async instances(): Promise<InstanceInfo[]> {
    if (!this.connected) throw new StoreUnavailableError(this.where);
    const ids = await this.#cmd.smembers(KEYS.instances);
    if (ids.length === 0) return [];
    const values = await this.#cmd.mget(ids.map(KEYS.instance));
    const live: InstanceInfo[] = [];
    const gone: string[] = [];
    values.forEach((v, i) => {
      if (v === null) gone.push(ids[i]!);
      else {
        try {
          live.push(JSON.parse(v) as InstanceInfo);
        } catch {
          gone.push(ids[i]!);
        }
      }
    });
    if (gone.length > 0) await this.#cmd.srem(KEYS.instances, ...gone);
    return live.sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.id.localeCompare(b.id));
  }

  /** Leaves the fleet view (graceful shutdown), then disconnects. Idempotent. */
  async close(instanceId?: string): Promise<void> {
    if (this.#state === 'closed') return;
    if (instanceId !== undefined && this.connected) {
      await this.#cmd.multi().del(KEYS.instance(instanceId)).srem(KEYS.instances, instanceId).exec().catch(() => {});
    }
    this.#setState('closed');
    this.#cmd.disconnect();
    this.#sub.disconnect();
  }
}
