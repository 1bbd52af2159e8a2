/**
 * The client-facing listener of the stream data plane: a plain `net.Server`
 * whose accepted sockets go to StreamSessions. Everything else is as on the
 * raw plane (proxy/listener.ts): settings snapshots, the coarse Sweeper,
 * graceful and forced close, destroying a backend's connections.
 *
 * Sockets arrive paused (`pauseOnConnect`): a client is not read until its
 * backend is connected. `noDelay` is set on each accepted socket by Node.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import type { Backend } from '../../backends/backend.ts';
import type { Registry } from '../../backends/registry.ts';
import type { HostPort } from '../../config/parse.ts';
import type { Logger } from '../../observability/log.ts';
import type { ProxyStats } from '../../observability/stats.ts';
import { LimitedLog } from '../../observability/limited-log.ts';
import { Admission } from '../../service/controls/admission.ts';
import type { ClientGate } from '../../service/controls/gate.ts';
import { hostPort } from '../../observability/access-log/access-log.ts';
import { End } from '../../observability/access-log/end-reasons.ts';
import { accessLogOf, sessionSettings, type DataPlaneListener, type ListenerSettings, type ProxyListenerOptions, type SharedPort } from '../listener.ts';
import type { ClientOrigin } from '../first-bytes/reading.ts';
import { firstBytesSettings, Port, type AcceptTarget, type FirstBytesSettings } from '../port.ts';
import { StreamAcceptor, type StreamFirstBytes, type StreamMember } from './accept-first-bytes.ts';
import type { ConnectObserver, SessionSettings } from '../session.ts';
import { SessionList } from '../session-list.ts';
import { Sweeper } from '../sweeper.ts';
import { StreamSession, type StreamSessionHost } from './session.ts';

export class StreamListener implements StreamSessionHost, DataPlaneListener, StreamMember {
  readonly registry: Registry;
  readonly stats: ProxyStats;
  readonly log: Logger;
  readonly observer: ConnectObserver;
  readonly limited: LimitedLog;
  /** The service's client controls, read by each new session; undefined when none is set. */
  gate: ClientGate | undefined = undefined;
  /** The service's connection limit and queue, shared with its other listeners. */
  readonly admission: Admission;
  /** Read by each new session; replaced whole by `setSettings`. */
  settings: SessionSettings;
  /** Read by the port's plan. */
  firstBytes: FirstBytesSettings;
  readonly sessions = new SessionList<StreamSession>();
  listenAddress = '-';
  readonly #service: string;
  readonly #sweeper: Sweeper;
  #port: Port<Socket, StreamMember> | undefined;
  #closing: Promise<number> | undefined;
  /** Set while `close()` waits for the last session. */
  #drained: (() => void) | undefined;
  /** Sessions closed by `close` at its deadline or by `destroy`. */
  #destroyed = 0;

  constructor(options: ProxyListenerOptions) {
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
    const port = await listenStream(address, this.log);
    port.join(this);
    this.#port = port;
    this.listenAddress = hostPort(port.address.address, port.address.port);
    return port.address;
  }

  join(port: SharedPort): AddressInfo {
    const p = port as Port<Socket, StreamMember>;
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

  /** @internal from the port (the plain path). */
  accepted(client: Socket): void {
    this.#start(client, undefined);
  }

  /** @internal from the port's acceptor: a client whose first bytes were read. */
  acceptRouted(client: Socket, origin: ClientOrigin): void {
    if (this.#closing !== undefined) return void client.destroy();
    this.#start(client, origin);
  }

  #start(client: Socket, origin: ClientOrigin | undefined): void {
    this.stats.accepted++;
    if (this.settings.keepAliveSeconds > 0) client.setKeepAlive(true, this.settings.keepAliveSeconds * 1000);
    try {
      new StreamSession(this, client, origin).start();
    } catch (err) {
      this.log.error({ err }, 'data plane error: connection dropped at accept');
      client.destroy();
    }
  }

  /** @internal from each session, once. */
  release(session: StreamSession): void {
    this.sessions.delete(session);
    if (this.sessions.size === 0) this.#drained?.();
  }

  /** Resets every connection to `backend` now; returns how many there were. */
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

  /** Stops accepting and waits for open connections to end, at most `graceMs`, then resets what is left. Idempotent. */
  close(graceMs = 5000): Promise<number> {
    this.#closing ??= new Promise<number>((resolve) => {
      let pending = 2; // the listening socket, the sessions
      const done = () => {
        if (--pending > 0) return;
        clearTimeout(timer);
        this.#drained = undefined;
        this.#sweeper.stop();
        resolve(this.#destroyed);
      };
      const timer = setTimeout(() => this.#destroyAll(), graceMs).unref();
      // The server's own callback would wait for its sockets too; the sessions list says when they are gone.
      if (this.#port) void this.#port.leave(this);
      done();
      if (this.sessions.size === 0) done();
      else this.#drained = done;
      if (graceMs <= 0) this.#destroyAll();
    });
    return this.#closing;
  }

  /** Stops accepting and resets every connection now. Idempotent. Resolves with how many were closed. */
  destroy(): Promise<number> {
    const closed = this.close(0);
    this.#destroyAll();
    return closed;
  }

  get openConnections(): number {
    return this.sessions.size;
  }

  #destroyAll(): void {
    this.sessions.forEach((s) => {
      this.#destroyed++;
      s.endReason = End.Shutdown;
      s.abort();
    });
  }
}


/** A listening socket on the stream plane, as a port with no member yet. */
function listenStream(address: HostPort, log: Logger): Promise<Port<Socket, StreamMember>> {
  let target: AcceptTarget<Socket> | undefined;
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (client) => target!.accepted(client));
  server.on('error', (err) => log.error({ err }, 'proxy listener error'));
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen({ host: address.host, port: address.port, backlog: 4096 }, () => {
      server.off('error', onError);
      const pending = new Set<StreamFirstBytes>();
      resolve(
        new Port(server.address() as AddressInfo, true, {
          acceptor: (p, plan) => new StreamAcceptor(p, plan, pending),
          retarget: (t) => void (target = t),
          // Not server.close's callback: it waits for every accepted socket; the sessions say when those are gone.
          closeServer: async () => void (server.listening && server.close()),
          dropPending: () => {
            for (const reader of [...pending]) reader.drop();
          },
        }),
      );
    });
  });
}
