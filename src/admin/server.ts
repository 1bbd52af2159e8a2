/**
 * The admin HTTP server: auth, routing, bounded bodies and JSend errors
 * around the route table. Whatever a request contains, it gets a JSON answer
 * and the process goes on; only a valid request reaches a handler that
 * changes anything.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { HostPort } from '../config/parse.ts';
import type { Logger } from '../observability/log.ts';
import { bearerAuth } from './auth.ts';
import { readJsonBody } from './body.ts';
import { Dashboard } from './dashboard.ts';
import { requestGuard } from './guard.ts';
import { StoreUnavailableError } from '../store/store.ts';
import { asClientError, HttpError, notFound } from './http-error.ts';
import { error, fail, sendJson, type JSend } from './jsend.ts';
import { ROUTES, type AdminApi, type Method, type Route } from './routes.ts';
import { parseTarget } from './target.ts';

export interface AdminServerOptions {
  readonly api: AdminApi;
  readonly log: Logger;
  /** When set, every request but `GET /healthz` needs `Authorization: Bearer <token>`. */
  readonly token: string | undefined;
  readonly routes?: readonly Route[];
  /** Host names besides `localhost` and the admin's own addresses that requests may name in Host (guard.ts). @default [] */
  readonly allowedHosts?: readonly string[];
  /**
   * Most connections open at once. Keeps idle admin clients from taking the
   * descriptors the proxy needs: a connection over it closes the oldest one
   * with no request in progress (idle, or still sending its headers), or
   * itself when every other one is busy. @default 256
   */
  readonly maxConnections?: number;
  /** How long a client may take to send its headers, and its whole request. @default 10000, 30000 */
  readonly headersTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  /** Snapshot period of the dashboard's event stream (`GET /events`). @default 1000 */
  readonly dashboardIntervalMs?: number;
}

export class AdminServer {
  readonly #api: AdminApi;
  readonly #log: Logger;
  readonly #routes: readonly Route[];
  readonly dashboard: Dashboard;
  #authorized: (header: string | undefined) => boolean;
  readonly #guard: ReturnType<typeof requestGuard>;
  readonly #server: Server;
  readonly #maxConnections: number;
  /** Connections with no request in progress, oldest first: the ones a connection over the cap displaces. */
  readonly #waiting = new Set<Socket>();
  readonly #inFlight = new WeakMap<Socket, number>();
  #open = 0;
  #closing: Promise<void> | undefined;

  constructor(options: AdminServerOptions) {
    this.#api = options.api;
    this.#log = options.log;
    this.dashboard = new Dashboard({ api: options.api, intervalMs: options.dashboardIntervalMs });
    this.#routes = options.routes ?? [...ROUTES, ...this.dashboard.routes];
    this.#authorized = bearerAuth(options.token);
    this.#guard = requestGuard(options.allowedHosts ?? []);
    const headersTimeout = options.headersTimeoutMs ?? 10_000;
    // Node enforces both timeouts on a sweep every connectionsCheckingInterval (30 s by default, which
    // would let a slowloris client keep its connection four times the headers timeout).
    const connectionsCheckingInterval = Math.min(1000, headersTimeout);
    const timeouts = { requestTimeout: options.requestTimeoutMs ?? 30_000, headersTimeout, keepAliveTimeout: 5_000, connectionsCheckingInterval };
    this.#server = createServer(timeouts, (req, res) => {
      const socket = req.socket;
      this.#waiting.delete(socket);
      this.#inFlight.set(socket, (this.#inFlight.get(socket) ?? 0) + 1);
      res.once('finish', () => {
        const left = this.#inFlight.get(socket)! - 1; // pipelined requests: idle only once every one is answered
        this.#inFlight.set(socket, left);
        if (left === 0 && !socket.destroyed) this.#waiting.add(socket); // kept alive: idle until its next request
      });
      void this.#handle(req, res);
    });
    this.#maxConnections = options.maxConnections ?? 256;
    this.#server.on('connection', (socket: Socket) => this.#admit(socket));
    this.#server.on('clientError', (err, socket) => this.#clientError(err, socket as Socket));
    // Without a listener node:http drops CONNECT without a word; the API tunnels nothing, so it is a 405.
    this.#server.on('connect', (req: IncomingMessage, socket: Socket) => {
      const title = `${req.method} is not allowed on the admin API (it tunnels nothing)`;
      endRaw(socket, 405, 'Method Not Allowed', fail(title, 'ERR_METHOD_NOT_ALLOWED'), 'Allow: GET, HEAD, POST, PATCH, DELETE\r\n');
    });
    this.#server.on('error', (err) => this.#log.error({ err }, 'admin listener error'));
  }

  listen(address: HostPort): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const server = this.#server;
      server.once('error', reject);
      server.listen({ host: address.host, port: address.port }, () => {
        server.off('error', reject);
        resolve(server.address() as AddressInfo);
      });
    });
  }

  /** A reload changed the token: requests from now on need the new one. */
  setToken(token: string | undefined): void {
    this.#authorized = bearerAuth(token);
  }

  get address(): AddressInfo | undefined {
    return (this.#server.address() as AddressInfo | null) ?? undefined;
  }

  /** Stops accepting; requests in progress get `graceMs` to finish. Idempotent. */
  close(graceMs = 5000): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      const server = this.#server;
      if (!server.listening) return resolve();
      this.dashboard.close(); // event streams never end on their own
      const timer = setTimeout(() => server.closeAllConnections(), graceMs).unref();
      server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      server.closeIdleConnections();
    });
    return this.#closing;
  }

  destroy(): Promise<void> {
    const closed = this.close(0);
    this.#server.closeAllConnections();
    return closed;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const { path, query, authority } = parseTarget(req.url ?? '/');
      const method = req.method ?? 'GET';
      this.#guard(req, authority);
      const match = this.#match(path);
      const open = (method === 'GET' && path === '/healthz') || ((method === 'GET' || method === 'HEAD') && match?.route.public === true);
      if (!open && !this.#authorized(req.headers.authorization)) {
        throw new HttpError(401, 'ERR_UNAUTHORIZED', 'missing or invalid bearer token (send "Authorization: Bearer <token>")', {
          headers: { 'www-authenticate': 'Bearer realm="fulcrum-admin"' },
        });
      }
      if (!match) throw notFound(`no such endpoint: ${path.slice(0, 128)}`);
      // HEAD is GET without the body; node:http leaves the body out of a HEAD answer by itself.
      const handler = match.route.methods[(method === 'HEAD' ? 'GET' : method) as Method];
      if (!handler) {
        const allow = Object.keys(match.route.methods).join(', ');
        throw new HttpError(405, 'ERR_METHOD_NOT_ALLOWED', `${method.slice(0, 16)} is not allowed on ${path} (use ${allow})`, { headers: { allow } });
      }
      const reply = await handler({ api: this.#api, params: match.params, query, headers: req.headers, body: () => readJsonBody(req) });
      if ('stream' in reply) return reply.stream(req, res);
      if ('json' in reply) return sendJson(res, reply.status, reply.json);
      if ('raw' in reply) {
        res.writeHead(reply.status, reply.headers);
        res.end(reply.raw);
        return;
      }
      res.writeHead(reply.status, { 'content-type': reply.contentType, 'content-length': Buffer.byteLength(reply.text), 'cache-control': 'no-store' });
      res.end(reply.text);
    } catch (err) {
      this.#fail(req, res, err);
    }
  }

  #fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    const clientError = asClientError(err);
    let body: JSend;
    let status: number;
    const headers: Record<string, string> = {};
    if (clientError) {
      status = clientError.status;
      body = fail(clientError.message, clientError.code, clientError.field, clientError.data);
      Object.assign(headers, clientError.headers);
    } else if (err instanceof StoreUnavailableError) {
      // Not the client's fault and not a bug: the change was refused so that instances do not diverge.
      status = 503;
      body = error(err.message, err.code);
      headers['retry-after'] = '1';
    } else {
      status = 500;
      body = error('internal error; see the balancer log');
      this.#log.error({ err, method: req.method, url: req.url?.slice(0, 256) }, 'admin request failed');
    }
    // A body we stopped reading part-way (too large) leaves the connection unusable for another
    // request; drain what is in flight so the client reads this answer instead of a reset. An
    // untouched body is Node's to discard when the response ends.
    if (clientError && (clientError.status === 413 || clientError.code === 'ERR_ABORTED')) {
      headers.connection = 'close';
      req.resume();
    }
    sendJson(res, status, body, headers);
  }

  /**
   * Over the cap, the oldest connection without a request in progress goes, so
   * clients that connect and send nothing (or headers a byte at a time) cannot
   * lock the operator out; requests being served are never cut.
   */
  #admit(socket: Socket): void {
    this.#open++;
    this.#waiting.add(socket);
    socket.once('close', () => {
      this.#open--;
      this.#waiting.delete(socket);
    });
    if (this.#open > this.#maxConnections) {
      const oldest = this.#waiting.values().next().value!; // this one, when every other is busy
      this.#waiting.delete(oldest); // counted in #open until its close event, but not picked twice
      oldest.destroy();
    }
  }

  /** Malformed HTTP never reaches #handle; answer it in JSend too, then hang up. */
  #clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (!socket.writable || (err as { code?: string }).code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const [status, reason] =
      err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large'] : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout'] : [400, 'Bad Request'];
    endRaw(socket, status, reason, fail(`malformed request: ${reason.toLowerCase()}`, err.code ?? 'ERR_BAD_REQUEST'));
  }

  #match(path: string): { route: Route; params: Record<string, string> } | undefined {
    const segments = path.split('/');
    for (const route of this.#routes) {
      const pattern = route.path.split('/');
      if (pattern.length !== segments.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < pattern.length && ok; i++) {
        const p = pattern[i]!;
        const s = segments[i]!;
        if (p.startsWith(':')) {
          params[p.slice(1)] = s;
          ok = s !== '';
        } else ok = p === s;
      }
      if (ok) return { route, params };
    }
    return undefined;
  }
}

/** A JSend answer written straight to a socket node:http no longer serves, then a hang-up. */
function endRaw(socket: Socket, status: number, reason: string, body: JSend, extraHeaders = ''): void {
  const text = JSON.stringify(body);
  socket.on('error', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\n${extraHeaders}Connection: close\r\n\r\n${text}`,
  );
}
