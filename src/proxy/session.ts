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
import type { LimitedLog } from '../observability/limited-log.ts';
import type { Admission, Waiting } from '../service/controls/admission.ts';
import type { ClientGate } from '../service/controls/gate.ts';
import type { Logger } from '../observability/log.ts';
import type { AccessLog, AccessRecord } from '../observability/access-log/access-log.ts';
import { End, type RefusalReason } from '../observability/access-log/end-reasons.ts';
import type { ProxyStats } from '../observability/stats.ts';
import type { Accept, PickContext } from '../strategies/strategy.ts';
import { attemptTimedOut, dial, type AddressAttempts, type Dialing } from './connect.ts';
import { writeSync } from 'node:fs';
import { errnoName, ShutdownWrap, type PeerName, type TcpHandle } from './native.ts';
import { REPLAY_QUEUED, REPLAY_SENT, writeReplay, type ReplayOwner } from './replay.ts';
import type { ProxyEndpoint } from './first-bytes/proxy-header.ts';
import { proxyHeader } from './first-bytes/send-header.ts';
import type { ClientOrigin } from './first-bytes/reading.ts';
import { acceptFor, nextStep, pickBackend } from './pick.ts';
import { gateRefused, queueRefused, type QueueRefusal } from './refusals.ts';
import { Relay } from './relay.ts';
import { timeConnect } from './connect-time.ts';
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
  /** 0: no cap. */
  readonly maxLifetimeMs: number;
  /** Written to a client no backend can take, before it is closed; undefined: none. */
  readonly unavailableReply: Buffer | undefined;
  /** TCP keepalive idle time, whole seconds, set on both sides; 0 leaves it off. */
  readonly keepAliveSeconds: number;
  /** Where each connection's line goes when it ends; undefined: off (nothing is formatted). */
  readonly accessLog: AccessLog | undefined;
  /** Time each connect for the backend's smoothed connect time (the service balances by `lrt`); otherwise no clock is read for it. */
  readonly timeConnects: boolean;
}

/** What a session needs from the listener that owns it. */
export interface SessionHost {
  readonly registry: Registry;
  readonly stats: ProxyStats;
  readonly observer: ConnectObserver;
  readonly log: Logger;
  /** For warnings that repeat per connection: at most one line a second per kind. */
  readonly limited: LimitedLog;
  /** The current snapshot; read once, when a session starts. */
  readonly settings: SessionSettings;
  /** The service's client controls (allow/deny, per-IP limits); undefined when none is set. */
  readonly gate: ClientGate | undefined;
  /** The service's connection limit and queue. */
  readonly admission: Admission;
  /** The address clients connect to, `ip:port`, for the access log. */
  readonly listenAddress: string;
  /** Open sessions; a session adds itself on start and leaves through `release`. */
  readonly sessions: SessionList<Session>;
  /** Called once per session, when both its sides are closed. */
  release(session: Session): void;
}


const CONNECTING = 0;
const RELAYING = 1;
const DONE = 2;
/** Waiting in the service's queue: no backend connection, the client not read. */
const QUEUED = 3;

export class Session extends Relay implements PickContext, Swept, Dialing, Listed<Session>, Waiting, AccessRecord, ReplayOwner {
  readonly #host: SessionHost;
  readonly #settings: SessionSettings;
  /** The backend of the current attempt; after connect, of the relay. */
  backend: Backend | undefined;
  #clientIp: string | undefined;
  /**
   * Who the client is when its first bytes were read (a PROXY header, a
   * ClientHello), with the bytes to replay; undefined on the plain path.
   */
  readonly #origin: ClientOrigin | undefined;
  /** The gate that let this client in, to give its per-IP slot back (undefined when none was asked). */
  #gate: ClientGate | undefined;
  /** Holds one of the service's connection slots (from its first pick to its end). */
  #holdsSlot = false;
  /** Epoch ms it joined the queue. */
  queuedSince = 0;
  #tried: Backend[] | undefined;
  #attempts = 0;
  #phase = CONNECTING;
  // For the access log and the histograms: a few numbers, no allocation.
  #clientPort = -1;
  /** performance.now() when the current backend's dial began. */
  #dialStart = 0;
  /** -1: no connect succeeded. */
  connectMs = -1;
  /** -1: never queued. */
  queueMs = -1;
  /** Why it ended, beyond the reason: a refusal's verdict, the last connect error. */
  endDetail: string | undefined = undefined;
  /** Bytes already added to the backend's counters (every second while open, the rest at the end). */
  #countedIn = 0;
  #countedOut = 0;

  connectDeadline = 0;
  addressAttempts: AddressAttempts | undefined = undefined;
  lastProgress = 0;
  idleSince = 0;
  listPrev: Session | undefined = undefined;
  listNext: Session | undefined = undefined;

  constructor(host: SessionHost, client: TcpHandle, origin?: ClientOrigin) {
    super(client);
    this.#host = host;
    this.#settings = host.settings;
    this.#origin = origin;
    if (origin !== undefined) {
      this.#clientIp = origin.clientIp;
      this.#clientPort = origin.client.port;
    }
  }

  /** The TLS server name the client asked for (an SNI address); undefined otherwise. */
  get sni(): string | undefined {
    return this.#origin?.sni;
  }

  /** For the sweeper: this session's own idle timeout (0: none). */
  get idleTimeoutMs(): number {
    return this.#settings.idleTimeoutMs;
  }

  /** For the sweeper: the age at which this connection is ended (0: none). */
  get maxLifetimeMs(): number {
    return this.#settings.maxLifetimeMs;
  }

  /** When the client was accepted, epoch ms. */
  readonly startedAt = Date.now();

  lifetimeEnded(): void {
    if (this.#phase !== RELAYING) return;
    this.#host.stats.maxLifetimes++;
    this.endReason = End.MaxLifetime;
    this.closeRelay(); // a FIN each way, as an idle timeout
  }

  /**
   * The client's address: asked of the kernel (getpeername) the first time a
   * strategy or a log line needs it, unless a PROXY header gave it (the origin). The
   * one place the client address is read.
   */
  get clientIp(): string {
    if (this.#clientIp === undefined) this.#readPeer();
    return this.#clientIp!;
  }

  get clientPort(): number {
    if (this.#clientPort < 0) this.#readPeer();
    return this.#clientPort;
  }

  #readPeer(): void {
    peer.address = undefined;
    peer.port = undefined;
    const err = this.client.getpeername(peer);
    const ip = err === 0 ? ((peer.address as string | undefined) ?? '') : '';
    this.#clientIp ??= ip.startsWith('::ffff:') ? ip.slice(7) : ip;
    if (this.#clientPort < 0) this.#clientPort = err === 0 ? ((peer.port as number | undefined) ?? 0) : 0;
  }

  get attempts(): number {
    return this.#attempts;
  }

  /** The backend that served the connection, else the one its last attempt went to. */
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

  start(): void {
    this.#host.sessions.add(this);
    // The peer is gone from the kernel once a side resets or both have closed: an access log reads it now.
    if (this.#settings.accessLog !== undefined) this.#readPeer();
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
    this.endReason = End.IdleTimeout;
    this.destroy();
  }

  connectTimedOut(): void {
    if (this.#phase === QUEUED) {
      this.#host.admission.remove(this);
      this.#leftQueue();
      return this.#refuse('queue-timeout');
    }
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
    const next = nextStep(host.registry, host.stats, host.admission.full, this, this.#tried, this.#holdsSlot);
    if (next === 'queue') return this.#enqueue(host.admission);
    if (next === undefined) return this.#noBackend();
    this.#dial(next);
  }

  /** The strategy's preference among the backends `accept` allows and this connection has not tried; in panic mode, any enabled one. */
  #pick(accept: Accept, panic = true): Backend | undefined {
    const host = this.#host;
    return pickBackend(host.registry, host.stats, this, this.#tried, accept, panic);
  }


  #dial(backend: Backend): void {
    if (!this.#holdsSlot) {
      this.#holdsSlot = true;
      this.#host.admission.active++;
    }
    this.#attempts++;
    this.backend = backend;
    backend.active++;
    this.connectDeadline = Date.now() + this.#settings.connectTimeoutMs;
    this.#dialStart = performance.now();
    // dial opens `this.upstream` (a new handle per address tried); from then on, whatever happens closes it.
    const err = dial(this, backend.host, backend.port);
    if (err !== 0) this.dialed(this.upstream!, errnoName(err));
  }

  /** Joins the service's queue, or is refused when the line is full. */
  #enqueue(admission: Admission): void {
    if (this.#phase === QUEUED) return; // tried again from the queue, and still no room: it keeps its place
    if (!admission.enqueue(this)) return this.#refuse('queue-full');
    this.#phase = QUEUED;
    this.queuedSince = Date.now();
    this.connectDeadline = this.queuedSince + admission.queueTimeoutMs;
  }

  /** @internal from the queue, when a slot frees: proceeds (true) or keeps its place (false). */
  tryFromQueue(): boolean {
    if (this.#phase !== QUEUED) return true; // closed meanwhile: let the line move on
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

  /** Out of the queue (to a backend, or at its timeout): how long it waited. */
  #leftQueue(): void {
    const ms = Date.now() - this.queuedSince;
    this.queueMs = ms;
    this.#host.stats.queueWaits.observe(ms / 1000);
  }

  /**
   * Ends a connection refused before any backend was asked (the client
   * controls; a missing or bad PROXY header, from the first-bytes phase):
   * the client is closed without a reply, and its access-log line says why
   * (`rejected` with `detail`, or `proxy-header`). Idempotent.
   */
  endRefused(reason: RefusalReason, detail?: string): void {
    if (this.#phase === DONE) return;
    this.endReason = reason;
    this.endDetail = detail;
    this.client.close();
    this.#finish();
  }

  /** @internal from connect.ts: the attempt on `upstream` (the current one) is over. */
  dialed(upstream: TcpHandle, code: string | undefined): void {
    if (code !== undefined) {
      if (LOCAL_ERRORS.has(code)) return this.#localFailure(code);
      const message = `connect to ${this.backend?.key} failed: ${code}`;
      return this.#connectFailed(new BackendConnectError(message, code));
    }
    const backend = this.backend!;
    // The connect itself; the histogram and lrt take it once the attempt is through (a header or replay can still fail it).
    this.connectMs = performance.now() - this.#dialStart;
    if (this.#settings.keepAliveSeconds > 0) upstream.setKeepAlive(true, this.#settings.keepAliveSeconds);
    const proxy = backend.sendProxy;
    if (proxy !== undefined) {
      // First on the wire, before any client byte (the client is not read until the relay starts).
      const code = this.#sendProxyHeader(upstream, proxy);
      if (code === CLIENT_GONE) return this.#clientGone();
      if (code !== undefined) return this.#connectFailed(new BackendConnectError(`PROXY header to ${backend.key} failed: ${code}`, code));
    }
    const replay = this.#origin?.replay;
    if (replay !== undefined) {
      // The bytes read ahead of the pick, to this attempt's backend, before the client is read again.
      const done = writeReplay(upstream as TcpHandle & { relay: Session }, replay);
      if (done !== REPLAY_SENT && done !== REPLAY_QUEUED) return this.#connectFailed(new BackendConnectError(`replaying the first bytes to ${backend.key} failed: ${done}`, done));
      if (done === REPLAY_QUEUED) {
        // The relay starts in replayDone. Until then the connect timeout runs on, so a backend
        // that accepts and never reads is given up on (and another tried) like one that never accepts.
        this.connectDeadline = Date.now() + this.#settings.connectTimeoutMs;
        return;
      }
    }
    this.#relay(backend);
  }

  #relay(backend: Backend): void {
    this.connectDeadline = 0;
    backend.connectTimes.observe(this.connectMs / 1000);
    const replay = this.#origin?.replay;
    if (replay !== undefined) this.sentUpstream += replay.length; // counted once, for the attempt that took them
    backend.total++;
    if (this.#settings.timeConnects) timeConnect(backend, performance.now() - this.connectMs);
    this.#phase = RELAYING;
    this.idleSince = Date.now();
    this.startRelay();
    this.#host.observer.connectSucceeded(backend);
  }

  /** @internal the rest of a replay is written (or failed). */
  replayDone(status: number, upstream: TcpHandle): void {
    // A write on an attempt given up (timed out, closed) completes later, cancelled: not this attempt's.
    if (this.#phase !== CONNECTING || this.upstream !== upstream) return;
    try {
      if (status < 0) return this.#connectFailed(new BackendConnectError(`replaying the first bytes to ${this.backend?.key} failed: ${errnoName(status)}`, errnoName(status)));
      if (this.upstream.readStart() !== 0) return this.destroy();
      this.#relay(this.backend!);
    } catch (error) {
      this.crashed(error);
    }
  }

  /** Writes the PROXY header for this client to `upstream`; an error's code when it could not. */
  #sendProxyHeader(upstream: TcpHandle, version: 'v1' | 'v2'): string | undefined {
    const origin = this.#origin;
    if (origin !== undefined) return origin.client.address === '' ? CLIENT_GONE : writeHeader(upstream, version, origin.client, origin.local);
    const client = this.client;
    const remote: PeerName = {};
    const local: PeerName = {};
    if (client.getpeername(remote) !== 0 || client.getsockname(local) !== 0) return CLIENT_GONE;
    return writeHeader(upstream, version, { address: remote.address!, port: remote.port! }, { address: local.address!, port: local.port! });
  }

  /** @internal */
  dialCrashed(error: unknown): void {
    this.crashed(error);
  }

  /**
   * The client left while its backend connection was being made (its address
   * can no longer be read for the PROXY header): not the backend's fault, so
   * no failure is counted against it, and there is no one to retry for.
   */
  #clientGone(): void {
    this.endReason = End.ClientReset;
    this.endDetail = 'client gone before the backend connection was up';
    this.#closeConnecting(false);
  }

  #connectFailed(error: BackendConnectError): void {
    const host = this.#host;
    const backend = this.backend!;
    this.connectDeadline = 0;
    this.connectMs = -1;
    this.upstream?.close();
    this.upstream = undefined;
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
    this.upstream?.close();
    this.upstream = undefined;
    this.client.close();
    this.#finish();
  }

  /** The client controls; false when they refused the client (closed and counted). */
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

  /** The queue is full, or the wait ran out: the client is closed, counted by reason. */
  #refuse(reason: QueueRefusal): void {
    queueRefused(this.#host.stats, this.#host.limited, this.clientIp, reason);
    this.endReason = reason === 'queue-full' ? End.Rejected : End.QueueTimeout;
    this.endDetail = reason === 'queue-full' ? reason : undefined;
    this.#closeUnavailable();
  }

  #noBackend(): void {
    const host = this.#host;
    host.stats.noBackend++;
    host.limited.warn('no-backend', { client: this.clientIp, attempts: this.#attempts }, 'no backend could take the connection');
    // Every attempt failed, or there was nothing to attempt.
    this.endReason = this.#attempts > 0 ? End.ConnectFailed : End.NoBackend;
    if (this.#attempts === 0) this.endDetail = undefined;
    this.#closeUnavailable();
  }

  /**
   * Closes a client no backend can take, after `unavailableReply` when there
   * is one: written at once (the socket is fresh, its buffer empty), then a
   * FIN, and the close only LINGER_MS later, since closing a socket with
   * unread bytes (the client's request) resets it and may destroy the reply
   * before the client reads it (HAProxy lingers the same way).
   */
  #closeUnavailable(): void {
    const client = this.client;
    const reply = this.#settings.unavailableReply;
    if (reply !== undefined && client.fd >= 0) {
      try {
        writeSync(client.fd, reply);
        const req = new ShutdownWrap();
        req.oncomplete = noop;
        client.shutdown(req);
        setTimeout(() => client.close(), LINGER_MS).unref();
        return this.#finish();
      } catch {
        // The client is gone already: close as without a reply.
      }
    }
    client.close();
    this.#finish();
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
    // A slot of the service, or of a backend, is free: the next client in line may take it.
    admission.serve();
  }
}

/** #sendProxyHeader: the client's address is gone (it closed or reset while its backend connection was made). */
const CLIENT_GONE = 'client-gone';

/** How long a client refused with a reply keeps its socket before the close. */
const LINGER_MS = 1000;
const noop = (): void => {};

/** Connect errors that come from this host's limits, not from the backend: not counted against it (probes share the list). */
const LOCAL_ERRORS: ReadonlySet<string> = LOCAL_ERRNOS;

/** Writes a PROXY header; an error's code when it could not. */
function writeHeader(upstream: TcpHandle, version: 'v1' | 'v2', client: ProxyEndpoint, local: ProxyEndpoint): string | undefined {
  try {
    // A fresh socket's send buffer takes a header of at most 108 bytes (v1) or 52 (v2) whole.
    writeSync(upstream.fd, proxyHeader(version, client, local));
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? 'ERR_PROXY_ENCODE';
  }
}

const peer: PeerName = {};
