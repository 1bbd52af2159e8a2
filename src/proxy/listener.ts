/**
 * The client-facing TCP listener: accepts, hands each connection to a
 * Session, and owns the sessions for graceful and immediate shutdown.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Backend } from '../backends/backend.ts';
import type { Registry } from '../backends/registry.ts';
import type { HostPort } from '../config/parse.ts';
import type { Logger } from '../observability/log.ts';
import type { ProxyStats } from '../observability/stats.ts';
import { Session, type ConnectObserver, type SessionHost } from './session.ts';
import { Sweeper } from './sweeper.ts';

export interface ProxyListenerOptions {
  readonly registry: Registry;
  readonly stats: ProxyStats;
  readonly log: Logger;
  readonly observer: ConnectObserver;
  readonly connectTimeoutMs: number;
  readonly retries: number;
  /** 0 disables. */
  readonly idleTimeoutMs: number;
}

export class ProxyListener implements SessionHost {
  readonly registry: Registry;
  readonly stats: ProxyStats;
  readonly log: Logger;
  readonly observer: ConnectObserver;
  readonly connectTimeoutMs: number;
  readonly maxAttempts: number;
  readonly sweeper: Sweeper;
  readonly sessions = new Set<Session>();
  readonly #server: Server;
  #closing: Promise<void> | undefined;

  constructor(options: ProxyListenerOptions) {
    this.registry = options.registry;
    this.stats = options.stats;
    this.log = options.log;
    this.observer = options.observer;
    this.connectTimeoutMs = options.connectTimeoutMs;
    this.maxAttempts = 1 + options.retries;
    this.sweeper = new Sweeper(options.connectTimeoutMs, options.idleTimeoutMs);
    this.#server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket: Socket) => {
      this.stats.accepted++;
      new Session(this, socket).start();
    });
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
        resolve(server.address() as AddressInfo);
      });
    });
  }

  get address(): AddressInfo | undefined {
    return (this.#server.address() as AddressInfo | null) ?? undefined;
  }

  /** Closes every connection to `backend` now; returns how many there were. */
  destroyConnectionsTo(backend: Backend): number {
    let n = 0;
    for (const s of this.sessions) {
      if (s.backend === backend) {
        s.destroy();
        n++;
      }
    }
    return n;
  }

  /**
   * Stops accepting and waits for open connections to end, at most `graceMs`,
   * then closes what is left. Idempotent.
   */
  close(graceMs = 5000): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      const server = this.#server;
      const done = () => {
        clearTimeout(timer);
        this.sweeper.stop();
        resolve();
      };
      const timer = setTimeout(() => {
        for (const s of this.sessions) s.destroy();
      }, graceMs).unref();
      if (!server.listening) {
        for (const s of this.sessions) s.destroy();
        return done();
      }
      server.close(() => done());
    });
    return this.#closing;
  }

  /** Stops accepting and closes every connection now. Idempotent. */
  destroy(): Promise<void> {
    const closed = this.close(0);
    for (const s of this.sessions) s.destroy();
    return closed;
  }
}
