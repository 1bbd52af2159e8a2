/**
 * One client connection: pick a backend, connect (retrying elsewhere on
 * failure), then relay bytes both ways until both sides are done.
 *
 * The hot path allocates nothing per chunk and no closure per connection:
 * socket events go to module-level handlers that find their session through
 * `socket.session`. The client socket arrives paused (`pauseOnConnect`), so
 * bytes it sends before the backend is up wait in the kernel's receive buffer
 * (bounded, in order) and survive any number of failed connect attempts.
 */
import { connect, type Socket } from 'node:net';
import type { Backend } from '../backends/backend.ts';
import type { Registry } from '../backends/registry.ts';
import { BackendConnectError } from '../errors.ts';
import type { Logger } from '../observability/log.ts';
import type { ProxyStats } from '../observability/stats.ts';
import type { Accept, PickContext } from '../strategies/strategy.ts';
import type { Connecting, Relaying, Sweeper } from './sweeper.ts';

/** Told about every connect outcome on real traffic (passive health). */
export interface ConnectObserver {
  connectSucceeded(backend: Backend): void;
  connectFailed(backend: Backend, error: Error): void;
}

/** What a session needs from the listener that owns it. */
export interface SessionHost {
  readonly registry: Registry;
  readonly sweeper: Sweeper;
  readonly stats: ProxyStats;
  readonly observer: ConnectObserver;
  readonly log: Logger;
  readonly connectTimeoutMs: number;
  /** 1 + retries. */
  readonly maxAttempts: number;
  readonly sessions: Set<Session>;
}

type Side = Socket & { session: Session; peer: Side };

const isReady: Accept = (b) => b.ready;

export class Session implements PickContext, Connecting, Relaying {
  readonly clientIp: string;
  readonly #host: SessionHost;
  readonly #client: Side;
  /** The backend of the current attempt; after connect, of the relay. */
  backend: Backend | undefined;
  #upstream: Side | undefined;
  #tried: Backend[] | undefined;
  #attempts = 0;
  #relaying = false;
  #clientClosed = false;
  #upstreamClosed = false;
  #finished = false;

  connectDeadline = 0;
  lastProgress = 0;
  idleSince = 0;

  constructor(host: SessionHost, client: Socket) {
    this.#host = host;
    this.#client = client as Side;
    this.#client.session = this;
    const ip = client.remoteAddress ?? '';
    this.clientIp = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
    client.on('error', onSideError);
    client.on('close', onClientClose);
  }

  start(): void {
    this.#host.sessions.add(this);
    this.#attempt();
  }

  /** Closes both sides now (admin force-delete, shutdown). */
  destroy(): void {
    this.#client.destroy();
    this.#upstream?.destroy();
  }

  progress(): number {
    return this.#client.bytesRead + (this.#upstream?.bytesRead ?? 0);
  }

  idleTimedOut(): void {
    this.#host.stats.idleTimeouts++;
    this.destroy();
  }

  connectTimedOut(): void {
    const socket = this.#upstream;
    if (!socket || this.#relaying) return;
    this.#connectFailed(new BackendConnectError(`connect to ${this.backend?.key} timed out`, 'ETIMEDOUT'));
    socket.destroy();
  }

  #attempt(): void {
    const host = this.#host;
    const registry = host.registry;
    const picker = registry.set.picker;
    const tried = this.#tried;
    let backend = picker.pick(this, tried ? (b) => b.ready && !tried.includes(b) : isReady);
    if (!backend && registry.readyCount === 0) {
      // Panic mode, as Envoy has it: better to try a backend believed down than to refuse outright.
      backend = picker.pick(this, (b) => b.enabled && !(tried?.includes(b) ?? false));
      if (backend) host.stats.panic++;
    }
    if (!backend) return this.#noBackend();

    this.#attempts++;
    this.backend = backend;
    backend.active++;
    const socket = connect({ host: backend.host, port: backend.port, allowHalfOpen: true, noDelay: true }) as Side;
    socket.session = this;
    this.#upstream = socket;
    socket.on('connect', onUpstreamConnect);
    socket.on('error', onSideError);
    socket.on('close', onUpstreamClose);
    this.connectDeadline = Date.now() + host.connectTimeoutMs;
    host.sweeper.connecting.add(this);
  }

  /** @internal from the upstream socket's 'connect'. */
  connected(socket: Side): void {
    const host = this.#host;
    const client = this.#client;
    const backend = this.backend!;
    host.sweeper.connecting.delete(this);
    backend.total++;
    host.observer.connectSucceeded(backend);
    if (this.#clientClosed) {
      socket.destroy();
      return;
    }
    this.#relaying = true;
    client.peer = socket;
    socket.peer = client;
    client.on('data', onData);
    client.on('end', onEnd);
    client.on('drain', onDrain);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('drain', onDrain);
    this.idleSince = Date.now();
    host.sweeper.relaying.add(this);
    client.resume();
  }

  /** @internal from either socket's 'error'. */
  failed(socket: Side, error: Error): void {
    if (socket === this.#upstream && !this.#relaying) {
      this.#connectFailed(new BackendConnectError(`connect to ${this.backend?.key} failed: ${error.message}`, (error as NodeJS.ErrnoException).code, { cause: error }));
    }
    // During the relay the 'close' that follows does the teardown.
  }

  #connectFailed(error: BackendConnectError): void {
    const host = this.#host;
    const backend = this.backend!;
    host.sweeper.connecting.delete(this);
    this.#upstream = undefined;
    this.backend = undefined;
    backend.active--;
    backend.failed++;
    host.observer.connectFailed(backend, error);
    host.log.debug({ backend: backend.key, code: error.code, attempt: this.#attempts }, 'backend connect failed');
    (this.#tried ??= []).push(backend);
    if (this.#clientClosed) return this.#finish();
    if (this.#attempts >= host.maxAttempts) return this.#noBackend();
    host.stats.retries++;
    this.#attempt();
  }

  #noBackend(): void {
    const host = this.#host;
    host.stats.noBackend++;
    host.log.warn({ client: this.clientIp, attempts: this.#attempts }, 'no backend could take the connection');
    if (this.#clientClosed) return this.#finish();
    this.#client.destroy();
  }

  /** @internal */
  clientClosed(hadError: boolean): void {
    this.#clientClosed = true;
    const upstream = this.#upstream;
    if (upstream && !upstream.destroyed) {
      if (!this.#relaying) upstream.destroy();
      else if (hadError) upstream.resetAndDestroy();
    }
    this.#maybeFinish();
  }

  /** @internal */
  upstreamClosed(socket: Side, hadError: boolean): void {
    if (socket !== this.#upstream) return; // a failed attempt, already accounted for
    this.#upstreamClosed = true;
    // An abortive close on one side is passed on as one: the client sees a reset, not a clean end.
    if (hadError && !this.#client.destroyed) this.#client.resetAndDestroy();
    this.#maybeFinish();
  }

  #maybeFinish(): void {
    if (this.#clientClosed && (this.#upstream === undefined || this.#upstreamClosed)) this.#finish();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    const host = this.#host;
    host.sessions.delete(this);
    host.sweeper.connecting.delete(this);
    host.sweeper.relaying.delete(this);
    const backend = this.backend;
    const upstream = this.#upstream;
    if (backend && upstream) {
      backend.active--;
      backend.bytesIn += upstream.bytesWritten;
      backend.bytesOut += upstream.bytesRead;
    }
  }
}

function onData(this: Side, chunk: Buffer): void {
  if (!this.peer.write(chunk)) this.pause();
}

function onDrain(this: Side): void {
  this.peer.resume();
}

function onEnd(this: Side): void {
  this.peer.end();
}

function onSideError(this: Side, error: Error): void {
  this.session.failed(this, error);
}

function onClientClose(this: Side, hadError: boolean): void {
  this.session.clientClosed(hadError);
}

function onUpstreamClose(this: Side, hadError: boolean): void {
  this.session.upstreamClosed(this, hadError);
}

function onUpstreamConnect(this: Side): void {
  this.session.connected(this);
}
