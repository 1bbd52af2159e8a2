/**
 * The admin API's routes: what each endpoint does, in terms of the balancer's
 * own API (registry, addBackend, removeBackend, metrics). Nothing here knows
 * of sockets; the server (server.ts) does the HTTP around it.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Backend } from '../backends/backend.ts';
import { formatHostPort } from '../config/parse.ts';
import { ReloadError, type ReloadSummary } from '../fulcrum.ts';
import type { EventBus } from '../observability/events.ts';
import type { Logger } from '../observability/log.ts';
import type { Service } from '../service/service.ts';
import { CLUSTER_ROUTE } from './cluster.ts';
import { HttpError, notFound } from './http-error.ts';
import { success, type JSend } from './jsend.ts';
import { draftOf } from '../store/entry.ts';
import type { BackendStore } from '../store/store.ts';
import { parseDeregister, parseForce, parsePatch, parseRegister } from './validate.ts';

/** What the admin API needs from the balancer. */
export interface AdminApi {
  readonly log: Logger;
  /** Every service, in config order. */
  services(): readonly Service[];
  service(name: string): Service | undefined;
  /** The only service, or the one named `default`; undefined when neither exists. */
  defaultService(): Service | undefined;
  /** Re-reads the config file and applies it; rejects with a ReloadError (nothing changed). */
  reload(): Promise<ReloadSummary>;
  /** Prometheus exposition of the current state. */
  readonly metrics: { readonly contentType: string; render(): Promise<string> };
  /** What happened, for the dashboard's event stream; without it the stream carries snapshots only. */
  readonly events?: EventBus;
  /** Where API backends and admin state are kept (this process, or Redis shared by a fleet); changes are recorded there first. */
  readonly store: BackendStore;
}

export type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface RouteContext {
  readonly api: AdminApi;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  /** Reads and parses the JSON body; only handlers that take one call it. */
  body(): Promise<unknown>;
}

export type Reply =
  | { readonly status: number; readonly json: JSend }
  | { readonly status: number; readonly text: string; readonly contentType: string }
  /** A file (the dashboard's): status, every header, and the body (none for a 304). */
  | { readonly status: number; readonly headers: Readonly<Record<string, string>>; readonly raw: Buffer | undefined }
  /** A long-lived answer (the event stream) that takes the response over. */
  | { readonly stream: (req: IncomingMessage, res: ServerResponse) => void };

export type Handler = (ctx: RouteContext) => Reply | Promise<Reply>;

export interface Route {
  /** Segments; one starting with ':' matches any single segment. */
  readonly path: string;
  readonly methods: Partial<Record<Method, Handler>>;
  /** GET (and HEAD) need no token: the dashboard's page and files, which hold no data. */
  readonly public?: boolean;
}

const ok = (data: unknown): Reply => ({ status: 200, json: success(data) });

const names = (api: AdminApi) => api.services().map((s) => s.name).join(', ');

/** The service a request is about: `:name`, or for the un-scoped endpoints the default one. */
function serviceOf({ api, params }: RouteContext): Service {
  if (params.name !== undefined) {
    const service = api.service(params.name);
    if (!service) throw notFound(`no service named "${params.name.slice(0, 64)}" (services: ${names(api)})`);
    return service;
  }
  const service = api.defaultService();
  if (!service) throw notFound(`there are several services and none is named "default": use /services/:name/… (services: ${names(api)})`);
  return service;
}

/** A registered backend by id, or a removed one whose connections are still open. */
function backendById(ctx: RouteContext): { service: Service; backend: Backend } {
  const service = serviceOf(ctx);
  const id = ctx.params.id ?? '';
  const backend = service.registry.get(id) ?? service.registry.getRemoving(id);
  if (!backend) throw notFound(`no backend with id "${id.slice(0, 64)}" in service "${service.name}"`);
  return { service, backend };
}

/**
 * Deregisters and reports what is left. Without force, existing connections
 * run to their end and `openConnections` says how many there are; with force
 * they are closed now, so it is 0 and `closedConnections` says how many were.
 * `backend` is the backend as it was just before.
 */
async function deregister(api: AdminApi, service: Service, backend: Backend, force: boolean): Promise<Reply> {
  // A backend still draining after its removal is no longer shared: forcing its last connections closed is local.
  if (!backend.removed) await api.store.record(service.name, backend.key, { ...draftOf(backend), removed: true });
  const before = backend.toJSON();
  const openConnections = service.removeBackend(backend, { force });
  return ok(force ? { backend: before, openConnections, closedConnections: before.activeConnections } : { backend: before, openConnections });
}

function serviceSummary(s: Service) {
  const backends = s.registry.list();
  return {
    name: s.name,
    listen: s.address ? formatHostPort({ host: s.address.address, port: s.address.port }) : formatHostPort(s.config.listen),
    algo: s.settings.algo,
    // Only when set: several services may share `listen` by these names.
    ...(s.settings.sni !== undefined && { sni: s.settings.sni }),
    ...(s.settings.acceptProxy === true && { acceptProxy: true }),
    backends: backends.length,
    ready: s.registry.readyCount,
    activeConnections: s.openConnections,
  };
}

function serviceDetail(s: Service) {
  const { algo, connectTimeoutMs, retries, idleTimeoutMs, stickyTtlMs, stickyMaxEntries, health, passive, slowStartMs, allBackups, tcpKeepAliveMs, hash, hashBalanceFactor } = s.settings;
  return {
    ...serviceSummary(s),
    settings: { algo, connectTimeoutMs, retries, idleTimeoutMs, stickyTtlMs, stickyMaxEntries, health, passive, slowStartMs, allBackups, tcpKeepAliveMs, hash, hashBalanceFactor },
  };
}

/** The endpoints that act on one service, mounted at `/…` (the default service) and at `/services/:name/…`. */
const SERVICE_ROUTES: readonly Route[] = [
  {
    path: '/register',
    methods: {
      POST: async (ctx) => {
        const service = serviceOf(ctx);
        const spec = parseRegister(await ctx.body());
        const existing = service.registry.getByKey(formatHostPort(spec));
        const weight = spec.weight ?? existing?.weight ?? 1;
        // Keys left out keep an existing backend's value.
        const backup = spec.backup ?? existing?.backup ?? false;
        const slowStartMs = spec.slowStartMs ?? existing?.slowStartMs;
        const maxConnections = spec.maxConnections ?? existing?.maxConnections ?? 0;
        const proxyProtocol = spec.proxyProtocol ?? existing?.proxyProtocol;
        await ctx.api.store.record(service.name, formatHostPort(spec), {
          host: spec.host,
          port: spec.port,
          weight,
          state: existing?.state ?? 'active',
          backup,
          ...(slowStartMs !== undefined && { slowStartMs }),
          maxConnections,
          ...(proxyProtocol !== undefined && { proxyProtocol }),
          registered: true,
          removed: false,
        });
        const { backend, created } = service.addBackend({
          host: spec.host,
          port: spec.port,
          weight,
          maxConnections,
          ...(backup && { backup }),
          ...(slowStartMs !== undefined && { slowStartMs }),
          ...(proxyProtocol !== undefined && { proxyProtocol }),
        });
        backend.registered = true;
        if (!created) service.log.info({ backend: backend.key, weight }, 'backend re-registered');
        return ok({ backend: backend.toJSON(), created });
      },
    },
  },
  {
    path: '/deregister',
    methods: {
      POST: async (ctx) => {
        const service = serviceOf(ctx);
        const force = parseForce(ctx.query);
        const address = formatHostPort(parseDeregister(await ctx.body()));
        const backend = service.registry.getByKey(address);
        if (!backend) throw notFound(`no backend registered at ${address} in service "${service.name}"`);
        return deregister(ctx.api, service, backend, force);
      },
    },
  },
  {
    path: '/backends',
    methods: {
      GET: (ctx) => ok({ backends: serviceOf(ctx).registry.listAll().map((b) => b.toJSON()) }),
    },
  },
  {
    path: '/backends/:id',
    methods: {
      GET: (ctx) => ok({ backend: backendById(ctx).backend.toJSON() }),
      PATCH: async (ctx) => {
        const { service, backend } = backendById(ctx);
        const patch = parsePatch(await ctx.body());
        if (backend.removed) throw notFound(`backend ${backend.id} was deregistered`);
        const { registry, log } = service;
        await ctx.api.store.record(service.name, backend.key, { ...draftOf(backend), ...(patch.weight !== undefined && { weight: patch.weight }), ...(patch.state !== undefined && { state: patch.state }) });
        // Validated in full above, so a bad field never leaves half a change behind.
        if (patch.weight !== undefined) registry.setWeight(backend, patch.weight);
        if (patch.state !== undefined) registry.setAdminState(backend, patch.state);
        log.info({ backend: backend.key, ...patch }, 'backend updated');
        return ok({ backend: backend.toJSON() });
      },
      DELETE: (ctx) => {
        const force = parseForce(ctx.query);
        const { service, backend } = backendById(ctx);
        return deregister(ctx.api, service, backend, force);
      },
    },
  },
];

export const ROUTES: readonly Route[] = [
  {
    path: '/healthz',
    methods: {
      GET: ({ api }) => {
        const services = api.services();
        return ok({
          status: 'ok',
          services: services.length,
          backends: services.reduce((n, s) => n + s.registry.list().length, 0),
          ready: services.reduce((n, s) => n + s.registry.readyCount, 0),
          // Still serving on the last state it knew while the shared store is away: `ok` stays.
          ...(api.store.state !== 'memory' && { store: api.store.state === 'connected' ? 'connected' : 'disconnected', storeVersion: api.store.version }),
        });
      },
    },
  },
  {
    path: '/metrics',
    methods: {
      GET: async ({ api }) => ({ status: 200, text: await api.metrics.render(), contentType: api.metrics.contentType }),
    },
  },
  {
    path: '/reload',
    methods: {
      POST: async ({ api }) => {
        try {
          return ok(await api.reload());
        } catch (err) {
          if (!(err instanceof ReloadError)) throw err;
          const status = err.code === 'ERR_NO_CONFIG_FILE' ? 409 : 400;
          throw new HttpError(status, err.code, `reload refused, nothing changed: ${err.errors[0] ?? ''}`, { data: { errors: err.errors } });
        }
      },
    },
  },
  CLUSTER_ROUTE,
  {
    path: '/services',
    methods: {
      GET: ({ api }) => ok({ services: api.services().map(serviceSummary) }),
    },
  },
  {
    path: '/services/:name',
    methods: {
      GET: (ctx) => ok({ service: serviceDetail(serviceOf(ctx)) }),
    },
  },
  ...SERVICE_ROUTES,
  ...SERVICE_ROUTES.map((r) => ({ ...r, path: `/services/:name${r.path}` })),
];
