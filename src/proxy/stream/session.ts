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
import { timeConnect } from '../connect-time.ts';
import type { PickContext } from '../../strategies/strategy.ts';
import type { Swept } from '../sweeper.ts';
import type { Admission, Waiting } from '../../service/controls/admission.ts';
import type { ClientGate } from '../../service/controls/gate.ts';
import type { Accept } from '../../strategies/strategy.ts';
import { attemptTimedOut, dialStream, type StreamAddressAttempts, type StreamDialing } from './dial.ts';
import { proxyHeader } from '../first-bytes/send-header.ts';
import type { ClientOrigin } from '../first-bytes/reading.ts';
import { acceptFor, nextStep, pickBackend } from '../pick.ts';
import type { AccessRecord } from '../../observability/access-log/access-log.ts';
import { End, type RefusalReason } from '../../observability/access-log/end-reasons.ts';
import { gateRefused, queueRefused, type QueueRefusal } from '../refusals.ts';
import { StreamRelay, resetOrClose } from './relay.ts';

/** The listener as a stream session sees it: SessionHost over stream sessions. */
export type StreamSessionHost = Omit<SessionHost, 'sessions' | 'release'> & {
  readonly sessions: { add(session: StreamSession): void };
  release(session: StreamSession): void;
};

const CONNECTING = 0;
const RELAYING = 1;
const DONE = 2;
/** Waiting in the service's queue: no backend connection, the client not read. */
const QUEUED = 3;

/** How long a client refused with a reply keeps its socket before the close (see the raw session). */
const LINGER_MS = 1000;

const ignore = (): void => {};

export class StreamSession extends StreamRelay implements PickContext, Swept, StreamDialing, Listed<StreamSession>, Waiting, AccessRecord {
  readonly #host: StreamSessionHost;
  readonly #settings: SessionSettings;
  /** The backend of the current attempt; after connect, of the relay. */
  backend: Backend | undefined;
  #tried: Backend[] | undefined;
  #attempts = 0;
  #phase = CONNECTING;
  /** The gate that let this client in (undefined when none was asked). */
  #gate: ClientGate | undefined;
  /** Holds one of the service's connection slots (from its first pick to its end). */
  #holdsSlot = false;
  queuedSince = 0;
  readonly startedAt = Date.now();
  // For the access log and the histograms, as on the raw plane.
  #clientIp: string | undefined;
  #clientPort = -1;
  #dialStart = 0;
  connectMs = -1;
  queueMs = -1;
  endDetail: string | undefined = undefined;
  #countedIn = 0;
  #countedOut = 0;
  /** Who the client is when its first bytes were read (PROXY header, ClientHello), with the bytes to replay; undefined on the plain path. */
  readonly #origin: ClientOrigin | undefined;

  attempt = 0;
  connectDeadline = 0;
  addressAttempts: StreamAddressAttempts | undefined = undefined;
  lastProgress = 0;
  idleSince = 0;
  listPrev: StreamSession | undefined = undefined;
  listNext: StreamSession | undefined = undefined;

  constructor(host: StreamSessionHost, client: Socket, origin?: ClientOrigin) {
    super(client);
    this.#host = host;
    this.#settings = host.settings;
    this.#origin = origin;
    if (origin !== undefined) {
      this.#clientIp = origin.clientIp;
      this.#clientPort = origin.client.port;
    }
    client.on('error', ignore); // the relay handles errors once it runs; before, the client is not read
  }

  get idleTimeoutMs(): number {
    return this.#settings.idleTimeoutMs;
  }

  get maxLifetimeMs(): number {
    return this.#settings.maxLifetimeMs;
  }

  lifetimeEnded(): void {
    if (this.#phase !== RELAYING) return;
    this.#host.stats.maxLifetimes++;
    this.endReason = End.MaxLifetime;
    this.closeRelay();
  }

  /** The TLS server name the client asked for (an SNI address); undefined otherwise. */
  get sni(): string | undefined {
    return this.#origin?.sni;
  }

  /** The client's address (the one place it is read): the socket's peer, unless a PROXY header gave it (the origin). */
  get clientIp(): string {
    if (this.#clientIp !== undefined) return this.#clientIp;
    const ip = this.client.remoteAddress ?? '';
    return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  }

  get clientPort(): number {
    return this.#clientPort >= 0 ? this.#clientPort : (this.client.remotePort ?? 0);
  }

  get attempts(): number {
    return this.#attempts;
  }

  get backendKey(): string | undefined {
    return (this.backend ?? this.#tried?.[this.#tried.length - 1])?.key;
  }

  get bytesIn(): number {
    return this.sentUpstream;
  }

  get bytesOut(): number {
    return this.#phase === RELAYING || this.#phase === DONE ? (this.upstream?.bytesRead ?? 0) : 0;
  }

  /** From the sweeper, every second, and at the end: the bytes moved since the last call go to the backend's counters. */
  countBytes(): void {
    const upstream = this.upstream;
    if (this.#phase !== RELAYING || upstream === undefined) return;
    const backend = this.backend!;
    const sent = this.sentUpstream;
    const received = upstream.bytesRead;
    backend.bytesIn += sent - this.#countedIn;
    backend.bytesOut += received - this.#countedOut;
    this.#countedIn = sent;
    this.#countedOut = received;
  }

  /** As the raw session's: a connection refused before any backend was asked, closed without a reply. Idempotent. */
  endRefused(reason: RefusalReason, detail?: string): void {
    if (this.#phase === DONE) return;
    this.endReason = reason;
    this.endDetail = detail;
    this.client.destroy();
    this.#finish();
  }

  /** Out of the queue (to a backend, or at its timeout): how long it waited. */
  #leftQueue(): void {
    const ms = Date.now() - this.queuedSince;
    this.queueMs = ms;
    this.#host.stats.queueWaits.observe(ms / 1000);
  }

  start(): void {
    this.#host.sessions.add(this);
    // The peer is gone from the kernel once a side resets or both have closed: an access log reads it now.
    if (this.#settings.accessLog !== undefined) void this.client.remotePort; // net.Socket caches its peer once asked
    try {
      const gate = this.#host.gate;
      if (gate !== undefined && !this.#admit(gate)) return;
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
    this.endReason = End.IdleTimeout;
    this.destroy();
  }

  connectTimedOut(): void {
    if (this.#phase === QUEUED) {
      this.#host.admission.remove(this);
      this.#leftQueue();
      return this.#refuse('queue-timeout');
    }
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
    const next = nextStep(host.registry, host.stats, host.admission.full, this, this.#tried, this.#holdsSlot);
    if (next === 'queue') return this.#enqueue(host.admission);
    if (next === undefined) return this.#noBackend();
    this.#dial(next);
  }

  /** As the raw session's: the strategy's preference among accepted, untried backends; in panic mode, any enabled one. */
  #pick(accept: Accept, panic = true): Backend | undefined {
    const host = this.#host;
    return pickBackend(host.registry, host.stats, this, this.#tried, accept, panic);
  }


  #enqueue(admission: Admission): void {
    if (this.#phase === QUEUED) return;
    if (!admission.enqueue(this)) return this.#refuse('queue-full');
    this.#phase = QUEUED;
    this.queuedSince = Date.now();
    this.connectDeadline = this.queuedSince + admission.queueTimeoutMs;
  }

  /** @internal from the queue, when a slot frees: proceeds (true) or keeps its place (false). */
  tryFromQueue(): boolean {
    if (this.#phase !== QUEUED) return true;
    const registry = this.#host.registry;
    const backend = this.#pick(acceptFor(registry), false);
    if (!backend) return false;
    this.#phase = CONNECTING;
    this.connectDeadline = 0;
    this.#leftQueue();
    try {
      this.#dial(backend);
    } catch (error) {
      this.crashed(error);
    }
    return true;
  }

  #admit(gate: ClientGate): boolean {
    const verdict = gate.admit(this.clientIp);
    if (verdict === 'ok') {
      this.#gate = gate;
      return true;
    }
    gateRefused(this.#host.stats, this.#host.log, this.clientIp, verdict);
    this.endRefused(End.Rejected, verdict);
    return false;
  }

  #refuse(reason: QueueRefusal): void {
    queueRefused(this.#host.stats, this.#host.limited, this.clientIp, reason);
    this.endReason = reason === 'queue-full' ? End.Rejected : End.QueueTimeout;
    this.endDetail = reason === 'queue-full' ? reason : undefined;
    this.#closeUnavailable();
  }

  /** As the raw session's: `unavailableReply` first when there is one, then a FIN, and the close a second later. */
  #closeUnavailable(): void {
    const client = this.client;
    const reply = this.#settings.unavailableReply;
    if (reply !== undefined && !client.destroyed) {
      client.end(reply);
      setTimeout(() => client.destroy(), LINGER_MS).unref();
    } else client.destroy();
    this.#finish();
  }

  #dial(backend: Backend): void {
    if (!this.#holdsSlot) {
      this.#holdsSlot = true;
      this.#host.admission.active++;
    }
    this.#attempts++;
    this.attempt++;
    this.backend = backend;
    backend.active++;
    this.connectDeadline = Date.now() + this.#settings.connectTimeoutMs;
    this.#dialStart = performance.now();
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
    // The connect itself; the histogram takes it once the attempt is through (the header can still fail it).
    const connectMs = performance.now() - this.#dialStart;
    this.connectMs = connectMs;
    if (this.#settings.keepAliveSeconds > 0) upstream?.setKeepAlive(true, this.#settings.keepAliveSeconds * 1000);
    const proxy = backend.sendProxy;
    const origin = this.#origin;
    if (proxy !== undefined && upstream) {
      const c = this.client;
      const client = origin !== undefined ? origin.client : { address: c.remoteAddress ?? '', port: c.remotePort ?? 0 };
      // The client left while its backend connection was made: not the backend's fault, no one to retry for.
      if (client.address === '') return this.#clientGone();
      try {
        // First on the wire, before any client byte (the client is still paused).
        upstream.write(
          origin !== undefined
            ? proxyHeader(proxy, origin.client, origin.local)
            : proxyHeader(proxy, client, { address: c.localAddress!, port: c.localPort! }),
        );
      } catch (error) {
        return this.#connectFailed(new BackendConnectError(`PROXY header to ${backend.key} failed`, 'ERR_PROXY_ENCODE', { cause: error }));
      }
    }
    // The bytes read ahead of the pick, to this attempt's backend, before the client is read again.
    const replay = origin?.replay;
    if (replay !== undefined && upstream) {
      upstream.write(replay);
      this.sentUpstream += replay.length;
    }
    this.connectDeadline = 0;
    backend.connectTimes.observe(connectMs / 1000);
    backend.total++;
    if (this.#settings.timeConnects) timeConnect(backend, this.#dialStart);
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

  /** As the raw session's: the client left while its backend connection was made; no failure counted, no retry. */
  #clientGone(): void {
    this.endReason = End.ClientReset;
    this.endDetail = 'client gone before the backend connection was up';
    this.#closeConnecting(false);
  }

  #connectFailed(error: BackendConnectError): void {
    const host = this.#host;
    const backend = this.backend!;
    this.connectMs = -1;
    this.#dropUpstream();
    this.backend = undefined;
    backend.active--;
    backend.failed++;
    (this.#tried ??= []).push(backend);
    this.endDetail = error.code;
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
    host.limited.error('local-resources', { code, backend: this.backend?.key }, 'cannot open a backend connection: local resources exhausted');
    this.endReason = End.ConnectFailed;
    this.endDetail = code;
    this.#dropUpstream();
    this.client.destroy();
    this.#finish();
  }

  #noBackend(): void {
    const host = this.#host;
    host.stats.noBackend++;
    host.limited.warn('no-backend', { client: this.clientIp, attempts: this.#attempts }, 'no backend could take the connection');
    this.endReason = this.#attempts > 0 ? End.ConnectFailed : End.NoBackend;
    if (this.#attempts === 0) this.endDetail = undefined;
    this.#closeUnavailable();
  }

  protected override relayEnding(): void {
    this.countBytes();
    this.#finish();
  }

  protected override crashed(error: unknown): void {
    this.#host.log.error({ err: error, backend: this.backend?.key }, 'data plane error: connection closed');
    this.endReason = End.InternalError;
    this.destroy();
  }

  #finish(): void {
    const phase = this.#phase;
    if (phase === DONE) return;
    this.#phase = DONE;
    this.connectDeadline = this.idleSince = 0;
    const admission = this.#host.admission;
    if (phase === QUEUED) admission.remove(this);
    if (this.backend) this.backend.active--;
    if (this.#holdsSlot) admission.active--;
    this.#gate?.release(this.clientIp);
    const host = this.#host;
    host.stats.durations.observe((Date.now() - this.startedAt) / 1000);
    const accessLog = this.#settings.accessLog;
    if (accessLog !== undefined) accessLog.write(this, host.listenAddress);
    host.release(this);
    admission.serve();
  }
}
