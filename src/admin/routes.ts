/**
 * The admin API's routes: what each endpoint does, in terms of the balancer's
 * own API (registry, addBackend, removeBackend, metrics). Nothing here knows
 * of sockets; the server (server.ts) does the HTTP around it.
 */
import type { Backend } from '../backends/backend.ts';
import type { Registry } from '../backends/registry.ts';
import { formatHostPort, type BackendSpec } from '../config/parse.ts';
import type { Logger } from '../observability/log.ts';
import { notFound } from './http-error.ts';
import { success, type JSend } from './jsend.ts';
import { parseDeregister, parseForce, parsePatch, parseRegister } from './validate.ts';

/** What the admin API needs from the balancer. */
export interface AdminApi {
  readonly registry: Registry;
  readonly log: Logger;
  addBackend(spec: BackendSpec): { backend: Backend; created: boolean };
  /** Returns the number of connections still open to it. */
  removeBackend(backend: Backend, options: { force?: boolean }): number;
  /** Prometheus exposition of the current state. */
  readonly metrics: { readonly contentType: string; render(): Promise<string> };
}

export type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface RouteContext {
  readonly api: AdminApi;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** Reads and parses the JSON body; only handlers that take one call it. */
  body(): Promise<unknown>;
}

export type Reply =
  | { readonly status: number; readonly json: JSend }
  | { readonly status: number; readonly text: string; readonly contentType: string };

export type Handler = (ctx: RouteContext) => Reply | Promise<Reply>;

export interface Route {
  /** Segments; one starting with ':' matches any single segment. */
  readonly path: string;
  readonly methods: Partial<Record<Method, Handler>>;
}

const ok = (data: unknown): Reply => ({ status: 200, json: success(data) });

function backendById({ api, params }: RouteContext): Backend {
  const backend = api.registry.get(params.id ?? '');
  if (!backend) throw notFound(`no backend with id "${(params.id ?? '').slice(0, 64)}"`);
  return backend;
}

/**
 * Deregisters and reports what is left. Without force, existing connections
 * run to their end and `openConnections` says how many there are; with force
 * they are closed now, so it is 0 and `closedConnections` says how many were.
 * `backend` is the backend as it was just before.
 */
function deregister(api: AdminApi, backend: Backend, force: boolean): Reply {
  const before = backend.toJSON();
  const openConnections = api.removeBackend(backend, { force });
  return ok(force ? { backend: before, openConnections, closedConnections: before.activeConnections } : { backend: before, openConnections });
}

export const ROUTES: readonly Route[] = [
  {
    path: '/healthz',
    methods: {
      GET: ({ api }) => ok({ status: 'ok', backends: api.registry.list().length, ready: api.registry.readyCount }),
    },
  },
  {
    path: '/metrics',
    methods: {
      GET: async ({ api }) => ({ status: 200, text: await api.metrics.render(), contentType: api.metrics.contentType }),
    },
  },
  {
    path: '/register',
    methods: {
      POST: async (ctx) => {
        const spec = parseRegister(await ctx.body());
        const existing = ctx.api.registry.getByKey(formatHostPort(spec));
        const weight = spec.weight ?? existing?.weight ?? 1;
        const { backend, created } = ctx.api.addBackend({ host: spec.host, port: spec.port, weight });
        if (!created) ctx.api.log.info({ backend: backend.key, weight }, 'backend re-registered');
        return ok({ backend: backend.toJSON(), created });
      },
    },
  },
  {
    path: '/deregister',
    methods: {
      POST: async (ctx) => {
        const force = parseForce(ctx.query);
        const address = formatHostPort(parseDeregister(await ctx.body()));
        const backend = ctx.api.registry.getByKey(address);
        if (!backend) throw notFound(`no backend registered at ${address}`);
        return deregister(ctx.api, backend, force);
      },
    },
  },
  {
    path: '/backends',
    methods: {
      GET: ({ api }) => ok({ backends: api.registry.list().map((b) => b.toJSON()) }),
    },
  },
  {
    path: '/backends/:id',
    methods: {
      GET: (ctx) => ok({ backend: backendById(ctx).toJSON() }),
      PATCH: async (ctx) => {
        const backend = backendById(ctx);
        const patch = parsePatch(await ctx.body());
        if (backend.removed) throw notFound(`backend ${backend.id} was deregistered meanwhile`);
        const { registry, log } = ctx.api;
        // Validated in full above, so a bad field never leaves half a change behind.
        if (patch.weight !== undefined) registry.setWeight(backend, patch.weight);
        if (patch.state !== undefined) registry.setAdminState(backend, patch.state);
        log.info({ backend: backend.key, ...patch }, 'backend updated');
        return ok({ backend: backend.toJSON() });
      },
      DELETE: (ctx) => {
        const force = parseForce(ctx.query);
        return deregister(ctx.api, backendById(ctx), force);
      },
    },
  },
];
