/**
 * One client connection on the stream data plane: pick a backend, connect
 * (retrying elsewhere on failure), then relay (relay.ts) until both sides
 * are closed. The same contract as proxy/session.ts, on `net.Socket`s:
 *
 * - The client socket comes paused from accept (`pauseOnConnect`) and is not
 *   read until its backend is connected, so bytes it sends early wait in the
 *   kernel and survive any number of failed attempts.
 * - `active` is taken at the pick and given back exactly once (a failed
 *   attempt, or the end); `total` on a connect; `failed` on a failed one,
 *   unless this host ran out of something (LOCAL_ERRNOS); bytes at the end.
 * - Timeouts come from the listener's Sweeper, as on the raw plane.
 */
import type { Socket } from 'node:net';
import type { Backend } from '../../backends/backend.ts';
import { BackendConnectError, LOCAL_ERRNOS } from '../../errors.ts';
import type { Listed } from '../session-list.ts';
import type { SessionHost, SessionSettings } from '../session.ts';
import type { PickContext } from '../../strategies/strategy.ts';
import type { Swept } from '../sweeper.ts';
import { pickBackend } from '../pick.ts';
import { attemptTimedOut, dialStream, type StreamAddressAttempts, type StreamDialing } from './dial.ts';
import { StreamRelay, resetOrClose } from './relay.ts';

/** The listener as a stream session sees it: SessionHost over stream sessions. */
export type StreamSessionHost = Omit<SessionHost, 'sessions' | 'release'> & {
  readonly sessions: { add(session: StreamSession): void };
  release(session: StreamSession): void;
};

const CONNECTING = 0;
const RELAYING = 1;
const DONE = 2;

const ignore = (): void => {};

export class StreamSession extends StreamRelay implements PickContext, Swept, StreamDialing, Listed<StreamSession> {
  readonly #host: StreamSessionHost;
  readonly #settings: SessionSettings;
  /** The backend of the current attempt; after connect, of the relay. */
  backend: Backend | undefined;
  #tried: Backend[] | undefined;
  #attempts = 0;
  #phase = CONNECTING;

  attempt = 0;
  connectDeadline = 0;
  addressAttempts: StreamAddressAttempts | undefined = undefined;
  lastProgress = 0;
  idleSince = 0;
  listPrev: StreamSession | undefined = undefined;
  listNext: StreamSession | undefined = undefined;

  constructor(host: StreamSessionHost, client: Socket) {
    super(client);
    this.#host = host;
    this.#settings = host.settings;
    client.on('error', ignore); // the relay handles errors once it runs; before, the client is not read
  }

  get idleTimeoutMs(): number {
    return this.#settings.idleTimeoutMs;
  }

  get clientIp(): string {
    const ip = this.client.remoteAddress ?? '';
    return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
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

  /** Resets both sides now (admin force-delete, the end of a drain). Idempotent. */
  abort(): void {
    if (this.#phase === RELAYING) return this.abortRelay();
    this.#closeConnecting(true);
  }

  #closeConnecting(reset: boolean): void {
    if (this.#phase === DONE) return;
    this.#dropUpstream();
    if (reset) resetOrClose(this.client);
    else this.client.destroy();
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
    if (this.#phase !== CONNECTING || this.connectDeadline === 0) return;
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
    this.attempt++;
    this.backend = backend;
    backend.active++;
    this.connectDeadline = Date.now() + this.#settings.connectTimeoutMs;
    dialStream(this, backend.host, backend.port);
  }

  /** @internal from dial.ts: the attempt is over; `upstream` is connected unless `code` says why not. */
  dialed(upstream: Socket | undefined, code: string | undefined): void {
    if (this.#phase !== CONNECTING) return;
    if (code !== undefined) {
      if (LOCAL_ERRNOS.has(code)) return this.#localFailure(code);
      return this.#connectFailed(new BackendConnectError(`connect to ${this.backend?.key} failed: ${code}`, code));
    }
    const backend = this.backend!;
    this.upstream = upstream;
    this.connectDeadline = 0;
    backend.total++;
    this.#phase = RELAYING;
    this.idleSince = Date.now();
    this.startRelay();
    this.#host.observer.connectSucceeded(backend);
  }

  /** @internal */
  dialCrashed(error: unknown): void {
    this.crashed(error);
  }

  /** Abandons the attempt in progress, if any: a lookup or connect that comes back later is ignored. */
  #dropUpstream(): void {
    this.attempt++;
    this.connectDeadline = 0;
    this.addressAttempts = undefined;
    const upstream = this.upstream;
    this.upstream = undefined;
    upstream?.destroy();
  }

  #connectFailed(error: BackendConnectError): void {
    const host = this.#host;
    const backend = this.backend!;
    this.#dropUpstream();
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
    this.#dropUpstream();
    this.client.destroy();
    this.#finish();
  }

  #noBackend(): void {
    const host = this.#host;
    host.stats.noBackend++;
    host.log.warn({ client: this.clientIp, attempts: this.#attempts }, 'no backend could take the connection');
    this.client.destroy();
    this.#finish();
  }

  protected override relayEnding(): void {
    const backend = this.backend!;
    backend.bytesIn += this.sentUpstream;
    backend.bytesOut += this.upstream!.bytesRead;
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
