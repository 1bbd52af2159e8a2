/**
 * Backend names to addresses, off libuv's thread pool.
 *
 * `dns.lookup` (getaddrinfo) holds one of libuv's four pool threads for the
 * whole of a lookup: a name whose DNS never answers took all four within
 * seconds, and every other name (and every file operation) then waited
 * behind it. Here names go to /etc/hosts first (hosts-file.ts), then to DNS
 * through c-ares (`dns.Resolver`: A and AAAA, on the event loop, no thread),
 * with the servers of /etc/resolv.conf unless given.
 *
 * - Answers are cached for their TTL, bounded below by `minTtlMs` (1 s) and
 *   above by `maxTtlMs` (5 min). After 3/4 of it, the next use starts a
 *   refresh in the background and goes on with the cached answer.
 * - While refreshes are slow or failing, the last good answer is served for
 *   at most `staleMs` (5 min) past its expiry, then the name fails. A failed
 *   refresh is retried after `minTtlMs`; a failure with no good answer to
 *   fall back on is cached for `minTtlMs` too.
 * - One lookup per name at a time: everyone who needs the name meanwhile
 *   waits for the same one. Each lookup has its own c-ares channel and ends
 *   after `timeoutMs` (2 s) at the latest, so no name can hold up another.
 * - Addresses come IPv6 first (the order getaddrinfo gives where IPv6 is
 *   usable, RFC 6724), or IPv4 first under `dns.setDefaultResultOrder('ipv4first')`
 *   or `--dns-result-order=ipv4first`, then interleaved (addresses.ts).
 */
import { Resolver, getDefaultResultOrder, type RecordWithTtl } from 'node:dns';
import { FulcrumError } from '../errors.ts';
import { orderAddresses, type Address } from './addresses.ts';
import { HostsFile } from './hosts-file.ts';

/** A backend name could not be resolved; `cause` is c-ares's error, its `code` ENOTFOUND, ETIMEOUT, ESERVFAIL… */
export class ResolveError extends FulcrumError {
  readonly errno: string;

  constructor(name: string, cause: NodeJS.ErrnoException) {
    const errno = cause.code ?? 'ENOTFOUND';
    super(`cannot resolve ${name}: ${errno}`, 'ERR_RESOLVE', 'backend', { cause });
    this.errno = errno;
  }
}

export interface ResolverOptions {
  /** DNS servers, as `dns.setServers` takes them (`'127.0.0.1'`, `'127.0.0.1:5353'`, `'[::1]:53'`). @default those of /etc/resolv.conf */
  readonly servers?: readonly string[];
  /** @default '/etc/hosts' */
  readonly hostsPath?: string;
  /** The clock for TTLs (not for the lookup timeout). @default Date.now */
  readonly now?: () => number;
  /** One lookup, both families, at most. @default 2000 */
  readonly timeoutMs?: number;
  /** @default 1000 */
  readonly minTtlMs?: number;
  /** @default 300000 */
  readonly maxTtlMs?: number;
  /** How long past its expiry the last good answer may be served while refreshes fail. @default 300000 */
  readonly staleMs?: number;
  /** @default dns.getDefaultResultOrder() === 'ipv4first' */
  readonly ipv4First?: boolean;
}

export type ResolveCallback = (error: ResolveError | undefined, addresses: readonly Address[] | undefined) => void;

interface Entry {
  /** The last good answer. */
  addresses: readonly Address[] | undefined;
  /** The last failure, served while there is no good answer and `now < refreshAt`. */
  error: ResolveError | undefined;
  /** From then on, the next use starts a lookup. */
  refreshAt: number;
  /** The end of the answer's TTL. */
  expires: number;
  /** Waiting for the lookup in flight; undefined when none is. */
  waiters: ResolveCallback[] | undefined;
}

const REFRESH_AT = 0.75;
const MAX_ENTRIES = 1024;

export class NameResolver {
  readonly #servers: readonly string[] | undefined;
  readonly #hosts: HostsFile;
  readonly #now: () => number;
  readonly #timeoutMs: number;
  readonly #minTtlMs: number;
  readonly #maxTtlMs: number;
  readonly #staleMs: number;
  readonly #ipv4First: boolean;
  readonly #cache = new Map<string, Entry>();

  constructor(options: ResolverOptions = {}) {
    this.#servers = options.servers;
    this.#now = options.now ?? Date.now;
    this.#hosts = new HostsFile(options.hostsPath ?? '/etc/hosts', this.#now);
    this.#timeoutMs = options.timeoutMs ?? 2000;
    this.#minTtlMs = options.minTtlMs ?? 1000;
    this.#maxTtlMs = options.maxTtlMs ?? 300_000;
    this.#staleMs = options.staleMs ?? 300_000;
    this.#ipv4First = options.ipv4First ?? getDefaultResultOrder() === 'ipv4first';
  }

  /**
   * The addresses of `name` (lower-case, as backend keys are) if known now:
   * from the hosts file, or a cached answer, fresh or within its stale bound.
   * Starts a background refresh when one is due. Never waits, never throws.
   */
  lookup(name: string): readonly Address[] | undefined {
    const fromHosts = this.#hosts.get(name);
    if (fromHosts !== undefined) return fromHosts;
    const entry = this.#cache.get(name);
    if (entry?.addresses === undefined) return undefined;
    const now = this.#now();
    if (now >= entry.refreshAt && entry.waiters === undefined) this.#start(name, entry);
    return now < entry.expires + this.#staleMs ? entry.addresses : undefined;
  }

  /** As `lookup`, but always answers through `callback`, never synchronously: at once when known, else when the lookup ends. */
  resolve(name: string, callback: ResolveCallback): void {
    const known = this.lookup(name);
    if (known !== undefined) return process.nextTick(callback, undefined, known);
    let entry = this.#cache.get(name);
    if (entry?.error !== undefined && this.#now() < entry.refreshAt) {
      return process.nextTick(callback, entry.error, undefined);
    }
    if (entry === undefined) {
      this.#evict();
      entry = { addresses: undefined, error: undefined, refreshAt: 0, expires: 0, waiters: undefined };
      this.#cache.set(name, entry);
    }
    if (entry.waiters === undefined) this.#start(name, entry);
    entry.waiters!.push(callback);
  }

  /** `resolve` as a promise. */
  resolveAsync(name: string): Promise<readonly Address[]> {
    return new Promise((resolve, reject) => this.resolve(name, (err, addresses) => (err ? reject(err) : resolve(addresses!))));
  }

  #start(name: string, entry: Entry): void {
    entry.waiters = [];
    // A channel per lookup: cancelling it at the deadline ends this lookup only.
    const channel = new Resolver({ timeout: Math.max(50, Math.ceil(this.#timeoutMs / 3)), tries: 2 });
    if (this.#servers !== undefined) channel.setServers(this.#servers);
    const found: Record<4 | 6, Address[]> = { 4: [], 6: [] };
    let ttl = Infinity;
    let failure: NodeJS.ErrnoException | undefined;
    let pending = 2;
    let over = false;
    const finish = () => {
      if (over) return;
      over = true;
      clearTimeout(timer);
      channel.cancel();
      const all = this.#ipv4First ? [...found[4], ...found[6]] : [...found[6], ...found[4]];
      if (all.length > 0) this.#succeeded(entry, orderAddresses(all), ttl);
      else this.#failed(entry, new ResolveError(name, failure ?? Object.assign(new Error(`${name}: no addresses`), { code: 'ENOTFOUND' })));
    };
    const timer = setTimeout(() => {
      failure ??= Object.assign(new Error(`lookup of ${name} timed out after ${this.#timeoutMs}ms`), { code: 'ETIMEOUT' });
      finish();
    }, this.#timeoutMs);
    const answer = (family: 4 | 6) => (err: NodeJS.ErrnoException | null, records: RecordWithTtl[]) => {
      if (over) return;
      if (err) {
        // ENODATA for one family says nothing if the other answers; any other error is the more telling.
        if (failure === undefined || failure.code === 'ENODATA') failure = err;
      } else {
        for (const r of records) {
          found[family].push({ ip: r.address, family });
          ttl = Math.min(ttl, r.ttl * 1000);
        }
      }
      if (--pending === 0) finish();
    };
    channel.resolve4(name, { ttl: true }, answer(4));
    channel.resolve6(name, { ttl: true }, answer(6));
  }

  #succeeded(entry: Entry, addresses: readonly Address[], ttlMs: number): void {
    const now = this.#now();
    const ttl = Math.min(this.#maxTtlMs, Math.max(this.#minTtlMs, ttlMs));
    entry.addresses = addresses;
    entry.error = undefined;
    entry.expires = now + ttl;
    entry.refreshAt = now + ttl * REFRESH_AT;
    this.#settle(entry, undefined, addresses);
  }

  #failed(entry: Entry, error: ResolveError): void {
    const now = this.#now();
    entry.error = error;
    entry.refreshAt = now + this.#minTtlMs;
    const usable = entry.addresses !== undefined && now < entry.expires + this.#staleMs;
    this.#settle(entry, usable ? undefined : error, usable ? entry.addresses : undefined);
  }

  #settle(entry: Entry, error: ResolveError | undefined, addresses: readonly Address[] | undefined): void {
    const waiters = entry.waiters ?? [];
    entry.waiters = undefined;
    for (const callback of waiters) callback(error, addresses);
  }

  /** Drops names past their stale bound once the cache grows large (backends come and go by name). */
  #evict(): void {
    if (this.#cache.size < MAX_ENTRIES) return;
    const now = this.#now();
    for (const [name, entry] of this.#cache) {
      if (entry.waiters === undefined && now >= Math.max(entry.expires + this.#staleMs, entry.refreshAt)) this.#cache.delete(name);
    }
  }
}

let shared: NameResolver | undefined;

/** The process's resolver for backend names, shared by the data plane and the probes (one cache, one view). */
export function backendResolver(): NameResolver {
  return (shared ??= new NameResolver());
}

/** Replaces it (tests; a start-up option). `undefined` goes back to a default one, made on next use. */
export function setBackendResolver(resolver: NameResolver | undefined): void {
  shared = resolver;
}
