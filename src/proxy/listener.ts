/**
 * The client-facing TCP listener: accepts, hands each connection to a
 * Session, and owns the sessions for graceful and immediate shutdown.
 *
 * `net.Server` does the listening, so binding, errors and node:cluster (the
 * primary sharing its socket with workers, or handing them connections round
 * robin) work as usual. Accepted connections skip `net.Socket`: once the
 * server listens, its handle's `onconnection` (which Node calls with each
 * accepted raw handle, see native.ts) is ours. The server then never counts a
 * connection, so `server.close()` returns as soon as it stops listening, and
 * draining is tracked here, by the sessions list.
 *
 * The listening socket belongs to a Port (port.ts): this listener alone as a
 * rule, and then it takes each connection itself, as it always has; or
 * beside the other services of an address shared by `sni`, or behind
 * `acceptProxy`, and then the port's acceptor reads the first bytes and
 * hands the connection over (`acceptRouted`).
 */
import type { AddressInfo } from 'node:net';
import type { Cidr } from '../config/cidr.ts';
import type { RawMember } from './accept-first-bytes.ts';
import type { ClientOrigin } from './first-bytes/reading.ts';
import { firstBytesSettings, type FirstBytesSettings, type Port } from './port.ts';
import { listenRaw } from './raw-port.ts';
import type { Backend } from '../backends/backend.ts';
import type { Registry } from '../backends/registry.ts';
import type { HostPort } from '../config/parse.ts';
import { LimitedLog } from '../observability/limited-log.ts';
import { Admission } from '../service/controls/admission.ts';
import type { ClientGate } from '../service/controls/gate.ts';
import type { Logger } from '../observability/log.ts';
import type { ProxyStats } from '../observability/stats.ts';
import { DataPlaneError } from '../errors.ts';
import type { AccessLogFormat } from '../config/config.ts';
import { accessLogFor, hostPort, type AccessLog } from '../observability/access-log/access-log.ts';
import { End } from '../observability/access-log/end-reasons.ts';
import { errnoName, nativeProblem, type TcpHandle } from './native.ts';
import { canonicalStrategyName } from '../strategies/index.ts';
import { Session, type ConnectObserver, type SessionHost, type SessionSettings } from './session.ts';
import { SessionList } from './session-list.ts';
import { Sweeper } from './sweeper.ts';

export interface ListenerSettings {
  readonly connectTimeoutMs: number;
  readonly retries: number;
  /** 0 disables. */
  readonly idleTimeoutMs: number;
  /** 0: no cap. */
  readonly maxLifetimeMs?: number;
  /** latin1 text (a byte per character) written to a client no backend can take. */
  readonly unavailableReply?: string | undefined;
  /** TCP keepalive idle time on both sides; 0 or absent disables. */
  readonly tcpKeepAliveMs?: number;
  /** `off` (or absent), `stdout`, `stderr` or a path. */
  readonly accessLog?: string;
  readonly accessLogFormat?: AccessLogFormat;
  /** The service's strategy: `least-response-time` has sessions time their connects. */
  readonly algo?: string;
  /** Read a PROXY header from each client first. */
  readonly acceptProxy?: boolean;
  readonly trustedProxies?: readonly Cidr[];
  readonly proxyHeaderTimeoutMs?: number;
  /** Server names this service takes on a shared address. */
  readonly sni?: readonly string[];
  readonly sniTimeoutMs?: number;
}

export interface ProxyListenerOptions extends ListenerSettings {
  /** The service's connection limit and queue; a listener of its own (none: no limit) when absent. */
  readonly admission?: Admission;
  readonly registry: Registry;
  readonly stats: ProxyStats;
  readonly log: Logger;
  readonly observer: ConnectObserver;
  /** The service's name, for its access-log lines. @default 'default' */
  readonly service?: string;
}

/**
 * What a service (and a test) sees of a data plane's listener, whichever
 * plane it is: this one, or the stream plane's (stream/listener.ts).
 */
export interface DataPlaneListener {
  /** Open sessions. */
  readonly sessions: { readonly size: number };
  /** The service's client controls, read by each new session; undefined when none is set. */
  gate: ClientGate | undefined;
  listen(address: HostPort): Promise<AddressInfo>;
  /** Joins the port another listener of this process opened (an address shared by sni), instead of `listen`. */
  join(port: SharedPort): AddressInfo;
  /** The port this listener belongs to, once listening. */
  readonly port: SharedPort | undefined;
  readonly address: AddressInfo | undefined;
  setSettings(settings: ListenerSettings): void;
  /** Resets every connection to `backend` now; returns how many there were. */
  destroyConnectionsTo(backend: Backend): number;
  /** Stops accepting, lets connections run at most `graceMs`, then resets the rest; resolves with how many were cut. */
  close(graceMs?: number): Promise<number>;
  destroy(): Promise<number>;
  readonly openConnections: number;
}

/** A port as the factory's table keeps it, whichever plane. */
export type SharedPort = { readonly address: AddressInfo; onClosed: (() => void) | undefined };

export class ProxyListener implements SessionHost, DataPlaneListener, RawMember {
  readonly registry: Registry;
  readonly stats: ProxyStats;
  readonly log: Logger;
  readonly observer: ConnectObserver;
  readonly limited: LimitedLog;
  /** Read by each new session; replaced whole by `setSettings`. */
  settings: SessionSettings;
  /** Read by the port's plan. */
  firstBytes: FirstBytesSettings;
  /** The service's client controls, read by each new session; undefined when none is set. */
  gate: ClientGate | undefined = undefined;
  /** The service's connection limit and queue, shared with its other listeners. */
  readonly admission: Admission;
  listenAddress = '-';
  readonly #service: string;
  readonly #sweeper: Sweeper;
  readonly sessions = new SessionList<Session>();
  #port: Port<TcpHandle, RawMember> | undefined;
  #closing: Promise<number> | undefined;
  /** Set while `close()` waits for the last session. */
  #drained: (() => void) | undefined;

  constructor(options: ProxyListenerOptions) {
    const problem = nativeProblem();
    if (problem !== undefined) throw new DataPlaneError(`the raw-handle data plane cannot run: ${problem}`);
    this.registry = options.registry;
    this.stats = options.stats;
    this.log = options.log;
    this.observer = options.observer;
    this.limited = new LimitedLog(options.log);
    this.admission = options.admission ?? new Admission({ maxConnections: 0, queueSize: 0, queueTimeoutMs: 0 });
    this.#service = options.service ?? 'default';
    this.settings = sessionSettings(options, accessLogOf(this.#service, options, options.stats, options.log));
    this.firstBytes = firstBytesSettings(options);
    this.#sweeper = new Sweeper(this.sessions, options.connectTimeoutMs, options.idleTimeoutMs, options.maxLifetimeMs ?? 0);
  }

  /** Binds a port of its own and resolves with the real address (port 0 becomes the ephemeral port). */
  async listen(address: HostPort): Promise<AddressInfo> {
    const port = await listenRaw(address, this.log);
    port.join(this);
    this.#port = port;
    this.listenAddress = hostPort(port.address.address, port.address.port);
    return port.address;
  }

  join(port: SharedPort): AddressInfo {
    const p = port as Port<TcpHandle, RawMember>;
    p.join(this);
    this.#port = p;
    this.listenAddress = hostPort(p.address.address, p.address.port);
    return p.address;
  }

  get port(): SharedPort | undefined {
    return this.#port;
  }

  get address(): AddressInfo | undefined {
    return this.#port?.closed === false ? this.#port.address : undefined;
  }

  /** New connections take these; open ones keep theirs. */
  setSettings(settings: ListenerSettings): void {
    this.settings = sessionSettings(settings, accessLogOf(this.#service, settings, this.stats, this.log));
    this.firstBytes = firstBytesSettings(settings);
    this.#sweeper.follow(settings.connectTimeoutMs, settings.idleTimeoutMs, settings.maxLifetimeMs ?? 0);
    this.#port?.changed();
  }

  /** @internal from the listening handle (the plain path: alone on the port, no first bytes to read). */
  accepted(client: TcpHandle): void {
    if (!this.#port!.noDelayInherited) client.setNoDelay(true);
    if (this.settings.keepAliveSeconds > 0) client.setKeepAlive(true, this.settings.keepAliveSeconds);
    this.stats.accepted++;
    new Session(this, client).start();
  }

  /** @internal from the port's acceptor: a client whose first bytes were read (and belong to this service). */
  acceptRouted(client: TcpHandle, origin: ClientOrigin): void {
    if (this.#closing !== undefined) return client.close(); // left the port while this client was being read
    if (this.settings.keepAliveSeconds > 0) client.setKeepAlive(true, this.settings.keepAliveSeconds);
    this.stats.accepted++;
    new Session(this, client, origin).start();
  }

  /** @internal from each session, once. */
  release(session: Session): void {
    this.sessions.delete(session);
    if (this.sessions.size === 0) this.#drained?.();
  }

  /** Closes every connection to `backend` now; returns how many there were. */
  destroyConnectionsTo(backend: Backend): number {
    let n = 0;
    this.sessions.forEach((s) => {
      if (s.backend === backend) {
        s.endReason = End.Forced;
        s.abort();
        n++;
      }
    });
    return n;
  }

  /**
   * Stops accepting and waits for open connections to end, at most `graceMs`,
   * then closes what is left. Idempotent.
   */
  close(graceMs = 5000): Promise<number> {
    this.#closing ??= new Promise<number>((resolve) => {
      let pending = 2; // the listening socket (or our place on a shared one), the sessions
      const done = () => {
        if (--pending > 0) return;
        clearTimeout(timer);
        this.#drained = undefined;
        this.#sweeper.stop();
        resolve(this.#destroyed);
      };
      const timer = setTimeout(() => this.#destroyAll(), graceMs).unref();
      if (this.#port) void this.#port.leave(this).then(done);
      else done();
      if (this.sessions.size === 0) done();
      else this.#drained = done;
      if (graceMs <= 0) this.#destroyAll();
    });
    return this.#closing;
  }

  /** Stops accepting and closes every connection now. Idempotent. Resolves with how many were closed. */
  destroy(): Promise<number> {
    const closed = this.close(0);
    this.#destroyAll();
    return closed;
  }

  /** Connections open now. */
  get openConnections(): number {
    return this.sessions.size;
  }

  /** Sessions closed by `close` at its deadline or by `destroy`. */
  #destroyed = 0;

  #destroyAll(): void {
    this.sessions.forEach((s) => {
      this.#destroyed++;
      s.endReason = End.Shutdown;
      s.abort();
    });
  }
}

/** The access log of `settings` for a listener of `service` (undefined when off); a path that cannot be opened is logged, its lines dropped and counted. */
export function accessLogOf(service: string, settings: ListenerSettings, stats: ProxyStats, log: Logger): AccessLog | undefined {
  return accessLogFor(service, settings.accessLog, settings.accessLogFormat, stats, (error, what) =>
    log.error({ accessLog: settings.accessLog, code: error.code, op: what }, `access log: cannot ${what} ${settings.accessLog}: ${error.code ?? error.message}`),
  );
}

export function sessionSettings({ connectTimeoutMs, retries, idleTimeoutMs, maxLifetimeMs = 0, unavailableReply, tcpKeepAliveMs = 0, algo }: ListenerSettings, accessLog: AccessLog | undefined = undefined): SessionSettings {
  const reply = unavailableReply === undefined ? undefined : Buffer.from(unavailableReply, 'latin1');
  // The kernel takes whole seconds; anything set rounds up to at least 1.
  const keepAliveSeconds = tcpKeepAliveMs > 0 ? Math.max(1, Math.round(tcpKeepAliveMs / 1000)) : 0;
  const timeConnects = algo !== undefined && canonicalStrategyName(algo) === 'least-response-time';
  return Object.freeze({ connectTimeoutMs, maxAttempts: 1 + retries, idleTimeoutMs, maxLifetimeMs, unavailableReply: reply, keepAliveSeconds, accessLog, timeConnects });
}

