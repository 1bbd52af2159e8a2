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
 */
import { createServer, type AddressInfo, type Server } from 'node:net';
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
  readonly address: AddressInfo | undefined;
  setSettings(settings: ListenerSettings): void;
  /** Resets every connection to `backend` now; returns how many there were. */
  destroyConnectionsTo(backend: Backend): number;
  /** Stops accepting, lets connections run at most `graceMs`, then resets the rest; resolves with how many were cut. */
  close(graceMs?: number): Promise<number>;
  destroy(): Promise<number>;
  readonly openConnections: number;
}

/** The listening handle as net.Server keeps it (`server._handle`), with our back-reference. */
interface ServerHandle {
  /** Absent on the stand-in handle of a cluster worker under round-robin scheduling. */
  setNoDelay?: (on: boolean) => number;
  onconnection: (this: ServerHandle, status: number, client: TcpHandle | undefined) => void;
  proxy?: ProxyListener;
}

export class ProxyListener implements SessionHost, DataPlaneListener {
  readonly registry: Registry;
  readonly stats: ProxyStats;
  readonly log: Logger;
  readonly observer: ConnectObserver;
  readonly limited: LimitedLog;
  /** Read by each new session; replaced whole by `setSettings`. */
  settings: SessionSettings;
  /** The service's client controls, read by each new session; undefined when none is set. */
  gate: ClientGate | undefined = undefined;
  /** The service's connection limit and queue, shared with its other listeners. */
  readonly admission: Admission;
  listenAddress = '-';
  readonly #service: string;
  readonly #sweeper: Sweeper;
  readonly sessions = new SessionList<Session>();
  readonly #server: Server;
  #closing: Promise<number> | undefined;
  /** Accepted sockets inherit TCP_NODELAY from the listening one (Linux), saving a setsockopt per connection. */
  #noDelayInherited = false;
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
    this.#sweeper = new Sweeper(this.sessions, options.connectTimeoutMs, options.idleTimeoutMs, options.maxLifetimeMs ?? 0);
    this.#server = createServer();
    this.#server.on('error', (err) => this.log.error({ err }, 'proxy listener error'));
  }

  /** Binds and resolves with the real address (port 0 becomes the ephemeral port). */
  listen(address: HostPort): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const server = this.#server;
      const onError = (err: Error) => reject(err);
      server.once('error', onError);
      server.listen({ host: address.host, port: address.port, backlog: 4096 }, () => {
        server.off('error', onError);
        const handle = (server as unknown as { _handle?: ServerHandle | null })._handle;
        if (!handle || typeof handle.onconnection !== 'function') {
          server.close();
          return reject(new Error(`fulcrum: net.Server on this Node (${process.version}) has no _handle.onconnection to take connections from`));
        }
        handle.proxy = this;
        handle.onconnection = onConnection;
        this.#noDelayInherited = process.platform === 'linux' && handle.setNoDelay?.(true) === 0;
        const bound = server.address() as AddressInfo;
        this.listenAddress = hostPort(bound.address, bound.port);
        resolve(bound);
      });
    });
  }

  get address(): AddressInfo | undefined {
    return (this.#server.address() as AddressInfo | null) ?? undefined;
  }

  /** New connections take these; open ones keep theirs. */
  setSettings(settings: ListenerSettings): void {
    this.settings = sessionSettings(settings, accessLogOf(this.#service, settings, this.stats, this.log));
    this.#sweeper.follow(settings.connectTimeoutMs, settings.idleTimeoutMs, settings.maxLifetimeMs ?? 0);
  }

  /** @internal from the listening handle. */
  accepted(client: TcpHandle): void {
    if (!this.#noDelayInherited) client.setNoDelay(true);
    if (this.settings.keepAliveSeconds > 0) client.setKeepAlive(true, this.settings.keepAliveSeconds);
    this.stats.accepted++;
    new Session(this, client).start();
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
      const server = this.#server;
      let pending = 2; // the listening socket, the sessions
      const done = () => {
        if (--pending > 0) return;
        clearTimeout(timer);
        this.#drained = undefined;
        this.#sweeper.stop();
        resolve(this.#destroyed);
      };
      const timer = setTimeout(() => this.#destroyAll(), graceMs).unref();
      if (server.listening) server.close(() => done());
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

function onConnection(this: ServerHandle, status: number, client: TcpHandle | undefined): void {
  const listener = this.proxy!;
  if (status !== 0 || client === undefined) {
    // As net.Server would emit it (EMFILE and the like); the listener keeps accepting.
    listener.stats.acceptErrors++;
    listener.limited.error('accept', { code: errnoName(status) }, 'proxy listener accept failed');
    return;
  }
  try {
    listener.accepted(client);
  } catch (err) {
    listener.log.error({ err }, 'data plane error: connection dropped at accept');
    client.close();
  }
}
