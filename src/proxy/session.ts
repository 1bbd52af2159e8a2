/**
 * One client connection: pick a backend, connect (retrying elsewhere on
 * failure), then relay bytes both ways (relay.ts) until both sides are done.
 *
 * The client handle is not read until the backend is up, so bytes it sends
 * early wait in the kernel's receive buffer (bounded, in order) and survive
 * any number of failed connect attempts. Nothing here allocates a closure per
 * connection: callbacks are shared and find their session through the handle.
 *
 * Per-backend counters stay exact on every path: `active` is taken at the
 * pick and given back exactly once (failed attempt, or `#finish`); `total` on
 * a successful connect; `failed` on a failed one; bytes when the relay ends.
 */
import type { Backend } from '../backends/backend.ts';
import type { Registry } from '../backends/registry.ts';
import { BackendConnectError, LOCAL_ERRNOS } from '../errors.ts';
import type { Logger } from '../observability/log.ts';
import type { ProxyStats } from '../observability/stats.ts';
import type { PickContext } from '../strategies/strategy.ts';
import { attemptTimedOut, dial, type AddressAttempts, type Dialing } from './connect.ts';
import { errnoName, type PeerName, type TcpHandle } from './native.ts';
import { pickBackend } from './pick.ts';
import { Relay } from './relay.ts';
import type { Listed, SessionList } from './session-list.ts';
import type { Swept } from './sweeper.ts';

/** Told about every connect outcome on real traffic (passive health). */
export interface ConnectObserver {
  connectSucceeded(backend: Backend): void;
  connectFailed(backend: Backend, error: Error): void;
}

/**
 * The settings a session reads, frozen. A session keeps the snapshot it
 * started with, so a reload never changes anything under it.
 */
export interface SessionSettings {
  readonly connectTimeoutMs: number;
  /** 1 + retries. */
  readonly maxAttempts: number;
  /** 0 disables. */
  readonly idleTimeoutMs: number;
}

/** What a session needs from the listener that owns it. */
export interface SessionHost {
  readonly registry: Registry;
  readonly stats: ProxyStats;
  readonly observer: ConnectObserver;
  readonly log: Logger;
  /** The current snapshot; read once, when a session starts. */
  readonly settings: SessionSettings;
  /** Open sessions; a session adds itself on start and leaves through `release`. */
  readonly sessions: SessionList<Session>;
  /** Called once per session, when both its sides are closed. */
  release(session: Session): void;
}

const CONNECTING = 0;
const RELAYING = 1;
const DONE = 2;

export class Session extends Relay implements PickContext, Swept, Dialing, Listed<Session> {
  readonly #host: SessionHost;
  readonly #settings: SessionSettings;
  /** The backend of the current attempt; after connect, of the relay. */
  backend: Backend | undefined;
  #clientIp: string | undefined;
  #tried: Backend[] | undefined;
  #attempts = 0;
  #phase = CONNECTING;

  connectDeadline = 0;
  addressAttempts: AddressAttempts | undefined = undefined;
  lastProgress = 0;
  idleSince = 0;
  listPrev: Session | undefined = undefined;
  listNext: Session | undefined = undefined;

  constructor(host: SessionHost, client: TcpHandle) {
    super(client);
    this.#host = host;
    this.#settings = host.settings;
  }

  /** For the sweeper: this session's own idle timeout (0: none). */
  get idleTimeoutMs(): number {
    return this.#settings.idleTimeoutMs;
  }

  /** Asked of the kernel (getpeername) the first time a strategy or a log line needs it. */
  get clientIp(): string {
    return (this.#clientIp ??= peerIp(this.client));
  }

  start(): void {
    this.#host.sessions.add(this);
    try {
      this.#attempt();
    } catch (error) {
      this.crashed(error);
    }
  }

  /** Closes both sides now, gracefully (idle timeout, an internal error). Idempotent. */
  destroy(): void {
    if (this.#phase === RELAYING) return this.closeRelay();
    this.#closeConnecting(false);
  }

  /**
   * Resets both sides now (admin force-delete, the end of a drain): a cut
   * transfer must look cut to both peers, never complete. Idempotent.
   */
  abort(): void {
    if (this.#phase === RELAYING) return this.abortRelay();
    this.#closeConnecting(true);
  }

  #closeConnecting(reset: boolean): void {
    if (this.#phase === DONE) return;
    const upstream = this.upstream;
    this.upstream = undefined;
    upstream?.close();
    if (reset) this.client.reset();
    else this.client.close();
    this.#finish();
  }

  progress(): number {
    return this.client.bytesRead + (this.upstream?.bytesRead ?? 0);
  }

  idleTimedOut(): void {
    this.#host.stats.idleTimeouts++;
    this.destroy();
  }

  connectTimedOut(): void {
    if (this.#phase !== CONNECTING || this.upstream === undefined) return;
    try {
      if (attemptTimedOut(this)) return; // a name's next address
      this.#connectFailed(new BackendConnectError(`connect to ${this.backend?.key} timed out`, 'ETIMEDOUT'));
    } catch (error) {
      this.crashed(error);
    }
  }

  #attempt(): void {
    const host = this.#host;
    const backend = pickBackend(host.registry, host.stats, this, this.#tried);
    if (!backend) return this.#noBackend();

    this.#attempts++;
    this.backend = backend;
    backend.active++;
    this.connectDeadline = Date.now() + this.#settings.connectTimeoutMs;
    // dial opens `this.upstream` (a new handle per address tried); from then on, whatever happens closes it.
    const err = dial(this, backend.host, backend.port);
    if (err !== 0) this.dialed(this.upstream!, errnoName(err));
  }

  /** @internal from connect.ts: the attempt on `upstream` (the current one) is over. */
  dialed(upstream: TcpHandle, code: string | undefined): void {
    if (code !== undefined) {
      if (LOCAL_ERRORS.has(code)) return this.#localFailure(code);
      const message = `connect to ${this.backend?.key} failed: ${code}`;
      return this.#connectFailed(new BackendConnectError(message, code));
    }
    const host = this.#host;
    const backend = this.backend!;
    this.connectDeadline = 0;
    backend.total++;
    this.#phase = RELAYING;
    this.idleSince = Date.now();
    this.startRelay();
    host.observer.connectSucceeded(backend);
  }

  /** @internal */
  dialCrashed(error: unknown): void {
    this.crashed(error);
  }

  #connectFailed(error: BackendConnectError): void {
    const host = this.#host;
    const backend = this.backend!;
    this.connectDeadline = 0;
    this.upstream?.close();
    this.upstream = undefined;
    this.backend = undefined;
    backend.active--;
    backend.failed++;
    (this.#tried ??= []).push(backend);
    host.log.debug({ backend: backend.key, code: error.code, attempt: this.#attempts }, 'backend connect failed');
    host.observer.connectFailed(backend, error);
    if (this.#phase !== CONNECTING) return; // destroyed by the observer
    if (this.#attempts >= this.#settings.maxAttempts) return this.#noBackend();
    host.stats.retries++;
    this.#attempt();
  }

  /** Out of descriptors or ports here: no backend is at fault, and another would fail the same way. */
  #localFailure(code: string): void {
    const host = this.#host;
    host.stats.localErrors++;
    host.log.error({ code, backend: this.backend?.key }, 'cannot open a backend connection: local resources exhausted');
    this.upstream?.close();
    this.upstream = undefined;
    this.client.close();
    this.#finish();
  }

  #noBackend(): void {
    const host = this.#host;
    host.stats.noBackend++;
    host.log.warn({ client: this.clientIp, attempts: this.#attempts }, 'no backend could take the connection');
    this.client.close();
    this.#finish();
  }

  protected override relayEnding(): void {
    const backend = this.backend!;
    const upstream = this.upstream!;
    backend.bytesIn += this.sentUpstream;
    backend.bytesOut += upstream.bytesRead;
    this.#finish();
  }

  protected override crashed(error: unknown): void {
    this.#host.log.error({ err: error, backend: this.backend?.key }, 'data plane error: connection closed');
    this.destroy();
  }

  #finish(): void {
    if (this.#phase === DONE) return;
    this.#phase = DONE;
    this.connectDeadline = this.idleSince = 0;
    if (this.backend) this.backend.active--;
    this.#host.release(this);
  }
}

/** Connect errors that come from this host's limits, not from the backend: not counted against it (probes share the list). */
const LOCAL_ERRORS: ReadonlySet<string> = LOCAL_ERRNOS;

const peer: PeerName = {};

function peerIp(handle: TcpHandle): string {
  peer.address = undefined;
  const err = handle.getpeername(peer);
  const ip = peer.address as string | undefined;
  if (err !== 0 || ip === undefined) return '';
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}
