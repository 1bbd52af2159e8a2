/**
 * The dashboard on the admin port: the page and its files (`GET /`,
 * `/dashboard/:file`, uPlot from node_modules at `/dashboard/vendor/:file`),
 * served without the token because they hold no data, and the live stream
 * (`GET /events`, token required like every other endpoint).
 *
 * The page reads the stream with fetch() rather than EventSource, so it can
 * send `Authorization: Bearer …` (EventSource cannot send headers): the token
 * never appears in a URL or a cookie. See src/admin/dashboard/stream.js.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatHostPort } from '../config/parse.ts';
import { rejectionsByReason } from '../observability/stats.ts';
import { notFound } from './http-error.ts';
import type { AdminApi, Reply, Route } from './routes.ts';
import { SseHub } from './sse.ts';
import { serveStatic } from './static.ts';

const ROOT = fileURLToPath(new URL('./dashboard/', import.meta.url));

/** uPlot's dist folder, wherever npm put it; undefined when not installed. */
function uplotDist(): string | undefined {
  try {
    return join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');
  } catch {
    return undefined;
  }
}

/** The only vendor files served. */
const VENDOR_FILES = new Set(['uPlot.esm.js', 'uPlot.min.css']);

/**
 * Scripts and styles from this origin only, no inline script or style
 * attribute, no framing, no plugins, fetches to this origin only.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

export interface DashboardOptions {
  readonly api: AdminApi;
  /** Snapshot period of the stream. @default 1000 */
  readonly intervalMs?: number;
}

export class Dashboard {
  readonly hub: SseHub;
  readonly routes: readonly Route[];
  readonly #vendor = uplotDist();

  constructor(options: DashboardOptions) {
    const { api } = options;
    this.hub = new SseHub({ snapshot: () => this.snapshot(api), bus: api.events, intervalMs: options.intervalMs, headers: PAGE_HEADERS });
    const file = (root: string | undefined, name: string, headers: Readonly<Record<string, string | string[] | undefined>>): Promise<Reply> => {
      if (root === undefined) throw notFound(`no such file: ${name}`);
      const inm = headers['if-none-match'];
      return serveStatic(root, name, typeof inm === 'string' ? inm : undefined, PAGE_HEADERS).then((r) => ({ status: r.status, headers: r.headers, raw: r.body }));
    };
    this.routes = [
      { path: '/', public: true, methods: { GET: (ctx) => file(ROOT, 'index.html', ctx.headers) } },
      { path: '/dashboard/:file', public: true, methods: { GET: (ctx) => file(ROOT, ctx.params.file ?? '', ctx.headers) } },
      {
        path: '/dashboard/vendor/:file',
        public: true,
        methods: {
          GET: (ctx) => {
            const name = ctx.params.file ?? '';
            return file(VENDOR_FILES.has(name) ? this.#vendor : undefined, name, ctx.headers);
          },
        },
      },
      {
        path: '/events',
        methods: {
          GET: () => ({
            stream: (req, res) => {
              if (req.method === 'HEAD') {
                res.writeHead(200, { ...PAGE_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store' });
                res.end();
              } else this.hub.attach(req, res);
            },
          }),
        },
      },
    ];
  }

  /**
   * What the page shows, as of now: per service its listen address,
   * strategy, open connections, counters (the page derives rates from them),
   * refusals by reason, the queue when there can be one, and every backend
   * as `GET /backends` lists it (health with its reason and since when in
   * `healthDetail`). Fields added to a backend's JSON appear here and on the
   * page without a change to either. Walks backends, never sessions: one
   * snapshot a second costs the same whatever the connection count.
   */
  snapshot(api: AdminApi) {
    const now = Date.now();
    return {
      time: now,
      stream: this.hub.stats,
      services: api.services().map((s) => {
        const a = s.admission;
        const queued = a.queueSize > 0 && (a.maxConnections > 0 || s.registry.limited);
        return {
          name: s.name,
          listen: s.address ? formatHostPort({ host: s.address.address, port: s.address.port }) : formatHostPort(s.config.listen),
          algo: s.settings.algo,
          openConnections: s.openConnections,
          ready: s.registry.readyCount,
          counters: { ...s.stats },
          rejections: rejectionsByReason(s.stats),
          // Only when a limit can make clients wait (service or backend maxConnections).
          queue: queued ? { ...s.queueNow(now), size: a.queueSize, maxConnections: a.maxConnections } : null,
          backends: s.registry.listAll().map((b) => b.toJSON()),
        };
      }),
    };
  }

  close(): void {
    this.hub.close();
  }
}
